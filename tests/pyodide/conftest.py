"""Fixtures for the tests that run our code inside Pyodide 0.27.7 (in Node).

``pyodide_dir`` builds a fresh self-hosted Pyodide with ``scripts/build_pyodide.py``
(our wheels from the working tree; numpy from the download cache), and
``run_in_pyodide`` runs a Python file in it through ``scripts/pyodide_node.mjs``.
"""

from __future__ import annotations

import importlib.util
import shutil
import subprocess
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from types import ModuleType

import pytest

ROOT = Path(__file__).resolve().parents[2]
NODE_RUNNER = ROOT / "scripts" / "pyodide_node.mjs"


def load_build_module() -> ModuleType:
    """``scripts/build_pyodide.py`` imported as a module (scripts/ is not a package)."""
    path = ROOT / "scripts" / "build_pyodide.py"
    spec = importlib.util.spec_from_file_location("build_pyodide", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules.setdefault("build_pyodide", module)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="session")
def build_pyodide() -> ModuleType:
    return load_build_module()


@pytest.fixture(scope="session")
def pyodide_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A freshly assembled Pyodide folder (what the site serves under /pyodide/)."""
    if shutil.which("node") is None:
        pytest.fail("Node.js is needed to run Pyodide outside a browser; install nodejs (>= 18)")
    out = tmp_path_factory.mktemp("site") / "pyodide"
    proc = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "build_pyodide.py"), "--out", str(out)],
        capture_output=True, text=True, timeout=600, check=False,
    )
    if proc.returncode != 0:
        pytest.fail(f"build_pyodide.py failed:\n{proc.stderr}")
    return out


RunInPyodide = Callable[..., subprocess.CompletedProcess[str]]


@pytest.fixture(scope="session")
def run_in_pyodide(pyodide_dir: Path) -> RunInPyodide:
    """``run_in_pyodide(script, packages=[...], mounts={host: guest}, args=[...], timeout=...)``."""

    def run(script: Path, packages: Sequence[str] = ("numpy", "alignment-math"),
            mounts: dict[Path, str] | None = None, args: Sequence[str] = (),
            timeout: float = 180) -> subprocess.CompletedProcess[str]:
        cmd = ["node", str(NODE_RUNNER), "--dir", str(pyodide_dir),
               "--packages", ",".join(packages)]
        for host, guest in (mounts or {}).items():
            cmd += ["--mount", f"{host}:{guest}"]
        cmd += ["--script", str(script), "--", *args]
        return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, check=False)

    return run
