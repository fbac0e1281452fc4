"""Audit the built site as readers meet it: Lighthouse scores, axe-core nodes, bytes shipped.

A benchmark, not a test (scores move with the machine's load).  Serves a built site on
127.0.0.1 and, for the four pages the 2026-12 review audited (home, chapters 5 and 10,
notebook 2):

* Lighthouse (npm, driving Debian's /usr/bin/chromium) accessibility and performance,
  mobile and desktop;
* with ``--axe``: axe-core nodes per rule over every page, light and dark, after the
  widgets are ready (the same run as tests/browser/test_a11y.py);
* the bytes of the site's own JavaScript and CSS and of uPlot, raw and gzipped.

Lighthouse is large and only this script uses it, so it is not in package.json: it is
installed once, pinned, into ~/.cache/alignment-lighthouse (``--install``), or taken from
``$LIGHTHOUSE`` (the path of its cli/index.js).

    python scripts/audit_lighthouse.py --site site --axe --json audit.json
"""

from __future__ import annotations

import argparse
import functools
import gzip
import http.server
import json
import os
import shutil
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
LIGHTHOUSE_VERSION = "12.8.2"  # 13.x needs Node >= 22.19
CACHE = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "alignment-lighthouse"
CHROMIUM = os.environ.get("ALIGNMENT_CHROMIUM", "/usr/bin/chromium")
PAGES = ["/", "/chapters/05-dpo/", "/chapters/10-reward-hacking/", "/notebooks/02-dpo-bandit/"]
OWN = ["widgets/*.js", "widgets/*.css", "javascripts/*.js", "stylesheets/*.css", "sw.js",
       "assets/vendor/uplot/uPlot.esm.js", "assets/vendor/katex/katex.min.css"]


def fail(message: str) -> None:
    print(f"audit_lighthouse: error: {message}", file=sys.stderr)
    raise SystemExit(2)


def lighthouse_cli(install: bool) -> Path:
    given = os.environ.get("LIGHTHOUSE")
    if given:
        if not Path(given).is_file():
            fail(f"LIGHTHOUSE={given} is not a file (it should be lighthouse's cli/index.js)")
        return Path(given)
    cli = CACHE / "node_modules" / "lighthouse" / "cli" / "index.js"
    if not cli.is_file():
        if not install:
            fail(f"Lighthouse is not installed in {CACHE}; run again with --install "
                 f"(npm install lighthouse@{LIGHTHOUSE_VERSION} there) or set LIGHTHOUSE")
        CACHE.mkdir(parents=True, exist_ok=True)
        subprocess.run(["npm", "install", "--prefix", str(CACHE), "--no-audit", "--no-fund",
                        "--save-exact", f"lighthouse@{LIGHTHOUSE_VERSION}"], check=True)
    return cli


def serve(site: Path) -> tuple[http.server.ThreadingHTTPServer, str]:
    class Handler(http.server.SimpleHTTPRequestHandler):
        extensions_map = {**http.server.SimpleHTTPRequestHandler.extensions_map,  # noqa: RUF012
                          ".mjs": "text/javascript", ".js": "text/javascript",
                          ".wasm": "application/wasm"}

        def log_message(self, *args: Any) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0),
                                             functools.partial(Handler, directory=str(site)))
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, f"http://127.0.0.1:{server.server_address[1]}"


def run_lighthouse(cli: Path, url: str, desktop: bool) -> dict[str, Any]:
    command = ["node", str(cli), url, f"--chrome-path={CHROMIUM}",
               "--chrome-flags=--headless=new --no-sandbox --disable-gpu "
               "--disable-background-networking --disable-component-update --disable-sync",
               "--only-categories=accessibility,performance", "--output=json",
               "--output-path=stdout", "--quiet", "--max-wait-for-load=120000"]
    if desktop:
        command.append("--preset=desktop")
    done = subprocess.run(command, capture_output=True, text=True, check=False, timeout=600)
    if done.returncode != 0:
        return {"error": (done.stderr.strip().splitlines() or ["lighthouse failed"])[-1]}
    report = json.loads(done.stdout)
    failed_a11y = [a for a in report["categories"]["accessibility"]["auditRefs"]
                   if report["audits"][a["id"]].get("score") == 0 and a["weight"] > 0]
    return {
        "accessibility": round(100 * report["categories"]["accessibility"]["score"]),
        "performance": round(100 * (report["categories"]["performance"]["score"] or 0)),
        "failed_accessibility_audits": [a["id"] for a in failed_a11y],
    }


