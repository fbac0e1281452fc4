"""Charts that read at any width (issue 11), at 390 px (a phone) and 1280 px:

* the static SVGs (JavaScript off): every text inside the figure, tick labels of one axis
  never overlapping, integer ticks on an axis that counts, markers drawn in the ink colour;
* the live charts: axis titles (HTML) that wrap inside their box, each axis as wide as its
  widest tick label, category labels that do not collide (rotated or thinned when they
  would), integer ticks on integer axes, the legend inside the figure; the page itself
  never scrolls sideways.
"""

from __future__ import annotations

import itertools
from typing import Any

import alignment_widgets
import numpy as np
import pytest

READY_TIMEOUT_MS = 120_000
WIDTHS = [390, 1280]

SETTLED = """() => [...document.querySelectorAll("[data-widget]")].every(
  (e) => e.dataset.state === "ready" || e.dataset.state === "error")"""

STATIC = """() => [...document.querySelectorAll(".am-chart__static svg.am-svg")].map((svg) => {
  const box = svg.getBoundingClientRect();
  const rect = (el) => { const r = el.getBoundingClientRect(); return [r.left, r.top, r.right, r.bottom]; };
  const texts = [...svg.querySelectorAll("text")].filter((t) => t.textContent.trim())
    .map((t) => ({text: t.textContent, box: rect(t)}));
  const ticks = (axis) => [...svg.querySelectorAll(`g[id^="${axis}tick_"] text`)]
    .map((t) => ({text: t.textContent, box: rect(t)}));
  return {id: svg.closest(".am-widget").id, chart: Number(svg.closest("figure").dataset.chart),
          box: [box.left, box.top, box.right, box.bottom], texts, xticks: ticks("x"), yticks: ticks("y")};
})"""

LIVE = """() => {
  const ctx = document.createElement("canvas").getContext("2d");
  const out = [];
  for (const root of document.querySelectorAll("[data-widget][data-state=ready]")) {
    if (!root.amWidget) continue;
    root.amWidget.charts.forEach((c, i) => {
      const u = c.plot;
      if (!u) return;
      const fig = c.figure.getBoundingClientRect();
      const titles = [...c.liveEl.querySelectorAll(".am-axis-title")].map((t) => {
        const r = t.getBoundingClientRect();
        return {text: t.textContent, overflow: t.scrollWidth > t.clientWidth + 1 || t.scrollHeight > t.clientHeight + 1,
                inside: r.left >= fig.left - 1 && r.right <= fig.right + 1 && r.top >= fig.top - 1 && r.bottom <= fig.bottom + 1};
      });
      const axes = u.axes.map((a, k) => {
        ctx.font = a.font[0];
        const values = (a._values || []).map((v) => (v == null ? "" : String(v)));
        const splits = a._splits || [];
        return {size: a._size, rotate: a._rotate || 0, gap: a.gap, tick: a.ticks.show ? a.ticks.size : 0,
                font: a.font[1], values, widths: values.map((v) => ctx.measureText(v).width / devicePixelRatio),
                pos: splits.map((s) => u.valToPos(k === 0 && c.holder.spec.categories ? s : s, k === 0 ? "x" : "y"))};
      });
      const legend = u.root.querySelector(".u-legend");
      const canvas = u.root.querySelector("canvas").getBoundingClientRect();
      out.push({id: root.id, name: root.dataset.widget, chart: i, titles, axes,
                plotLeft: u.bbox.left / devicePixelRatio, plotWidth: u.bbox.width / devicePixelRatio,
                width: u.width, canvasInside: canvas.left >= fig.left - 1 && canvas.right <= fig.right + 1,
                legendOverflow: legend ? legend.scrollWidth > legend.clientWidth + 1 : false});
    });
  }
  return out;
}"""


WIDGETS_FIT = """() => [...document.querySelectorAll(".am-widget, .am-widget figure, .am-widget svg.am-svg")]
  .filter((el) => { const r = el.getBoundingClientRect(); return r.width && (r.left < -1 || r.right > innerWidth + 1); })
  .map((el) => el.id || el.tagName)"""


def chart_specs(name: str) -> list[Any]:
    w = alignment_widgets.get(name)
    return list(w.compute(**w.defaults()).charts)


