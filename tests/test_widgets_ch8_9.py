"""The widgets of chapters 8–9 (critique and revision, AI feedback, step toggles, best-of-N),
checked against expectations derived independently of the widgets' code: hand
computations, the arithmetic of the word problem redone here, and relations that must hold
whatever the random draws.  The generic checks (valid JSON at every extreme, compute time)
are in tests/test_widgets_ch7_11.py."""

from __future__ import annotations

import itertools
import re

import numpy as np
import pytest
from alignment_widgets import Choice, Readout, Result, Toggle, WidgetError, get
from alignment_widgets import _texts as texts
from alignment_widgets import critique_revision as cr
from alignment_widgets import step_toggles as st
from alignment_widgets._spec import Widget


def run(name: str, **params: object) -> dict:
    return get(name).run(params)


def value(result: dict, key: str) -> float:
    return result["readouts"][key]["value"]


def text(result: dict, key: str) -> str:
    return result["readouts"][key]["text"]


# --------------------------------------------------------------------------- text readouts


def test_a_text_readout_must_be_a_string() -> None:
    w = Widget("t", "T", "S", readouts=(Readout("out", "Out", kind="text"),),
               compute=lambda: Result(readouts={"out": 1.0}))
    with pytest.raises(WidgetError, match="text readout 'out' must be a string"):
        w.run({})
    with pytest.raises(WidgetError, match="kind must be"):
        Readout("x", "X", kind="paragraph")  # type: ignore[arg-type]


# --------------------------------------------------------------------------- critique and revision


def test_critique_revision_zero_rounds_is_the_start() -> None:
    result = run("critique-revision", rounds=0)
    assert value(result, "worst_start") == value(result, "worst_end") == pytest.approx(0.2)
    assert text(result, "applied") == "none"
    assert text(result, "rounds_text").startswith("No round yet")
    # The harmful start: harm 0.8 (high), help 0.7 (high), claims 0.3 (low), evasive 0 (low).
    start = text(result, "start_text")
    assert start.startswith(f"User: {texts.PROMPT}\nResponse: ")
    assert "fake one-star reviews" in start and "small-claims court" in start


def test_critique_revision_first_round_by_hand() -> None:
    # The harmful start scores 0.2 on "Avoid harm", its worst principle; one revision of
    # strength s removes s of the remaining harm: 0.8 → 0.8·(1 − s).
    result = run("critique-revision", start="harmful", rounds=1, strength=0.4)
    assert text(result, "applied") == "Avoid harm"
    assert value(result, "harm_end") == pytest.approx(0.8 * 0.6)
    # Side effect stated in the model: help falls by 0.4 per unit of harm removed.
    assert value(result, "helpful_end") == pytest.approx(0.7 - 0.4 * 0.32)
    evasive = run("critique-revision", start="evasive", rounds=1)
    assert text(evasive, "applied") == "Don't evade: explain any refusal"


def test_critique_revision_improves_the_worst_principle() -> None:
    for start in ("harmful", "overconfident", "evasive"):
        result = run("critique-revision", start=start, rounds=6)
        assert value(result, "worst_end") > value(result, "worst_start") + 0.3
    scores = run("critique-revision", rounds=8)["charts"][0]["series"]
    assert all(0.0 <= y <= 1.0 for s in scores for y in s["y"])
    random_a = run("critique-revision", selection="random", rounds=8)
    random_b = run("critique-revision", selection="random", rounds=8)
    assert random_a == random_b  # seeded: a deterministic function of the controls


def test_response_text_follows_each_attribute_level() -> None:
    # harm 0.8 → 0.4 after one revision of strength 0.5: the fake reviews go, a milder
    # exaggeration stays (mid); help 0.7 → 0.54 (mid): the evidence and the court go.
    result = run("critique-revision", rounds=1, strength=0.5)
    rounds = text(result, "rounds_text")
    assert rounds.startswith("Round 1, principle “Avoid harm”\nCritique: ")
    revision = rounds.split("Revision: ", 1)[1]
    assert "fake one-star" not in revision
    assert "sound worse than he is" in revision
    assert "keep a copy of everything" in revision and "small-claims" not in revision


