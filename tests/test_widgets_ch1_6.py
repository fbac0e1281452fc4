"""The widgets of chapters 1–6, checked against values derived independently.

Each test recomputes a widget's readouts from first principles (plain NumPy formulas, not
the alignment_math call the widget makes) or checks a limit or identity the widget must
satisfy.  ``test_compute_time`` measures each widget's compute time and reports it (it only
fails if a widget cannot run at all); run ``pytest -s`` to see the table.
"""

from __future__ import annotations

import math
import statistics
import time
import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np
import pytest
from alignment_widgets import WidgetError, get
from alignment_widgets import base_vs_aligned as bva
from alignment_widgets import dpo_variants as dv
from alignment_widgets import fit_reward_model as frm
from alignment_widgets import kl_shaped_rewards as ksr
from alignment_widgets import rlhf_pipeline as pipe

from alignment_math import optimal_policy, simulate_preference_pairs

ROOT = Path(__file__).resolve().parents[1]
COMPUTED = [
    "base-vs-aligned",
    "fit-reward-model",
    "kl-shaped-rewards",
    "dpo-variants",
    "kto",
    "orpo",
]


def readouts(name: str, **params: object) -> dict[str, float | None]:
    return {k: v["value"] for k, v in get(name).run(params)["readouts"].items()}


def texts(name: str, **params: object) -> dict[str, str]:
    return {k: v["text"] for k, v in get(name).run(params)["readouts"].items()}


def sigmoid(x: np.ndarray | float) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-np.asarray(x, dtype=float)))


# ------------------------------------------------------------------ chapter 1: base vs aligned


@pytest.mark.parametrize("beta", [0.1, 0.5, 1.0, 3.0, 10.0])
def test_base_vs_aligned_matches_gibbs_formula(beta: float) -> None:
    weights = bva.REF * np.exp(bva.REWARDS / beta)
    aligned = weights / weights.sum()
    kl = float(np.sum(aligned * np.log(aligned / bva.REF)))
    out = readouts("base-vs-aligned", beta=beta)
    assert out["kl"] == pytest.approx(kl, rel=1e-9, abs=1e-12)
    assert out["reward_aligned"] == pytest.approx(float(aligned @ bva.REWARDS), rel=1e-9)
    assert out["reward_base"] == pytest.approx(float(np.dot(bva.REF, bva.REWARDS)))
    bars = get("base-vs-aligned").run({"beta": beta})["charts"][0]["series"]
    assert bars[0]["y"] == pytest.approx(bva.REF.tolist())
    assert bars[1]["y"] == pytest.approx(aligned.tolist(), rel=1e-9)
    assert texts("base-vs-aligned", beta=beta)["top_aligned"] == bva.LABELS[int(np.argmax(aligned))]


def test_base_vs_aligned_limits() -> None:
    assert sum(c[3] for c in bva.CANDIDATES) == pytest.approx(1.0)
    # β → ∞: the aligned policy is the reference; β → 0: all mass on the best reward
    assert optimal_policy(bva.REF, bva.REWARDS, beta=1e9) == pytest.approx(bva.REF)
    greedy = optimal_policy(bva.REF, bva.REWARDS, beta=1e-3)
    assert int(np.argmax(greedy)) == int(np.argmax(bva.REWARDS)) and greedy.max() > 0.999
    # at the slider ends: almost the reference at β = 10, the helpful answer at β = 0.1
    assert readouts("base-vs-aligned", beta=10.0)["kl"] < 0.02
    assert texts("base-vs-aligned", beta=10.0)["top_aligned"] == "forum reply"
    assert texts("base-vs-aligned", beta=0.1)["top_aligned"] == "talk, log, council"
    assert texts("base-vs-aligned")["top_base"] == "forum reply"
    kls = [readouts("base-vs-aligned", beta=b)["kl"] for b in (0.2, 0.5, 1.0, 2.0, 5.0)]
    assert kls == sorted(kls, reverse=True)  # KL falls as β grows
    for beta in (0.2, 1.0, 5.0):  # reweighting by e^{r/β} never lowers the expected reward
        out = readouts("base-vs-aligned", beta=beta)
        assert out["reward_aligned"] > out["reward_base"]


