"""Runs inside Pyodide (not collected by the host's pytest): the unit tests under pytest.

usage (via scripts/pyodide_node.mjs): _inner_pytest.py WHEELS REPO OUT FILE...

WHEELS: a folder of pure-Python wheels (pytest, hypothesis and their dependencies),
unpacked here onto sys.path; REPO: the repository, mounted (its tests/ folder is copied
into the in-memory file system, so nothing is written back); OUT: where result.json
goes; FILE...: test files relative to tests/.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
import zipfile
from pathlib import Path

sys.dont_write_bytecode = True  # never write __pycache__ into a mounted host folder

HOST_ONLY = {"tests", "src", "widgets", "conftest.py", "pyproject.toml", "setup.cfg", "tox.ini",
             "pytest.ini", "node_modules", "site", "build", "dist"}
wheels, repo, out, *files = sys.argv[1:]
lib = Path("/tmp/pyodide-test-libs")
for wheel in sorted(Path(wheels).glob("*.whl")):
    with zipfile.ZipFile(wheel) as zf:
        zf.extractall(lib)
sys.path.insert(0, str(lib))

work = Path("/tmp/amtests")
shutil.copytree(Path(repo, "tests"), work / "tests", ignore=shutil.ignore_patterns(
    "__pycache__", "*.pyc", "train", "browser", "pyodide", ".hypothesis"))
# Tests may read repository files (docs/widgets/*.js, mkdocs.yml): link those in. Not the
# code (src/, widgets/: the wheels are under test) nor the host's pytest configuration.
for entry in sorted(Path(repo).iterdir()):
    if entry.name.startswith(".") or entry.name in HOST_ONLY:
        continue
    (work / entry.name).symlink_to(entry)
# Our own config: the repository's pyproject/conftest.py (Sybil, docs) stay on the host.
(work / "pytest.ini").write_text(
    "[pytest]\naddopts = -p no:doctest -p no:cacheprovider\n"
    "filterwarnings =\n    error::RuntimeWarning\n"
)
os.chdir(work)

import numpy  # noqa: E402
import pytest  # noqa: E402


class Profile:
    """WebAssembly is several times slower than native: a per-example deadline would only
    measure the machine, so it is off here (the host run keeps its own settings).
    hypothesis is imported only now, after pytest has loaded its plugin, so that pytest
    can still rewrite that plugin's asserts."""

    def pytest_configure(self, config: object) -> None:
        import hypothesis

        hypothesis.settings.register_profile("pyodide", deadline=None)
        hypothesis.settings.load_profile("pyodide")


class Counts:
    def __init__(self) -> None:
        self.counts: dict[str, int] = {}

    def pytest_terminal_summary(self, terminalreporter: object) -> None:
        stats = terminalreporter.stats  # type: ignore[attr-defined]
        self.counts = {key: len(value) for key, value in stats.items() if key}


counts = Counts()
status = pytest.main(
    ["-q", "-rfEs", "--color=no", "--capture=sys", "-p", "no:cacheprovider",
     *(f"tests/{name}" for name in files)],
    plugins=[Profile(), counts],
)
import hypothesis  # noqa: E402

Path(out, "result.json").write_text(json.dumps({
    "status": int(status),
    "counts": counts.counts,
    "python": sys.version.split()[0],
    "platform": sys.platform,
    "numpy": numpy.__version__,
    "pytest": pytest.__version__,
    "hypothesis": hypothesis.__version__,
}))
sys.stdout.flush()
raise SystemExit(int(status))