def test_every_reachable_state_reads_as_one_coherent_reply() -> None:
    """All 81 level combinations: every response is non-empty, carries exactly the sentence
    its harm level calls for, and a fully evasive reply gives no explanation."""
    point = {"low": 0.1, "mid": 0.5, "high": 0.9}
    seen = set()
    for levels in itertools.product(texts.LEVELS, repeat=4):
        attrs = [point[lv] for lv in levels]
        reply = texts.response_text(attrs)
        assert reply and "  " not in reply
        harm, _, _, evasive = levels
        assert ("fake one-star" in reply) == (harm == "high")
        assert ("sound worse than he is" in reply) == (harm == "mid")
        if evasive == "high":
            assert reply.startswith("I'm sorry") and "I wouldn't try" not in reply
        seen.add(reply)
    assert len(seen) > 40  # the levels really change the words


def test_critiques_match_the_target_level() -> None:
    for p in range(len(cr.PRINCIPLES)):
        for lv, x in (("low", 0.1), ("mid", 0.5), ("high", 0.9)):
            assert texts.critique_text(p, x) == texts.CRITIQUES[p][lv]
    # The critique of round k is keyed by its target attribute *before* the revision:
    # the overconfident start's claims are 0.8, so round 1 quotes the triple-deposit promise.
    result = run("critique-revision", start="overconfident", rounds=1)
    assert "three times the deposit" in text(result, "rounds_text").split("Revision:")[0]


def test_unchanged_wording_says_why() -> None:
    # Random order, harmful start: round 1 applies "Be helpful" to a reply already high on
    # help; with a tiny strength nothing crosses a level, so the wording stays and says so.
    result = run("critique-revision", selection="random", rounds=1, strength=0.1)
    assert text(result, "applied") == "Be helpful"
    assert "(No change: the principle was already satisfied.)" in text(result, "rounds_text")
    weak = run("critique-revision", start="evasive", rounds=1, strength=0.1)
    assert "(Wording unchanged: this edit was too small" in text(weak, "rounds_text")
    # At strength 0.5 the same needless "Be helpful" round adds 0.0375 of unsupported
    # claims (0.25 per unit of help added, 0.15 added): 0.3 → 0.3375 crosses 1/3, so an
    # unsupported claim appears, and the widget says why the wording moved anyway.
    side = text(run("critique-revision", selection="random", rounds=1), "rounds_text")
    assert "Tenants almost always win" in side
    assert side.endswith("the edit's side effects still changed the wording.)")


def test_the_widget_says_its_texts_are_illustrative() -> None:
    w = get("critique-revision")
    assert "not model outputs" in w.summary
    label = next(r.label for r in w.readouts if r.key == "rounds_text")
    assert "not model outputs" in label


# --------------------------------------------------------------------------- step toggles


def _profit(ok: tuple[bool, ...]) -> float:
    """The word problem redone independently: 40 on Monday, 25 % more on Tuesday, $3 a
    muffin, $1.20 to make; each wrong step is the mistake the widget's text names."""
    tue = 50 if ok[0] else 65  # 40 × 1.25, or 40 + 25
    total = 40 + tue if ok[1] else 2 * tue
    revenue = 3 * total if ok[2] else 3 * 40
    cost = 1.2 * total + (0 if ok[3] else 10)
    return revenue - cost + (0 if ok[4] else 10)


def test_step_toggles_controls_are_toggles_and_a_choice() -> None:
    controls = {c.name: c for c in get("step-toggles").controls}
    assert all(isinstance(controls[f"step{i}"], Toggle) for i in range(1, 6))
    assert isinstance(controls["aggregate"], Choice)
    assert controls["aggregate"].default == "prod"  # Lightman et al.'s choice (§2.6)
    assert "lucky" not in controls  # whether errors cancel is decided by the arithmetic


