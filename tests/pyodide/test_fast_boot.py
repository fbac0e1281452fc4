"""What scripts/build_pyodide.py does for a fast start-up (issue 13): bytecode for the stdlib,
numpy and our wheels, and a memory snapshot of the started interpreter, made in Node."""

from __future__ import annotations

import base64
import gzip
import hashlib
import json
import shutil
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
def snapshot_dir(pyodide_dir: Path, build_pyodide: ModuleType,
                 tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A copy of the built folder with a snapshot (``--snapshot``; the default build has none)."""
    assert json.loads((pyodide_dir / "snapshot.json").read_text()) == {"file": None}
    folder = tmp_path_factory.mktemp("snap") / "pyodide"
    shutil.copytree(pyodide_dir, folder)
    assert build_pyodide.make_snapshot(folder), "Node could not make a snapshot"
    return folder


def test_the_snapshot_restores_and_then_runs_our_code(snapshot_dir: Path, tmp_path: Path) -> None:
    pyodide_dir = snapshot_dir
    info = json.loads((pyodide_dir / "snapshot.json").read_text())
    packed = (pyodide_dir / info["file"]).read_bytes()
    digest = hashlib.sha256(packed)
    assert info["sha256"] == digest.hexdigest() and info["size"] == len(packed)
    assert info["integrity"] == "sha256-" + base64.b64encode(digest.digest()).decode()
    raw = gzip.decompress(packed)
    assert len(raw) == info["raw_size"]
    assert info["file"] == f"snapshot-{digest.hexdigest()[:16]}.bin.gz"  # versioned by content
    # restored in Node, then numpy and our wheels load and compute what CPython computes
    import numpy as np

    import alignment_math

    script = tmp_path / "check.py"
    script.write_text(
        "import json, sys, numpy as np, alignment_math as am\n"
        "print(json.dumps([float(am.dpo_loss(np.array([0.3]), np.array([-0.2]),"
        " np.array([0.0]), np.array([0.0]), beta=0.5)[0]), sys.modules['json'].__name__]))\n")
    proc = subprocess.run(
        ["node", str(ROOT / "scripts" / "pyodide_node.mjs"), "--dir", str(pyodide_dir),
         "--snapshot", str(pyodide_dir / info["file"]),
         "--packages", "numpy,alignment-math", "--script", str(script)],
        capture_output=True, text=True, timeout=300, check=False)
    assert proc.returncode == 0, proc.stderr
    got, name = json.loads(proc.stdout.strip().splitlines()[-1])
    want = float(alignment_math.dpo_loss(np.array([0.3]), np.array([-0.2]), np.array([0.0]),
                                         np.array([0.0]), beta=0.5)[0])
    assert got == pytest.approx(want, rel=1e-12) and name == "json"


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
