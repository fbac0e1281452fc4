"""How the page's Python worker starts (issue 13): from a memory snapshot when the build has one,
and from a normal boot whenever the snapshot cannot be used.

``scripts/build_pyodide.py --snapshot`` makes ``pyodide/snapshot.json`` and the gzip-compressed
snapshot it names with its sha256 (the default build makes none: ``{"file": null}``; these
tests then make one in Node from the site's own Pyodide files and serve it by routes).  The
worker fetches it with Subresource Integrity and restores it; a snapshot that is missing,
corrupted (fails its sha256), made by another Pyodide build (build id), or whose memory is
garbage behind a valid header must each fall back to a normal boot: the widget still becomes
ready and shows CPython's numbers.  The worker keeps how it started in
``self.__amBoot.snapshot``.
"""

from __future__ import annotations

import base64
import gzip
import hashlib
import importlib.util
import json
import os
import shutil
from pathlib import Path
from typing import Any

import alignment_widgets
import pytest

READY_TIMEOUT_MS = 180_000
WIDGET = "dpo"


@pytest.fixture(scope="module")
def chapter(pages: list[tuple[str, list[str]]]) -> tuple[str, str]:
    """(URL, widget id) of the page holding the DPO widget."""
    for url, names in pages:
        if WIDGET in names:
            return url, f"w-{WIDGET}"
    raise AssertionError(f"no page holds the {WIDGET} widget")


@pytest.fixture(scope="module")
def snapshot(site_dir: Path, tmp_path_factory: pytest.TempPathFactory
             ) -> tuple[dict[str, Any], bytes, bytes]:
    """(description, raw bytes, gzipped bytes) of the site's snapshot, or of one made now."""
    info = json.loads((site_dir / "pyodide" / "snapshot.json").read_text())
    folder = site_dir / "pyodide"
    if not info.get("file"):
        spec = importlib.util.spec_from_file_location(
            "build_pyodide", Path(__file__).resolve().parents[2] / "scripts" / "build_pyodide.py")
        assert spec is not None and spec.loader is not None
        build = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(build)
        folder = tmp_path_factory.mktemp("snapshot") / "pyodide"
        shutil.copytree(site_dir / "pyodide", folder, copy_function=os.link)
        (folder / "snapshot.json").unlink()  # a hard link into the site: never write through it
        info = build.make_snapshot(folder)
        assert info, "Node could not make a snapshot of the site's Pyodide"
    packed = (folder / info["file"]).read_bytes()
    assert hashlib.sha256(packed).hexdigest() == info["sha256"]
    return info, gzip.decompress(packed), packed


def offer(context: Any, info: dict[str, Any], packed: bytes) -> None:
    """Make the page see ``info`` and ``packed`` as the build's snapshot."""
    context.route("**/pyodide/snapshot.json*", lambda route: route.fulfill(
        status=200, content_type="application/json", body=json.dumps(info)))
    context.route(f"**/pyodide/{info['file']}", lambda route: route.fulfill(
        status=200, content_type="application/octet-stream", body=packed))


def boot(context: Any, site_url: str, url: str, uid: str) -> tuple[str, Any]:
    """Open ``url``; wait for the widget to settle; (how the worker started, the page)."""
    page = context.new_page()
    page.goto(site_url + url)
    page.wait_for_function(
        "(id) => ['ready', 'error'].includes(document.getElementById(id).dataset.state)",
        arg=uid, timeout=READY_TIMEOUT_MS)
    state = page.evaluate("(id) => document.getElementById(id).dataset.state", uid)
    status = page.evaluate("(id) => document.getElementById(id).textContent", uid)
    assert state == "ready", f"the widget did not start: {status[-300:]}"
    workers = [w for w in page.workers if "/widgets/worker.js" in w.url]
    assert len(workers) == 1, [w.url for w in page.workers]
    return workers[0].evaluate("self.__amBoot.snapshot"), page


def shows_python(page: Any, uid: str) -> None:
    """The widget shows CPython's readouts at its defaults (it is really computing)."""
    want = {k: v["text"] for k, v in alignment_widgets.get(WIDGET).run({})["readouts"].items()}
    got = page.evaluate("""(id) => Object.fromEntries([...document.getElementById(id)
        .querySelectorAll("[data-readout]")].map((e) => [e.dataset.readout, e.textContent]))""", uid)
    assert got == want


