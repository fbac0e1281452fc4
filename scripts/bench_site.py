#!/usr/bin/env python3
"""Benchmark the built site's time to interactive in headless Chromium (a benchmark, not a test).

Usage::

    python scripts/bench_site.py [--site site] [--page chapters/05-dpo/] [--cold 5] [--repeat 5]
                                 [--moves 200] [--site-bare]

Serves the built ``site/`` on 127.0.0.1 and prints the four figures of issue 13, each against
the bare page measured in the same run, with the milestones of every kind of run:

(a) the bare page: a page that only boots **stock** Pyodide 0.27.7 (the release files from
    ``node_modules/pyodide`` and the release's numpy wheel, as every other site gets them) in a
    module Web Worker and imports numpy -- navigation start to ``import numpy`` done, cold
    (fresh browser context: empty HTTP cache, no service worker);
(b) first visit: navigation -> first computed widget ``ready`` on the chapter page, cold;
    figure ``b/a`` (target <= 1.0);
(c) repeat visit: the same browser (HTTP cache, service worker and code caches warm from a visit
    of ``--page``, the memory snapshot kept by the service worker) opens another chapter;
    navigation -> first widget ready; ``c/a`` (target <= 0.4);
(d) slider round trip (input event -> a readout's text updated), p95 over ``--moves`` moves
    (target <= 16 ms);
(e) bytes the server sent: first visit split into groups, and the Pyodide bytes of the repeat
    visits (target 0).

Every measured navigation (a, b and c) happens in a tab that has settled for ``SETTLE_MS``:
headless Chromium starts a renderer of its own browser UI with each new window (~0.5 s of CPU
on this 2-core machine), which a reader's next chapter, in an open tab, does not pay.

Milestones (ms after navigation start, medians): ``worker`` (the worker's module runs),
``snapshot_found`` (where the snapshot is kept: the origin-private file system or the service
worker's cache), ``snapshot_read``, ``snapshot_checked`` (read and its sha256 checked, on a
helper thread while Pyodide starts), ``wasm_start``/``wasm`` (pyodide.asm.wasm instantiated:
compiled, or taken from Chromium's code cache), ``instance`` (the Emscripten module made),
``libraries_read`` (numpy's libraries read and checked ahead of the rest of the snapshot, and
compiling), ``libraries`` (loaded again at their places: a restore only), ``loader`` (the
page's loader.js runs: the page is parsed and its widgets send their first requests),
``material`` (Material's bundle and its DOMContentLoaded work are through: the page's main
thread is free for the first answer), ``pyodide`` (interpreter ready: booted, or restored with
the packages imported), ``packages`` (loaded: a normal boot only),
``imported``, ``first_request`` (the worker has the page's first request: before ``pyodide`` when
the page asked at once), ``first_answer_sent`` / ``first_answer`` (the worker sends its first
answer / the page takes it), ``first_ready``
(first compute shown).  Also how each boot went (memory snapshot restored, or
why not), the machine's CPU count and its load average before and after: the machine may be
shared, so read the figures with the load.  ``--site-bare`` also times the bare page on the
site's own (byte-compiled) Pyodide files without the snapshot.
"""

from __future__ import annotations

import argparse
import functools
import gzip
import hashlib
import http.server
import json
import os
import statistics
import sys
import threading
import time
from collections import defaultdict
from pathlib import Path
from typing import Any, ClassVar

ROOT = Path(__file__).resolve().parent.parent
CHROMIUM = "/usr/bin/chromium"
SETTLE_MS = 1500  # a new tab's wait before the measured navigation (see new_tab)
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--disable-sync"]
STOCK = ROOT / "node_modules" / "pyodide"
STOCK_FILES = ("pyodide.mjs", "pyodide.asm.js", "pyodide.asm.wasm", "python_stdlib.zip",
               "pyodide-lock.json")

