"""Widgets of chapters 7–11: each checked at its defaults and at a few values against
expectations derived independently of the widget's own code (closed forms, hand
computations, or relations that must hold whatever the random draws)."""

from __future__ import annotations

import json
import math
import statistics
import time
import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np
import pytest
from alignment_widgets import Choice, Slider, get
from alignment_widgets import overopt_scaling as overopt_module
from alignment_widgets import research_map as map_module

from alignment_math import best_of_n_kl, kl_divergence

ROOT = Path(__file__).resolve().parents[1]
COMPUTED = [
    "method-tradeoffs",
    "critique-revision",
    "ai-feedback",
    "step-toggles",
    "best-of-n",
    "proxy-vs-true",
    "overopt-scaling",
    "weak-to-strong",
]


def run(name: str, **params: object) -> dict:
    return get(name).run(params)


def value(result: dict, key: str) -> float:
    return result["readouts"][key]["value"]


def text(result: dict, key: str) -> str:
    return result["readouts"][key]["text"]


# --------------------------------------------------------------------------- contract


@pytest.mark.parametrize("name", COMPUTED)
def test_defaults_give_json_with_every_readout(name: str) -> None:
    result = run(name)
    json.dumps(result, allow_nan=False)
    declared = {r.key for r in get(name).readouts}
    assert set(result["readouts"]) == declared
    assert all(r["text"] for r in result["readouts"].values())
    assert result["charts"], f"{name} draws nothing"
    for chart in result["charts"]:
        assert chart["alt"]


@pytest.mark.parametrize("name", COMPUTED)
def test_every_control_extreme_runs_cleanly(name: str) -> None:
    """All sliders at their min, then at their max, with every option of every choice and
    both states of every toggle: no warning (RuntimeWarning is an error here), valid JSON."""
    w = get(name)
    sliders = [c for c in w.controls if isinstance(c, Slider)]
    others = [c for c in w.controls if not isinstance(c, Slider)]
    for end in ("min", "max"):
        base = {c.name: getattr(c, end) for c in sliders}
        variants = [{}]
        for c in others:
            options = [v for v, _ in c.options] if isinstance(c, Choice) else [True, False]
            variants += [{c.name: v} for v in options]
        for extra in variants:
            result = w.run({**base, **extra})
            json.dumps(result, allow_nan=False)
            assert all(r["text"] for r in result["readouts"].values())


