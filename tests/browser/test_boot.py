"""How the page's Python worker starts (issue 13): from the build's memory snapshot once the
service worker keeps it, and from a normal boot whenever the snapshot cannot be used.

``scripts/build_pyodide.py`` makes ``pyodide/snapshot.json`` and the gzip-compressed snapshot it
names with its sha256: Python with numpy and our packages loaded and imported
(``docs/widgets/snapshot.mjs``).  A first visit boots normally; the service worker then keeps the
snapshot (gunzipped) and later pages restore it from that cache.  These tests put a snapshot into
the page's CacheStorage themselves (service workers are blocked in the test contexts, so routes
see every request), except the one that follows the real first-visit-then-repeat path.  A
snapshot that is missing, corrupted (fails its sha256), made by another Pyodide build (build id),
whose memory is garbage behind a valid header, or whose libraries would not land where they were
must each fall back to a normal boot: the widget still becomes ready and shows CPython's numbers.
The worker keeps how it started in ``self.__amBoot.snapshot``.
"""

from __future__ import annotations

import base64
import gzip
import hashlib
import importlib.util
import json
import os
import shutil
import time
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


def _build_pyodide() -> Any:
    spec = importlib.util.spec_from_file_location(
        "build_pyodide", Path(__file__).resolve().parents[2] / "scripts" / "build_pyodide.py")
    assert spec is not None and spec.loader is not None
    build = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(build)
    return build


BUILD = _build_pyodide()
manifest = BUILD.snapshot_manifest  # (manifest, where it starts) of a snapshot file


@pytest.fixture(scope="module")
def snapshot(site_dir: Path, tmp_path_factory: pytest.TempPathFactory
             ) -> tuple[dict[str, Any], bytes, bytes]:
    """(description, raw bytes, gzipped bytes) of the site's snapshot, or of one made now."""
    info = json.loads((site_dir / "pyodide" / "snapshot.json").read_text())
    folder = site_dir / "pyodide"
    if not info.get("file"):
        build = BUILD
        folder = tmp_path_factory.mktemp("snapshot") / "pyodide"
        shutil.copytree(site_dir / "pyodide", folder, copy_function=os.link)
        (folder / "snapshot.json").unlink()  # a hard link into the site: never write through it
        info = build.make_snapshot(folder)
        assert info, "Node could not make a snapshot of the site's Pyodide"
    packed = (folder / info["file"]).read_bytes()
    assert hashlib.sha256(packed).hexdigest() == info["sha256"]
    return info, gzip.decompress(packed), packed


def offer(context: Any, info: dict[str, Any]) -> None:
    """Make the page see ``info`` as the build's snapshot description."""
    context.route("**/pyodide/snapshot.json*", lambda route: route.fulfill(
        status=200, content_type="application/json", body=json.dumps(info)))


def keep(context: Any, site_url: str, info: dict[str, Any], body: bytes, *, gunzip: bool) -> None:
    """Put ``body`` into the page's CacheStorage as the kept snapshot ``info["file"]``: as the
    service worker keeps it (``gunzip``: the gzip body unpacked on the way in), or as it is."""
    url = f"{site_url}/pyodide/{info['file']}"
    context.route(url, lambda route: route.fulfill(
        status=200, content_type="application/octet-stream", body=body))
    page = context.new_page()
    page.goto(site_url + "/pyodide/snapshot.json")  # any page of the site's origin
    page.evaluate("""async ([url, gunzip]) => {
        const response = await fetch(url);
        const body = gunzip ? response.body.pipeThrough(new DecompressionStream("gzip")) : response.body;
        await (await caches.open("alignment-math-test")).put(url, new Response(body));
    }""", [url, gunzip])
    page.close()
    context.unroute(url)


def described(info: dict[str, Any], raw: bytes) -> dict[str, Any]:
    """``info`` for the snapshot whose uncompressed bytes are ``raw``, and the gzip of them."""
    packed = gzip.compress(raw, 1)
    digest = hashlib.sha256(packed).digest()
    return {**info, "sha256": digest.hex(), "size": len(packed), "raw_size": len(raw),
            "raw_sha256": hashlib.sha256(raw).hexdigest(),
            "integrity": "sha256-" + base64.b64encode(digest).decode()}, packed


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


