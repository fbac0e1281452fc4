"""Every widget on every page of the built site, in headless Chromium, against CPython.

Widgets are found by scanning the built HTML for ``data-widget``; nothing here lists
them.  For each computed widget: it reaches ``ready``; each slider moved by keyboard
(ArrowRight, Home, End) and by setting a value, each toggle and each choice, changes the
readouts to exactly the text ``alignment_widgets.compute`` gives in CPython for the
parameters the page shows, and the chart's text alternative follows.  With JavaScript
off the static figure is there; with the Pyodide wasm blocked the widget says so and
the page keeps working.  Waits are on ``data-state`` and readout text, never on sleeps.
"""

from __future__ import annotations

import json
import re
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import alignment_widgets
import pytest

READY_TIMEOUT_MS = 120_000
MOVE_TIMEOUT_MS = 20_000

SETTLED = """(ids) => ids.every((id) => {
  const s = document.getElementById(id).dataset.state;
  return s === "ready" || s === "error";
})"""

READ_PARAMS = """(id) => {
  const out = {};
  for (const el of document.getElementById(id).querySelectorAll("form.am-controls input[name]")) {
    if (el.type === "range") out[el.name] = el.value;
    else if (el.type === "checkbox") out[el.name] = el.checked;
    else if (el.type === "radio" && el.checked) out[el.name] = el.value;
  }
  return out;
}"""

SHOWS = """([id, readouts, alts]) => {
  const root = document.getElementById(id);
  if (root.dataset.state === "error") return true;
  const texts = Object.entries(readouts).every(
    ([k, t]) => root.querySelector(`[data-readout="${k}"]`).textContent === t);
  const live = [...root.querySelectorAll(".am-chart__live")];
  return texts && alts.every((a, i) => live[i] && live[i].getAttribute("aria-label") === a);
}"""

SNAPSHOT = """(id) => {
  const root = document.getElementById(id);
  return {
    state: root.dataset.state,
    status: root.querySelector(".am-widget__status")?.textContent || "",
    readouts: Object.fromEntries([...root.querySelectorAll("[data-readout]")].map(
      (e) => [e.dataset.readout, e.textContent])),
  };
}"""

SET_VALUE = """([id, value]) => {
  const el = document.getElementById(id);
  el.value = value;
  el.dispatchEvent(new Event("input", { bubbles: true }));
}"""


def roots(page: Any) -> list[dict[str, str]]:
    return page.eval_on_selector_all(
        "[data-widget]",
        "els => els.map(e => ({id: e.id, name: e.dataset.widget, script: e.dataset.script || ''}))",
    )


def expected(name: str, raw: dict[str, object]) -> dict[str, Any]:
    return alignment_widgets.get(name).run(raw)


def check_shows_python(page: Any, uid: str, name: str, what: str) -> dict[str, object]:
    """Wait until the widget shows CPython's readouts for the parameters its inputs hold."""
    raw = page.evaluate(READ_PARAMS, uid)
    want = expected(name, raw)
    texts = {k: v["text"] for k, v in want["readouts"].items()}
    alts = [c["alt"] for c in want["charts"]]
    try:
        page.wait_for_function(SHOWS, arg=[uid, texts, alts], timeout=MOVE_TIMEOUT_MS)
    except Exception:
        pass
    got = page.evaluate(SNAPSHOT, uid)
    assert got["state"] == "ready", f"{name} after {what} with {raw}: {got['state']}: {got['status']}"
    assert got["readouts"] == texts, f"{name} after {what} with {raw}"
    shown = page.eval_on_selector_all(f"#{uid} .am-chart__live", "els => els.map(e => e.ariaLabel)")
    assert shown == alts, f"{name} after {what} with {raw}: the charts' text alternatives"
    return raw


def near(a: object, b: float, step: float) -> bool:
    return abs(float(a) - b) <= abs(step) * 1e-6  # type: ignore[arg-type]


def grid(control: Any, fraction: float) -> float:
    decimals = max(0, -int(f"{control.step:e}".split("e")[1])) + 2
    n = round((control.max - control.min) * fraction / control.step)
    return round(control.min + n * control.step, decimals)


def wait_settled(page: Any, ids: list[str]) -> None:
    page.wait_for_function(SETTLED, arg=ids, timeout=READY_TIMEOUT_MS)


