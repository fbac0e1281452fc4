"""Zero accessibility violations: axe-core on every built page, light and dark (issue 11).

axe-core comes from npm (``node_modules/axe-core/axe.min.js``, pinned in package-lock.json)
and runs in the page after its widgets are ready (or have failed), with every rule axe
enables by default, Material's own markup included.  Any violation fails the test, listing
the rule, its impact and the first nodes.

One browser page per colour scheme visits every page by Material's instant navigation
(Pyodide boots once per scheme), as a reader moving between chapters would.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
SITE = Path(os.environ.get("ALIGNMENT_SITE_DIR", ROOT / "site"))
AXE = ROOT / "node_modules" / "axe-core" / "axe.min.js"
READY_TIMEOUT_MS = 120_000

SETTLED = """() => [...document.querySelectorAll("[data-widget]")].every(
  (e) => e.dataset.state === "ready" || e.dataset.state === "error")"""

RUN_AXE = """async () => {
  const result = await axe.run(document, { resultTypes: ["violations"] });
  return result.violations.map((v) => ({
    id: v.id, impact: v.impact, help: v.help,
    nodes: v.nodes.map((n) => ({ target: n.target.join(" "), summary: n.failureSummary })),
  }));
}"""


def all_pages() -> list[str]:
    """URL paths of every built HTML page (the 404 page included)."""
    if not SITE.is_dir():
        return []
    urls = []
    for path in sorted(SITE.rglob("*.html")):
        rel = path.relative_to(SITE).as_posix()
        if rel.startswith(("assets/", "pyodide/")):
            continue
        urls.append("/" + (rel[: -len("index.html")] if rel.endswith("index.html") else rel))
    return urls


def open_page(page: Any, site_url: str, url: str) -> None:
    """The first page by loading it, the others by instant navigation (a link click)."""
    if url.endswith("404.html") or not page.url.startswith(site_url) or \
            page.url.endswith("404.html"):
        page.goto(site_url + url)
    else:
        page.evaluate(
            """(href) => {
              const a = Object.assign(document.createElement("a"), {href});
              document.querySelector(".md-content").append(a);
              a.click();
              a.remove();
            }""",
            site_url + url,
        )
        page.wait_for_function("(path) => location.pathname === path", arg=url,
                               timeout=READY_TIMEOUT_MS)
    page.wait_for_load_state("load")
    page.wait_for_function(SETTLED, timeout=READY_TIMEOUT_MS)
    if not page.evaluate("() => typeof window.axe === 'object'"):
        page.add_script_tag(path=str(AXE))


#: site.css lets the browser skip the rendering of off-screen blocks (content-visibility: auto)
#: until they scroll near: a reader only ever sees them rendered.  axe-core judges contrast by
#: the rendered boxes (elementsFromPoint), which skipped blocks do not have yet: render them all.
RENDER_ALL = ".md-content__inner > * { content-visibility: visible !important; }"


def violations(page: Any) -> list[dict[str, Any]]:
    page.add_style_tag(content=RENDER_ALL)
    return page.evaluate(RUN_AXE)


def describe(found: list[dict[str, Any]]) -> str:
    lines = []
    for v in found:
        lines.append(f"{v['id']} ({v['impact']}, {len(v['nodes'])} nodes): {v['help']}")
        for n in v["nodes"][:4]:
            summary = " ".join((n["summary"] or "").split())[:300]
            lines.append(f"    {n['target']}: {summary}")
    return "\n".join(lines)


@pytest.fixture(scope="module")
def scheme_pages(make_context: Any) -> Any:
    """One page per colour scheme, created on first use, closed with the module."""
    made: dict[str, Any] = {}

    def get(scheme: str) -> Any:
        if scheme not in made:
            context = make_context(color_scheme=scheme, viewport={"width": 1280, "height": 900})
            page = context.new_page()
            page.guard = context.guard
            made[scheme] = page
        return made[scheme]

    yield get
    for page in made.values():
        page.context.close()


PAGES = all_pages()


@pytest.mark.parametrize("scheme", ["light", "dark"])
@pytest.mark.parametrize("url", PAGES, ids=[u.strip("/") or "home" for u in PAGES])
def test_no_axe_violations(scheme_pages: Any, site_url: str, url: str, scheme: str) -> None:
    assert AXE.is_file(), f"{AXE} is missing: run `npm ci --no-audit --no-fund`"
    page = scheme_pages(scheme)
    open_page(page, site_url, url)
    want = "slate" if scheme == "dark" else "default"
    assert page.evaluate("() => document.body.dataset.mdColorScheme") == want
    found = violations(page)
    assert not found, f"{url} ({scheme}):\n{describe(found)}"
    page.guard.check()


def test_every_page_is_audited() -> None:
    """The list above is the built site's pages, home and a notebook among them."""
    assert "/" in PAGES and any("notebooks/" in u for u in PAGES), PAGES
