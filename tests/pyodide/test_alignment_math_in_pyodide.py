"""``alignment_math`` on the browser's Python: its unit tests under Pyodide 0.27.7 in Node.

The same Pyodide folder the site serves (built by ``scripts/build_pyodide.py``) is
booted in Node; numpy 2.0.2 and our wheels are loaded by name from the site's lock,
pytest and hypothesis (pure-Python wheels, cached outside the repository) are put on
``sys.path``, and every ``tests/test_*.py`` that exercises ``alignment_math`` and imports
nothing the browser lacks runs under Python 3.12 (the files left out are printed).

Known difference: WebAssembly has no floating-point exception flags, so NumPy in
Pyodide never emits overflow/invalid ``RuntimeWarning``s and ``np.errstate(all="raise")``
raises nothing; a test that expects such a warning fails here by design.
"""

from __future__ import annotations

import ast
import hashlib
import json
import subprocess
import sys
import zipfile
from collections.abc import Callable
from pathlib import Path
from types import ModuleType

import pytest

RunInPyodide = Callable[..., subprocess.CompletedProcess[str]]
ROOT = Path(__file__).resolve().parents[2]
TESTS = ROOT / "tests"
INNER = Path(__file__).with_name("_inner_pytest.py")
#: pure-Python wheels for the test run inside Pyodide (pinned: the run is reproducible).
TEST_WHEELS = (
    "pytest==9.2.0",
    "hypothesis==6.155.7",
    "iniconfig==2.3.1",
    "packaging==26.4",
    "pluggy==1.7.0",
    "pygments==2.21.0",
    "sortedcontainers==2.4.0",
)
#: what a test file may import to run in Pyodide (besides the standard library).
AVAILABLE = {"numpy", "alignment_math", "pytest", "_pytest", "hypothesis"}


def _imports(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module.split(".")[0])
    return names


def select_test_files() -> tuple[list[str], dict[str, str]]:
    """The top-level test files to run in Pyodide, and why each other one is left out."""
    local = {p.stem for p in TESTS.glob("*.py")} | {p.name for p in TESTS.iterdir() if p.is_dir()}
    allowed = AVAILABLE | set(sys.stdlib_module_names) | local
    chosen: list[str] = []
    left_out: dict[str, str] = {}
    for path in sorted(TESTS.glob("test_*.py")):
        imports = _imports(path)
        if "alignment_widgets" in imports:
            # the widgets' host contract and CPython timing budgets; the browser tests
            # run the widgets themselves in Chromium
            left_out[path.name] = "a widget test (run by the browser tests instead)"
        elif "alignment_math" not in imports:
            left_out[path.name] = "does not import alignment_math"
        elif missing := sorted(imports - allowed):
            left_out[path.name] = "imports what the browser lacks: " + ", ".join(missing)
        else:
            chosen.append(path.name)
    return chosen, left_out


@pytest.fixture(scope="session")
def pytest_wheels(build_pyodide: ModuleType) -> Path:
    """pytest, hypothesis and their dependencies as pure-Python wheels, cached."""
    key = hashlib.sha256("\n".join(TEST_WHEELS).encode()).hexdigest()[:16]
    folder = build_pyodide.default_cache() / "test-wheels" / key
    done = folder / ".complete"
    if not done.exists():
        folder.mkdir(parents=True, exist_ok=True)
        proc = subprocess.run(
            [sys.executable, "-m", "pip", "download", "--quiet", "--no-deps",
             "--only-binary=:all:", "--python-version", "3.12", "--implementation", "py",
             "--abi", "none", "--platform", "any", "--dest", str(folder), *TEST_WHEELS],
            capture_output=True, text=True, timeout=300, check=False,
        )
        if proc.returncode != 0:
            pytest.fail(f"cannot download the test wheels {TEST_WHEELS}:\n{proc.stderr[-2000:]}")
        done.write_text("\n".join(TEST_WHEELS) + "\n")
    return folder