def visit(page: Any, site_url: str, url: str, names: list[str]) -> list[dict[str, str]]:
    """Open ``url``: the first time by loading it, then by Material's instant navigation
    (a click on a link), as a reader moves between chapters; the page's one worker
    keeps running.  Returns the page's widget roots once they are in the DOM."""
    if page.url.startswith(site_url):
        page.evaluate(
            """(href) => {
              const a = Object.assign(document.createElement("a"), {href});
              document.querySelector(".md-content").append(a);
              a.click();
              a.remove();
            }""",
            site_url + url,
        )
        page.wait_for_function(
            """([path, names]) => location.pathname === path && JSON.stringify(
                 [...document.querySelectorAll("[data-widget]")].map((e) => e.dataset.widget))
               === JSON.stringify(names)""",
            arg=[url, names], timeout=READY_TIMEOUT_MS,
        )
    else:
        page.goto(site_url + url)
    return roots(page)


@pytest.fixture(scope="module")
def live_page(make_context: Any) -> Any:
    """One page for all live tests: Pyodide boots once, pages follow by instant navigation."""
    context = make_context()
    page = context.new_page()
    page.guard = context.guard
    yield page
    context.close()


@pytest.fixture(scope="module")
def blocked_page(make_context: Any) -> Any:
    """One page whose browser refuses every .wasm file (so Pyodide cannot start)."""
    context = make_context()
    context.route(re.compile(r".*\.wasm(\?.*)?$"), lambda route: route.abort())
    page = context.new_page()
    page.guard = context.guard
    yield page
    context.close()


# --------------------------------------------------------------------------- live widgets


def test_every_widget_follows_python(live_page: Any, site_url: str, url: str,
                                     names: list[str]) -> None:
    page = live_page
    found = visit(page, site_url, url, names)
    assert [r["name"] for r in found] == names
    wait_settled(page, [r["id"] for r in found])
    for r in found:
        uid, name = r["id"], r["name"]
        snap = page.evaluate(SNAPSHOT, uid)
        assert snap["state"] == "ready", f"{name} on {url}: {snap['state']}: {snap['status']}"
        if r["script"]:
            continue  # drawn in JavaScript: its interactions are tested by its author
        w = alignment_widgets.get(name)
        check_shows_python(page, uid, name, "loading")
        for c in w.controls:
            cid = f"{uid}-{c.name}"
            if c.kind == "slider":
                box = page.locator(f"#{cid}")
                box.focus()
                page.keyboard.press("ArrowRight")
                raw = check_shows_python(page, uid, name, f"ArrowRight on {c.name}")
                assert near(raw[c.name], min(c.default + c.step, c.max), c.step), raw
                page.keyboard.press("Home")
                raw = check_shows_python(page, uid, name, f"Home on {c.name}")
                assert near(raw[c.name], c.min, c.step), raw
                page.keyboard.press("End")
                raw = check_shows_python(page, uid, name, f"End on {c.name}")
                assert near(raw[c.name], c.max, c.step), raw
                value = grid(c, 1 / 3)
                page.evaluate(SET_VALUE, [cid, str(value)])
                raw = check_shows_python(page, uid, name, f"setting {c.name}={value}")
                assert near(raw[c.name], value, c.step), raw
                shown = page.locator(f'#{uid} output[data-value-for="{c.name}"]').text_content()
                assert shown.split()[0] == f"{value:.{len(str(c.step).split('.')[1]) if '.' in str(c.step) else 0}f}"
                page.evaluate(SET_VALUE, [cid, str(c.default)])
                check_shows_python(page, uid, name, f"resetting {c.name}")
            elif c.kind == "toggle":
                for _ in range(2):
                    page.locator(f"#{cid}").click()
                    raw = check_shows_python(page, uid, name, f"toggling {c.name}")
                assert raw[c.name] is c.default
            elif c.kind == "choice":
                order = [k for k, (v, _) in enumerate(c.options) if v != c.default]
                order.append(next(k for k, (v, _) in enumerate(c.options) if v == c.default))
                for k in order:
                    page.locator(f"#{cid}-{k}").click()
                    raw = check_shows_python(page, uid, name, f"choosing {c.options[k][0]}")
                    assert raw[c.name] == c.options[k][0]
    page.guard.check()


