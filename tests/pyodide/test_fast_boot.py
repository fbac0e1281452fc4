"""What scripts/build_pyodide.py does for a fast start-up (issue 13): bytecode for the stdlib,
numpy and our wheels, and a memory snapshot of Python with numpy and our packages loaded and
imported, made and restored in Node (docs/widgets/snapshot.mjs)."""

from __future__ import annotations

import base64
import gzip
import hashlib
import json
import subprocess
import zipfile
from pathlib import Path
from types import ModuleType

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def python312(build_pyodide: ModuleType) -> str:
    found = build_pyodide.find_python312()
    if found is None:
        pytest.skip("no host Python 3.12 to byte-compile with (set ALIGNMENT_PYTHON312)")
    return found


def _zip(path: Path, files: dict[str, str]) -> None:
    with zipfile.ZipFile(path, "w") as zf:
        for name, text in files.items():
            zf.writestr(name, text)


def test_sourceless_bytecode_imports_from_the_zip(build_pyodide: ModuleType, python312: str,
                                                  tmp_path: Path) -> None:
    lib = tmp_path / "lib.zip"
    _zip(lib, {"demo/__init__.py": "from .core import answer\n",
               "demo/core.py": "def answer():\n    return 6 * 7\n",
               "demo/data.txt": "kept as it is\n",
               "broken.py": "def (:\n"})
    build_pyodide.py_compile_zip(python312, lib, "sourceless")
    with zipfile.ZipFile(lib) as zf:
        names = set(zf.namelist())
        assert zf.read("demo/data.txt") == b"kept as it is\n"
    assert {"demo/__init__.pyc", "demo/core.pyc", "demo/data.txt", "broken.py"} == names
    # the interpreter Pyodide runs (3.12) imports it from the zip, without sources
    out = subprocess.run([python312, "-c", f"import sys; sys.path.insert(0, {str(lib)!r}); "
                          "import demo; print(demo.answer(), demo.__spec__.origin.endswith('.pyc'))"],
                         capture_output=True, text=True, check=True).stdout.split()
    assert out == ["42", "True"]


def test_cached_bytecode_keeps_the_sources_and_a_valid_record(build_pyodide: ModuleType,
                                                              python312: str,
                                                              tmp_path: Path) -> None:
    wheel = tmp_path / "demo-1.0-py3-none-any.whl"
    _zip(wheel, {"demo/__init__.py": "VALUE = 3\n",
                 "demo-1.0.dist-info/METADATA": "Name: demo\nVersion: 1.0\n",
                 "demo-1.0.dist-info/RECORD": "stale\n"})
    build_pyodide.py_compile_zip(python312, wheel, "cached")
    with zipfile.ZipFile(wheel) as zf:
        names = set(zf.namelist())
        record = zf.read("demo-1.0.dist-info/RECORD").decode().splitlines()
        files = {n: zf.read(n) for n in names}
    assert "demo/__init__.py" in names and "demo/__pycache__/__init__.cpython-312.pyc" in names
    listed = {line.split(",")[0]: line.split(",")[1] for line in record}
    assert set(listed) == names
    for name, data in files.items():
        if name.endswith("RECORD"):
            assert listed[name] == ""
        else:
            want = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
            assert listed[name] == f"sha256={want}", name
    # an unchecked-hash pyc: used as it is, whatever the source file's time stamp
    pyc = files["demo/__pycache__/__init__.cpython-312.pyc"]
    assert int.from_bytes(pyc[4:8], "little") == 0b01


