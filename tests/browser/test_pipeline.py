"""The RLHF pipeline diagram (chapter 3): selection by click, focus and keyboard.

``docs/widgets/pipeline.js`` marks a selected stage's inputs, outputs and arrows and shows
only that stage's panel; without JavaScript every panel stays visible.  The expected sets
come from ``alignment_widgets.rlhf_pipeline.STAGES``, not from the page.
"""

from __future__ import annotations

from typing import Any

import pytest
from alignment_widgets import rlhf_pipeline as pipe

PAGE = "/chapters/03-rlhf-pipeline/"
ROOT = '[data-widget="rlhf-pipeline"]'

STATE = """(sel) => {
  const root = document.querySelector(sel);
  const ids = (cls, attr) => [...root.querySelectorAll("." + cls)].map((e) => e.getAttribute(attr)).sort();
  return {
    selected: root.dataset.selected || "",
    inputs: ids("is-input", "data-node"),
    outputs: ids("is-output", "data-node"),
    arrows: ids("is-active", "data-arrow"),
    visible: [...root.querySelectorAll("[data-panel]")].filter((p) => !p.hidden).map((p) => p.dataset.panel),
    pressed: [...root.querySelectorAll("[data-stage]")].filter((s) => s.getAttribute("aria-pressed") === "true").map((s) => s.dataset.stage),
  };
}"""


def expect_selected(page: Any, stage_id: str) -> None:
    stage = next(s for s in pipe.STAGES if s.id == stage_id)
    state = page.evaluate(STATE, ROOT)
    assert state == {
        "selected": stage.id,
        "inputs": sorted(stage.inputs),
        "outputs": sorted(stage.outputs),
        "arrows": sorted(stage.arrows),
        "visible": [stage.id],
        "pressed": [stage.id],
    }


@pytest.fixture
def page(new_context: Any, site_url: str) -> Any:
    page = new_context().new_page()
    page.goto(site_url + PAGE)
    page.wait_for_selector(f'{ROOT}[data-state="ready"]', timeout=30_000)
    return page


def test_click_selects_a_stage_and_its_data(page: Any) -> None:
    for stage in pipe.STAGES:
        page.click(f'[data-stage="{stage.id}"]')
        expect_selected(page, stage.id)


def test_keyboard_moves_between_stages_and_escape_clears(page: Any) -> None:
    first, second, last = (s.id for s in pipe.STAGES)
    page.focus(f'[data-stage="{first}"]')
    expect_selected(page, first)
    page.keyboard.press("ArrowRight")
    expect_selected(page, second)
    page.keyboard.press("End")
    expect_selected(page, last)
    page.keyboard.press("ArrowRight")  # wraps around
    expect_selected(page, first)
    page.keyboard.press("ArrowLeft")
    expect_selected(page, last)
    page.keyboard.press("Escape")
    state = page.evaluate(STATE, ROOT)
    assert state["selected"] == "" and state["arrows"] == [] and state["pressed"] == []
    assert sorted(state["visible"]) == sorted(s.id for s in pipe.STAGES)
    page.keyboard.press("Enter")
    expect_selected(page, last)


def test_tab_reaches_every_stage(page: Any) -> None:
    page.focus(f'[data-stage="{pipe.STAGES[0].id}"]')
    for stage in pipe.STAGES[1:]:
        page.keyboard.press("Tab")
        expect_selected(page, stage.id)


def test_without_javascript_every_panel_is_shown(new_context: Any, site_url: str) -> None:
    page = new_context(java_script_enabled=False).new_page()
    page.goto(site_url + PAGE)
    assert page.get_attribute(ROOT, "data-state") == "static"
    for stage in pipe.STAGES:
        assert page.is_visible(f'[data-panel="{stage.id}"]')