def serve_snapshot(context: Any, info: dict[str, Any], raw: bytes) -> None:
    """Offer ``raw`` (gzipped, with a matching sha256) as the build's snapshot."""
    packed = gzip.compress(raw, 1)
    digest = hashlib.sha256(packed).digest()
    offer(context, {**info, "sha256": digest.hex(), "size": len(packed), "raw_size": len(raw),
                    "integrity": "sha256-" + base64.b64encode(digest).decode()}, packed)


def test_the_worker_starts_from_the_snapshot(new_context: Any, site_url: str,
                                             chapter: tuple[str, str],
                                             snapshot: tuple[dict, bytes, bytes]) -> None:
    url, uid = chapter
    info, _, packed = snapshot
    context = new_context()
    offer(context, info, packed)
    how, page = boot(context, site_url, url, uid)
    assert how == "restored"
    shows_python(page, uid)
    milestones = page.evaluate("window.__amTimings")
    for key in ("worker", "wasm", "snapshot_fetched", "pyodide", "packages", "imported", "first_ready"):
        assert isinstance(milestones.get(key), int), (key, milestones)
    assert milestones["wasm"] <= milestones["pyodide"] <= milestones["packages"] <= milestones["imported"]


def test_a_corrupted_snapshot_falls_back_to_a_normal_boot(new_context: Any, site_url: str,
                                                          chapter: tuple[str, str],
                                                          snapshot: tuple[dict, bytes, bytes]) -> None:
    url, uid = chapter
    info, _, good = snapshot
    packed = bytearray(good)
    packed[len(packed) // 2] ^= 0xFF  # one flipped byte: the sha256 no longer matches
    context = new_context()
    offer(context, info, bytes(packed))
    how, page = boot(context, site_url, url, uid)
    assert how.startswith("not used: the snapshot failed its sha256 check"), how
    shows_python(page, uid)


def test_a_snapshot_of_another_pyodide_build_falls_back(new_context: Any, site_url: str,
                                                        chapter: tuple[str, str],
                                                        snapshot: tuple[dict, bytes, bytes]) -> None:
    url, uid = chapter
    info, raw, _ = snapshot
    other = bytearray(raw)
    other[16:48] = bytes(range(32))  # the header's build id (Pyodide checks it)
    context = new_context()
    serve_snapshot(context, info, bytes(other))
    how, page = boot(context, site_url, url, uid)
    assert how.startswith("not used: Snapshot build id mismatch"), how
    shows_python(page, uid)


def test_a_snapshot_whose_memory_is_garbage_falls_back(new_context: Any, site_url: str,
                                                       chapter: tuple[str, str],
                                                       snapshot: tuple[dict, bytes, bytes]) -> None:
    """A valid header (magic, build id) over memory that is not the interpreter's."""
    url, uid = chapter
    info, raw, _ = snapshot
    header = int.from_bytes(raw[4:8], "little")  # where the memory starts
    garbage = raw[:header] + bytes([0x5A]) * (len(raw) - header)
    context = new_context()
    serve_snapshot(context, info, garbage)
    how, page = boot(context, site_url, url, uid)
    assert how.startswith("not used:"), how
    shows_python(page, uid)


def test_a_build_without_a_snapshot_boots_normally(new_context: Any, site_url: str,
                                                   chapter: tuple[str, str]) -> None:
    url, uid = chapter
    context = new_context()
    context.route("**/pyodide/snapshot.json*", lambda route: route.fulfill(
        status=200, content_type="application/json", body='{"file": null}'))
    how, page = boot(context, site_url, url, uid)
    assert how == "none in this build", how
    shows_python(page, uid)


def test_a_missing_description_boots_normally(new_context: Any, site_url: str,
                                              chapter: tuple[str, str]) -> None:
    url, uid = chapter
    context = new_context()
    context.route("**/pyodide/snapshot.json*", lambda route: route.fulfill(status=404, body="no"))
    how, page = boot(context, site_url, url, uid)
    assert how == "not used: no snapshot description (HTTP 404)", how
    shows_python(page, uid)
