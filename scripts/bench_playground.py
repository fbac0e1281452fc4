#!/usr/bin/env python3
"""Benchmark the playground in headless Chromium (a benchmark, not a test).

Usage::

    python scripts/bench_playground.py [--site site] [--seconds 8] [--moves 120] [--speed 2]

Serves the built ``site/`` on 127.0.0.1, opens ``/playground/``, and while both default
runs (RLHF/PPO and DPO) train prints:

(a) chart updates per second: answers from the worker applied to the charts (each redrawn on
    the next animation frame), and frames drawn per second (target >= 30);
(b) responsiveness: a range input added to the page, away from the playground, is moved by
    keyboard ``--moves`` times while training; the time from the key's event to the first
    animation frame after its ``input`` handler ran, p50/p95 (target p95 <= 50 ms); the
    same for the playground's own β slider, from the key to the worker's answer to the
    ``set`` message it sends;
(c) pause: chart updates applied after the Pause click (target <= 1);
(d) reset: whether the rows after Reset equal the start rows exactly;
(e) parity: the largest relative difference between the streamed numbers and the same run
    in CPython (``alignment_widgets.playground.run_offline``).

It also prints the time per training step in CPython and the machine's CPU count and load,
since the machine may be shared.
"""

from __future__ import annotations

import argparse
import functools
import http.server
import math
import os
import statistics
import sys
import threading
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT / "src"), str(ROOT / "widgets")]
CHROMIUM = "/usr/bin/chromium"
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--disable-sync"]

ROOT_JS = "document.querySelector('[data-widget=\"playground\"]')"

# A plain slider elsewhere on the page: records, per input event, the delay from the key's
# event to the first animation frame after the handler (what the reader would see).
PROBE = """() => {
  const input = Object.assign(document.createElement("input"),
    { type: "range", min: "0", max: "1000", step: "1", value: "500", id: "bench-probe" });
  input.setAttribute("aria-label", "benchmark probe");
  document.querySelector(".md-content").prepend(input);
  window.__probe = [];
  input.addEventListener("input", (event) => {
    const t0 = event.timeStamp;
    requestAnimationFrame(() => window.__probe.push(performance.now() - t0));
  });
}"""


def serve(site: Path) -> tuple[str, Any]:
    class Handler(http.server.SimpleHTTPRequestHandler):
        extensions_map = {**http.server.SimpleHTTPRequestHandler.extensions_map,  # noqa: RUF012
                          ".mjs": "text/javascript", ".js": "text/javascript",
                          ".wasm": "application/wasm", ".json": "application/json"}

        def log_message(self, *args: Any) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(Handler, directory=str(site)))
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return f"http://127.0.0.1:{server.server_address[1]}", server


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, math.ceil(q * len(ordered)) - 1)] if ordered else math.nan