def test_a_missing_node_means_no_snapshot_not_a_failed_build(build_pyodide: ModuleType,
                                                             tmp_path: Path,
                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(build_pyodide.shutil, "which", lambda name: None)
    assert build_pyodide.make_snapshot(tmp_path) is None
    assert not list(tmp_path.iterdir())


def test_the_built_folder_is_byte_compiled_and_described(pyodide_dir: Path,
                                                         build_pyodide: ModuleType) -> None:
    if build_pyodide.find_python312() is None:
        pytest.skip("no host Python 3.12: the build ships sources")
    lock = json.loads((pyodide_dir / "pyodide-lock.json").read_text())
    manifest = json.loads((pyodide_dir / "manifest.json").read_text())
    build_pyodide.verify_dir(pyodide_dir, lock)  # the lock's sha256s are the shipped files'
    with zipfile.ZipFile(pyodide_dir / lock["packages"]["numpy"]["file_name"]) as zf:
        names = zf.namelist()
    assert "numpy/__init__.pyc" in names and not any(n.endswith(".py") for n in names)
    with zipfile.ZipFile(pyodide_dir / "python_stdlib.zip") as zf:
        names = zf.namelist()
    assert "json/__init__.pyc" in names and "json/__init__.py" not in names
    with zipfile.ZipFile(pyodide_dir / lock["packages"]["alignment-math"]["file_name"]) as zf:
        names = zf.namelist()
    assert "alignment_math/__init__.py" in names
    assert "alignment_math/__pycache__/__init__.cpython-312.pyc" in names
    for name, entry in manifest["files"].items():
        assert build_pyodide.sha256_file(pyodide_dir / name) == entry["sha256"], name


@pytest.fixture(scope="module")
def snapshot_dir(pyodide_dir: Path) -> Path:
    """The built folder: the default build makes a snapshot (``--no-snapshot`` makes none)."""
    info = json.loads((pyodide_dir / "snapshot.json").read_text())
    assert info["file"], "the build made no snapshot (is Node there?)"
    return pyodide_dir


def _restore(pyodide_dir: Path, snapshot: Path, code: str, tmp_path: Path) -> subprocess.CompletedProcess:
    script = tmp_path / "check.py"
    script.write_text(code)
    return subprocess.run(
        ["node", str(ROOT / "scripts" / "pyodide_node.mjs"), "--dir", str(pyodide_dir),
         "--snapshot", str(snapshot), "--packages", "numpy,alignment-math", "--script", str(script)],
        capture_output=True, text=True, timeout=300, check=False)


def test_the_snapshot_restores_and_then_runs_our_code(snapshot_dir: Path, build_pyodide: ModuleType,
                                                     tmp_path: Path) -> None:
    pyodide_dir = snapshot_dir
    info = json.loads((pyodide_dir / "snapshot.json").read_text())
    packed = (pyodide_dir / info["file"]).read_bytes()
    digest = hashlib.sha256(packed)
    assert info["sha256"] == digest.hexdigest() and info["size"] == len(packed)
    assert info["integrity"] == "sha256-" + base64.b64encode(digest.digest()).decode()
    raw = gzip.decompress(packed)
    assert len(raw) == info["raw_size"]
    assert info["file"] == f"snapshot-{digest.hexdigest()[:16]}.bin.gz"  # versioned by content
    assert info["raw_sha256"] == hashlib.sha256(raw).hexdigest()
    found, _ = build_pyodide.snapshot_manifest(raw)
    assert found["memory_size"] == info["memory_size"]
    assert {lib["name"].rsplit("/", 1)[-1].split(".")[0] for lib in found["libs"]} >= {
        "_multiarray_umath", "_umath_linalg", "_pocketfft_umath", "mtrand"}
    assert any(path.endswith("alignment_widgets/_worker.py") for path, _ in found["files"])
    # the libraries' range, which worker.js reads, checks and compiles first: the first files, in
    # load order, and each one a WebAssembly module
    libraries = info["libraries"]
    assert [name for name, _ in libraries["files"]] == [lib["name"] for lib in found["libs"]]
    assert libraries["files"] == [list(entry) for entry in found["files"][:len(found["libs"])]]
    assert libraries["offset"] == info["memory_size"]
    assert libraries["size"] == sum(size for _, size in libraries["files"])
    block = raw[libraries["offset"]:libraries["offset"] + libraries["size"]]
    assert hashlib.sha256(block).hexdigest() == libraries["sha256"]
    at = 0
    for _, size in libraries["files"]:
        assert block[at:at + 4] == b"\0asm"
        at += size
    # restored in Node: numpy, our packages and every widget module are imported already, the
    # installed files are back (a module imported for the first time, source for inspect), and
    # the generators seeded at import time get new entropy
    import numpy as np

    import alignment_math

    code = (
        "import json, sys, inspect, random\n"
        "imported = [m in sys.modules for m in ('numpy', 'alignment_math', 'alignment_widgets.dpo')]\n"
        "from alignment_widgets import _worker\n"
        "import numpy as np, alignment_math as am\n"
        "_worker.reseed()\n"
        "import numpy.polynomial\n"
        "print(json.dumps([float(am.dpo_loss(np.array([0.3]), np.array([-0.2]),"
        " np.array([0.0]), np.array([0.0]), beta=0.5)[0]), imported,"
        " 'def dpo_loss' in inspect.getsource(am.dpo_loss),"
        " float(np.linalg.inv(np.array([[2.0, 1.0], [1.0, 3.0]]))[0, 0]),"
        " random.random(), float(np.random.random())]))\n")
    runs = []
    for _ in range(2):
        proc = _restore(pyodide_dir, pyodide_dir / info["file"], code, tmp_path)
        assert proc.returncode == 0, proc.stderr[-2000:]
        runs.append(json.loads(proc.stdout.strip().splitlines()[-1]))
    got, imported, source, inverse, _, _ = runs[0]
    want = float(alignment_math.dpo_loss(np.array([0.3]), np.array([-0.2]), np.array([0.0]),
                                         np.array([0.0]), beta=0.5)[0])
    assert got == pytest.approx(want, rel=1e-12)
    assert imported == [True, True, True] and source and inverse == pytest.approx(0.6)
    assert runs[0][4:] != runs[1][4:]  # two restores do not draw the same "random" numbers


def test_libraries_placed_otherwise_are_refused_in_node(snapshot_dir: Path, build_pyodide: ModuleType,
                                                       tmp_path: Path) -> None:
    info = json.loads((snapshot_dir / "snapshot.json").read_text())
    raw = gzip.decompress((snapshot_dir / info["file"]).read_bytes())
    found, start = build_pyodide.snapshot_manifest(raw)
    found["table_after_libs"] += 1
    text = json.dumps(found).encode()
    other = tmp_path / "other.bin"
    other.write_bytes(raw[:start] + text + len(text).to_bytes(4, "little") + raw[-4:])
    proc = _restore(snapshot_dir, other, "print(1)", tmp_path)
    assert proc.returncode == 2 and "the libraries left the wasm table at" in proc.stderr, proc.stderr


def test_a_file_that_is_not_a_snapshot_is_refused_in_node(snapshot_dir: Path, tmp_path: Path) -> None:
    other = tmp_path / "other.bin"
    other.write_bytes(bytes(1000))
    proc = _restore(snapshot_dir, other, "print(1)", tmp_path)
    assert proc.returncode == 2 and "not made by snapshot.mjs" in proc.stderr, proc.stderr


def test_a_snapshot_of_another_build_is_refused_in_node(snapshot_dir: Path, tmp_path: Path) -> None:
    pyodide_dir = snapshot_dir
    info = json.loads((pyodide_dir / "snapshot.json").read_text())
    raw = bytearray(gzip.decompress((pyodide_dir / info["file"]).read_bytes()))
    raw[16:48] = bytes(32)
    other = tmp_path / "other.bin"
    other.write_bytes(raw)
    proc = subprocess.run(
        ["node", str(ROOT / "scripts" / "pyodide_node.mjs"), "--dir", str(pyodide_dir),
         "--snapshot", str(other), "--code", "print(1)"],
        capture_output=True, text=True, timeout=300, check=False)
    assert proc.returncode == 2 and "build id mismatch" in proc.stderr, proc.stderr


def test_the_libraries_range_is_described_only_when_they_come_first(build_pyodide: ModuleType) -> None:
    """snapshot.mjs writes numpy's libraries first among the files; a snapshot that does not
    (made by another version of it) is refused at build time rather than described wrongly."""
    memory = b"M" * 16
    manifest = {"memory_size": 16, "libs": [{"name": "/a.so"}, {"name": "/b.so"}],
                "files": [["/a.so", 3], ["/b.so", 2], ["/c.py", 4]]}
    raw = memory + b"\0as" + b"\0a" + b"text"
    described = build_pyodide.snapshot_libraries(raw, manifest)
    assert described == {"offset": 16, "size": 5, "sha256": hashlib.sha256(raw[16:21]).hexdigest(),
                         "files": [["/a.so", 3], ["/b.so", 2]]}
    manifest["files"] = [["/b.so", 2], ["/a.so", 3], ["/c.py", 4]]
    with pytest.raises(build_pyodide.BuildError, match="not its first files"):
        build_pyodide.snapshot_libraries(raw, manifest)