def test_fast_drags_coalesce_to_the_latest_value(live_page: Any, site_url: str,
                                                 pages: list[Any]) -> None:
    url, names, root = next(((u, ns, n) for u, ns in pages for n in ns
                             if alignment_widgets.get(n).compute and any(
                                 c.kind == "slider" for c in alignment_widgets.get(n).controls)),
                            (None, None, None))
    assert url, "no page has a computed widget with a slider"
    page = live_page
    visit(page, site_url, url, names)
    uid = page.eval_on_selector(f'[data-widget="{root}"]', "e => e.id")
    wait_settled(page, [uid])
    slider = next(c for c in alignment_widgets.get(root).controls if c.kind == "slider")
    values = [grid(slider, k / 40) for k in range(41)]
    sent = page.evaluate(
        """([id, values]) => {
          const w = document.getElementById(id.split("|")[0]).amWidget;
          const before = w.requests;
          const el = document.getElementById(id.split("|")[1]);
          for (const v of values) { el.value = v; el.dispatchEvent(new Event("input", {bubbles: true})); }
          return before;
        }""",
        [f"{uid}|{uid}-{slider.name}", [str(v) for v in values]],
    )
    raw = check_shows_python(page, uid, root, "a burst of 41 moves")
    assert near(raw[slider.name], values[-1], slider.step)
    made = page.evaluate("(id) => document.getElementById(id).amWidget.requests", uid) - sent
    assert made <= 3, f"41 synchronous moves made {made} computations; they should coalesce"
    # one Python worker for the page, however many widgets and chapters it has shown
    workers = [w.url for w in page.workers if "/widgets/worker.js" in w.url]
    assert len(workers) == 1, workers
    page.guard.check()


def test_an_exception_in_compute_breaks_only_that_widget(live_page: Any, site_url: str,
                                                        pages: list[Any]) -> None:
    page = live_page
    url, names = next(((u, ns) for u, ns in pages
                       if sum(1 for n in ns if alignment_widgets.get(n).compute) >= 2), pages[0])
    found = [r for r in visit(page, site_url, url, names) if not r["script"]]
    wait_settled(page, [r["id"] for r in found])
    broken = found[0]["id"]
    # an input the compute function does not accept: Python raises, the widget reports it
    page.evaluate(
        """(id) => {
          const form = document.getElementById(id).querySelector("form.am-controls");
          const bad = Object.assign(document.createElement("input"),
                                    {type: "range", name: "no_such_parameter", id: "am-bad"});
          form.append(bad);
          bad.dispatchEvent(new Event("input", {bubbles: true}));
        }""",
        broken,
    )
    page.wait_for_function("(id) => document.getElementById(id).dataset.state === 'error'",
                           arg=broken, timeout=MOVE_TIMEOUT_MS)
    snap = page.evaluate(SNAPSHOT, broken)
    assert "no_such_parameter" in snap["status"]
    assert page.locator(f"#{broken} .am-chart__static svg").first.is_visible()
    for other in found[1:]:
        assert page.evaluate(SNAPSHOT, other["id"])["state"] == "ready"
    # removing the bad input and moving a control recovers
    page.evaluate("() => document.getElementById('am-bad').remove()")
    first = next(c for c in alignment_widgets.get(found[0]["name"]).controls if c.kind == "slider")
    page.evaluate(SET_VALUE, [f"{broken}-{first.name}", str(grid(first, 0.5))])
    check_shows_python(page, broken, found[0]["name"], "recovering")
    page.guard.check()


# --------------------------------------------------------------------------- without the runtime


def test_static_figure_without_javascript(new_context: Any, site_url: str, url: str,
                                          names: list[str]) -> None:
    page = new_context(java_script_enabled=False).new_page()
    page.goto(site_url + url)
    for r in roots(page):
        root = page.locator(f"#{r['id']}")
        assert root.get_attribute("data-state") == "static"
        if r["script"]:
            assert root.locator(".am-widget__static").inner_text().strip(), r["name"]
            continue
        want = expected(r["name"], {})
        for key, readout in want["readouts"].items():
            assert root.locator(f'[data-readout="{key}"]').text_content() == readout["text"]
        svgs = root.locator(".am-chart__static svg[role=img]")
        assert svgs.count() == len(want["charts"])
        for i, chart in enumerate(want["charts"]):
            svg = svgs.nth(i)
            assert svg.is_visible()
            assert svg.get_attribute("aria-label") == chart["alt"]
            box = svg.bounding_box()
            assert box and box["width"] > 200 and box["height"] > 100


