"""CPython tests of the three proving widgets and of the build hook that renders widgets.

The widgets' numbers must be alignment_math's numbers (checked here against the
formulas written out independently); the hook must emit the DOM contract the browser
runtime and tests rely on, and must fail the build on an unknown widget.
"""

from __future__ import annotations

import importlib.util
import math
import re
from pathlib import Path
from types import SimpleNamespace

import alignment_widgets
import numpy as np
import pytest
from alignment_widgets import WidgetError
from mkdocs.exceptions import PluginError

ROOT = Path(__file__).resolve().parents[1]


def _load_hook():
    spec = importlib.util.spec_from_file_location("am_widgets_hook", ROOT / "docs/hooks/widgets.py")
    module = importlib.util.module_from_spec(spec)
    assert spec.loader is not None
    spec.loader.exec_module(module)
    return module


hook = _load_hook()


def sigmoid(x: float) -> float:
    return 1.0 / (1.0 + math.exp(-x))


def values(name: str, **params: object) -> dict[str, float]:
    out = alignment_widgets.compute(name, params)
    return {k: v["value"] for k, v in out["readouts"].items()}


# --------------------------------------------------------------------------- the widgets


@pytest.mark.parametrize("gap, margin", [(1.0, 0.0), (-3.2, 0.0), (0.0, 1.5), (6.0, 3.0), (-6.0, 0.4)])
def test_bradley_terry_matches_the_formula(gap: float, margin: float) -> None:
    got = values("bradley-terry", gap=gap, margin=margin)
    assert got["prob"] == pytest.approx(sigmoid(gap), rel=1e-12)
    assert got["loss"] == pytest.approx(-math.log(sigmoid(gap - margin)), rel=1e-12)


def test_bradley_terry_chart_marks_the_current_point_on_the_curve() -> None:
    out = alignment_widgets.compute("bradley-terry", {"gap": 2.0, "margin": 0.5})
    chart = out["charts"][0]
    marker = chart["markers"][0]
    assert marker["x"] == 2.0
    assert marker["y"] == pytest.approx(out["readouts"]["loss"]["value"])
    x = np.array(chart["x"])
    loss = np.array(chart["series"][0]["y"])
    assert np.interp(2.0, x, loss) == pytest.approx(marker["y"], rel=1e-3)
    assert "current gap" in chart["alt"]


@pytest.mark.parametrize(
    "advantage, eps, ratio",
    [(1.0, 0.2, 1.5), (1.0, 0.2, 0.5), (-1.0, 0.2, 0.5), (-1.0, 0.2, 1.5), (0.0, 0.1, 2.0), (2.0, 0.5, 1.0)],
)
def test_ppo_clip_matches_the_formula(advantage: float, eps: float, ratio: float) -> None:
    got = values("ppo-clip", advantage=advantage, clip_eps=eps, ratio=ratio)
    clipped_ratio = min(max(ratio, 1 - eps), 1 + eps)
    assert got["clipped"] == pytest.approx(min(ratio * advantage, clipped_ratio * advantage))
    assert got["unclipped"] == pytest.approx(ratio * advantage)


def test_ppo_clip_shades_the_clip_region_and_draws_both_curves() -> None:
    chart = alignment_widgets.compute("ppo-clip", {"clip_eps": 0.3})["charts"][0]
    assert chart["bands"][0]["x0"] == pytest.approx(0.7)
    assert chart["bands"][0]["x1"] == pytest.approx(1.3)
    assert chart["x"][0] == 0.0 and chart["x"][-1] == 2.0
    clipped, unclipped = (np.array(s["y"]) for s in chart["series"])
    assert np.all(clipped <= unclipped + 1e-12)  # the clipped surrogate is a lower bound


@pytest.mark.parametrize("chosen, rejected, beta", [(1.0, -1.0, 0.1), (-4.0, 3.0, 0.5), (0.0, 0.0, 1.0)])
def test_dpo_matches_the_formula(chosen: float, rejected: float, beta: float) -> None:
    got = values("dpo", chosen_logratio=chosen, rejected_logratio=rejected, beta=beta)
    h = chosen - rejected
    assert got["loss"] == pytest.approx(-math.log(sigmoid(beta * h)), rel=1e-12)
    assert got["reward_chosen"] == pytest.approx(beta * chosen)
    assert got["reward_rejected"] == pytest.approx(beta * rejected)
    assert got["weight"] == pytest.approx(sigmoid(-beta * h), rel=1e-12)


def test_dpo_at_equal_log_ratios_is_ln2() -> None:
    got = values("dpo", chosen_logratio=0.7, rejected_logratio=0.7)
    assert got["loss"] == pytest.approx(math.log(2.0))
    assert got["weight"] == pytest.approx(0.5)


@pytest.mark.parametrize("name", ["bradley-terry", "ppo-clip", "dpo"])
def test_widget_rejects_bad_parameters_with_a_sentence(name: str) -> None:
    w = alignment_widgets.get(name)
    with pytest.raises(WidgetError, match="has no parameter 'nope'"):
        w.run({"nope": 1})
    slider = w.controls[0]
    with pytest.raises(WidgetError, match=rf"{slider.name} must be in"):
        w.run({slider.name: slider.max + 1})
    # a shared link is read leniently: bad values fall back to the defaults
    assert w.params({slider.name: "x", "nope": 1}, lenient=True) == w.defaults()


def test_readout_text_is_formatted_by_python() -> None:
    out = alignment_widgets.compute("dpo", {})
    assert out["readouts"]["loss"]["text"] == f"{out['readouts']['loss']['value']:.3f} nats"


# --------------------------------------------------------------------------- the hook