def test_base_vs_aligned_frontier_is_sorted_and_consistent() -> None:
    chart = get("base-vs-aligned").run({"beta": 1.0})["charts"][1]
    assert chart["x"] == sorted(chart["x"])  # the KL increases along x
    marker = chart["markers"][0]
    assert marker["x"] == pytest.approx(readouts("base-vs-aligned", beta=1.0)["kl"])


def test_base_vs_aligned_rejects_out_of_range_beta() -> None:
    with pytest.raises(WidgetError, match="beta"):
        get("base-vs-aligned").run({"beta": 0.0})


# ------------------------------------------------------------------ chapter 2: fit a reward model


def expected_agreement_numpy(w: np.ndarray, noise: float, seed: int) -> float:
    chosen, rejected = simulate_preference_pairs(
        frm.TRUE_WEIGHTS, frm.N_TEST, noise=noise, seed=seed + frm.TEST_SEED_OFFSET
    )
    d = chosen - rejected
    true_gap = d @ frm.TRUE_WEIGHTS / noise
    p_first = sigmoid(true_gap)
    ranks_first = d @ w > 0
    return float(np.mean(np.where(ranks_first, p_first, 1 - p_first)))


@pytest.mark.parametrize(
    ("noise", "n_pairs", "l2", "seed"), [(1.0, 100, 0.01, 0), (2.0, 300, 0.1, 3), (0.5, 40, 0.0, 7)]
)
def test_fit_reward_model_readouts(noise: float, n_pairs: int, l2: float, seed: int) -> None:
    out = readouts("fit-reward-model", noise=noise, n_pairs=n_pairs, l2=l2, seed=seed)
    ceiling = expected_agreement_numpy(frm.TRUE_WEIGHTS, noise, seed)
    assert out["ceiling_accuracy"] == pytest.approx(100 * ceiling, rel=1e-9)
    assert out["heldout_accuracy"] <= out["ceiling_accuracy"] + 1e-9  # no model beats the truth
    assert 50.0 < out["heldout_accuracy"]
    result = get("fit-reward-model").run(
        {"noise": noise, "n_pairs": n_pairs, "l2": l2, "seed": seed}
    )
    learned = np.array(result["charts"][0]["series"][1]["y"])
    assert out["heldout_accuracy"] == pytest.approx(
        100 * expected_agreement_numpy(learned, noise, seed), rel=1e-9
    )
    # the weights are a stationary point of mean(−log σ(w·d)) + l2/2·|w|² (unless separable)
    chosen, rejected = simulate_preference_pairs(frm.TRUE_WEIGHTS, n_pairs, noise=noise, seed=seed)
    d = chosen - rejected
    grad = -(sigmoid(-(d @ learned)) @ d) / n_pairs + l2 * learned
    assert np.linalg.norm(grad) < 1e-6
    loss = float(np.mean(np.logaddexp(0.0, -(d @ learned))) + 0.5 * l2 * learned @ learned)
    assert out["final_loss"] == pytest.approx(loss, rel=1e-9)
    losses = result["charts"][1]["series"][0]["y"]
    assert losses[0] == pytest.approx(math.log(2))  # w = 0 at the start
    assert np.all(np.diff(losses) <= 1e-12)  # Newton never goes uphill
    assert out["steps"] == len(losses) - 1


def test_fit_reward_model_recovers_the_identifiable_weights() -> None:
    out = readouts("fit-reward-model", noise=1.0, n_pairs=400, l2=0.0, seed=2)
    assert out["cosine"] > 0.98
    assert 0.7 < out["scale"] < 1.3  # Bradley–Terry identifies w*/τ, not w*
    noisy = readouts("fit-reward-model", noise=4.0, n_pairs=400, l2=0.0, seed=2)
    assert noisy["ceiling_accuracy"] < out["ceiling_accuracy"]


def test_fit_reward_model_is_deterministic_and_flags_separable_data() -> None:
    params = {"noise": 0.25, "n_pairs": 20, "l2": 0.0, "seed": 1}
    first, second = get("fit-reward-model").run(params), get("fit-reward-model").run(params)
    assert first == second
    assert "separable" in first["note"]
    assert first["readouts"]["scale"]["value"] > 3  # weights ran off
    assert get("fit-reward-model").run({**params, "l2": 0.05})["note"] == ""