def test_blocked_pyodide_shows_an_error_and_the_page_works(blocked_page: Any, site_url: str,
                                                           url: str, names: list[str]) -> None:
    page = blocked_page
    computed = [r for r in visit(page, site_url, url, names) if not r["script"]]
    if not computed:
        pytest.skip("only script widgets here (they do not use Pyodide)")
    wait_settled(page, [r["id"] for r in computed])
    for r in computed:
        snap = page.evaluate(SNAPSHOT, r["id"])
        assert snap["state"] == "error", f"{r['name']}: {snap}"
        status = page.locator(f"#{r['id']} .am-widget__status")
        assert status.is_visible() and "unavailable" in snap["status"]
        assert page.locator(f"#{r['id']} .am-chart__static svg").first.is_visible()
    # the page still works: the light/dark toggle switches the scheme
    scheme = page.evaluate("() => document.body.dataset.mdColorScheme")
    page.locator("form[data-md-component=palette] label:visible").first.click()
    page.wait_for_function("(s) => document.body.dataset.mdColorScheme !== s", arg=scheme)
    page.guard.check()


def test_no_page_references_an_outside_resource(site_dir: Any) -> None:
    """No script, stylesheet, font, image or frame of the built site comes from another host."""
    pattern = re.compile(
        r"<(?:script|img|iframe|source|audio|video)\b[^>]*\bsrc=[\"']((?:https?:)?//[^\"']+)"
        r"|<link\b(?=[^>]*\brel=[\"'](?:stylesheet|preload|modulepreload|icon|manifest|prefetch)"
        r"[\"'])[^>]*\bhref=[\"']((?:https?:)?//[^\"']+)"
        r"|@import\s+(?:url\()?[\"']?((?:https?:)?//[^\"')]+)"
        r"|url\([\"']?((?:https?:)?//[^\"')]+)",
        re.I,
    )
    offenders = {}
    for path in site_dir.rglob("*"):
        if path.suffix in {".html", ".css"} and "pyodide" not in path.parts:
            hits = [next(g for g in m.groups() if g) for m in pattern.finditer(path.read_text("utf-8"))]
            hits = [h for h in hits if not h.startswith(("http://127.0.0.1", "//127.0.0.1"))]
            if hits:
                offenders[path.relative_to(site_dir).as_posix()] = hits[:3]
    assert not offenders, json.dumps(offenders, indent=1)


def test_a_shared_link_restores_the_settings_leniently(live_page: Any, site_url: str,
                                                       pages: list[Any]) -> None:
    """The widget's link carries its parameters; opening it restores them, after Python
    validated them with Widget.params(raw, lenient=True) (bad values fall back to defaults)."""
    url, names, name = next(((u, ns, n) for u, ns in pages for n in ns
                             if alignment_widgets.get(n).compute and sum(
                                 c.kind == "slider" for c in alignment_widgets.get(n).controls) >= 2),
                            (None, None, None))
    assert url, "no page has a computed widget with two sliders"
    w = alignment_widgets.get(name)
    first, second = [c for c in w.controls if c.kind == "slider"][:2]
    page = live_page
    visit(page, site_url, url, names)
    uid = page.eval_on_selector(f'[data-widget="{name}"]', "e => e.id")
    wait_settled(page, [uid])
    value = grid(first, 0.25)
    page.evaluate(SET_VALUE, [f"{uid}-{first.name}", str(value)])
    check_shows_python(page, uid, name, f"setting {first.name}={value}")
    href = page.get_attribute(f"#{uid} a.am-share", "href")
    query = dict(parse_qsl(urlsplit(href).query))
    assert near(query[f"{uid}.{first.name}"], value, first.step) and href.endswith(f"#{uid}"), href
    # tamper with the link: an out-of-range value and an unknown name
    tampered = href.replace(f"#{uid}", "") + f"&{uid}.{second.name}=1e9&{uid}.no_such=3#{uid}"
    other = page.context.new_page()
    other.goto(tampered)
    wait_settled(other, [uid])
    raw = other.evaluate(READ_PARAMS, uid)
    assert near(raw[first.name], value, first.step), raw
    assert near(raw[second.name], second.default, second.step), raw
    assert w.params({first.name: value, second.name: "1e9", "no_such": 3}, lenient=True) == w.params(raw)
    check_shows_python(other, uid, name, "opening a shared link")
    other.close()
    page.guard.check()