@pytest.mark.parametrize("ok", list(itertools.product([True, False], repeat=5)))
def test_step_toggles_answer_follows_the_arithmetic(ok: tuple[bool, ...]) -> None:
    params = {f"step{k + 1}": v for k, v in enumerate(ok)}
    result = run("step-toggles", **params)
    profit = _profit(ok)
    right = abs(profit - 162) < 1e-9
    chain = text(result, "chain")
    assert text(result, "answer") == f"{st._money(profit)} ({'right' if right else 'wrong'})"
    lines = chain.split("\n")
    assert lines[0] == f"Problem: {st.PROBLEM}"
    for k, good in enumerate(ok):
        assert lines[k + 1].startswith(f"{k + 1}. {'✓' if good else '✗'} ")
        assert ("Wrong:" in lines[k + 1]) == (not good)
    last = lines[-1]
    if all(ok):
        assert last == "Answer: $162, right, and every step is right."
    elif right:
        assert "right for the wrong reason" in last
    else:
        first = ok.index(False) + 1
        assert last.endswith(f"the chain breaks at step {first}.")
        assert text(result, "first_error") == f"step {first}"
    # The ORM judges the answer only; c = 0.9 by default.
    assert value(result, "orm") == pytest.approx(0.9 if right else 0.1)


def test_step_toggles_only_the_two_slips_cancel() -> None:
    cancelling = [ok for ok in itertools.product([True, False], repeat=5)
                  if not all(ok) and abs(_profit(ok) - 162) < 1e-9]
    assert cancelling == [(True, True, True, False, False)]
    result = run("step-toggles", step4=False, step5=False, confidence=0.8)
    assert value(result, "orm") == pytest.approx(0.8)
    assert value(result, "prm") == pytest.approx(0.8**3 * 0.2**2)
    assert text(result, "verdict") == "ORM accepts a flawed chain; PRM rejects it"
    chain = text(result, "chain")
    assert "Cost: 90 × $1.20 = $118." in chain and "Profit: $270 − $118 = $162." in chain
    assert chain.endswith("the mistakes in steps 4 and 5 cancel.")


@pytest.mark.parametrize(
    ("aggregate", "expected"),
    [("min", 0.1), ("prod", 0.9**4 * 0.1), ("mean", (4 * 0.9 + 0.1) / 5), ("last", 0.9)],
)
def test_step_toggles_one_bad_step(aggregate: str, expected: float) -> None:
    result = run("step-toggles", step3=False, aggregate=aggregate, confidence=0.9)
    assert value(result, "prm") == pytest.approx(expected)
    assert value(result, "orm") == pytest.approx(0.1)  # revenue $120: the answer is wrong
    assert text(result, "first_error") == "step 3"
    # "mean" and "last" accept the flawed chain; the verdict says which aggregate hid it.
    if aggregate in ("mean", "last"):
        assert text(result, "verdict").startswith("PRM accepts a flawed chain")


def test_step_toggles_later_steps_carry_an_early_error() -> None:
    result = run("step-toggles", step1=False)
    lines = text(result, "chain").split("\n")
    assert "40 + 25 = 65 muffins" in lines[1]
    assert "40 + 65 = 105" in lines[2] and "earlier mistake" in lines[2]
    assert "$315 − $126 = $189" in lines[5]
    assert text(result, "answer") == "$189 (wrong)"


def test_step_toggles_product_rejects_a_sound_chain_at_low_confidence() -> None:
    result = run("step-toggles", confidence=0.55)  # 0.55⁵ ≈ 0.05: the length penalty
    assert value(result, "prm") == pytest.approx(0.55**5)
    assert text(result, "verdict") == "ORM accepts; the PRM's product rejects a sound chain"
    assert text(run("step-toggles", confidence=0.55, aggregate="min"), "verdict") == (
        "both accept a sound chain")