def integer_axis(chart: Any) -> bool:
    if chart.categories is not None:
        return False
    x = np.asarray(chart.x, dtype=float)
    x = x[np.isfinite(x)]
    return bool(x.size >= 2 and np.all(x == np.round(x)) and np.min(np.diff(np.unique(x))) >= 1)


def overlaps(boxes: list[list[float]]) -> list[tuple[int, int]]:
    found = []
    for i in range(len(boxes)):
        for j in range(i + 1, len(boxes)):
            a, b = boxes[i], boxes[j]
            if min(a[2], b[2]) - max(a[0], b[0]) > 0.5 and min(a[3], b[3]) - max(a[1], b[1]) > 0.5:
                found.append((i, j))
    return found


@pytest.fixture(scope="module")
def pages_at(make_context: Any) -> Any:
    made: dict[tuple[int, bool], Any] = {}

    def get(width: int, js: bool) -> Any:
        if (width, js) not in made:
            context = make_context(viewport={"width": width, "height": 844},
                                   java_script_enabled=js)
            page = context.new_page()
            page.guard = context.guard
            made[(width, js)] = page
        return made[(width, js)]

    yield get
    for page in made.values():
        page.context.close()


@pytest.mark.parametrize("width", WIDTHS)
def test_static_figures_read_at_any_width(pages_at: Any, site_url: str, url: str,
                                          names: list[str], width: int) -> None:
    page = pages_at(width, False)
    page.goto(site_url + url)
    for svg in page.evaluate(STATIC):
        where = f"{svg['id']} chart {svg['chart']} at {width} px"
        left, top, right, bottom = svg["box"]
        for t in svg["texts"]:
            b = t["box"]
            assert b[0] >= left - 1 and b[2] <= right + 1 and b[1] >= top - 1 and b[3] <= bottom + 1, \
                f"{where}: text {t['text']!r} is outside the figure"
        for axis in ("xticks", "yticks"):
            clash = overlaps([t["box"] for t in svg[axis]])
            assert not clash, f"{where}: {axis} overlap: {[(svg[axis][i]['text'], svg[axis][j]['text']) for i, j in clash]}"
        name = page.get_attribute(f"#{svg['id']}", "data-widget")
        chart = chart_specs(name)[svg["chart"]]
        if integer_axis(chart):
            labels = [t["text"].replace("\u2212", "-") for t in svg["xticks"]]
            assert all(float(v) == int(float(v)) for v in labels if v), f"{where}: x ticks {labels}"
    assert page.evaluate(WIDGETS_FIT) == [], f"{url}: widgets wider than the screen at {width} px (no JS)"
    page.guard.check()


@pytest.mark.parametrize("width", WIDTHS)
def test_live_charts_read_at_any_width(pages_at: Any, site_url: str, url: str,
                                       names: list[str], width: int) -> None:
    page = pages_at(width, True)
    page.goto(site_url + url)
    page.wait_for_function(SETTLED, timeout=READY_TIMEOUT_MS)
    for c in page.evaluate(LIVE):
        where = f"{c['name']} chart {c['chart']} at {width} px"
        for t in c["titles"]:
            assert not t["overflow"] and t["inside"], f"{where}: axis title {t['text']!r} is clipped"
        assert c["canvasInside"], f"{where}: the chart is wider than its figure"
        assert not c["legendOverflow"], f"{where}: the legend overflows"
        x, y = c["axes"][0], c["axes"][1]
        # the y axis holds its widest tick label
        assert max(y["widths"], default=0) + y["tick"] + y["gap"] <= y["size"] + 0.5, f"{where}: y ticks clipped"
        shown = [(p, w) for v, p, w in zip(x["values"], x["pos"], x["widths"], strict=False) if v]
        if x["rotate"]:
            a = np.deg2rad(x["rotate"])
            gaps = [b[0] - a_[0] for a_, b in itertools.pairwise(shown)]
            assert all(g * np.sin(a) >= x["font"] for g in gaps), f"{where}: rotated labels collide"
            need = max(w for _, w in shown) * np.sin(a) + x["font"] * np.cos(a)
            assert need <= x["size"], f"{where}: rotated labels are cut ({need:.0f} > {x['size']})"
        else:
            spans = [(p - w / 2, p + w / 2) for p, w in shown]
            for (_, r0), (l1, _) in itertools.pairwise(spans):
                assert r0 <= l1, f"{where}: x labels collide: {x['values']}"
            if spans:
                assert spans[0][0] >= -c["plotLeft"] - 1 and spans[-1][1] <= c["width"] - c["plotLeft"] + 1, \
                    f"{where}: x labels run off the chart: {x['values']}"
        chart = chart_specs(c["name"])[c["chart"]]
        if integer_axis(chart):
            assert all(float(v) == int(float(v)) for v in x["values"] if v), f"{where}: x ticks {x['values']}"
    assert page.evaluate(WIDGETS_FIT) == [], f"{url}: widgets wider than the screen at {width} px"
    page.guard.check()