SNIPPET_DONE = """(i) => {
  const b = document.querySelectorAll("div.language-python.highlight[data-snippet]")[i];
  return b && (b.dataset.snippet === "done" || b.dataset.snippet === "failed");
}"""


def test_code_blocks_run_in_the_page_and_can_be_edited(live_page: Any, site_url: str,
                                                       site_dir: Any) -> None:
    """A Run button under a ```python block runs it in the page's worker; the output is
    what the same code prints in CPython (alignment_widgets._snippets.run)."""
    from alignment_widgets._snippets import run

    candidates = []
    for path in sorted(site_dir.rglob("index.html")):
        text = path.read_text("utf-8")
        if 'class="language-python highlight"' in text and "&gt;&gt;&gt;" in text:
            rel = "/" + path.relative_to(site_dir).as_posix()[: -len("index.html")]
            names = re.findall(r'<div class="am-widget[^"]*" data-widget="([^"]+)"', text)
            candidates.append((rel, names))
    assert candidates, "no page has a doctest-style python block"
    url, names = min(candidates, key=lambda c: (len(c[1]), c[0]))
    page = live_page
    visit(page, site_url, url, names)
    blocks = page.locator("div.language-python.highlight[data-snippet]")
    assert blocks.count() >= 1, f"no runnable block on {url}"
    index = next(i for i in range(blocks.count()) if ">>>" in blocks.nth(i).locator("code").inner_text())
    block = blocks.nth(index)
    code = block.locator("code").inner_text()
    output = page.locator(".am-snippet-output").nth(index)
    runs = page.locator("button.am-run").nth(index)

    def run_and_read() -> tuple[str, str]:
        runs.click()
        page.wait_for_function(SNIPPET_DONE, arg=index, timeout=READY_TIMEOUT_MS)
        return block.get_attribute("data-snippet"), output.text_content()

    ok, expected = run(code, {})
    state, text = run_and_read()
    assert (state, text) == ("done" if ok else "failed", expected or "(no output)")
    block.locator("code").fill("values = [6 * 7]\nprint(values[0])")
    assert run_and_read() == ("done", "42\n")
    block.locator("code").fill(">>> values + [1]\n")  # the page's namespace persists
    assert run_and_read() == ("done", "[42, 1]\n")
    block.locator("code").fill("1 / 0")
    state, text = run_and_read()
    assert state == "failed" and text.strip().endswith("ZeroDivisionError: division by zero")
    page.guard.check()


def test_charts_follow_the_light_and_dark_scheme(live_page: Any, site_url: str,
                                                 pages: list[Any]) -> None:
    url, names = next((u, ns) for u, ns in pages if any(alignment_widgets.get(n).compute for n in ns))
    page = live_page
    found = [r for r in visit(page, site_url, url, names) if not r["script"]]
    wait_settled(page, [r["id"] for r in found])
    uid = found[0]["id"]
    axis_color = """(id) => {
      const plot = document.getElementById(id).amWidget.charts[0].plot;
      const stroke = plot.axes[0].stroke;
      return typeof stroke === "function" ? stroke(plot, 0) : stroke;
    }"""
    fg = "() => getComputedStyle(document.body).getPropertyValue('--md-default-fg-color').trim()"
    for _ in range(2):
        scheme = page.evaluate("() => document.body.dataset.mdColorScheme")
        page.locator("form[data-md-component=palette] label:visible").first.click()
        page.wait_for_function("(s) => document.body.dataset.mdColorScheme !== s", arg=scheme)
        page.wait_for_function(f"(id) => ({axis_color})(id) === ({fg})()", arg=uid, timeout=MOVE_TIMEOUT_MS)
    page.guard.check()
