"""The playground widget's Python side: the run state behind docs/widgets/playground.js."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest
from alignment_widgets import get
from alignment_widgets import playground as pg

from alignment_math import optimal_policy

ROOT = Path(__file__).resolve().parents[1]


def send(message: dict) -> dict:
    return json.loads(pg.live(json.dumps(message)))


def test_it_is_a_script_widget_with_declared_controls():
    w = get("playground")
    assert w.compute is None and w.script == "playground"
    assert {c.name for c in w.controls} >= {"method_a", "method_b", "beta", "lr", "clip_eps",
                                            "flaw", "strength", "seed", "speed"}
    # a shared link is validated leniently, like every other widget's
    params = w.params({"beta": "0.3", "seed": "99", "method_a": "kto", "bogus": 1}, lenient=True)
    assert params["beta"] == 0.3 and params["method_a"] == "kto" and params["seed"] == 0


def test_reset_returns_exactly_to_the_start_state():
    first = send({"key": "t1", "op": "reset", "params": {}})["describe"]
    send({"key": "t1", "op": "step", "steps": 7})
    again = send({"key": "t1", "op": "reset", "params": {}})["describe"]
    assert again == first
    assert [row["step"] for row in first["start"]] == [0, 0]


def test_the_same_seed_gives_the_same_numbers_however_the_steps_are_chunked():
    send({"key": "a", "op": "reset", "params": {"seed": 3}})
    send({"key": "b", "op": "reset", "params": {"seed": 3}})
    chunked = [send({"key": "a", "op": "step", "steps": n})["rows"] for n in (1, 4, 2, 50, 3)]
    whole = send({"key": "b", "op": "step", "steps": 50})["rows"]
    flat = [[row for c in chunked for row in c[i]] for i in range(2)]
    for run in range(2):
        assert flat[run][:50] == whole[run]
    other = send({"key": "c", "op": "reset", "params": {"seed": 4}})["describe"]
    assert other["start"] != send({"key": "a", "op": "reset", "params": {"seed": 3}})["describe"]["start"]


def test_beta_changes_mid_run_but_the_seed_resets():
    send({"key": "m", "op": "reset", "params": {}})
    send({"key": "m", "op": "step", "steps": 5})
    answer = send({"key": "m", "op": "set", "params": {"beta": 0.5}})
    assert answer["reset"] is False
    rows = send({"key": "m", "op": "step", "steps": 1})["rows"]
    assert rows[0][0]["step"] == 6
    answer = send({"key": "m", "op": "set", "params": {"beta": 0.5, "seed": 2}})
    assert answer["reset"] is True
    assert send({"key": "m", "op": "step", "steps": 1})["rows"][0][0]["step"] == 1


def test_bad_messages_are_one_sentence_answers():
    assert send({"key": "z", "op": "step", "steps": 1})["error"].startswith("WidgetError: no run")
    send({"key": "z", "op": "reset", "params": {}})
    assert "steps must be a whole number" in send({"key": "z", "op": "step", "steps": 0})["error"]
    assert "beta must be in" in send({"key": "z", "op": "set", "params": {"beta": 9}})["error"]
    assert "op must be one of" in send({"key": "z", "op": "fly"})["error"]
    assert json.loads(pg.live("{nope"))["ok"] is False


def trajectory(params, steps=300):
    _, rows = pg.run_offline(params, steps=steps)
    return rows


def test_at_small_beta_the_proxy_climbs_while_the_true_reward_peaks_and_falls():
    rlhf, _dpo = trajectory({})  # defaults: PPO vs DPO, length-biased annotators, beta 0.05
    proxy = np.array([r["proxy"] for r in rlhf])
    true = np.array([r["true"] for r in rlhf])
    peak = int(np.argmax(true))
    assert 0 < peak < len(true) - 20
    assert true[-1] < true[peak] - 0.05  # the truth falls after its peak...
    assert proxy[-1] > proxy[peak] + 0.1  # ...while the proxy keeps climbing
    assert rlhf[-1]["kl"] > rlhf[peak]["kl"] > rlhf[pg.RM_STEPS]["kl"]  # paid for in KL


def test_with_flawless_annotators_the_true_reward_does_not_fall():
    rlhf, _ = trajectory({"strength": 0.0})
    true = np.array([r["true"] for r in rlhf])
    assert true[-1] > true.max() - 0.02 and true[-1] > true[0] + 0.5


def test_rlhf_first_trains_its_reward_model_and_then_moves_the_policy():
    rlhf, _ = trajectory({}, steps=pg.RM_STEPS + 5)
    accuracy = [r["accuracy"] for r in rlhf]
    assert accuracy[0] == 0.0 and accuracy[pg.RM_STEPS] > 0.7
    assert all(r["kl"] == 0.0 for r in rlhf[: pg.RM_STEPS + 1]) and rlhf[-1]["kl"] > 0


def test_ppo_runs_approach_the_optimal_policy_of_their_reward_model():
    session, _ = pg.run_offline({"beta": 0.5, "method_b": "none", "lr": 3.0}, steps=600)
    run = session.runs[0]
    ref = np.exp(pg.log_softmax(session.data.task.ref_logits))
    target = optimal_policy(ref, session.data.task.features @ run.rm, 0.5)
    assert np.max(np.abs(np.exp(pg.log_softmax(run.theta)) - target)) < 0.05


@pytest.mark.parametrize("method", ["kto", "bon"])
def test_every_method_trains_and_reports_finite_metrics(method):
    rows = trajectory({"method_a": method, "method_b": "none"}, steps=40)[0]
    assert rows[-1]["kl"] > 0.01 and rows[-1]["proxy"] > rows[0]["proxy"]
    assert all(np.isfinite([r["proxy"], r["true"], r["kl"]]).all() for r in rows)
    assert abs(sum(rows[-1]["policy"]) - 1) < 1e-9


def test_the_static_figure_shows_a_finished_run_with_its_numbers():
    html = get("playground").static_html()
    assert html.count("<polyline") == 6  # 2 runs x (proxy, true) + 2 frontier lines
    _, rows = pg.run_offline(steps=pg.STATIC_STEPS)
    final = rows[0][-1]
    assert f"true reward {final['true']:.2f} at KL {final['kl']:.2f}" in html
    for control in get("playground").controls:
        assert f'name="{control.name}"' in html
    assert re.search(r'data-action="play"', html) and "Turn on JavaScript" in html


def test_the_script_mounts_and_talks_through_the_live_message():
    script = (ROOT / "docs" / "widgets" / "playground.js").read_text(encoding="utf-8")
    assert "export default async function mount(root)" in script
    assert 'import { ask } from "./loader.js"' in script
    worker = (ROOT / "docs" / "widgets" / "worker.js").read_text(encoding="utf-8")
    assert "data.live !== undefined" in worker and "live: entry.live" in worker


@pytest.mark.parametrize("loss_type", ["sigmoid", "robust", "hinge", "ipo"])
def test_every_dpo_loss_type_stays_finite_at_the_largest_learning_rate(loss_type):
    for beta in (0.01, 1.0):
        rows = trajectory({"method_a": "dpo", "method_b": "none", "loss_type": loss_type,
                           "lr": 3.0, "beta": beta}, steps=150)[0]
        assert all(r["loss"] is not None and abs(r["loss"]) < 1e6 for r in rows[1:]), loss_type
        assert rows[-1]["kl"] < 5.0


@pytest.mark.parametrize("method", ["ppo", "kto", "bon"])
def test_every_method_stays_finite_at_the_ends_of_the_sliders(method):
    for beta in (0.01, 1.0):
        rows = trajectory({"method_a": method, "method_b": "none", "lr": 3.0, "beta": beta,
                           "clip_eps": 1.0}, steps=120)[0]
        assert all(np.isfinite([r["proxy"], r["true"], r["kl"]]).all() for r in rows)
        assert json.dumps(rows, allow_nan=False)


# ------------------------------------------------------------------ the page's experiments


def curve(rows, key="true"):
    return np.array([r[key] for r in rows])


@pytest.mark.parametrize("seed", range(10))
def test_experiment_2_without_the_flaw_no_seed_turns_down(seed):
    rlhf = trajectory({"strength": 0.0, "seed": seed, "method_b": "none"}, steps=400)[0]
    true = curve(rlhf)
    assert true[-1] > true.max() - 0.01


def test_experiment_3_position_bias_is_noise_and_full_label_noise_is_fitted_by_dpo():
    rlhf, dpo = trajectory({"flaw": "position", "strength": 1.0}, steps=400)
    assert curve(rlhf)[-1] > curve(rlhf)[0] + 0.3 and curve(dpo)[-1] > curve(dpo)[0] + 0.3
    rlhf, dpo = trajectory({"flaw": "noise", "strength": 1.0}, steps=400)
    assert rlhf[-1]["accuracy"] < 0.6
    assert abs(curve(rlhf, "proxy")[-1] - curve(rlhf, "proxy")[0]) < 0.1
    assert curve(dpo)[-1] < curve(dpo)[0] - 0.05 and dpo[-1]["kl"] > 0.2


def test_experiment_4_a_large_beta_levels_off_lower():
    small = curve(trajectory({"method_b": "none"}, steps=400)[0])
    large_rows = trajectory({"beta": 1.0, "method_b": "none"}, steps=400)[0]
    large = curve(large_rows)
    assert large[-1] > large.max() - 0.02 and large.max() < small.max()
    assert large_rows[-1]["kl"] < 0.5 * trajectory({"method_b": "none"}, steps=400)[0][-1]["kl"]


def test_experiment_5_dpo_at_beta_0_3_also_peaks_and_falls():
    _, dpo = trajectory({"beta": 0.3}, steps=400)
    true = curve(dpo)
    assert true[-1] < true.max() - 0.1 and curve(dpo, "kl")[-1] > curve(dpo, "kl")[int(true.argmax())]


def test_experiment_8_best_of_n_stays_within_its_kl_bound():
    from alignment_math import best_of_n_kl

    bon = trajectory({"method_a": "bon", "method_b": "none"}, steps=60)[0]
    assert all(r["kl"] <= best_of_n_kl(r["step"] + 1) + 1e-9 for r in bon)


def test_the_page_states_the_sizes_the_code_uses():
    page = (ROOT / "docs" / "playground.md").read_text(encoding="utf-8")
    assert f"There are {pg.N_PROMPTS} prompts with {pg.N_RESPONSES} candidate responses" in page
    assert f"{pg.N_PAIRS} comparisons" in page and f"first {pg.RM_STEPS} steps" in page
    assert f"draws {pg.SAMPLES_PER_PROMPT} responses per prompt" in page
    scales = pg.LR_SCALE
    assert f"multiply it by {scales['dpo']:g} and {scales['kto']:g}" in page
    assert f"by {pg.IPO_LR_SCALE:g}), PPO by {scales['ppo']:g}" in page
    assert "takes four clipped gradient steps" in page
    import inspect

    from alignment_math import ppo_step
    assert inspect.signature(ppo_step).parameters["epochs"].default == 4
