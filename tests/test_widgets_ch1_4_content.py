"""What the widgets of chapters 1–4 show must be true (content review, findings 1 and 6).

* every control, moved from its default to either end, changes at least one readout;
* the fit-reward-model widget's ceiling is the true ranking's agreement with a labeler, and
  the labelers' agreement with each other is a lower reference a model can exceed;
* the kl-shaped-rewards critic can be wrong, and λ trades the critic's bias against the
  score's variance exactly as chapter 4 says (checked by simulation, not by the formula);
* the token labels are short enough not to collide on a phone, with the full text kept.
"""

from __future__ import annotations

from itertools import pairwise

import numpy as np
import pytest
from alignment_widgets import get
from alignment_widgets import kl_shaped_rewards as ksr
from alignment_widgets._spec import Slider

from alignment_math import simulate_preference_pairs

MINE = ["base-vs-aligned", "bradley-terry", "fit-reward-model", "ppo-clip", "kl-shaped-rewards"]


def texts(name: str, **params: object) -> dict[str, str]:
    return {k: v["text"] for k, v in get(name).run(params)["readouts"].items()}


def values(name: str, **params: object) -> dict[str, float | None]:
    return {k: v["value"] for k, v in get(name).run(params)["readouts"].items()}


@pytest.mark.parametrize("name", MINE)
def test_every_control_moves_a_readout(name: str) -> None:
    w = get(name)
    baseline = texts(name)
    for control in w.controls:
        assert isinstance(control, Slider)
        for end in (control.min, control.max):
            if end == control.default:
                continue
            moved = texts(name, **{control.name: end})
            assert moved != baseline, f"{name}: {control.name} = {end} changes no readout"


# ------------------------------------------------------------------ chapter 2: the ceiling


def sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x))


@pytest.mark.parametrize(("noise", "seed"), [(1.0, 0), (2.0, 3), (0.5, 7)])
def test_labeler_agreement_is_below_the_ceiling(noise: float, seed: int) -> None:
    frm = get("fit-reward-model")
    out = values("fit-reward-model", noise=noise, n_pairs=400, seed=seed)
    chosen, rejected = simulate_preference_pairs(
        np.array([2.0, 1.0, -0.5, 0.5]), 2000, noise=noise, seed=seed + 1000
    )
    p = sigmoid((chosen - rejected) @ np.array([2.0, 1.0, -0.5, 0.5]) / noise)
    assert out["labeler_agreement"] == pytest.approx(100 * np.mean(p**2 + (1 - p) ** 2))
    assert out["ceiling_accuracy"] == pytest.approx(100 * np.mean(np.maximum(p, 1 - p)))
    assert out["labeler_agreement"] < out["ceiling_accuracy"]
    # with 400 pairs a fitted model beats the labelers' agreement with each other
    assert out["heldout_accuracy"] > out["labeler_agreement"]
    assert "not a ceiling" in next(r.label for r in frm.readouts if r.key == "labeler_agreement")


def test_labeler_agreement_matches_simulated_labelers() -> None:
    # two independent labelers per pair, drawn by Monte Carlo, agree as often as the readout says
    rng = np.random.default_rng(0)
    chosen, rejected = simulate_preference_pairs(
        np.array([2.0, 1.0, -0.5, 0.5]), 2000, noise=1.0, seed=1000
    )
    p = sigmoid((chosen - rejected) @ np.array([2.0, 1.0, -0.5, 0.5]))
    votes = rng.random((200, 2, p.size)) < p
    agree = float(np.mean(votes[:, 0] == votes[:, 1]))
    assert values("fit-reward-model", noise=1.0)["labeler_agreement"] == pytest.approx(
        100 * agree, abs=0.5
    )


# ------------------------------------------------------------------ chapter 4: the critic


def gae_loop(rewards: np.ndarray, v: np.ndarray, gamma: float, lam: float) -> np.ndarray:
    adv, running = np.zeros_like(rewards), 0.0
    for t in reversed(range(len(rewards))):
        nxt = v[t + 1] if t + 1 < len(rewards) else 0.0
        running = rewards[t] + gamma * nxt - v[t] + gamma * lam * running
        adv[t] = running
    return adv


def first_advantages(scores: np.ndarray, critic: np.ndarray, lam: float) -> np.ndarray:
    out = []
    for s in scores:
        r = -0.1 * (ksr.POLICY_LOGPROBS - ksr.REF_LOGPROBS)
        r[-1] += s
        out.append(gae_loop(r, critic, 1.0, lam)[0])
    return np.array(out)


