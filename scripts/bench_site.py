#!/usr/bin/env python3
"""Benchmark the built site in headless Chromium (a benchmark, not a test).

Usage::

    python scripts/bench_site.py [--site site] [--page chapters/05-dpo/] [--moves 200] [--reps 3]

Prints, from one run against the built ``site/`` served on 127.0.0.1:

(a) baseline: a bare page that boots the same self-hosted Pyodide in a module Web Worker
    and loads numpy (navigation start → ``import numpy`` done);
(b) navigation → first widget ``ready`` on a chapter page, and the ratio b/a
    (target ≤ 1.25); medians over ``--reps`` cold runs, each in a fresh browser context;
(c) slider round trip (input event → a readout's text updated), median and p95 over
    ``--moves`` moves made one after another (target p95 ≤ 16 ms);
(d) bytes the server sent for the chapter page on a first visit (split into the page's own
    HTML + CSS + JS, target ≤ 300 KB, and the rest) and on a repeat visit in the same
    browser (target: no Pyodide file re-downloaded; the service worker serves them).

Bytes are counted by the benchmark's own HTTP server (what actually left it), raw and as
gzip would send them (GitHub Pages compresses text).
"""

from __future__ import annotations

import argparse
import functools
import gzip
import http.server
import os
import statistics
import sys
import threading
from collections import defaultdict
from pathlib import Path
from typing import Any, ClassVar

ROOT = Path(__file__).resolve().parent.parent
CHROMIUM = "/usr/bin/chromium"
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--disable-sync"]

BARE_HTML = b"""<!doctype html><meta charset="utf-8"><title>bare Pyodide</title>
<script type="module">
const worker = new Worker(new URL("./bare-worker.js", import.meta.url), { type: "module" });
worker.onmessage = ({ data }) => {
  window.__numpyReady = performance.now();
  window.__bare = Object.fromEntries(Object.entries(data).map(([k, v]) => [k, Math.round(v - performance.timeOrigin)]));
};
</script>
"""
BARE_WORKER = b"""import { loadPyodide } from "../pyodide/pyodide.mjs";
const t = {};
const mark = (k) => { t[k] = performance.timeOrigin + performance.now(); };
mark("worker");
const indexURL = new URL("../pyodide/", import.meta.url).href;
const py = await loadPyodide({ indexURL, lockFileURL: indexURL + "pyodide-lock.json" });
mark("pyodide");
await py.loadPackage(["numpy"], { messageCallback: () => {} });
mark("packages");
py.runPython("import numpy");
mark("imported");
postMessage(t);
"""

# the first widget computed in Python (script widgets do not use Pyodide) that is interactive
READY = '[data-widget][data-state="ready"]:not([data-script])'

FIRST_READY = """
window.__firstReady = null;
new MutationObserver((_, observer) => {
  if (document.querySelector('[data-widget][data-state="ready"]:not([data-script])')) {
    window.__firstReady = performance.now();
    observer.disconnect();
  }
}).observe(document, { subtree: true, attributes: true, attributeFilter: ["data-state"] });
"""

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


class Counter:
    def __init__(self) -> None:
        self.sent: dict[str, int] = defaultdict(int)

    def reset(self) -> None:
        self.sent = defaultdict(int)


COUNTER = Counter()


class Handler(http.server.SimpleHTTPRequestHandler):
    extensions_map: ClassVar[dict[str, str]] = {
        **http.server.SimpleHTTPRequestHandler.extensions_map,
        ".mjs": "text/javascript", ".js": "text/javascript", ".wasm": "application/wasm",
        ".json": "application/json", ".whl": "application/octet-stream",
    }

    def log_message(self, *args: Any) -> None:
        pass

    def do_GET(self) -> None:
        virtual = {"/__bench__/bare.html": (BARE_HTML, "text/html"),
                   "/__bench__/bare-worker.js": (BARE_WORKER, "text/javascript")}
        path = self.path.split("?")[0]
        if path in virtual:
            body, kind = virtual[path]
            self.send_response(200)
            self.send_header("Content-Type", kind)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
            return
        super().do_GET()

    def copyfile(self, source: Any, outputfile: Any) -> None:
        data = source.read()
        COUNTER.sent[self.path.split("?")[0]] += len(data)
        outputfile.write(data)


def serve(site: Path) -> tuple[http.server.ThreadingHTTPServer, str]:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0),
                                             functools.partial(Handler, directory=str(site)))
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, f"http://127.0.0.1:{server.server_address[1]}"