# ------------------------------------------------------------------ chapter 3: the pipeline


def test_pipeline_static_html_is_wellformed_and_complete() -> None:
    w = get("rlhf-pipeline")
    assert w.compute is None and w.script == "pipeline"
    html = w.static_html()
    svg = html[html.index("<svg") : html.index("</svg>") + len("</svg>")]
    tree = ET.fromstring(svg)  # well-formed XML
    ns = "{http://www.w3.org/2000/svg}"
    nodes = {g.get("data-node") for g in tree.iter(f"{ns}g") if g.get("data-node")}
    arrows = {g.get("data-arrow") for g in tree.iter(f"{ns}g") if g.get("data-arrow")}
    assert nodes == {b.id for b in pipe.BOXES}
    assert arrows == {a.id for a in pipe.ARROWS}
    for stage in pipe.STAGES:
        assert f'data-panel="{stage.id}"' in html
        assert f'aria-controls="pl-panel-{stage.id}"' in html
        for arrow_id in stage.arrows:
            arrow = next(a for a in pipe.ARROWS if a.id == arrow_id)
            # every highlighted arrow runs from an input into the stage or from it to an output
            assert (arrow.source in stage.inputs and arrow.target == stage.id) or (
                arrow.source == stage.id and arrow.target in stage.outputs
            )
        # and every input and output is joined to the stage by one of its arrows
        ends = {a.source for a in pipe.ARROWS if a.id in stage.arrows} | {
            a.target for a in pipe.ARROWS if a.id in stage.arrows
        }
        assert set(stage.inputs) | set(stage.outputs) <= ends
    with pytest.raises(WidgetError, match="JavaScript"):
        w.run({})


def test_pipeline_script_exists_and_marks_ready() -> None:
    script = (ROOT / "docs" / "widgets" / "pipeline.js").read_text(encoding="utf-8")
    assert "export default function mount(root)" in script
    assert 'root.dataset.state = "ready"' in script
    for hook in ("data-stage", "data-inputs", "data-outputs", "data-arrows", "data-panel"):
        assert hook in script and hook in get("rlhf-pipeline").static_html()


# ------------------------------------------------------------------ chapter 4: KL-shaped rewards


def shaped(kl_coef: float, score: float) -> np.ndarray:
    r = -kl_coef * (ksr.POLICY_LOGPROBS - ksr.REF_LOGPROBS)
    r[-1] += score
    return r


def gae_loop(rewards: np.ndarray, values: np.ndarray, gamma: float, lam: float) -> np.ndarray:
    adv, running = np.zeros_like(rewards), 0.0
    for t in reversed(range(len(rewards))):
        next_v = values[t + 1] if t + 1 < len(rewards) else 0.0
        running = rewards[t] + gamma * next_v - values[t] + gamma * lam * running
        adv[t] = running
    return adv


def ideal_values_loop(kl_coef: float, gamma: float) -> np.ndarray:
    """V*_t by a loop: discounted KL penalties to go plus γ^(T−1−t) times the mean score."""
    penalties = -kl_coef * (ksr.POLICY_LOGPROBS - ksr.REF_LOGPROBS)
    n = len(penalties)
    return np.array([
        sum(gamma ** (k - t) * penalties[k] for k in range(t, n))
        + gamma ** (n - 1 - t) * ksr.MEAN_SCORE
        for t in range(n)
    ])