def test_lambda_trades_critic_bias_for_score_variance() -> None:
    """Simulate many responses whose scores scatter around the mean, at λ = 0 and λ = 1."""
    rng = np.random.default_rng(1)
    scores = ksr.MEAN_SCORE + ksr.SCORE_SD * rng.standard_normal(4000)
    ideal = ksr.ideal_values(0.1, 1.0)
    wrong = ksr.critic_values(0.1, 1.0, 1.0)
    for lam in (0.0, 1.0):
        a_ideal = first_advantages(scores, ideal, lam)
        a_wrong = first_advantages(scores, wrong, lam)
        # the readouts at this λ and critic error 1
        out = values("kl-shaped-rewards", lam=lam, critic_error=1.0)
        # variance: the spread over resampled scores is the readout (0 at λ = 0)
        assert float(a_wrong.std()) == pytest.approx(out["spread_first"], abs=0.05)
        # bias: the mean shift beyond the first state's own baseline error is the readout
        shift = float(a_wrong.mean() - a_ideal.mean()) + (wrong[0] - ideal[0])
        assert shift == pytest.approx(out["bias_first"], abs=1e-9)
    assert values("kl-shaped-rewards", lam=0.0, critic_error=1.0)["spread_first"] == 0.0
    assert abs(values("kl-shaped-rewards", lam=0.0, critic_error=1.0)["bias_first"]) > 0.5
    assert values("kl-shaped-rewards", lam=1.0, critic_error=1.0)["bias_first"] == pytest.approx(0)
    assert values("kl-shaped-rewards", lam=1.0)["spread_first"] == pytest.approx(ksr.SCORE_SD)


def test_critic_error_matters_at_lambda_zero() -> None:
    """Finding 6: at λ = 0 the advantages lean on the critic, so a wrong critic moves them."""
    perfect = get("kl-shaped-rewards").run({"lam": 0.0, "critic_error": 0.0})
    wrong = get("kl-shaped-rewards").run({"lam": 0.0, "critic_error": 1.0})
    a0 = np.array(perfect["charts"][1]["series"][0]["y"])
    a1 = np.array(wrong["charts"][1]["series"][0]["y"])
    assert np.max(np.abs(a1 - a0)) > 1.0
    # with the ideal critic and λ = 0 only the last token sees the score's surprise
    surprise = 1.5 - ksr.MEAN_SCORE
    assert a0[:-1] == pytest.approx(np.zeros(len(a0) - 1), abs=1e-12)
    assert a0[-1] == pytest.approx(surprise)


def test_ideal_critic_is_the_expected_return() -> None:
    """V*_t equals the mean return from t over responses whose score averages MEAN_SCORE."""
    r = -0.2 * (ksr.POLICY_LOGPROBS - ksr.REF_LOGPROBS)
    gamma = 0.9
    n = len(r)
    expected = [
        sum(gamma ** (k - t) * r[k] for k in range(t, n)) + gamma ** (n - 1 - t) * ksr.MEAN_SCORE
        for t in range(n)
    ]
    assert ksr.ideal_values(0.2, gamma) == pytest.approx(expected)


def test_token_labels_fit_and_the_full_text_is_kept() -> None:
    assert len(ksr.LABELS) == len(ksr.TOKENS)
    assert list(ksr.LABELS) == [token.strip() for token in ksr.TOKENS]
    # at 390 px the plot is about 260 px wide: 8 slots of 32 px hold any two neighbours
    assert len(ksr.TOKENS) <= 8
    assert max(len(a) + len(b) for a, b in pairwise(ksr.LABELS)) <= 7
    out = get("kl-shaped-rewards").run({})
    assert out["charts"][0]["categories"] == list(ksr.LABELS)
    assert ksr.RESPONSE == "Sure! It is Paris, friend."
    assert ksr.RESPONSE in out["note"]


# At 390 px the plot area of a chart is about 220 px wide (measured in Chromium) and an axis
# label takes up to about 7 px per character: two neighbouring category labels fit side by side
# when half their widths together stay within one slot.
PLOT_PX_AT_390, CHAR_PX = 220.0, 7.0


@pytest.mark.parametrize("name", ["base-vs-aligned", "fit-reward-model", "kl-shaped-rewards"])
def test_category_labels_fit_side_by_side_on_a_phone(name: str) -> None:
    for chart in get(name).run({})["charts"]:
        labels = chart["categories"]
        if not labels:
            continue
        slot = PLOT_PX_AT_390 / len(labels)
        for a, b in pairwise(labels):
            assert (len(a) + len(b)) * CHAR_PX / 2 <= slot, (name, a, b, slot)
