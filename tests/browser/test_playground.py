"""The playground in Chromium: play, pause, step and reset, and the streamed numbers equal a
run of the same settings in CPython."""

from __future__ import annotations

import math
import re
from typing import Any

import pytest
from alignment_widgets import get
from alignment_widgets.playground import run_offline

READY_TIMEOUT_MS = 120_000
URL = "/playground/"

STATE = """() => {
  const root = document.querySelector('[data-widget="playground"]');
  const s = root.amPlayground;
  return { id: root.id, state: root.dataset.state, playing: root.dataset.playing,
           rows: s ? s.rows : null, updates: s ? s.updates : 0 };
}"""


def open_playground(context: Any, site_url: str, query: str = "") -> Any:
    page = context.new_page()
    page.goto(site_url + URL + query)
    page.wait_for_function(
        "() => document.querySelector('[data-widget=\"playground\"]').dataset.state === 'ready'",
        timeout=READY_TIMEOUT_MS,
    )
    return page


def close(a: float | None, b: float | None) -> bool:
    if a is None or b is None:
        return a is None and b is None
    return math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-12)


def assert_same_rows(streamed: list[list[dict]], params: dict) -> None:
    steps = len(streamed[0]) - 1
    _, expected = run_offline(params, steps=steps)
    assert len(streamed) == len(expected)
    for got_run, want_run in zip(streamed, expected, strict=True):
        assert [r["step"] for r in got_run] == list(range(steps + 1))
        for got, want in zip(got_run, want_run, strict=True):
            for key in ("proxy", "true", "kl", "loss", "accuracy"):
                assert close(got[key], want[key]), (got["step"], key, got[key], want[key])
            assert all(close(a, b) for a, b in zip(got["policy"], want["policy"], strict=True))


def test_play_pause_step_reset_stream_cpythons_numbers(new_context: Any, site_url: str) -> None:
    page = open_playground(new_context(), site_url)
    start = page.evaluate(STATE)
    assert start["playing"] == "false" and [len(r) for r in start["rows"]] == [1, 1]
    page.get_by_role("button", name="Play").click()
    page.wait_for_function("() => document.querySelector('[data-widget=\"playground\"]')"
                           ".amPlayground.rows[0].length > 60", timeout=60_000)
    page.get_by_role("button", name="Pause").click()
    paused_at = page.evaluate(STATE)["updates"]
    page.wait_for_timeout(1000)
    after = page.evaluate(STATE)
    assert after["playing"] == "false"
    assert after["updates"] <= paused_at + 1  # pause takes effect within one update
    assert_same_rows(after["rows"], {})

    length = len(after["rows"][0])
    page.get_by_role("button", name="Step").click()
    page.wait_for_function("(n) => document.querySelector('[data-widget=\"playground\"]')"
                           ".amPlayground.rows[0].length === n + 1", arg=length)
    assert_same_rows(page.evaluate(STATE)["rows"], {})

    page.get_by_role("button", name="Reset").click()
    page.wait_for_function("() => document.querySelector('[data-widget=\"playground\"]')"
                           ".amPlayground.rows[0].length === 1")
    assert page.evaluate(STATE)["rows"] == start["rows"]  # exactly the start state


def test_changing_the_seed_mid_run_starts_again_and_beta_does_not(new_context: Any,
                                                                  site_url: str) -> None:
    page = open_playground(new_context(), site_url)
    root = page.locator('[data-widget="playground"]')
    for _ in range(3):
        page.get_by_role("button", name="Step").click()
        page.wait_for_timeout(200)
    page.wait_for_function("() => document.querySelector('[data-widget=\"playground\"]')"
                           ".amPlayground.rows[0].length === 4")
    root.locator('select[name="method_b"]').select_option("kto")
    page.wait_for_function("() => document.querySelector('[data-widget=\"playground\"]')"
                           ".amPlayground.rows[0].length === 1")
    root.locator('input[name="seed"]').fill("4")
    root.locator('input[name="seed"]').dispatch_event("change")
    page.wait_for_timeout(500)
    page.get_by_role("button", name="Play").click()
    page.wait_for_function("() => document.querySelector('[data-widget=\"playground\"]')"
                           ".amPlayground.rows[0].length > 20", timeout=60_000)
    page.get_by_role("button", name="Pause").click()
    page.wait_for_timeout(800)
    rows = page.evaluate(STATE)["rows"]
    assert_same_rows(rows, {"method_b": "kto", "seed": 4})
    href = root.locator("a.am-share").get_attribute("href")
    assert "method_b=kto" in href and "seed=4" in href


