"""A chapter prints as an article (issue 11): with ``emulate_media(media="print")`` no
control, button or settings link is visible, each widget shows its figure at the current
settings with its readouts and a line naming those settings, every figure lies inside the
page box, and a widget that fits on a page is not split across pages.
"""

from __future__ import annotations

from typing import Any

import pytest

READY_TIMEOUT_MS = 120_000
#: A4 at 96 px per inch less Chromium's default margins (0.4 in each side).
PAGE_WIDTH = 717
PAGE_HEIGHT = 1046

SETTLED = """() => [...document.querySelectorAll("[data-widget]")].every(
  (e) => e.dataset.state === "ready" || e.dataset.state === "error")"""

VISIBLE_CONTROLS = """() => {
  const shown = (el) => {
    const r = el.getBoundingClientRect();
    const s = getComputedStyle(el);
    return r.width > 0 && r.height > 0 && s.visibility !== "hidden" && s.display !== "none";
  };
  const sel = "input, button, select, textarea, a.am-share, .md-clipboard, .am-snippet-bar, label[for='__search']";
  return [...document.querySelectorAll(sel)].filter(shown)
    .map((el) => el.outerHTML.slice(0, 120));
}"""

FIGURES = """(width) => {
  const out = [];
  const sel = ".am-widget, figure, svg.am-svg, .am-chart__live canvas, .md-content img, .pl-figure svg";
  for (const el of document.querySelectorAll(sel)) {
    const r = el.getBoundingClientRect();
    if (!r.width || !r.height) continue;
    if (r.left < -1 || r.right > width + 1)
      out.push(`${el.tagName.toLowerCase()}.${el.className.baseVal ?? el.className}: ${Math.round(r.left)}..${Math.round(r.right)}`);
  }
  return out;
}"""

WIDGETS = """() => [...document.querySelectorAll("[data-widget]")].map((root) => {
  const style = getComputedStyle(root);
  const live = root.querySelector(".am-chart__live canvas");
  return {
    name: root.dataset.widget, script: Boolean(root.dataset.script), state: root.dataset.state,
    breakInside: style.breakInside,
    settings: root.querySelector(".am-widget__settings")?.innerText || "",
    readouts: [...root.querySelectorAll("[data-readout]")].every((e) => e.getBoundingClientRect().height > 0),
    live: Boolean(live && live.getBoundingClientRect().width > 0),
  };
})"""


@pytest.fixture(scope="module")
def printer(make_context: Any) -> Any:
    context = make_context(viewport={"width": PAGE_WIDTH, "height": PAGE_HEIGHT})
    page = context.new_page()
    page.guard = context.guard
    yield page
    context.close()


def test_a_chapter_prints_as_an_article(printer: Any, site_url: str, url: str,
                                        names: list[str]) -> None:
    page = printer
    page.emulate_media(media="screen")
    page.goto(site_url + url)
    page.wait_for_function(SETTLED, timeout=READY_TIMEOUT_MS)
    # a reader moved a control before printing: the print shows that setting
    moved = page.evaluate("""() => {
      const input = document.querySelector(".am-widget[data-state=ready]:not([data-script]) form.am-controls input[type=range]");
      if (!input) return null;
      input.value = input.max;
      input.dispatchEvent(new Event("input", {bubbles: true}));
      return {id: input.closest(".am-widget").id, label: document.querySelector(`label[for="${input.id}"]`).textContent,
              value: input.closest(".am-control").querySelector("output").textContent};
    }""")
    if moved:
        page.wait_for_function(
            "([id, text]) => document.getElementById(id).querySelector('.am-widget__settings').textContent.includes(text)",
            arg=[moved["id"], f"{moved['label']}: {moved['value']}"], timeout=READY_TIMEOUT_MS)
    page.emulate_media(media="print")
    page.evaluate("() => new Promise((r) => requestAnimationFrame(() => requestAnimationFrame(r)))")
    assert page.evaluate(VISIBLE_CONTROLS) == [], f"{url}: controls visible in print"
    assert page.evaluate(FIGURES, PAGE_WIDTH) == [], f"{url}: figures outside the page box"
    for w in page.evaluate(WIDGETS):
        assert w["breakInside"] == "avoid", w
        if w["script"]:
            continue
        assert w["settings"].startswith("Settings — "), w
        assert w["readouts"], f"{w['name']}: readouts hidden in print"
        if w["state"] == "ready":
            assert w["live"], f"{w['name']}: the current chart is not printed"
    if moved:
        settings = page.locator(f"#{moved['id']} .am-widget__settings")
        assert settings.is_visible() and f"{moved['label']}: {moved['value']}" in settings.inner_text()
    pdf = page.pdf(format="A4")
    assert pdf.startswith(b"%PDF")
    page.emulate_media(media="screen")
    page.guard.check()