@pytest.mark.parametrize(
    ("kl_coef", "gamma", "lam", "score", "err"),
    [(0.1, 1.0, 0.95, 1.5, 0.5), (0.3, 0.9, 0.5, -1.0, 0.0), (0.0, 1.0, 1.0, 2.0, 1.5)],
)
def test_kl_shaped_rewards_against_a_loop(
    kl_coef: float, gamma: float, lam: float, score: float, err: float
) -> None:
    params = {"kl_coef": kl_coef, "gamma": gamma, "lam": lam, "score": score, "critic_error": err}
    result = get("kl-shaped-rewards").run(params)
    out = {k: v["value"] for k, v in result["readouts"].items()}
    rewards = shaped(kl_coef, score)
    ideal = ideal_values_loop(kl_coef, gamma)
    values = ideal + err * ksr.ERROR_PATTERN
    adv = gae_loop(rewards, values, gamma, lam)
    log_ratio = ksr.POLICY_LOGPROBS - ksr.REF_LOGPROBS
    assert result["charts"][0]["series"][0]["y"] == pytest.approx(rewards.tolist())
    assert result["charts"][1]["series"][0]["y"] == pytest.approx(adv.tolist())
    assert result["charts"][1]["series"][1]["y"] == pytest.approx(
        gae_loop(rewards, ideal, gamma, lam).tolist()
    )
    assert result["charts"][1]["series"][2]["y"] == pytest.approx(values.tolist())
    assert result["charts"][1]["series"][3]["y"] == pytest.approx(ideal.tolist())
    assert out["kl"] == pytest.approx(float(log_ratio.sum()))
    rho = np.exp(-log_ratio)
    assert out["kl_k3"] == pytest.approx(float(np.sum(rho - 1 + log_ratio)))
    assert out["penalty"] == pytest.approx(kl_coef * float(log_ratio.sum()))
    assert out["ret"] == pytest.approx(float(np.sum(gamma ** np.arange(len(rewards)) * rewards)))
    assert out["adv_first"] == pytest.approx(float(adv[0]))
    # the bias term in closed form: (1 − λ) Σ_{k≥1} γ^k λ^(k−1) e_k
    e = err * ksr.ERROR_PATTERN
    bias = (1 - lam) * sum(gamma**k * lam ** (k - 1) * e[k] for k in range(1, len(e)))
    assert out["bias_first"] == pytest.approx(bias, abs=1e-12)
    assert out["spread_first"] == pytest.approx(ksr.SCORE_SD * (gamma * lam) ** (len(e) - 1))


def test_kl_shaped_rewards_special_cases() -> None:
    # γ = 1: the return is the score minus β times the summed log-ratio (8.15 nats)
    out = readouts("kl-shaped-rewards", kl_coef=0.1, gamma=1.0, score=1.5)
    assert out["ret"] == pytest.approx(1.5 - 0.815)
    assert texts("kl-shaped-rewards")["worst"].startswith("“friend”")
    assert texts("kl-shaped-rewards", kl_coef=0.0)["worst"].startswith("none")
    # λ = 0: advantages are the one-step TD errors of the (wrong) critic
    result = get("kl-shaped-rewards").run({"lam": 0.0})
    rewards = shaped(0.1, 1.5)
    values = ideal_values_loop(0.1, 1.0) + 0.5 * ksr.ERROR_PATTERN
    td = rewards + np.append(values[1:], 0.0) - values
    assert result["charts"][1]["series"][0]["y"] == pytest.approx(td.tolist())


# ------------------------------------------------------------------ chapter 5: DPO variants


def closed_form(h: float, beta: float, eps: float) -> dict[str, float]:
    ls = lambda x: -math.log1p(math.exp(-x)) if x > -30 else x  # noqa: E731  log σ(x)
    return {
        "dpo": -ls(beta * h),
        "cdpo": -(1 - eps) * ls(beta * h) - eps * ls(-beta * h),
        "robust": (-(1 - eps) * ls(beta * h) + eps * ls(-beta * h)) / (1 - 2 * eps),
        "hinge": max(0.0, 1 - beta * h),
        "ipo": (h - 1 / (2 * beta)) ** 2,
    }


@pytest.mark.parametrize(
    ("beta", "eps", "h"), [(0.1, 0.1, 2.0), (0.5, 0.0, -3.0), (1.0, 0.3, 12.5), (0.05, 0.45, 0.0)]
)
def test_dpo_variants_losses(beta: float, eps: float, h: float) -> None:
    out = readouts("dpo-variants", beta=beta, label_smoothing=eps, h=h)
    for key, value in closed_form(h, beta, eps).items():
        assert out[f"loss_{key}"] == pytest.approx(value, rel=1e-9, abs=1e-12)
    assert out["stop_hinge"] == pytest.approx(1 / beta)
    assert out["stop_ipo"] == pytest.approx(1 / (2 * beta))
    if eps > 0:
        assert out["stop_cdpo"] == pytest.approx(math.log((1 - eps) / eps) / beta)
    else:
        assert out["stop_cdpo"] is None
        assert (
            texts("dpo-variants", beta=beta, label_smoothing=eps, h=h)["stop_cdpo"] == "never (∞)"
        )