BARE_HTML = b"""<!doctype html><meta charset="utf-8"><title>bare Pyodide</title>
<script type="module">
const dir = new URLSearchParams(location.search).get("dir") || "stock";
const worker = new Worker(new URL(`./bare-worker.js?dir=${dir}`, import.meta.url), { type: "module" });
worker.onmessage = ({ data }) => {
  window.__bare = Object.fromEntries(Object.entries(data).map(([k, v]) => [k, Math.round(v - performance.timeOrigin)]));
  window.__numpyReady = performance.now();
};
</script>
"""
BARE_WORKER = b"""const dir = new URL(import.meta.url).searchParams.get("dir");
const indexURL = new URL(dir === "site" ? "../pyodide/" : "./stock/", import.meta.url).href;
const t = {};
const mark = (k) => { t[k] ??= performance.timeOrigin + performance.now(); };
mark("worker");
for (const name of ["instantiateStreaming", "instantiate"]) {
  const original = WebAssembly[name];
  WebAssembly[name] = function (...args) {
    mark("wasm_start");
    const result = original.apply(this, args);
    result.then(() => mark("wasm"), () => {});
    return result;
  };
}
const { loadPyodide } = await import(indexURL + "pyodide.mjs");
const py = await loadPyodide({ indexURL, lockFileURL: indexURL + "pyodide-lock.json" });
mark("pyodide");
await py.loadPackage(["numpy"], { messageCallback: () => {} });
mark("packages");
py.runPython("import numpy");
mark("imported");
postMessage(t);
"""

FIRST_READY = """
window.__firstReady = null;
new MutationObserver((_, observer) => {
  if (document.querySelector('[data-widget][data-state="ready"]:not([data-script])')) {
    window.__firstReady = performance.now();
    observer.disconnect();
  }
}).observe(document, { subtree: true, attributes: true, attributeFilter: ["data-state"] });
"""
READY = '[data-widget][data-state="ready"]:not([data-script])'
FAILED = '[data-widget][data-state="error"]:not([data-script])'

ROUND_TRIPS = """async ([rootId, sliderId, values]) => {
  const root = document.getElementById(rootId);
  const slider = document.getElementById(sliderId);
  const readouts = [...root.querySelectorAll("[data-readout]")];
  const times = [];
  for (const value of values) {
    const before = readouts.map((e) => e.textContent).join("|");
    const changed = new Promise((resolve) => {
      const observer = new MutationObserver(() => {
        if (readouts.map((e) => e.textContent).join("|") !== before) {
          observer.disconnect();
          resolve(performance.now());
        }
      });
      observer.observe(root, { subtree: true, childList: true, characterData: true });
    });
    slider.value = value;
    const t0 = performance.now();
    slider.dispatchEvent(new Event("input", { bubbles: true }));
    times.push((await changed) - t0);
    await new Promise((r) => requestAnimationFrame(() => setTimeout(r, 0)));
  }
  return times;
}"""

# the service worker's versioned cache holds (at least) the n files of its precache list
PRECACHED = """async (n) => {
  for (const key of await caches.keys()) {
    if (key.startsWith("alignment-math-") && !key.startsWith("alignment-math-pages-")) {
      return (await (await caches.open(key)).keys()).length >= n;
    }
  }
  return false;
}"""


def precache_count(site: Path) -> int:
    import re

    found = re.search(r"const PRECACHE = (\[.*?\]);", (site / "sw.js").read_text(), re.S)
    return len(json.loads(found.group(1))) if found else 0


class Counter:
    def __init__(self) -> None:
        self.sent: dict[str, int] = defaultdict(int)

    def reset(self) -> None:
        self.sent = defaultdict(int)


COUNTER = Counter()
VIRTUAL: dict[str, tuple[bytes, str]] = {}


class Handler(http.server.SimpleHTTPRequestHandler):
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

    def end_headers(self) -> None:
        # like GitHub Pages: cacheable for 10 minutes
        self.send_header("Cache-Control", "max-age=600")
        super().end_headers()

    def do_GET(self) -> None:
        path = self.path.split("?")[0]
        if path in VIRTUAL:
            body, kind = VIRTUAL[path]
            self.send_response(200)
            self.send_header("Content-Type", kind)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
            COUNTER.sent[path] += len(body)
            return
        super().do_GET()

    def copyfile(self, source: Any, outputfile: Any) -> None:
        data = source.read()
        COUNTER.sent[self.path.split("?")[0]] += len(data)
        outputfile.write(data)