def test_a_shared_link_opens_those_settings(new_context: Any, site_url: str) -> None:
    page = open_playground(new_context(), site_url)
    uid = page.evaluate(STATE)["id"]
    query = f"?{uid}.method_a=bon&{uid}.beta=0.3&{uid}.seed=99#{uid}"  # seed 99: out of range
    page = open_playground(new_context(), site_url, query)
    root = page.locator('[data-widget="playground"]')
    assert root.locator('select[name="method_a"]').input_value() == "bon"
    assert root.locator('input[name="beta"]').input_value() == "0.3"
    assert root.locator('input[name="seed"]').input_value() == "0"  # leniently reset
    page.get_by_role("button", name="Step").click()
    page.wait_for_function("() => document.querySelector('[data-widget=\"playground\"]')"
                           ".amPlayground.rows[0].length === 2")
    assert_same_rows(page.evaluate(STATE)["rows"], {"method_a": "bon", "beta": 0.3})


def test_without_javascript_a_finished_run_is_shown(new_context: Any, site_url: str) -> None:
    page = new_context(java_script_enabled=False).new_page()
    page.goto(site_url + URL)
    root = page.locator('[data-widget="playground"]')
    assert root.get_attribute("data-state") == "static"
    figure = root.locator(".am-pg__static svg[role=img]")
    assert figure.is_visible() and root.locator(".am-pg__static polyline").count() == 6
    assert get("playground").static_html().count("<polyline") == 6
    box = figure.bounding_box()
    assert box and box["width"] > 300


@pytest.mark.parametrize("method", ["ppo", "dpo", "kto", "bon"])
def test_every_method_trains_live(new_context: Any, site_url: str, method: str) -> None:
    page = open_playground(new_context(), site_url)
    root = page.locator('[data-widget="playground"]')
    root.locator('select[name="method_a"]').select_option(method)
    root.locator('select[name="method_b"]').select_option("none")
    page.wait_for_timeout(500)
    page.get_by_role("button", name="Play").click()
    page.wait_for_function("() => document.querySelector('[data-widget=\"playground\"]')"
                           ".amPlayground.rows[0].length > 45", timeout=60_000)
    page.get_by_role("button", name="Pause").click()
    page.wait_for_timeout(800)
    rows = page.evaluate(STATE)["rows"]
    assert len(rows) == 1 and rows[0][-1]["kl"] > 0
    assert_same_rows(rows, {"method_a": method, "method_b": "none"})


def test_without_pyodide_it_says_so_and_keeps_the_finished_run(new_context: Any,
                                                                site_url: str) -> None:
    context = new_context()
    context.route(re.compile(r".*\.wasm(\?.*)?$"), lambda route: route.abort())
    page = context.new_page()
    page.goto(site_url + URL)
    page.wait_for_function(
        "() => document.querySelector('[data-widget=\"playground\"]').dataset.state === 'error'",
        timeout=READY_TIMEOUT_MS,
    )
    root = page.locator('[data-widget="playground"]')
    assert "unavailable" in root.locator(".am-widget__status").inner_text()
    assert root.locator(".am-pg__static svg[role=img]").is_visible()
    assert not root.locator("form.am-pg__controls").is_visible()