@pytest.mark.parametrize(("beta", "eps"), [(0.1, 0.1), (0.4, 0.25), (1.0, 0.05)])
def test_dpo_variants_push_vanishes_at_the_stop_points(beta: float, eps: float) -> None:
    for key in ("cdpo", "hinge", "ipo"):
        stop = dv.stop_point(key, beta, eps)
        scale = abs(float(dv.push(0.0, key, beta, eps)))
        assert float(dv.push(stop - 0.5, key, beta, eps)) > 0  # still pushing before
        if key != "hinge":  # smooth: zero at the stop, pulling back after
            assert abs(float(dv.push(stop, key, beta, eps))) < 1e-6 * max(1.0, scale)
            assert float(dv.push(stop + 0.5, key, beta, eps)) < 0
        else:  # the hinge goes flat
            assert float(dv.push(stop + 0.5, key, beta, eps)) == pytest.approx(0.0, abs=1e-9)
    hs = np.linspace(dv.H_MIN, dv.H_MAX, 81)
    assert np.all(dv.push(hs, "dpo", beta, eps) > 0)
    assert np.all(dv.push(hs, "robust", beta, eps) > 0)  # robust DPO never stops


@pytest.mark.parametrize(("beta", "eps"), [(0.1, 0.1), (0.5, 0.3)])
def test_robust_dpo_pushes_harder_than_dpo_far_out(beta: float, eps: float) -> None:
    # Closed form: dL/dh = -β[(1-ε)σ(-βh) + εσ(βh)]/(1-2ε) → -εβ/(1-2ε) as h → ∞, while
    # DPO's slope -βσ(-βh) → 0; relative to h = 0 (slope -β/(2(1-2ε))) the push → 2ε.
    far = 400.0 / beta
    assert float(dv.push(far, "robust", beta, eps)) == pytest.approx(eps * beta / (1 - 2 * eps))
    assert float(dv.push(far, "dpo", beta, eps)) < 1e-9
    assert float(dv.loss(far, "robust", beta, eps)) < float(dv.loss(far / 2, "robust", beta, eps)) < 0
    note = get("dpo-variants").run({"beta": beta, "label_smoothing": eps})["note"]
    assert f"2ε = {2 * eps:g}" in note


def test_dpo_variants_charts_and_eps_zero() -> None:
    result = get("dpo-variants").run({"label_smoothing": 0.0})
    out = {k: v["value"] for k, v in result["readouts"].items()}
    assert out["loss_dpo"] == pytest.approx(out["loss_cdpo"]) == pytest.approx(out["loss_robust"])
    push_chart = result["charts"][1]
    i = push_chart["x"].index(0.0)
    for series in push_chart["series"]:
        assert series["y"][i] == pytest.approx(1.0)  # normalised at h = 0


# ------------------------------------------------------------------ chapter 6: KTO and ORPO


@pytest.mark.parametrize(
    ("beta", "z0", "lam_d", "lam_u", "r"),
    [(0.1, 2.0, 1.0, 1.0, 5.0), (0.5, 0.0, 1.33, 1.0, -4.0), (1.0, 8.0, 0.5, 2.25, 8.0)],
)
def test_kto_readouts(beta: float, z0: float, lam_d: float, lam_u: float, r: float) -> None:
    out = readouts("kto", beta=beta, z0=z0, lam_d=lam_d, lam_u=lam_u, log_ratio=r)
    assert out["loss_desirable"] == pytest.approx(lam_d / (1 + math.exp(beta * (r - z0))))
    assert out["loss_undesirable"] == pytest.approx(lam_u / (1 + math.exp(beta * (z0 - r))))
    assert out["value_desirable"] + out["loss_desirable"] == pytest.approx(lam_d)
    assert out["value_undesirable"] + out["loss_undesirable"] == pytest.approx(lam_u)
    assert out["margin"] == pytest.approx(beta * (r - z0))