def stock_files() -> tuple[dict[str, tuple[bytes, str]], str]:
    """The release's Pyodide core and numpy wheel under /__bench__/stock/ (sha256-checked)."""
    files: dict[str, tuple[bytes, str]] = {}
    for name in STOCK_FILES:
        kind = {"mjs": "text/javascript", "js": "text/javascript", "wasm": "application/wasm",
                "json": "application/json"}.get(name.rsplit(".", 1)[1], "application/zip")
        files[f"/__bench__/stock/{name}"] = ((STOCK / name).read_bytes(), kind)
    lock = json.loads(files["/__bench__/stock/pyodide-lock.json"][0])
    cache = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "alignment-math" / "pyodide"
    for name in ("numpy",):
        entry = lock["packages"][name]
        wheel = cache / entry["file_name"]
        if not wheel.is_file() or hashlib.sha256(wheel.read_bytes()).hexdigest() != entry["sha256"]:
            raise SystemExit(f"the release's {entry['file_name']} is not in {cache} (sha256-checked): "
                             "run `make pyodide` once")
        files[f"/__bench__/stock/{entry['file_name']}"] = (wheel.read_bytes(), "application/octet-stream")
    return files, "stock Pyodide 0.27.7 + numpy 2.0.2 (release files)"


def serve(site: Path) -> tuple[http.server.ThreadingHTTPServer, str]:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0),
                                             functools.partial(Handler, directory=str(site)))
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, f"http://127.0.0.1:{server.server_address[1]}"


def widget_pages(site: Path) -> list[str]:
    pages = []
    for path in sorted((site / "chapters").glob("*/index.html")):
        if 'data-state="static" id=' in path.read_text(errors="ignore") and \
                'class="am-widget" data-widget=' in path.read_text(errors="ignore"):
            text = path.read_text(errors="ignore")
            if any("data-script" not in tag for tag in
                   text.split('class="am-widget" data-widget=')[1:]):
                pages.append(path.relative_to(site).as_posix()[: -len("index.html")])
    if not pages:
        raise SystemExit(f"no chapter of {site} holds a computed widget")
    return pages


def gz(site: Path, path: str) -> int:
    file = site / path.lstrip("/")
    if file.is_dir():
        file = file / "index.html"
    return len(gzip.compress(file.read_bytes(), 6)) if file.is_file() else 0


def split_bytes(site: Path, sent: dict[str, int]) -> dict[str, tuple[int, int, int]]:
    """{group: (files, raw bytes, gzip bytes)} for what the server sent."""
    groups: dict[str, list[int]] = defaultdict(lambda: [0, 0, 0])
    for path, size in sent.items():
        if path.startswith("/pyodide/"):
            group = "pyodide + wheels + snapshot"
        elif path.endswith((".html", "/")):
            group = "own: HTML"
        elif path.endswith(".css"):
            group = "own: CSS"
        elif path.endswith((".js", ".mjs")):
            group = "own: JS"
        else:
            group = "other (fonts, search index, images)"
        g = groups[group]
        g[0] += 1
        g[1] += size
        g[2] += gz(site, path) if size else 0
    return {k: (v[0], v[1], v[2]) for k, v in sorted(groups.items())}


def kb(n: float) -> str:
    return f"{n / 1024:,.1f} KB"