def test_markers_never_wear_a_series_colour() -> None:
    """In the static SVG a marker is drawn in the ink (currentColor), hollow, one shape each,
    never in a series colour."""
    import re
    from importlib import util
    from pathlib import Path

    spec = util.spec_from_file_location(
        "am_widgets_hook", Path(__file__).resolve().parents[2] / "docs" / "hooks" / "widgets.py")
    assert spec is not None and spec.loader is not None
    hook = util.module_from_spec(spec)
    spec.loader.exec_module(hook)
    checked = 0
    for name, w in sorted(alignment_widgets.registry().items()):
        if w.compute is None:
            continue
        for i, chart in enumerate(chart_specs(name)):
            if not chart.markers:
                continue
            salt = f"{name}-{i}"
            svg = hook.render_svg(chart, salt)
            colours = {hook._color(s.color, k).lower() for k, s in enumerate(chart.series)}
            for k in range(len(chart.markers)):
                group = re.search(rf'<g id="{salt}-marker-{k}">(.*?)</g>\s*</g>', svg, re.S)
                assert group, f"{name} chart {i}: marker {k} is not drawn"
                paint = set(re.findall(r"(?:fill|stroke): ([^;\"]+)", group.group(1)))
                assert "currentColor" in paint and paint <= {"currentColor", "none"}, (name, i, k, paint)
                assert not {p.lower() for p in paint} & colours
                checked += 1
            assert len(chart.markers) <= len(hook.MARKER_SHAPES), f"{name}: more markers than shapes"
    assert checked, "no chart has a marker"


def test_wide_equations_keep_a_focus_stop_where_layout_is_skipped(make_context: Any,
                                                                 site_url: str) -> None:
    """site.css lets the browser skip laying out off-screen blocks (content-visibility: auto),
    where loader.js cannot measure whether a display equation scrolls sideways.  Such an
    equation keeps the build's focus stop until it is rendered; once a reader has stopped at
    each (a phone's width: several are wider than the column), exactly the equations that
    scroll have one."""
    context = make_context(viewport={"width": 390, "height": 800})
    page = context.new_page()
    page.goto(site_url + "/chapters/04-ppo/")
    page.wait_for_function(SETTLED, timeout=READY_TIMEOUT_MS)
    skipped = page.evaluate("""() => [...document.querySelectorAll(".md-typeset div.arithmatex")]
        .filter((el) => !el.firstElementChild.checkVisibility({ contentVisibilityAuto: true }))
        .map((el) => el.tabIndex)""")
    assert skipped and all(t == 0 for t in skipped), skipped  # not measured: still focusable
    count = page.evaluate("document.querySelectorAll('.md-typeset div.arithmatex').length")
    for i in range(count):  # the reader stops at each equation
        page.evaluate("(i) => document.querySelectorAll('.md-typeset div.arithmatex')[i]"
                      ".scrollIntoView({block: 'center'})", i)
        page.wait_for_timeout(250)  # loader.js measures 150 ms after blocks are rendered
    page.add_style_tag(content=".md-content__inner > * { content-visibility: visible !important; }")
    marks = page.evaluate("""() => [...document.querySelectorAll(".md-typeset div.arithmatex")].map(
        (el) => [el.scrollWidth > el.clientWidth + 1, el.hasAttribute("tabindex")])""")
    assert any(scrolls for scrolls, _ in marks) and not all(scrolls for scrolls, _ in marks)
    assert [scrolls for scrolls, _ in marks] == [stop for _, stop in marks]
    context.close()