@pytest.mark.parametrize("gunzip", [True, False], ids=["gunzipped", "gzip"])
def test_the_worker_starts_from_the_kept_snapshot(new_context: Any, site_url: str,
                                                  chapter: tuple[str, str],
                                                  snapshot: tuple[dict, bytes, bytes],
                                                  gunzip: bool) -> None:
    """As the service worker keeps it (gunzipped), and as its fetch handler stores a copy it
    fetched on a cache miss (gzip, as it came)."""
    url, uid = chapter
    info, _, packed = snapshot
    context = new_context()
    keep(context, site_url, info, packed, gunzip=gunzip)
    how, page = boot(context, site_url, url, uid)
    assert how == "restored"
    shows_python(page, uid)
    milestones = page.evaluate("window.__amTimings")
    for key in ("worker", "snapshot_read", "snapshot_checked", "wasm", "instance", "libraries",
                "pyodide", "imported", "first_ready"):
        assert isinstance(milestones.get(key), int), (key, milestones)
    assert "packages" not in milestones  # nothing was loaded: the snapshot holds it
    assert milestones["snapshot_read"] <= milestones["pyodide"] <= milestones["imported"]
    assert milestones["snapshot_checked"] <= milestones["libraries"] <= milestones["pyodide"]
    assert milestones["wasm"] <= milestones["instance"] <= milestones["libraries"]
    # numpy's libraries are read, checked and compiled ahead of the rest where the kept copy is
    # uncompressed (their range is one of the raw file); a gzip copy compiles them after it
    assert ("libraries_read" in milestones) is gunzip, milestones
    if gunzip:
        assert milestones["libraries_read"] <= milestones["libraries"]


def test_a_first_visit_boots_normally_and_the_next_page_restores(
        new_context: Any, site_url: str, chapter: tuple[str, str], pages: list[tuple[str, list[str]]]
) -> None:
    """The reader's path, with the real service worker: no snapshot on the first visit (it would
    download more than a normal boot), kept afterwards, restored on the next chapter."""
    url, uid = chapter
    context = new_context(service_workers="allow")
    how, page = boot(context, site_url, url, uid)
    assert how == "not used: not kept yet (a first visit boots normally)", how
    kept = """async () => {
        for (const key of await caches.keys()) {
            for (const request of await (await caches.open(key)).keys()) {
                if (/\\/pyodide\\/snapshot-[^/]*\\.bin\\.gz$/.test(request.url)) return true;
            }
        }
        return false;
    }"""
    deadline = time.monotonic() + READY_TIMEOUT_MS / 1000
    while not page.evaluate(kept):  # (wait_for_function would not await the Promise)
        assert time.monotonic() < deadline, "the service worker never kept the snapshot"
        page.wait_for_timeout(250)
    page.close()
    other, other_uid = next((u, f"w-{names[0]}") for u, names in pages
                            if u != url and names and all(n != WIDGET for n in names)
                            and not alignment_widgets.get(names[0]).script)
    how, page = boot(context, site_url, other, other_uid)
    assert how == "restored", how