def median_steps(runs: list[dict[str, float]]) -> str:
    keys = [k for k in runs[0] if all(isinstance(m.get(k), (int, float)) for m in runs)]
    keys.sort(key=lambda k: statistics.median(m[k] for m in runs))
    return ", ".join(f"{k} {statistics.median(m[k] for m in runs):.0f}" for k in keys)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--site", type=Path, default=ROOT / "site")
    parser.add_argument("--page", default=None, help="chapter of the first visit, e.g. chapters/05-dpo/")
    parser.add_argument("--cold", type=int, default=5, help="cold runs of (a) and (b) each")
    parser.add_argument("--repeat", type=int, default=5, help="repeat visits (c)")
    parser.add_argument("--moves", type=int, default=200)
    parser.add_argument("--site-bare", action="store_true",
                        help="also time the bare page on the site's own Pyodide files")
    args = parser.parse_args(argv)
    site = args.site.resolve()
    if not (site / "pyodide" / "pyodide.asm.wasm").is_file():
        print(f"no built site with Pyodide in {site}: run `make site` first", file=sys.stderr)
        return 2
    if not Path(CHROMIUM).is_file():
        print(f"{CHROMIUM} is missing: apt-get install -y chromium (make chromium)", file=sys.stderr)
        return 2
    from playwright.sync_api import sync_playwright

    stock, stock_label = stock_files()
    VIRTUAL.update(stock)
    VIRTUAL["/__bench__/bare.html"] = (BARE_HTML, "text/html")
    VIRTUAL["/__bench__/bare-worker.js"] = (BARE_WORKER, "text/javascript")
    pages = widget_pages(site)
    first_page = args.page or ("chapters/05-dpo/" if "chapters/05-dpo/" in pages else pages[0])
    others = [p for p in pages if p != first_page] or [first_page]
    load_before = os.getloadavg()
    server, base = serve(site)
    outside: list[str] = []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)

        def context() -> Any:
            ctx = browser.new_context()
            ctx.on("request", lambda r: outside.append(r.url)
                   if not r.url.startswith((base, "data:", "blob:")) else None)
            return ctx

        def boot_info(page: Any) -> str:
            for worker in page.workers:
                if "/widgets/worker.js" in worker.url:
                    try:
                        return str(worker.evaluate("self.__amBoot && self.__amBoot.snapshot"))
                    except Exception:  # a worker that has gone
                        return "?"
            return "no worker"

        def new_tab(ctx: Any) -> Any:
            """A tab that has settled: headless Chromium starts a renderer of its own browser
            UI (--top-chrome-webui) with each new window, ~0.5 s of CPU that a reader's next
            page does not pay; every kind of run (a, b, c) is measured after it."""
            page = ctx.new_page()
            page.goto("about:blank")
            page.wait_for_timeout(SETTLE_MS)
            return page

        def open_chapter(ctx: Any, path: str) -> tuple[float, dict[str, Any], str, Any]:
            page = new_tab(ctx)
            page.add_init_script(FIRST_READY)
            page.goto(f"{base}/{path}")
            page.wait_for_function(f"window.__firstReady || document.querySelector('{FAILED}')",
                                   timeout=180_000)
            if page.evaluate(f"!!document.querySelector('{FAILED}')"):
                status = page.evaluate(f"document.querySelector('{FAILED}').textContent")
                raise SystemExit(f"a widget on /{path} failed to start: {status[-300:]}")
            return page.evaluate("window.__firstReady"), page.evaluate("window.__amTimings"), \
                boot_info(page), page

        def bare(which: str) -> tuple[float, dict[str, Any]]:
            ctx = context()
            page = new_tab(ctx)
            page.goto(f"{base}/__bench__/bare.html?dir={which}")
            page.wait_for_function("window.__numpyReady", timeout=180_000)
            result = page.evaluate("window.__numpyReady"), page.evaluate("window.__bare")
            ctx.close()
            return result

        # (a), (a') and (b), interleaved, each cold
        runs: dict[str, list[tuple[float, dict[str, Any]]]] = defaultdict(list)
        boots: dict[str, list[str]] = defaultdict(list)
        first_visit: dict[str, int] = {}
        for i in range(args.cold):
            runs["a"].append(bare("stock"))
            if args.site_bare:
                runs["a'"].append(bare("site"))
            ctx = context()
            COUNTER.reset()
            ms, steps, how, page = open_chapter(ctx, first_page)
            runs["b"].append((ms, steps))
            boots["b"].append(how)
            if i == 0:
                page.wait_for_load_state("networkidle")
                first_visit = dict(COUNTER.sent)
            ctx.close()

        # (c): one browser context visits the first page, then other chapters
        ctx = context()
        _, _, _, page = open_chapter(ctx, first_page)
        wanted, deadline = precache_count(site), time.monotonic() + 120
        while not page.evaluate(PRECACHED, wanted) and time.monotonic() < deadline:
            page.wait_for_timeout(200)  # (wait_for_function would not await the Promise)
        page.wait_for_load_state("networkidle")
        controlled = page.evaluate("!!navigator.serviceWorker.controller")
        # (d) round trips on that page
        root_id, slider_id, values = page.evaluate("""() => {
          const root = document.querySelector('[data-widget][data-state="ready"]:not([data-script])');
          const s = root.querySelector('input[type="range"]');
          const lo = Number(s.min), hi = Number(s.max), step = Number(s.step);
          const at = (f) => String(lo + Math.round((hi - lo) * f / step) * step);
          return [root.id, s.id, [at(0.35), at(0.65)]];
        }""")
        moves = [values[i % 2] for i in range(args.moves)]
        times = page.evaluate(ROUND_TRIPS, [root_id, slider_id, moves])
        page.close()
        repeat_bytes: dict[str, int] = defaultdict(int)
        repeat_pages = []
        for i in range(args.repeat):
            path = others[i % len(others)]
            repeat_pages.append(path)
            COUNTER.reset()
            ms, steps, how, page = open_chapter(ctx, path)
            runs["c"].append((ms, steps))
            boots["c"].append(how)
            page.wait_for_load_state("networkidle")
            for k, v in COUNTER.sent.items():
                repeat_bytes[k] += v
            page.close()
        ctx.close()
        browser.close()
    server.shutdown()
    load_after = os.getloadavg()

    med = {k: statistics.median(ms for ms, _ in v) for k, v in runs.items()}
    times.sort()
    p95 = times[min(len(times) - 1, round(0.95 * (len(times) - 1)))]
    first_split = split_bytes(site, first_visit)
    own = [v for k, v in first_split.items() if k.startswith("own:")]
    own_raw, own_gz = sum(v[1] for v in own), sum(v[2] for v in own)
    pyodide_repeat = {k: v for k, v in repeat_bytes.items() if k.startswith("/pyodide/")}

    def ok(flag: bool) -> str:
        return "meets target" if flag else "MISSES target"

    def fmt(load: tuple[float, float, float]) -> str:
        return ", ".join(f"{x:.2f}" for x in load)

    print(f"machine: {os.cpu_count()} CPUs; load average (1, 5, 15 min) before {fmt(load_before)},"
          f" after {fmt(load_after)}")
    print(f"first visit: /{first_page}; repeat visits: {', '.join('/' + p for p in repeat_pages)}")
    print(f"medians of {args.cold} cold runs (a, b) and {args.repeat} repeat visits (c)\n")
    print(f"(a) bare page, {stock_label}: {med['a']:7.0f} ms   runs {[round(x) for x, _ in runs['a']]}")
    if "a'" in med:
        own_bare, own_med = runs["a'"], med["a'"]
        print(f"(a') bare page, the site's own Pyodide files (no snapshot): {own_med:7.0f} ms"
              f"   runs {[round(x) for x, _ in own_bare]}")
    print(f"(b) first visit, first widget ready:  {med['b']:7.0f} ms   runs {[round(x) for x, _ in runs['b']]}")
    print(f"(c) repeat visit, first widget ready: {med['c']:7.0f} ms   runs {[round(x) for x, _ in runs['c']]}")
    print(f"    b/a = {med['b'] / med['a']:.2f}   (target <= 1.0: {ok(med['b'] <= med['a'])})")
    print(f"    c/a = {med['c'] / med['a']:.2f}   (target <= 0.4: {ok(med['c'] <= 0.4 * med['a'])})")
    print("    milestones, ms after navigation start (medians):")
    for key in ("a", "a'", "b", "c"):
        if key in runs:
            print(f"      ({key}) {median_steps([s for _, s in runs[key]])}")
    for key, label in (("b", "first visits"), ("c", "repeat visits")):
        kinds = sorted(set(boots[key]))
        print(f"    memory snapshot, {label}: " + "; ".join(f"{boots[key].count(k)}x {k}" for k in kinds))
    print(f"(d) slider round trip: median {statistics.median(times):.1f} ms, p95 {p95:.1f} ms,"
          f" max {times[-1]:.1f} ms over {len(times)} moves   (target p95 <= 16 ms: {ok(p95 <= 16)})")
    print("(e) bytes sent by the server             files        raw       gzip")
    print("    first visit:")
    for group, (n, raw, zipped) in first_split.items():
        print(f"      {group:36s} {n:4d} {kb(raw):>12s} {kb(zipped):>10s}")
    print(f"    page's own HTML+CSS+JS, first visit: {kb(own_raw)} raw, {kb(own_gz)} gzip")
    print(f"    Pyodide bytes downloaded by the {args.repeat} repeat visits: "
          f"{sum(pyodide_repeat.values())} in {len(pyodide_repeat)} files"
          f"   (target 0: {ok(not pyodide_repeat)}; service worker in control: {controlled})")
    if pyodide_repeat:
        print(f"      {sorted(pyodide_repeat)[:6]}")
    if outside:
        print(f"WARNING: requests left 127.0.0.1: {sorted(set(outside))[:5]}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