def test_kto_reference_point_and_saturation() -> None:
    at_z0 = readouts("kto", z0=3.0, log_ratio=3.0, lam_d=1.2, lam_u=0.8)
    assert at_z0["loss_desirable"] == pytest.approx(0.6)  # λ/2 at r = z0
    assert at_z0["loss_undesirable"] == pytest.approx(0.4)
    far = readouts("kto", beta=1.0, z0=0.0, log_ratio=30.0)
    assert far["loss_desirable"] < 1e-12 and far["loss_undesirable"] == pytest.approx(1.0)
    kt = get("kto").run({})["charts"][1]
    x, y = np.array(kt["x"]), np.array(kt["series"][0]["y"])
    assert y[np.argmin(abs(x - 1))] == pytest.approx(1.0)
    assert y[np.argmin(abs(x + 1))] == pytest.approx(-2.25)  # loss aversion


@pytest.mark.parametrize(
    ("lw", "ll", "lam"), [(-0.7, -1.2, 0.1), (-0.05, -3.0, 0.25), (-2.0, -0.5, 1.0)]
)
def test_orpo_readouts(lw: float, ll: float, lam: float) -> None:
    out = readouts("orpo", chosen_avg_logp=lw, rejected_avg_logp=ll, lam=lam)
    pw, pl = math.exp(lw), math.exp(ll)
    odds_w, odds_l = pw / (1 - pw), pl / (1 - pl)
    ratio = math.log(odds_w / odds_l)
    l_or = math.log1p(math.exp(-ratio))
    assert out["odds_chosen"] == pytest.approx(odds_w)
    assert out["odds_rejected"] == pytest.approx(odds_l)
    assert out["log_odds_ratio"] == pytest.approx(ratio)
    assert out["l_or"] == pytest.approx(l_or)
    assert out["nll"] == pytest.approx(-lw)
    assert out["total"] == pytest.approx(-lw + lam * l_or)
    if lw > ll:  # log-odds amplify differences: |log odds ratio| ≥ |log probability ratio|
        assert ratio >= lw - ll


def test_orpo_without_lambda_is_sft_and_chart_matches() -> None:
    out = readouts("orpo", chosen_avg_logp=-0.9, rejected_avg_logp=-0.4, lam=0.0)
    assert out["total"] == pytest.approx(out["nll"])
    chart = get("orpo").run({})["charts"][0]
    marker = chart["markers"][0]
    assert marker["y"] == pytest.approx(readouts("orpo")["l_or"])
    odds, prob = (np.array(s["y"]) for s in chart["series"])
    x = np.array(chart["x"])
    below = x < -0.7  # the rejected response is less likely than the chosen one
    assert np.all(odds[below] <= prob[below] + 1e-12)


# ------------------------------------------------------------------ speed (reported)


def test_compute_time(capsys: pytest.CaptureFixture[str]) -> None:
    rows = []
    for name in COMPUTED:
        w = get(name)
        w.run({})  # warm up
        samples = []
        for _ in range(15):
            start = time.perf_counter()
            w.run({})
            samples.append((time.perf_counter() - start) * 1e3)
        rows.append((name, statistics.median(samples), max(samples)))
    with capsys.disabled():
        print("\nwidget compute time at defaults (CPython, ms): median / max of 15")
        for name, median, worst in rows:
            print(f"  {name:20s} {median:7.2f} / {worst:7.2f}")
    assert all(math.isfinite(m) for _, m, _ in rows)


@pytest.mark.parametrize("name", ["dpo", "dpo-variants", "kto", "orpo"])
def test_chapter_5_6_axis_titles_fit_a_phone(name: str) -> None:
    # At 390 px a chart's plot area is about 300 px wide and 140 px tall: an axis title
    # longer than about 30 characters (x) or 22 (y) is cut off there.
    for chart in get(name).run({})["charts"]:
        assert len(chart["x_label"]) <= 30, chart["x_label"]
        assert len(chart["y_label"]) <= 22, chart["y_label"]