def own_bytes(site: Path) -> dict[str, dict[str, int]]:
    out = {}
    for pattern in OWN:
        for path in sorted(site.glob(pattern)):
            data = path.read_bytes()
            out[path.relative_to(site).as_posix()] = {
                "bytes": len(data), "gzip": len(gzip.compress(data, 9))}
    out["total"] = {k: sum(v[k] for v in out.values()) for k in ("bytes", "gzip")}
    return out


def axe_counts(address: str) -> dict[str, dict[str, int]]:
    sys.path.insert(0, str(ROOT / "tests" / "browser"))
    from playwright.sync_api import sync_playwright
    from test_a11y import PAGES as ALL  # type: ignore[import-not-found]
    from test_a11y import open_page, violations

    report = {}
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=[
            "--no-sandbox", "--disable-gpu", "--disable-background-networking",
            "--disable-component-update", "--disable-sync"])
        for scheme in ("light", "dark"):
            context = browser.new_context(color_scheme=scheme, service_workers="block",
                                          viewport={"width": 1280, "height": 900})
            page = context.new_page()
            counts: dict[str, int] = {}
            for url in ALL:
                open_page(page, address, url)
                for v in violations(page):
                    counts[v["id"]] = counts.get(v["id"], 0) + len(v["nodes"])
            context.close()
            report[scheme] = {"total": sum(counts.values()), **dict(sorted(counts.items()))}
        browser.close()
    return report


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--site", type=Path, default=ROOT / "site", help="a built site folder")
    parser.add_argument("--axe", action="store_true", help="also count axe-core nodes")
    parser.add_argument("--no-lighthouse", action="store_true", help="skip Lighthouse")
    parser.add_argument("--install", action="store_true", help="install Lighthouse if missing")
    parser.add_argument("--form", choices=["mobile", "desktop", "both"], default="both")
    parser.add_argument("--pages", nargs="+", default=PAGES, metavar="PATH",
                        help=f"the pages Lighthouse audits (default: {' '.join(PAGES)})")
    parser.add_argument("--json", type=Path, help="also write the results here")
    args = parser.parse_args(argv)
    site = args.site.resolve()
    if not (site / "index.html").is_file():
        fail(f"{site} is not a built site (no index.html); run `make site` first")
    if not Path(CHROMIUM).is_file():
        fail(f"{CHROMIUM} is missing (apt-get install chromium)")
    if shutil.which("node") is None:
        fail("node is needed (Lighthouse runs on Node.js)")
    server, address = serve(site)
    os.environ["ALIGNMENT_SITE_DIR"] = str(site)
    results: dict[str, Any] = {"site": str(site), "bytes": own_bytes(site)}
    try:
        if not args.no_lighthouse:
            cli = lighthouse_cli(args.install)
            forms = ["mobile", "desktop"] if args.form == "both" else [args.form]
            results["lighthouse"] = {
                f"{page} {form}": run_lighthouse(cli, address + page, form == "desktop")
                for page in args.pages for form in forms
            }
            for key, value in results["lighthouse"].items():
                print(f"{key:40} {value}", flush=True)
        if args.axe:
            results["axe"] = axe_counts(address)
            print("axe nodes:", json.dumps(results["axe"]), flush=True)
    finally:
        server.shutdown()
    total = results["bytes"]["total"]
    print(f"own JS/CSS + uPlot + KaTeX CSS: {total['bytes']:,} bytes ({total['gzip']:,} gzipped)")
    if args.json:
        args.json.write_text(json.dumps(results, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