def max_rel_diff(streamed: list[list[dict[str, Any]]], expected: list[list[dict[str, Any]]]) -> float:
    worst = 0.0
    for got_run, want_run in zip(streamed, expected, strict=True):
        for got, want in zip(got_run, want_run, strict=True):
            pairs = [(got[k], want[k]) for k in ("proxy", "true", "kl", "loss", "accuracy")]
            pairs += list(zip(got["policy"], want["policy"], strict=True))
            for a, b in pairs:
                if a is None or b is None:
                    if (a is None) != (b is None):
                        return math.inf
                    continue
                worst = max(worst, abs(a - b) / max(abs(b), 1e-12))
    return worst


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--site", type=Path, default=ROOT / "site")
    parser.add_argument("--seconds", type=float, default=8.0, help="training time measured")
    parser.add_argument("--moves", type=int, default=120, help="slider moves while training")
    parser.add_argument("--speed", type=int, default=1, help="steps per update (the default)")
    args = parser.parse_args()
    if not (args.site / "playground" / "index.html").is_file():
        print(f"no built playground page in {args.site}: run `make site` first", file=sys.stderr)
        return 2

    from alignment_widgets.playground import Session, run_offline

    session = Session(__import__("alignment_widgets").get("playground").params({}))
    t0 = time.perf_counter()
    session.advance(200)
    cpython_ms = (time.perf_counter() - t0) / 200 * 1000

    from playwright.sync_api import sync_playwright

    url, server = serve(args.site)
    load_before = os.getloadavg()
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS, headless=True)
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        page.goto(url + "/playground/")
        page.wait_for_function(f"() => {ROOT_JS}.dataset.state === 'ready'", timeout=180_000)
        page.evaluate(PROBE)
        page.locator(f'{"[data-widget=playground]"} input[name="speed"]').fill(str(args.speed))
        start_rows = page.evaluate(f"() => {ROOT_JS}.amPlayground.rows")

        # (a) updates per second while training
        page.get_by_role("button", name="Play").click()
        page.wait_for_timeout(1000)  # warm-up
        before = page.evaluate(f"() => {{ const s = {ROOT_JS}.amPlayground; "
                               "return [s.updates, s.draws, performance.now()]; }")
        page.wait_for_timeout(int(args.seconds * 1000))
        after = page.evaluate(f"() => {{ const s = {ROOT_JS}.amPlayground; "
                              "return [s.updates, s.draws, performance.now(), s.drawTimes]; }")
        seconds = (after[2] - before[2]) / 1000
        updates_per_s = (after[0] - before[0]) / seconds
        draws_per_s = (after[1] - before[1]) / seconds
        draw_ms = statistics.median(after[3]) if after[3] else math.nan

        # (b) a slider elsewhere on the page, moved while training
        probe = page.locator("#bench-probe")
        probe.focus()
        for i in range(args.moves):
            page.keyboard.press("ArrowRight" if i % 2 == 0 else "ArrowLeft")
            page.wait_for_timeout(15)
        page.wait_for_timeout(300)
        probe_ms = page.evaluate("() => window.__probe")
        # the playground's own beta slider: key -> the worker's answer to its 'set' message
        beta_ms = []
        beta = page.locator('[data-widget=playground] input[name="beta"]')
        for i in range(10):
            beta.focus()
            updates = page.evaluate(f"() => {ROOT_JS}.amPlayground.updates")
            t = time.perf_counter()
            page.keyboard.press("ArrowRight" if i % 2 == 0 else "ArrowLeft")
            page.wait_for_function(f"(n) => {ROOT_JS}.amPlayground.updates > n", arg=updates)
            beta_ms.append((time.perf_counter() - t) * 1000)

        # (c) pause within one update
        page.get_by_role("button", name="Pause").click()
        at_pause = page.evaluate(f"() => {ROOT_JS}.amPlayground.updates")
        page.wait_for_timeout(1500)
        after_pause = page.evaluate(f"() => {ROOT_JS}.amPlayground.updates")

        # (e) parity of the run just streamed (beta changed mid-run, so compare a fresh run)
        page.get_by_role("button", name="Reset").click()
        page.wait_for_function(f"() => {ROOT_JS}.amPlayground.rows[0].length === 1")
        reset_rows = page.evaluate(f"() => {ROOT_JS}.amPlayground.rows")
        params = page.evaluate(f"""() => Object.fromEntries([...{ROOT_JS}
            .querySelectorAll('form [name]')].map((el) => [el.name,
            el.type === 'range' ? Number(el.value) : el.value]))""")
        page.get_by_role("button", name="Play").click()
        page.wait_for_function(f"() => {ROOT_JS}.amPlayground.rows[0].length > 150", timeout=120_000)
        page.get_by_role("button", name="Pause").click()
        page.wait_for_timeout(800)
        streamed = page.evaluate(f"() => {ROOT_JS}.amPlayground.rows")
        browser.close()
    server.shutdown()
    load_after = os.getloadavg()

    _, expected = run_offline(params, steps=len(streamed[0]) - 1)
    print(f"machine: {os.cpu_count()} CPUs, load average {load_before[0]:.2f} before, {load_after[0]:.2f} after")
    print(f"CPython: {cpython_ms:.2f} ms per training step of both runs (default sizes)")
    print(f"(a) chart updates: {updates_per_s:.1f} per second, {draws_per_s:.1f} frames drawn per second "
          f"(median draw {draw_ms:.2f} ms; {args.speed} steps per update) -- target >= 30")
    print(f"(b) slider elsewhere on the page while training: p50 {pct(probe_ms, 0.5):.1f} ms, "
          f"p95 {pct(probe_ms, 0.95):.1f} ms over {len(probe_ms)} moves -- target p95 <= 50 ms")
    print(f"    the playground's beta slider, key -> worker's answer: p50 {pct(beta_ms, 0.5):.0f} ms, "
          f"max {max(beta_ms):.0f} ms")
    print(f"(c) pause: {after_pause - at_pause} update(s) after the click -- target <= 1")
    # step-0 rows do not depend on beta, lr or clip (changed above), only on the data
    print(f"(d) reset: rows after Reset equal the start rows exactly: {reset_rows == start_rows}")
    print(f"(e) parity: {len(streamed[0]) - 1} steps of {len(streamed)} runs, largest relative difference "
          f"from CPython {max_rel_diff(streamed, expected):.2e}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