def test_a_corrupted_snapshot_falls_back_to_a_normal_boot(new_context: Any, site_url: str,
                                                          chapter: tuple[str, str],
                                                          snapshot: tuple[dict, bytes, bytes]) -> None:
    url, uid = chapter
    info, raw, _ = snapshot
    bad = bytearray(raw)
    bad[len(bad) // 2] ^= 0xFF  # one flipped byte: the sha256 no longer matches
    context = new_context()
    keep(context, site_url, info, bytes(bad), gunzip=False)
    how, page = boot(context, site_url, url, uid)
    assert how.startswith("not used: the snapshot failed its sha256 check"), how
    shows_python(page, uid)
    # the copy that failed its check was dropped: the next page boots normally without trying it
    how, page = boot(context, site_url, url, uid)
    assert how == "not used: not kept yet (a first visit boots normally)", how


def falls_back(new_context: Any, site_url: str, chapter: tuple[str, str], info: dict[str, Any],
               raw: bytes, reason: str) -> None:
    """Kept as the service worker keeps it (with a description that matches ``raw``), the
    snapshot ``raw`` is not used, for ``reason``; the page boots normally and computes."""
    url, uid = chapter
    mine, packed = described(info, raw)
    context = new_context()
    offer(context, mine)
    keep(context, site_url, mine, packed, gunzip=True)
    how, page = boot(context, site_url, url, uid)
    assert how.startswith(f"not used: {reason}"), how
    shows_python(page, uid)


def test_a_snapshot_of_another_pyodide_build_falls_back(new_context: Any, site_url: str,
                                                        chapter: tuple[str, str],
                                                        snapshot: tuple[dict, bytes, bytes]) -> None:
    info, raw, _ = snapshot
    other = bytearray(raw)
    other[16:48] = bytes(range(32))  # the header's build id (Pyodide checks it)
    falls_back(new_context, site_url, chapter, info, bytes(other), "Snapshot build id mismatch")


def test_a_snapshot_whose_memory_is_garbage_falls_back(new_context: Any, site_url: str,
                                                       chapter: tuple[str, str],
                                                       snapshot: tuple[dict, bytes, bytes]) -> None:
    """A valid header (magic, build id) and manifest over memory that is not the interpreter's."""
    info, raw, _ = snapshot
    header = int.from_bytes(raw[4:8], "little")  # where the memory starts
    memory_size = manifest(raw)[0]["memory_size"]
    garbage = raw[:header] + bytes([0x5A]) * (memory_size - header) + raw[memory_size:]
    falls_back(new_context, site_url, chapter, info, garbage, "")


def test_libraries_that_would_land_elsewhere_fall_back(new_context: Any, site_url: str,
                                                      chapter: tuple[str, str],
                                                      snapshot: tuple[dict, bytes, bytes]) -> None:
    """The memory points into numpy's libraries at the wasm-table slots they had when the
    snapshot was made; an instance that would give them other slots must not be used."""
    info, raw, _ = snapshot
    found, start = manifest(raw)
    found["libs"][0]["table_before"] += 7
    changed = raw[:start] + json.dumps(found).encode()
    changed += len(changed[start:]).to_bytes(4, "little") + raw[-4:]
    falls_back(new_context, site_url, chapter, info, changed, "the new instance's wasm table has")


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


def test_search_waits_for_python_but_answers_when_the_reader_asks(new_context: Any, site_url: str,
                                                                 chapter: tuple[str, str]) -> None:
    """early.js holds Material's search worker back while Python starts (its index build took a
    second of CPU); going to the search box starts it at once, and it finds what it should."""
    url, _ = chapter
    context = new_context()
    page = context.new_page()
    page.goto(site_url + url)
    page.wait_for_load_state("load")
    assert not any("/workers/search." in w.url for w in page.workers), [w.url for w in page.workers]
    page.keyboard.press("/")  # Material's shortcut: focus the search box
    page.locator(".md-search__input").fill("Bradley")
    page.wait_for_selector(".md-search-result__item", timeout=60_000)
    assert any("/workers/search." in w.url for w in page.workers)
    titles = page.locator(".md-search-result__item").all_inner_texts()
    assert any("Bradley" in t for t in titles), titles[:5]


OPFS_COPY = """async () => {
    const root = await navigator.storage.getDirectory();
    for await (const name of root.keys()) if (/^snapshot-.*\\.bin$/.test(name)) return name;
    return null;
}"""


def copy_in_file_system(page: Any) -> str:
    """The name of the snapshot's copy in the origin-private file system, once it is there."""
    deadline = time.monotonic() + 60
    while not (name := page.evaluate(OPFS_COPY)):  # (wait_for_function would not await it)
        assert time.monotonic() < deadline, "no copy of the snapshot in the file system"
        page.wait_for_timeout(100)
    return name


def kept_in(page: Any) -> str:
    return next(w for w in page.workers if "/widgets/worker.js" in w.url).evaluate(
        "self.__amBoot.snapshotFrom")


def test_a_restore_leaves_a_copy_in_the_file_system_for_the_next_pages(
        new_context: Any, site_url: str, chapter: tuple[str, str],
        snapshot: tuple[dict, bytes, bytes]) -> None:
    """Reading the snapshot from the origin-private file system is faster than from the cache:
    the first restore (from the cache) leaves a copy there, the next page restores from it, and
    a copy that fails its sha256 is not used and is removed."""
    url, uid = chapter
    info, _, packed = snapshot
    context = new_context()
    keep(context, site_url, info, packed, gunzip=True)
    how, page = boot(context, site_url, url, uid)
    assert (how, kept_in(page)) == ("restored", "cache")
    name = copy_in_file_system(page)
    assert name == f"snapshot-{info['raw_sha256'][:16]}.bin"
    page.close()
    how, page = boot(context, site_url, url, uid)
    assert (how, kept_in(page)) == ("restored", "file system")
    shows_python(page, uid)
    page.evaluate("""async (name) => {
        const handle = await (await navigator.storage.getDirectory()).getFileHandle(name);
        const writer = await handle.createWritable({ keepExistingData: true });
        await writer.write({ type: "write", position: 4096, data: new Uint8Array([1, 2, 3]) });
        await writer.close();
    }""", name)
    page.close()
    how, page = boot(context, site_url, url, uid)
    assert how == "not used: the snapshot failed its sha256 check", how
    shows_python(page, uid)
    assert page.evaluate(OPFS_COPY) is None
