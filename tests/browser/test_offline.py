"""Reading offline (issue 11, item 5): the service worker keeps each page the reader visited,
with the site's own CSS, JS and fonts and the self-hosted Pyodide, so a visited chapter reopens
offline with working widgets; a new build's service worker replaces the old pages.

These tests let the service worker run (the other browser tests block it) and serve their own
copy of the built site (hard links), so that a "new build" can change ``sw.js`` without
touching the site the other tests use.
"""

from __future__ import annotations

import functools
import http.server
import os
import re
import shutil
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any, ClassVar

import alignment_widgets
import pytest
from playwright.sync_api import Error as PlaywrightError

READY_TIMEOUT_MS = 180_000
WIDGET = "dpo"

CACHES = "async () => await caches.keys()"
KEPT = """async (url) => {
  for (const key of await caches.keys()) {
    if (key.startsWith("alignment-math-pages-") && await (await caches.open(key)).match(url)) return true;
  }
  return false;
}"""
PRECACHED = """async (n) => {
  for (const key of await caches.keys()) {
    if (key.startsWith("alignment-math-") && !key.startsWith("alignment-math-pages-")) {
      return (await (await caches.open(key)).keys()).length >= n;
    }
  }
  return false;
}"""


class _Handler(http.server.SimpleHTTPRequestHandler):
    extensions_map: ClassVar[dict[str, str]] = {
        **http.server.SimpleHTTPRequestHandler.extensions_map,
        ".mjs": "text/javascript", ".js": "text/javascript", ".wasm": "application/wasm",
        ".json": "application/json", ".whl": "application/octet-stream",
        ".zip": "application/zip", ".gz": "application/octet-stream",
    }

    def log_message(self, *args: Any) -> None:
        pass

    def handle(self) -> None:
        try:
            super().handle()
        except (BrokenPipeError, ConnectionResetError):
            pass


@pytest.fixture
def own_site(site_dir: Path, tmp_path: Path) -> Iterator[tuple[Path, str]]:
    """(a hard-linked copy of the built site, its URL on 127.0.0.1)."""
    copy = tmp_path / "site"
    shutil.copytree(site_dir, copy, copy_function=os.link)
    server = http.server.ThreadingHTTPServer(
        ("127.0.0.1", 0), functools.partial(_Handler, directory=str(copy)))
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield copy, f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


def chapters(pages: list[tuple[str, list[str]]]) -> tuple[str, str]:
    """The chapter holding the DPO widget, and another chapter."""
    first = next(url for url, names in pages if WIDGET in names)
    other = next(url for url, _ in pages if url != first and url.startswith("/chapters/"))
    return first, other


def precache_count(site: Path) -> int:
    import json

    found = re.search(r"const PRECACHE = (\[.*?\]);", (site / "sw.js").read_text(), re.S)
    assert found, "sw.js has no precache list"
    return len(json.loads(found.group(1)))


def open_ready(page: Any, url: str) -> None:
    page.goto(url)
    page.wait_for_function(
        "(id) => ['ready', 'error'].includes(document.getElementById(id).dataset.state)",
        arg=f"w-{WIDGET}", timeout=READY_TIMEOUT_MS)
    status = page.evaluate("(id) => document.getElementById(id).textContent", f"w-{WIDGET}")
    assert page.evaluate("(id) => document.getElementById(id).dataset.state", f"w-{WIDGET}") == \
        "ready", status[-300:]


def wait_async(page: Any, predicate: str, arg: Any = None, timeout: float = 60) -> None:
    """Poll an async predicate (wait_for_function would take its Promise for a truthy value)."""
    deadline = time.monotonic() + timeout
    while not page.evaluate(predicate, arg):
        assert time.monotonic() < deadline, f"timed out waiting for {predicate[:80]}"
        page.wait_for_timeout(200)


def visit_and_keep(page: Any, site: Path, url: str) -> None:
    """A first visit, then wait until the service worker kept the page and Pyodide."""
    open_ready(page, url)
    page.wait_for_function("() => !!navigator.serviceWorker.controller", timeout=60_000)
    page.wait_for_function("() => window.__amKept > 0", timeout=60_000)  # early.js was told
    wait_async(page, KEPT, url)
    wait_async(page, PRECACHED, precache_count(site), timeout=120)


def test_a_visited_chapter_reopens_offline_with_working_widgets(
        new_context: Any, own_site: tuple[Path, str], pages: list[Any]) -> None:
    site, base = own_site
    first, other = chapters(pages)
    context = new_context(service_workers="allow")
    page = context.new_page()
    visit_and_keep(page, site, base + first)
    page.close()
    context.set_offline(True)
    page = context.new_page()
    open_ready(page, base + first)  # from the service worker's caches alone
    # the widget computes: a slider moved to its maximum shows CPython's numbers for it
    w = alignment_widgets.get(WIDGET)
    slider = next(c for c in w.controls if c.kind == "slider")
    page.evaluate("""([id, value]) => {
      const el = document.getElementById(id);
      el.value = value;
      el.dispatchEvent(new Event("input", { bubbles: true }));
    }""", [f"w-{WIDGET}-{slider.name}", str(slider.max)])
    want = {k: v["text"] for k, v in w.run({slider.name: slider.max})["readouts"].items()}
    page.wait_for_function("""([id, want]) => Object.entries(want).every(([k, t]) =>
        document.querySelector(`#${id} [data-readout="${k}"]`).textContent === t)""",
                           arg=[f"w-{WIDGET}", want], timeout=60_000)
    # the page's own stylesheets came along: Material's layout is applied
    assert page.evaluate("() => getComputedStyle(document.querySelector('.md-header')).position") \
        in ("sticky", "fixed")
    # a chapter never visited is not there offline (the page above came from the cache)
    with pytest.raises(PlaywrightError, match=r"net::ERR_"):
        page.goto(base + other, timeout=15_000)
    context.set_offline(False)


def test_a_new_build_replaces_the_pages_kept(new_context: Any, own_site: tuple[Path, str],
                                             pages: list[Any]) -> None:
    site, base = own_site
    first, other = chapters(pages)
    context = new_context(service_workers="allow")
    page = context.new_page()
    visit_and_keep(page, site, base + first)
    # the reader also reads another chapter (kept by the service worker, now in control)
    second = context.new_page()
    second.goto(base + other)
    wait_async(page, KEPT, base + other)
    if second.evaluate("() => !!window.__amEarly"):  # a page with widgets also asks to keep
        second.wait_for_function("() => window.__amKept > 0", timeout=60_000)
    second.close()
    old = [k for k in page.evaluate(CACHES) if k.startswith("alignment-math-pages-")]
    assert len(old) == 1, old
    # a new build: its sw.js names other caches (as a build with changed files does)
    sw = site / "sw.js"
    text = sw.read_text()
    old_digest = old[0].removeprefix("alignment-math-pages-")
    assert old_digest in text
    sw.unlink()  # a hard link: replace the file, never write through it
    sw.write_text(text.replace(old_digest, "0" * 16))
    page.evaluate("async () => (await navigator.serviceWorker.getRegistration()).update()")
    wait_async(page, """async (old) => { const keys = await caches.keys();
                 return !keys.includes(old) && keys.includes("alignment-math-pages-" + "0".repeat(16)); }""",
               old[0])
    assert not page.evaluate(KEPT, base + other), "the old build's page is still kept"
    # the page open during the update is kept, as the new build serves it
    wait_async(page, KEPT, base + first)
    context.set_offline(True)
    with pytest.raises(PlaywrightError, match=r"net::ERR_"):
        context.new_page().goto(base + other, timeout=15_000)
    context.set_offline(False)