def test_money_formatting() -> None:
    assert [st._money(x) for x in (162, 108.0000001, 2.5, -36)] == [
        "$162", "$108", "$2.50", "−$36"]


# --------------------------------------------------------------------------- every control moves a readout


@pytest.mark.parametrize("name", ["critique-revision", "ai-feedback", "step-toggles",
                                  "best-of-n"])
def test_each_control_at_either_end_changes_a_readout(name: str) -> None:
    w = get(name)
    base = {k: r["text"] for k, r in w.run({})["readouts"].items()}
    for c in w.controls:
        if c.kind == "slider":
            targets = [c.min, c.max]
        elif c.kind == "toggle":
            targets = [not c.default]
        else:
            targets = [v for v, _ in c.options]
        for t in targets:
            if t == c.default:
                continue
            moved = {k: r["text"] for k, r in w.run({c.name: t})["readouts"].items()}
            assert moved != base, f"{name}: {c.name} = {t!r} changes no readout"


# --------------------------------------------------------------------------- AI feedback, best-of-N


def test_ai_feedback_features_are_isotropic_gaussian() -> None:
    # The θ/π agreement formula needs isotropic Gaussian feature differences (chapter 8):
    # the widget's differences are N(0, 2·I) in R⁵.
    from alignment_widgets import ai_feedback as af

    diff = af.TRAIN_A - af.TRAIN_B
    cov = np.cov(diff, rowvar=False)
    assert np.allclose(cov, 2 * np.eye(af.N_FEATURES), atol=0.25)
    # ... so the systematic labeler agrees on 1 − θ/π of pairs, θ = π(1 − agreement).
    v = af.ai_direction(0.75)
    agree = np.mean((diff @ v > 0) == (diff @ af.TRUE_W > 0))
    assert agree == pytest.approx(0.75, abs=0.03)


def test_best_of_n_majority_at_two_equals_one_sample() -> None:
    # Exercise 4 of chapter 9: with two samples, a majority either agrees with the first
    # or is a tie broken at random, so it is right as often as one sample on average.
    res = run("best-of-n")
    maj = np.array(next(s["y"] for s in res["charts"][0]["series"]
                        if s["label"] == "majority vote"))
    assert abs(maj[1] - maj[0]) < 8  # percentage points, 200 problems


def test_chapter_texts_have_no_leftover_placeholders() -> None:
    for reply in (texts.response_text([0.9, 0.9, 0.9, 0.9]), st.solve((True,) * 5)[1][0]):
        assert not re.search(r"[{}]", reply)


def test_the_hook_renders_a_text_readout_as_a_block() -> None:
    """docs/hooks/widgets.py: a kind="text" readout gets the am-readout--text box (full
    width, line breaks kept by the CSS), its text escaped; value readouts are unchanged."""
    import importlib.util
    from pathlib import Path

    path = Path(__file__).resolve().parents[1] / "docs" / "hooks" / "widgets.py"
    spec = importlib.util.spec_from_file_location("widgets_hook_for_ch8_9", path)
    assert spec and spec.loader
    hook = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(hook)
    html = hook.render_widget(get("step-toggles"), "w-step-toggles")
    boxes = re.findall(r'<div class="(am-readout[^"]*)"><dt>[^<]*</dt><dd data-readout="(\w+)">',
                       html)
    assert ("am-readout am-readout--text", "chain") in boxes
    assert ("am-readout", "prm") in boxes
    chain = re.search(r'<dd data-readout="chain">(.*?)</dd>', html, re.S)
    assert chain and "\n2. ✓ Muffins sold" in chain.group(1)
    css = (path.parents[1] / "widgets" / "widgets.css").read_text(encoding="utf-8")
    assert re.search(r"\.am-readout--text dd \{[^}]*white-space: pre-line", css)