@pytest.mark.parametrize("name", COMPUTED)
def test_compute_time(name: str, record_property: pytest.RecordProperty) -> None:
    """Median time of a slider move: the browser calls this on every one.

    Each call moves every slider to a value not used before (so a widget's cache of
    earlier results cannot answer), as a reader dragging them would."""
    w = get(name)
    w.run({})  # warm: imports, pre-drawn random numbers
    sliders = [c for c in w.controls if isinstance(c, Slider)]
    times = []
    for k in range(1, 6):
        params = {}
        for c in sliders:
            steps = round((c.max - c.min) / c.step)
            v = c.min + c.step * ((steps * k) // 7)
            params[c.name] = round(v) if c.integer else v
        start = time.perf_counter()
        w.run(params)
        times.append(1000 * (time.perf_counter() - start))
    median = statistics.median(times)
    record_property("compute_ms", round(median, 3))
    print(f"{name}: {median:.2f} ms")
    assert median < 50.0, f"{name} takes {median:.1f} ms per call"


# --------------------------------------------------------------------------- chapter 7


def test_tradeoff_default_is_dpo_with_cached_reference() -> None:
    result = run("method-tradeoffs")
    # Pairs, budget 3: DPO = 2 stages (SFT, DPO) + 1 model (reference log-probs cached).
    assert text(result, "best") == "DPO"
    assert value(result, "complexity") == 3
    assert text(result, "uses") == "the pairs as they are"
    assert "1 model in memory now" in text(result, "needs")
    assert text(result, "optimum").startswith("none")
    # Over budget at 3: the three-stage, four-model PPO rows (3 + 4 + 1 loop = 8).
    assert "RLHF (PPO) (8)" in result["note"] and "RM + PPO (pointwise) (8)" in result["note"]


def test_tradeoff_facts_per_method() -> None:
    from alignment_widgets.method_tradeoffs import METHODS

    facts = {m.name: m for m in METHODS}
    # finite optimum under once-labelled pairs: IPO, cDPO, PPO (Azar et al. §4.2); not DPO.
    assert [n for n in ("DPO", "cDPO", "IPO", "RLHF (PPO)") if facts[n].finite] == [
        "cDPO", "IPO", "RLHF (PPO)"]
    assert "unbounded" in facts["IPO"].optimum and "[0, λ]" in facts["KTO"].optimum
    # with cached reference log-probs only the policy is in memory for DPO, IPO, KTO
    for name in ("DPO", "cDPO", "IPO", "KTO", "BCO"):
        assert (facts[name].models, facts[name].models_uncached) == (1, 2)
    assert facts["RLHF (PPO)"].models == 4 and facts["SimPO"].stages == 2
    assert facts["ORPO"].stages == 1 and facts["ORPO"].models == 1


def test_tradeoff_each_control_moves_the_recommendation() -> None:
    assert text(run("method-tradeoffs", budget=2), "best") == "ORPO"  # one stage, one model
    assert text(run("method-tradeoffs", budget=8), "best") == "RLHF (PPO)"
    # Without caching, DPO holds the reference too (4 > 3): SimPO is the one that fits.
    uncached = run("method-tradeoffs", cache_reference=False)
    assert text(uncached, "best") == "SimPO" and value(uncached, "complexity") == 3
    once = run("method-tradeoffs", labelled_once=True)
    assert text(once, "best") == "cDPO" and text(once, "runner_up") == "IPO"
    assert text(once, "optimum").startswith("finite")
    thumbs = run("method-tradeoffs", data="thumbs")
    assert text(thumbs, "best") == "KTO" and text(thumbs, "runner_up") == "BCO"
    # Thumbs with the budget for RL: a pointwise (classifier) reward model and PPO.
    assert text(run("method-tradeoffs", data="thumbs", budget=8), "best") == "RM + PPO (pointwise)"
    assert text(run("method-tradeoffs", data="demos", budget=8), "best") == "SFT only"
    rm = run("method-tradeoffs", data="rm", budget=4)
    assert text(rm, "best") == "best-of-n" and value(rm, "n_usable") == 1
    assert text(run("method-tradeoffs", data="rm"), "best") == "none"


def test_tradeoff_usable_set_by_hand() -> None:
    # Pairs reach the demos and thumbs columns; at budget 3 with caching every method but
    # the PPO rows fits: SFT, KTO, BCO, DPO, cDPO, IPO, SimPO, ORPO.
    assert value(run("method-tradeoffs"), "n_usable") == 8
    assert value(run("method-tradeoffs", budget=8), "n_usable") == 10
    assert value(run("method-tradeoffs", data="thumbs"), "n_usable") == 3


def test_tradeoff_chart_keeps_shared_points_apart_and_the_marker_distinct() -> None:
    for params in ({}, {"cache_reference": False}, {"data": "thumbs", "budget": 8}):
        chart = run("method-tradeoffs", **params)["charts"][0]
        assert chart["categories"] == ["demos", "thumbs", "pairs", "RM"]
        seen: dict[tuple[int, float], str] = {}
        for s in chart["series"]:
            assert s["color"] != "red", "red is the marker's colour"
            if s["kind"] != "points":
                continue
            for i, y in enumerate(s["y"]):
                if y is not None:
                    assert (i, y) not in seen, f"{s['label']} hides {seen[(i, y)]}"
                    seen[(i, y)] = s["label"]
        labels = [s["label"] for s in chart["series"]]
        assert len(labels) == len(set(labels))
        assert len(chart["y_label"]) <= 20 and len(chart["x_label"]) <= 25
        # four category labels side by side at 390 px: each must stay short
        assert max(len(c) for c in chart["categories"]) <= 6
        (marker,) = chart["markers"]
        assert (round(marker["x"]), marker["y"]) in seen
    default = run("method-tradeoffs")["charts"][0]
    assert "DPO · cDPO · IPO · SimPO" in [s["label"] for s in default["series"]]


# --------------------------------------------------------------------------- chapter 8


# The critique-and-revision widget's own tests: tests/test_widgets_ch8_9.py.


def test_ai_feedback_perfect_labeler_matches_perfect_labels() -> None:
    result = run("ai-feedback", agreement=1.0, position_bias=0.0, human_noise=0.0)
    assert value(result, "ai_label_acc") == 100.0
    assert value(result, "rm_ai") == value(result, "rm_perfect") == value(result, "rm_human")


def test_ai_feedback_systematic_errors_hurt_more_than_random_ones() -> None:
    rand = run("ai-feedback", agreement=0.8, errors="random", n_pairs=1000)
    syst = run("ai-feedback", agreement=0.8, errors="systematic", n_pairs=1000)
    # Both labelers agree with the truth about 80% of the time (systematic: 1 − θ/π) ...
    assert value(rand, "ai_label_acc") == pytest.approx(80, abs=4)
    assert value(syst, "ai_label_acc") == pytest.approx(80, abs=4)
    # ... but the random slips average out, while the tilt is learned.
    assert value(rand, "rm_ai") > 90
    assert value(syst, "rm_ai") == pytest.approx(80, abs=4)


def test_ai_feedback_position_bias_is_half_random() -> None:
    # On half the pairs the first-shown response wins, shown order random: 0.5·1 + 0.5·0.5.
    result = run("ai-feedback", agreement=1.0, position_bias=0.5, n_pairs=2000)
    assert value(result, "ai_label_acc") == pytest.approx(75, abs=3)


# --------------------------------------------------------------------------- chapter 9


# The step-toggles widget's own tests: tests/test_widgets_ch8_9.py.


def test_best_of_n_relations() -> None:
    result = run("best-of-n")
    chart = result["charts"][0]
    series = {s["label"]: np.array(s["y"]) for s in chart["series"]}
    oracle = series["ceiling: some chain right"]
    for label in ("PRM best-of-N", "ORM best-of-N", "majority vote"):
        assert np.all(series[label] <= oracle + 1e-9)
        # N = 1: every selector takes the only chain.
        assert series[label][0] == pytest.approx(oracle[0])
    # N = 1 accuracy ≈ P(all 5 steps right) + P(some step wrong)·lucky (200 problems).
    p_sound = 0.7**5
    assert oracle[0] / 100 == pytest.approx(p_sound + (1 - p_sound) * 0.2, abs=0.1)
    assert oracle[-1] >= oracle[0]
    # A PRM picks sound chains far more often than an equally noisy ORM.
    assert value(result, "prm_sound") > value(result, "orm_sound") + 20
    noisy = run("best-of-n", orm_noise=4.0)
    assert value(noisy, "orm") < value(result, "orm")


# --------------------------------------------------------------------------- chapter 10


def _series(result: dict, label: str) -> np.ndarray:
    return np.array(next(s["y"] for s in result["charts"][0]["series"] if s["label"] == label))


def test_proxy_vs_true_peaks_then_falls() -> None:
    result = run("proxy-vs-true", bonus=0.5)
    true = _series(result, "true reward")
    proxy = _series(result, "proxy reward (optimised)")
    peak = int(np.argmax(true))
    assert 0 < peak < len(true) - 1
    assert true[-1] < true[peak] - 0.5
    assert np.all(np.diff(proxy) > -1e-9)  # the optimised reward only climbs
    # The readout is the exact peak (bisection on the covariance), at or above the grid's best.
    assert true[peak] - 1e-12 <= value(result, "peak_true") <= true[peak] + 1e-2


def test_proxy_vs_true_without_misspecification_never_falls() -> None:
    true = _series(run("proxy-vs-true", bonus=0.0), "true reward")
    assert np.all(np.diff(true) > -1e-9)


def test_proxy_vs_true_point_matches_a_hand_computed_optimum() -> None:
    bonus, log_beta = 0.7, -0.8
    result = run("proxy-vs-true", bonus=bonus, log_beta=log_beta)
    quality = np.repeat(np.linspace(-2.0, 2.0, 16), 5)
    padding = np.tile(np.arange(5.0), 16)
    ref = np.exp(-2.0 * padding)
    ref /= ref.sum()
    proxy = quality + bonus * padding
    logits = np.log(ref) + proxy / 10**log_beta
    policy = np.exp(logits - logits.max())
    policy /= policy.sum()
    assert value(result, "kl") == pytest.approx(float(kl_divergence(policy, ref)))
    assert value(result, "proxy") == pytest.approx(float(policy @ proxy))
    assert value(result, "true") == pytest.approx(float(policy @ (quality - 0.3 * padding)))


def test_overopt_scaling_peaks_and_best_of_n_kl() -> None:
    alpha, beta = 1.2, 0.3
    result = run("overopt-scaling", alpha_bon=alpha, beta_bon=beta, alpha_rl=0.9,
                 beta_rl=0.35, log2_n=10)
    assert value(result, "kl_n") == pytest.approx(math.log(1024) - 1023 / 1024)
    assert value(result, "bon_peak_d") == pytest.approx(alpha / (2 * beta))
    # RL peak by brute force on a fine grid.
    d = np.linspace(0.01, 20, 200_001)
    rl = d * (0.9 - 0.35 * np.log(d))
    assert value(result, "rl_peak_d") == pytest.approx(d[np.argmax(rl)], abs=1e-3)
    assert value(result, "rl_peak_gold") == pytest.approx(rl.max(), abs=1e-6)
    chart = result["charts"][0]
    bon = np.array(chart["series"][0]["y"])
    assert chart["x"][int(np.argmax(bon))] == pytest.approx(alpha / (2 * beta), abs=0.05)


def test_overopt_n_for_kl_inverts_the_formula() -> None:
    for kl in (0.5, 3.0, 12.0):
        assert float(best_of_n_kl(overopt_module.n_for_kl(kl))) == pytest.approx(kl)


# --------------------------------------------------------------------------- chapter 11


def test_weak_to_strong_pgr_matches_the_formula() -> None:
    result = run("weak-to-strong")
    weak, w2s, ceiling = (value(result, k) for k in ("weak", "w2s", "ceiling"))
    assert value(result, "pgr") == pytest.approx((w2s - weak) / (ceiling - weak))
    # θ = π(1 − accuracy) makes the supervisor right on ~70% of Gaussian examples.
    assert weak == pytest.approx(70, abs=3)


def test_weak_to_strong_depends_on_imitation() -> None:
    hidden = run("weak-to-strong", imitation=0.0, n_train=1000)
    visible = run("weak-to-strong", imitation=1.0, n_train=1000)
    assert value(hidden, "pgr") > 0.8  # mistakes look like noise to this student
    assert abs(value(visible, "pgr")) < 0.15  # it can copy them exactly, and does
    assert value(hidden, "ceiling") > value(hidden, "weak")


def test_research_map_static_html_is_complete_and_well_formed() -> None:
    html = map_module.static_html()
    root = ET.fromstring(html)  # well-formed XML: the SVG nests correctly
    svg_nodes = {g.get("data-node") for g in root.iter("{http://www.w3.org/2000/svg}g")
                 if g.get("data-node")}
    ids = {n[0] for n in map_module.NODES}
    assert svg_nodes == ids
    for node_id, label, summary, _ in map_module.NODES:
        assert f'id="rm-{node_id}"' in html and summary.split(":")[0][:30] in html
        assert map_module.neighbours(node_id), f"{label} is isolated"
    for a, b, _ in map_module.EDGES:
        assert a in ids and b in ids
    # Every node is reachable from the hub.
    seen, todo = set(), ["oversight"]
    while todo:
        node = todo.pop()
        if node not in seen:
            seen.add(node)
            todo.extend(map_module.neighbours(node))
    assert seen == ids


def test_research_map_script_contract() -> None:
    w = get("research-map")
    script = ROOT / "docs" / "widgets" / f"{w.script}.js"
    source = script.read_text(encoding="utf-8")
    assert "export default function mount(root)" in source
    assert 'root.dataset.state = "ready"' in source
    # the keyboard behaviour itself is tested in a real browser: tests/browser/test_research_map.py
    for key in ("rovingTarget", "Escape", "focus", "mouseenter"):
        assert key in source
