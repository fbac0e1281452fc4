"""No dead control, as a reader sees it: each control of every widget, moved in the browser
from its default to either end (every other option of a choice, the other state of a
toggle), changes what the page shows (issue 11).

tests/test_widget_controls.py checks the same in CPython; here CPython says which readouts
a move changes, and the page must show exactly those new texts, or a new chart (its text
alternative), before the control goes back to its default.
"""

from __future__ import annotations

from typing import Any

import alignment_widgets
import pytest

READY_TIMEOUT_MS = 120_000
MOVE_TIMEOUT_MS = 20_000

SETTLED = """(ids) => ids.every((id) => {
  const s = document.getElementById(id).dataset.state;
  return s === "ready" || s === "error";
})"""

SET = """([id, kind, value]) => {
  const el = document.getElementById(id);
  if (kind === "slider") { el.value = String(value); el.dispatchEvent(new Event("input", {bubbles: true})); }
  else { el.click(); }
}"""

SHOWN = """(id) => {
  const root = document.getElementById(id);
  return {
    state: root.dataset.state,
    readouts: Object.fromEntries([...root.querySelectorAll("[data-readout]")].map(
      (e) => [e.dataset.readout, e.textContent])),
    alts: [...root.querySelectorAll(".am-chart__live")].map((e) => e.getAttribute("aria-label")),
    data: (root.amWidget ? root.amWidget.charts : []).map((c) => c.plot ? JSON.stringify(c.plot.data) : ""),
  };
}"""

SHOWS = """([id, readouts, alts]) => {
  const root = document.getElementById(id);
  return Object.entries(readouts).every(
      ([k, t]) => root.querySelector(`[data-readout="${k}"]`).textContent === t)
    && [...root.querySelectorAll(".am-chart__live")].every((e, i) => e.getAttribute("aria-label") === alts[i]);
}"""


def moves(w: Any) -> list[tuple[Any, str, object, str]]:
    """(control, kind, target value, element id suffix) for each move of ``w``'s controls."""
    out = []
    for c in w.controls:
        if c.kind == "slider":
            out += [(c, "slider", v, "") for v in (c.min, c.max) if v != c.default]
        elif c.kind == "toggle":
            out.append((c, "toggle", not c.default, ""))
        else:
            out += [(c, "choice", v, f"-{k}") for k, (v, _) in enumerate(c.options) if v != c.default]
    return out


def default_id(c: Any) -> str:
    return "" if c.kind != "choice" else f"-{[v for v, _ in c.options].index(c.default)}"


def shows(page: Any, uid: str, result: dict[str, Any]) -> dict[str, Any]:
    texts = {k: v["text"] for k, v in result["readouts"].items()}
    alts = [c["alt"] for c in result["charts"]]
    try:
        page.wait_for_function(SHOWS, arg=[uid, texts, alts], timeout=MOVE_TIMEOUT_MS)
    except Exception:
        pass
    return page.evaluate(SHOWN, uid)


@pytest.fixture(scope="module")
def reader(make_context: Any) -> Any:
    context = make_context()
    page = context.new_page()
    page.guard = context.guard
    yield page
    context.close()


def test_every_control_moves_what_the_page_shows(reader: Any, site_url: str, url: str,
                                                 names: list[str]) -> None:
    page = reader
    page.goto(site_url + url)
    found = page.eval_on_selector_all(
        "[data-widget]:not([data-script])", "els => els.map(e => ({id: e.id, name: e.dataset.widget}))")
    if not found:
        pytest.skip("only script widgets here")
    page.wait_for_function(SETTLED, arg=[r["id"] for r in found], timeout=READY_TIMEOUT_MS)
    dead = []
    for r in found:
        uid, w = r["id"], alignment_widgets.get(r["name"])
        base = w.run({})
        before = shows(page, uid, base)
        assert before["state"] == "ready", f"{w.name} on {url}: {before['state']}"
        for c, kind, value, suffix in moves(w):
            moved = w.run({**base["params"], c.name: value})
            should = {k for k, v in moved["readouts"].items() if v["text"] != base["readouts"][k]["text"]}
            page.evaluate(SET, [f"{uid}-{c.name}{suffix}", kind, value])
            after = shows(page, uid, moved)
            assert after["state"] == "ready", f"{w.name}: {c.name}={value!r}: {after['state']}"
            changed = {k for k in after["readouts"] if after["readouts"][k] != before["readouts"][k]}
            assert should <= changed, f"{w.name}: {c.name}={value!r} did not update {should - changed}"
            if not changed and after["alts"] == before["alts"] and after["data"] == before["data"]:
                dead.append(f"{w.name}.{c.name}={value!r}")
            # back to the default
            page.evaluate(SET, [f"{uid}-{c.name}{default_id(c)}", kind, c.default])
            again = shows(page, uid, base)
            assert again["readouts"] == before["readouts"], f"{w.name}: resetting {c.name}"
    assert not dead, f"controls that change nothing on {url}: {dead}"
    page.guard.check()
