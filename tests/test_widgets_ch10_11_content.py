"""Chapter 10's proxy-vs-true widget and chapter 11's research map: the claims the chapters
make about them, checked against computations written here independently of the widgets."""

from __future__ import annotations

import numpy as np
import pytest
from alignment_widgets import get
from alignment_widgets import proxy_vs_true as pvt
from alignment_widgets import research_map as rm

QUALITY = np.repeat(np.linspace(-2.0, 2.0, 16), 5)
PADDING = np.tile(np.arange(5.0), 16)


def exact_true_curve(bonus: float, betas: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(KL, expected true reward) of π_β ∝ e^{−2p + (q + bonus·p)/β}, by hand."""
    logits = -2.0 * PADDING[None, :] + (QUALITY + bonus * PADDING)[None, :] / betas[:, None]
    log_pi = logits - logits.max(axis=1, keepdims=True)
    log_pi -= np.log(np.exp(log_pi).sum(axis=1, keepdims=True))
    pi = np.exp(log_pi)
    log_ref = -2.0 * PADDING - np.log(np.exp(-2.0 * PADDING).sum())
    kl = np.sum(pi * (log_pi - log_ref[None, :]), axis=1)
    return kl, pi @ (QUALITY - 0.3 * PADDING)


def readout(result: dict, key: str) -> float:
    return float(result["readouts"][key]["value"])


@pytest.mark.parametrize("bonus", [0.05, 0.5, 1.0])
def test_peak_readouts_are_the_exact_maximum(bonus: float) -> None:
    result = get("proxy-vs-true").run({"bonus": bonus})
    coarse = np.logspace(1.0, -2.0, 3001)
    best = int(np.argmax(exact_true_curve(bonus, coarse)[1]))
    betas = np.geomspace(coarse[best - 1], coarse[best + 1], 20_001)  # far finer than the widget
    kl, true = exact_true_curve(bonus, betas)
    best = int(np.argmax(true))
    assert readout(result, "peak_true") == pytest.approx(true[best], abs=1e-9)
    assert readout(result, "peak_kl") == pytest.approx(kl[best], abs=1e-4)


def test_default_peak_is_where_the_chapter_says() -> None:
    """Chapter 10: at bonus 0.5 the covariance crosses zero at β ≈ 0.4056, KL ≈ 1.81."""
    result = get("proxy-vs-true").run({"bonus": 0.5})
    assert readout(result, "peak_kl") == pytest.approx(1.8115, abs=1e-3)
    beta = pvt.true_reward_peak(0.5, 1.0, 0.2)
    assert beta == pytest.approx(0.4056, abs=1e-4)
    assert pvt.covariance(beta * 1.01, 0.5) > 0 > pvt.covariance(beta * 0.99, 0.5)


@pytest.mark.parametrize("bonus", [0.01, 0.05, 0.3, 1.0])
def test_any_positive_bonus_turns_the_true_reward_down(bonus: float) -> None:
    """Exercise 2 as rewritten: the cost and the reference set where, not whether."""
    _, true = exact_true_curve(bonus, np.logspace(2.0, -3.0, 4001))
    assert true.max() > true[-1] + 0.3
    assert true[-1] == pytest.approx(2.0 - 0.3 * 4.0, abs=1e-3)  # the fully padded best answer


def test_without_a_bonus_the_curve_never_turns_down_yet_the_pair_is_hackable() -> None:
    _, true = exact_true_curve(0.0, np.logspace(2.0, -3.0, 2001))
    assert np.all(np.diff(true) > -1e-9)
    # Skalse et al.'s hackability: two policies the proxy and the truth order oppositely.
    a = (QUALITY == QUALITY[0]) & (PADDING == 0)  # worst answer, unpadded
    b = (QUALITY == QUALITY[5]) & (PADDING == 4)  # a slightly better answer, fully padded
    proxy_a, proxy_b = QUALITY[a][0], QUALITY[b][0]
    true_a, true_b = (QUALITY - 0.3 * PADDING)[a][0], (QUALITY - 0.3 * PADDING)[b][0]
    assert proxy_b > proxy_a and true_b < true_a


def test_research_map_lists_the_chapter_sections() -> None:
    """Every open-problem direction chapter 11 writes a section for has a node on the map,
    and every node names where to read more."""
    labels = {label for _, label, _, _ in rm.NODES}
    for needed in (
        "Interpretability",
        "Jailbreaks",
        "Alignment faking",
        "Goal misgeneralisation",
        "CoT faithfulness",
        "Market making",
        "Sandwiching",
        "Weak-to-strong generalisation",
    ):
        assert needed in labels, needed
    assert all(source and "open field" not in source for *_, source in rm.NODES)


def test_research_map_nodes_fit_and_do_not_overlap() -> None:
    ids = [n[0] for n in rm.NODES]
    boxes = {i: rm.node_box(i) for i in ids}
    for i, (left, top, right, bottom) in boxes.items():
        assert 0 <= left and right <= 880 and 0 <= top and bottom <= 520, i
    for a in ids:
        for b in ids:
            if a < b:
                la, ta, ra, ba = boxes[a]
                lb, tb, rb, bb = boxes[b]
                apart = ra + 8 <= lb or rb + 8 <= la or ba + 8 <= tb or bb + 8 <= ta
                assert apart, f"{a} and {b} overlap"


@pytest.mark.parametrize(
    ("imitation", "phrase"),
    [(0.0, "cannot see"), (0.3, "the part it can see, it learns to copy"), (0.8, "copy the mistakes")],
)
def test_weak_to_strong_note_matches_how_much_the_student_sees(imitation: float, phrase: str) -> None:
    # At 0 < rho < 0.5 the student sees part of what misleads the supervisor (chapter 11:
    # at rho = 0.3 the PGR falls as data grow), so the note must not say it sees nothing.
    note = get("weak-to-strong").run({"imitation": imitation, "n_train": 200})["note"]
    assert phrase in note
    if imitation > 0:
        assert "cannot see" not in note