def _page(src: str = "chapters/x.md") -> SimpleNamespace:
    return SimpleNamespace(file=SimpleNamespace(src_uri=src))


def _render(markdown: str) -> str:
    slots = hook.on_page_markdown(markdown, _page(), None, None)
    return hook.on_page_content(slots, _page(), None, None)


def test_hook_renders_the_dom_contract_at_defaults() -> None:
    html = _render("Text\n\n[[widget ppo-clip]]\n\nMore")
    w = alignment_widgets.get("ppo-clip")
    expected = w.run({})
    assert re.search(r'<div class="am-widget" data-widget="ppo-clip" data-state="static"', html)
    names = re.findall(r'<input type="range"[^>]* name="([^"]+)"', html)
    assert names == [c.name for c in w.controls]
    for c in w.controls:
        assert re.search(rf'<label for="w-ppo-clip-{c.name}">', html)
    for key, readout in expected["readouts"].items():
        assert f'data-readout="{key}">{readout["text"]}<' in html
    svg = re.search(r'<svg class="am-svg" role="img" aria-label="([^"]+)"', html)
    assert svg and svg.group(1) == expected["charts"][0]["alt"].replace("'", "&#x27;")
    assert "<title>" in html and "currentColor" in html
    # the value shown beside a slider uses the step's decimals and the unit
    assert 'data-value-for="ratio">1.50<' in html


def test_hook_renders_toggles_and_choices_as_native_inputs() -> None:
    from alignment_widgets import Choice, Readout, Result, Toggle, Widget

    def compute(flag: bool, mode: str) -> Result:
        return Result(readouts={"out": f"{mode}:{flag}"})

    w = Widget(
        "test-inputs", "T", "S",
        controls=(Toggle("flag", "A flag", True), Choice("mode", "Mode", (("a", "A"), ("b", "B")))),
        readouts=(Readout("out", "Out"),),
        compute=compute,
    )
    html = hook.render_widget(w, "w-t")
    assert re.search(r'<input type="checkbox" id="w-t-flag" name="flag" checked disabled>', html)
    radios = re.findall(r'<input type="radio" id="[^"]+" name="([^"]+)" value="([^"]+)"', html)
    assert radios == [("mode", "a"), ("mode", "b")]
    assert '<legend>Mode</legend>' in html
    assert 'data-readout="out">a:True<' in html


def test_hook_fails_the_build_on_an_unknown_widget() -> None:
    with pytest.raises(PluginError, match=r"chapters/x.md:3: unknown widget 'no-such'.*bradley-terry"):
        hook.on_page_markdown("a\n\n[[widget no-such]]\n", _page(), None, None)


def test_hook_leaves_widget_lines_inside_code_fences_alone() -> None:
    markdown = "```markdown\n[[widget no-such]]\n```\n"
    assert hook.on_page_markdown(markdown, _page(), None, None) == markdown


def test_two_copies_of_a_widget_on_a_page_get_distinct_ids() -> None:
    html = _render("[[widget dpo]]\n\n[[widget dpo]]\n")
    ids = re.findall(r' id="(w-dpo[^"]*)"', html)
    assert len(ids) == len(set(ids)) and "w-dpo" in ids and "w-dpo-2" in ids


@pytest.mark.parametrize(
    "value, step, unit, text",
    [(1.0, 0.1, "", "1.0"), (0.2, 0.01, "", "0.20"), (3, 1, "rounds", "3 rounds"), (-0.0, 0.1, "", "0.0")],
)
def test_slider_value_format(value: float, step: float, unit: str, text: str) -> None:
    assert hook.format_value(value, step, unit) == text


def test_get_imports_only_the_widgets_own_module_first() -> None:
    """The browser's first computation imports one widget module, not all of them."""
    import subprocess
    import sys

    code = (
        "import sys, alignment_widgets as a\n"
        "a.get('dpo')\n"
        "others = [m for m in sys.modules if m.startswith('alignment_widgets.') and m not in "
        "('alignment_widgets._spec', 'alignment_widgets.dpo')]\n"
        "assert not a._loaded and not others, others\n"
        "try:\n    a.get('no-such-widget')\nexcept a.WidgetError as e:\n    print(e)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert "unknown widget 'no-such-widget'" in out.stdout and "bradley-terry" in out.stdout


def test_snippet_runner_prints_like_the_interpreter() -> None:
    from alignment_widgets._snippets import run

    doc = ">>> from alignment_math import bradley_terry_probability\n" \
          ">>> round(float(bradley_terry_probability(1.0, 0.0)), 4)\n0.7311\n"
    assert run(doc, {}) == (True, "0.7311\n")
    namespace: dict[str, object] = {}
    assert run("x = 6 * 7\nprint(x)", namespace) == (True, "42\n")
    assert run(">>> x + 1\n", namespace) == (True, "43\n")
    ok, out = run(">>> 1\n>>> undefined_name\n>>> 2\n", {})
    assert not ok and out.startswith("1\nTraceback") and out.endswith(
        "NameError: name 'undefined_name' is not defined\n") and "_snippets" not in out


def test_a_widget_inside_an_admonition_stays_inside_it() -> None:
    import markdown

    source = '!!! example "Try it"\n\n    Some text.\n\n    [[widget dpo]]\n\nAfter.\n'
    slots = hook.on_page_markdown(source, _page(), None, None)
    body = markdown.markdown(slots, extensions=["admonition", "md_in_html"])
    html = hook.on_page_content(body, _page(), None, None)
    admonition = html[html.index('<div class="admonition example">'):html.index("<p>After.</p>")]
    assert 'data-widget="dpo"' in admonition