def pick_page(site: Path) -> str:
    for candidate in ("chapters/05-dpo/index.html", "chapters/02-preferences/index.html"):
        if 'data-widget="' in (site / candidate).read_text(errors="ignore") if (site / candidate).is_file() else False:
            return candidate[: -len("index.html")]
    for path in sorted(site.rglob("index.html")):
        if 'class="am-widget" data-widget=' in path.read_text(errors="ignore"):
            return path.relative_to(site).as_posix()[: -len("index.html")]
    raise SystemExit(f"no page of {site} holds a widget")


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
            group = "pyodide + wheels"
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


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--site", type=Path, default=ROOT / "site")
    parser.add_argument("--page", default=None, help="chapter page to measure, e.g. chapters/05-dpo/")
    parser.add_argument("--moves", type=int, default=200)
    parser.add_argument("--reps", type=int, default=3)
    args = parser.parse_args(argv)
    site = args.site.resolve()
    if not (site / "pyodide" / "pyodide.asm.wasm").is_file():
        print(f"no built site with Pyodide in {site}: run `make site` first", file=sys.stderr)
        return 2
    if not Path(CHROMIUM).is_file():
        print(f"{CHROMIUM} is missing: apt-get install -y chromium (make chromium)", file=sys.stderr)
        return 2
    from playwright.sync_api import sync_playwright

    page_path = args.page or pick_page(site)
    server, base = serve(site)
    outside: list[str] = []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)

        def context(**kw: Any) -> Any:
            ctx = browser.new_context(**kw)
            ctx.on("request", lambda r: outside.append(r.url)
                   if not r.url.startswith((base, "data:", "blob:")) else None)
            return ctx

        # (a) and (b), alternating, each cold (fresh context: empty HTTP cache, no service worker)
        def cold(path: str, done: str, timings: str, init: str | None = None) -> tuple[float, dict]:
            """Open ``path`` in a fresh context; (ms until ``done`` is set, the milestones)."""
            ctx = context()
            if init:
                ctx.add_init_script(init)
            page = ctx.new_page()
            page.goto(f"{base}/{path}")
            page.wait_for_function(done, timeout=180_000)
            result = page.evaluate(done), page.evaluate(timings)
            ctx.close()
            return result

        bare, first, milestones, bare_milestones = [], [], [], []
        for _ in range(args.reps):
            ms, steps = cold("__bench__/bare.html", "window.__numpyReady", "window.__bare")
            bare.append(ms)
            bare_milestones.append(steps)
            ms, steps = cold(page_path, "window.__firstReady", "window.__amTimings", FIRST_READY)
            first.append(ms)
            milestones.append(steps)
        a, b = statistics.median(bare), statistics.median(first)

        # (d) bytes: first visit, then a repeat visit in the same browser context
        def visit(ctx: Any) -> tuple[Any, dict[str, int]]:
            """Open the chapter page in ``ctx``; (the page, bytes the server sent for it)."""
            COUNTER.reset()
            page = ctx.new_page()
            page.goto(f"{base}/{page_path}")
            page.wait_for_selector(READY, timeout=180_000)
            page.wait_for_load_state("networkidle")
            return page, dict(COUNTER.sent)

        ctx = context()
        page, first_visit = visit(ctx)
        controlled = page.evaluate("!!navigator.serviceWorker.controller")

        # (c) round trips on that page
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

        _, repeat_visit = visit(ctx)
        ctx.close()
        browser.close()
    server.shutdown()

    times.sort()
    med = statistics.median(times)
    p95 = times[min(len(times) - 1, round(0.95 * (len(times) - 1)))]
    ratio = b / a
    first_split = split_bytes(site, first_visit)
    repeat_split = split_bytes(site, repeat_visit)
    own = [v for k, v in first_split.items() if k.startswith("own:")]
    own_raw, own_gz = sum(v[1] for v in own), sum(v[2] for v in own)
    pyodide_repeat = repeat_split.get("pyodide + wheels", (0, 0, 0))

    def ok(flag: bool) -> str:
        return "meets target" if flag else "MISSES target"

    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    print(f"page: /{page_path}   ({args.reps} cold runs each, medians; {args.moves} slider moves;"
          f" {os.cpu_count()} CPUs, load average {load})")
    print(f"(a) bare page, Pyodide + numpy ready:      {a:8.0f} ms   runs: {[round(x) for x in bare]}")
    print(f"(b) navigation -> first widget ready:      {b:8.0f} ms   runs: {[round(x) for x in first]}")
    print(f"    b/a = {ratio:.3f}   (target <= 1.25: {ok(ratio <= 1.25)})")
    for label, runs in (("(a)", bare_milestones), ("(b)", milestones)):
        keys = [k for k in runs[0] if all(k in m for m in runs)]
        steps = ", ".join(f"{k} {statistics.median(m[k] for m in runs):.0f}" for k in
                          sorted(keys, key=lambda k: statistics.median(m[k] for m in runs)))
        print(f"    {label} milestones, ms after navigation start (medians): {steps}")
    print(f"(c) slider round trip: median {med:.1f} ms, p95 {p95:.1f} ms, max {times[-1]:.1f} ms"
          f"   (target p95 <= 16 ms: {ok(p95 <= 16)})")
    print("(d) bytes sent by the server        files        raw       gzip")
    for label, split in (("first visit", first_split), ("repeat visit", repeat_split)):
        print(f"    {label}:")
        for group, (n, raw, zipped) in split.items():
            print(f"      {group:36s} {n:4d} {kb(raw):>12s} {kb(zipped):>10s}")
        if not split:
            print("      (nothing)")
    print(f"    page's own HTML+CSS+JS, first visit: {kb(own_raw)} raw, {kb(own_gz)} gzip"
          f"   (target <= 300 KB: raw {ok(own_raw <= 300 * 1024)}, gzip {ok(own_gz <= 300 * 1024)})")
    print(f"    Pyodide files re-downloaded on the repeat visit: {pyodide_repeat[0]} "
          f"({kb(pyodide_repeat[1])})   (target 0: {ok(pyodide_repeat[0] == 0)};"
          f" page controlled by the service worker after the first visit: {controlled})")
    if outside:
        print(f"WARNING: requests left 127.0.0.1: {sorted(set(outside))[:5]}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