def test_site_lock_is_pinned_and_every_file_matches(pyodide_dir: Path,
                                                    build_pyodide: ModuleType) -> None:
    lock = json.loads((pyodide_dir / "pyodide-lock.json").read_text())
    official = build_pyodide.read_official_lock(ROOT / "node_modules" / "pyodide")
    assert lock["info"]["version"] == "0.27.7"
    assert lock["info"] == official["info"]
    assert set(lock["packages"]) == {"numpy", "alignment-math", "alignment-widgets"}
    for name, pkg in lock["packages"].items():
        data = (pyodide_dir / pkg["file_name"]).read_bytes()
        assert hashlib.sha256(data).hexdigest() == pkg["sha256"], name
        if name in official["packages"]:  # numpy: the release's, byte-compiled or as it is
            release = official["packages"][name]
            assert {k: v for k, v in pkg.items() if k != "sha256"} == \
                {k: v for k, v in release.items() if k != "sha256"}
            if pkg["sha256"] != release["sha256"]:
                _same_but_compiled(build_pyodide.default_cache() / pkg["file_name"],
                                   pyodide_dir / pkg["file_name"])
    assert lock["packages"]["alignment-math"]["depends"] == ["numpy"]
    assert sorted(lock["packages"]["alignment-widgets"]["depends"]) == ["alignment-math", "numpy"]
    # the browser gets alignment_math only: never the torch training code
    with zipfile.ZipFile(pyodide_dir / lock["packages"]["alignment-math"]["file_name"]) as zf:
        tops = {name.split("/")[0] for name in zf.namelist()}
    assert tops == {"alignment_math", "alignment_math-0.1.0.dist-info"}, tops
    for core in ("pyodide.js", "pyodide.mjs", "pyodide.asm.js", "pyodide.asm.wasm"):
        npm_copy = ROOT / "node_modules" / "pyodide" / core
        assert (pyodide_dir / core).read_bytes() == npm_copy.read_bytes(), core
    stdlib = ROOT / "node_modules" / "pyodide" / "python_stdlib.zip"
    if (pyodide_dir / "python_stdlib.zip").read_bytes() != stdlib.read_bytes():
        _same_but_compiled(stdlib, pyodide_dir / "python_stdlib.zip")


def _same_but_compiled(release: Path, shipped: Path) -> None:
    """``shipped`` is ``release`` with each module's source replaced by its bytecode
    (build_pyodide.py's sourceless py-compile): every other member byte-identical but a
    wheel's RECORD."""
    with zipfile.ZipFile(release) as zf:
        original = {n: zf.read(n) for n in zf.namelist()}
    with zipfile.ZipFile(shipped) as zf:
        got = {n: zf.read(n) for n in zf.namelist()}
    for name, data in original.items():
        if name.endswith(".py") and name[:-3] + ".pyc" in got:
            assert name not in got, name
            assert got[name[:-3] + ".pyc"][:4] == b"\xcb\r\r\n", name  # CPython 3.12 bytecode
        elif not name.endswith(".dist-info/RECORD"):  # RECORD lists the new files
            assert got.get(name) == data, f"{shipped.name}: {name} differs from the release"
    assert set(got) == {n[:-3] + ".pyc" if n[:-3] + ".pyc" in got else n for n in original}


def test_unit_tests_pass_under_pyodide(run_in_pyodide: RunInPyodide, pytest_wheels: Path,
                                       tmp_path: Path) -> None:
    files, left_out = select_test_files()
    for name, why in left_out.items():
        print(f"not run in Pyodide: {name}: {why}")
    assert files, "no tests/test_*.py exercises alignment_math: nothing to run in Pyodide"
    proc = run_in_pyodide(
        INNER,
        packages=["numpy", "alignment-math", "alignment-widgets"],
        mounts={pytest_wheels: "/mnt/wheels", ROOT: "/mnt/repo", tmp_path: "/mnt/out"},
        args=["/mnt/wheels", "/mnt/repo", "/mnt/out", *files],
        timeout=240,
    )
    output = proc.stdout + proc.stderr
    print(output[-6000:])
    result_file = tmp_path / "result.json"
    assert result_file.exists(), f"pytest did not finish inside Pyodide (exit {proc.returncode})"
    result = json.loads(result_file.read_text())
    print("inside Pyodide:", result)
    assert result["platform"] == "emscripten"
    assert result["python"].startswith("3.12.")
    assert result["numpy"] == "2.0.2"
    counts = result["counts"]
    assert counts.get("passed", 0) > 0, counts
    assert not counts.get("failed") and not counts.get("error"), output[-6000:]
    assert result["status"] == 0 and proc.returncode == 0, output[-6000:]
