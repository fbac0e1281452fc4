"""Fixtures for the browser tests: the built site served on 127.0.0.1, one headless Chromium.

These tests drive Debian's Chromium (``/usr/bin/chromium``) with Python Playwright against
``site/`` as built by ``make site``.  They run from ``make test`` (which builds the site
and installs Chromium first) with ``ALIGNMENT_BROWSER=1``; a plain ``pytest`` skips them,
saying so.  With ``ALIGNMENT_BROWSER=1`` a missing prerequisite is an error, not a skip.

Every context records each request; any request to a host other than 127.0.0.1 is
aborted and fails the test.
"""

from __future__ import annotations

import functools
import http.server
import os
import re
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any, ClassVar
from urllib.parse import urlsplit

import pytest

ROOT = Path(__file__).resolve().parents[2]
SITE = Path(os.environ.get("ALIGNMENT_SITE_DIR", ROOT / "site"))
CHROMIUM = os.environ.get("ALIGNMENT_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
ENABLED = os.environ.get("ALIGNMENT_BROWSER") == "1"


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    here = Path(__file__).parent
    for item in items:
        if here in Path(str(item.fspath)).parents:
            item.add_marker(pytest.mark.browser)
            if not ENABLED:
                item.add_marker(pytest.mark.skip(
                    reason="browser tests run from `make test` / `make test-browser` "
                    "(set ALIGNMENT_BROWSER=1 with a built site/ and /usr/bin/chromium)"))


# --------------------------------------------------------------------------- the site


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """Tests taking ``url, names`` run once per built page that holds a widget."""
    if {"url", "names"} <= set(metafunc.fixturenames):
        pages = widget_pages()
        if ENABLED and not pages:
            raise pytest.UsageError(f"no page of {SITE} has a data-widget: build the site first")
        metafunc.parametrize("url, names", pages, ids=[u.strip("/") or "home" for u, _ in pages])


@pytest.fixture(scope="session")
def pages() -> list[tuple[str, list[str]]]:
    found = widget_pages()
    assert found, f"no page of {SITE} has a data-widget"
    return found


@pytest.fixture(scope="session")
def site_dir() -> Path:
    assert (SITE / "index.html").is_file(), f"no built site in {SITE}: run `make site`"
    return SITE


def widget_pages() -> list[tuple[str, list[str]]]:
    """(page URL path, widget names) for every built page with a data-widget root."""
    pages = []
    if not SITE.is_dir():
        return pages
    for path in sorted(SITE.rglob("*.html")):
        if path.name == "404.html":
            continue
        names = re.findall(r'<div class="am-widget[^"]*" data-widget="([^"]+)"',
                           path.read_text(encoding="utf-8"))
        if names:
            rel = path.relative_to(SITE).as_posix()
            url = rel[: -len("index.html")] if rel.endswith("index.html") else rel
            pages.append(("/" + url, names))
    return pages


class _Handler(http.server.SimpleHTTPRequestHandler):
    extensions_map: ClassVar[dict[str, str]] = {
        **http.server.SimpleHTTPRequestHandler.extensions_map,
        ".mjs": "text/javascript",
        ".js": "text/javascript",
        ".wasm": "application/wasm",
        ".json": "application/json",
        ".whl": "application/octet-stream",
        ".zip": "application/zip",
    }

    def log_message(self, *args: Any) -> None:
        pass

    def handle(self) -> None:
        try:
            super().handle()
        except (BrokenPipeError, ConnectionResetError):
            pass


@pytest.fixture(scope="session")
def site_url() -> Iterator[str]:
    if not (SITE / "index.html").is_file():
        pytest.fail(f"no built site in {SITE}: run `make site` first")
    server = http.server.ThreadingHTTPServer(
        ("127.0.0.1", 0), functools.partial(_Handler, directory=str(SITE))
    )
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


# --------------------------------------------------------------------------- the browser


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    if not Path(CHROMIUM).is_file():
        pytest.fail(f"{CHROMIUM} is missing: `apt-get install -y chromium` (make test does this)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        yield b
        b.close()


class Guard:
    """Records requests that leave 127.0.0.1 (they are aborted) and page errors."""

    def __init__(self) -> None:
        self.outside: list[str] = []
        self.page_errors: list[str] = []

    def route(self, route: Any) -> None:
        host = urlsplit(route.request.url).hostname
        if route.request.url.startswith(("data:", "blob:")) or host == "127.0.0.1":
            route.continue_()
        else:
            self.outside.append(route.request.url)
            route.abort()

    def request(self, request: Any) -> None:
        url = request.url
        if not url.startswith(("data:", "blob:")) and urlsplit(url).hostname != "127.0.0.1":
            self.outside.append(url)


    def check(self) -> None:
        """Fail (once) if anything left 127.0.0.1 or the page threw since the last check."""
        outside, errors = sorted(set(self.outside)), self.page_errors[:]
        self.outside.clear()
        self.page_errors.clear()
        assert not outside, f"requests left 127.0.0.1: {outside[:10]}"
        assert not errors, f"uncaught errors in the page: {errors[:5]}"


def guarded_context(browser: Any, **options: Any) -> Any:
    """A browser context whose ``guard`` records outside requests and page errors."""
    options.setdefault("service_workers", "block")  # lets page.route see every request
    context = browser.new_context(**options)
    guard = Guard()
    context.route("**/*", guard.route)
    context.on("request", guard.request)
    context.on("page", lambda page: page.on("pageerror", lambda e: guard.page_errors.append(str(e))))
    context.guard = guard
    return context


@pytest.fixture
def new_context(browser: Any) -> Iterator[Any]:
    """Factory for guarded browser contexts; asserts, at teardown, that nothing left 127.0.0.1."""
    contexts: list[tuple[Any, Guard]] = []

    def make(**options: Any) -> Any:
        context = guarded_context(browser, **options)
        contexts.append((context, context.guard))
        return context

    yield make
    outside = [url for _, g in contexts for url in g.outside]
    errors = [e for _, g in contexts for e in g.page_errors]
    for context, _ in contexts:
        context.close()
    assert not outside, f"requests left 127.0.0.1: {sorted(set(outside))[:10]}"
    assert not errors, f"uncaught errors in the page: {errors[:5]}"


@pytest.fixture(scope="session")
def make_context(browser: Any) -> Any:
    """``make_context(**options)``: a guarded context the caller closes (for shared pages)."""
    return functools.partial(guarded_context, browser)
