"""alignment_math on Python 3.10-3.13 x the oldest and the newest NumPy each supports.

Usage::

    nox                        # the whole matrix (the sdist and wheel are built once)
    nox -s "tests-3.12"        # one Python, both NumPy ends
    nox -l                     # list the sessions

Every session installs the *built wheel* (never the working tree) with one NumPy into a
fresh virtualenv, unpacks the sdist and runs the tests it ships (unit, property, docstring
examples and the PyPI README's examples) from there: ``src/`` is not on ``sys.path``, so what
is tested is what ``pip install alignment-math`` gives. Packages come from the package index
through pip's cache; nothing else is fetched.

Interpreters are looked up on ``PATH`` and in ``~/.pyenv/versions``. A Python that is not
found is skipped and reported as such (nox's default); CI sets up all four and passes
``--error-on-missing-interpreters``.
"""

from __future__ import annotations

import os
import re
import shutil
import tarfile
from pathlib import Path

import nox

ROOT = Path(__file__).resolve().parent
DIST = ROOT / ".nox" / "_dist"
PYTHONS = ["3.10", "3.11", "3.12", "3.13"]
#: The oldest NumPy with wheels for each Python that our floor (numpy>=1.26) allows: 1.26.0
#: was the first release with Python 3.12 wheels, 2.1.0 the first with 3.13 wheels. The
#: newest is whatever pip picks for that interpreter (e.g. 2.2.x is the last for 3.10).
OLDEST_NUMPY = {"3.10": "1.26.0", "3.11": "1.26.0", "3.12": "1.26.0", "3.13": "2.1.0"}
#: the test tools: at most the versions constraints.txt locks for the rest of the suite (the
#: lock is made on Python 3.11; on 3.10 pip takes the newest release that still supports it)
TEST_TOOLS = ("pytest", "hypothesis", "sybil")

nox.options.sessions = ["tests"]


def _add_pyenv_to_path() -> None:
    """Put each ~/.pyenv/versions/3.1x.y/bin in front of pyenv's shims (which fail for a
    version that is not selected) so that nox finds python3.10 ... python3.13 directly."""
    versions = Path(os.environ.get("PYENV_ROOT", Path.home() / ".pyenv")) / "versions"
    if not versions.is_dir():
        return
    found = []
    for wanted in PYTHONS:
        candidates = sorted(versions.glob(f"{wanted}.*/bin"),
                            key=lambda p: [int(x) for x in re.findall(r"\d+", p.parent.name)])
        if candidates and (candidates[-1] / f"python{wanted}").exists():
            found.append(str(candidates[-1]))
    os.environ["PATH"] = os.pathsep.join([*found, os.environ.get("PATH", "")])


def _pins(names: tuple[str, ...], op: str = "<=") -> list[str]:
    """``name<=version`` (or another operator) for each name, from constraints.txt."""
    locked = {}
    for line in (ROOT / "constraints.txt").read_text().splitlines():
        match = re.match(r"([A-Za-z0-9._-]+)==(\S+)", line)
        if match:
            locked[match.group(1).lower()] = match.group(2)
    return [f"{name}{op}{locked[name]}" if name in locked else name for name in names]


def _one(pattern: str) -> Path:
    found = sorted(DIST.glob(pattern))
    if len(found) != 1:
        raise RuntimeError(f"expected one {pattern} in {DIST}, found {len(found)}: "
                           "run the 'dist' session")
    return found[0]


_add_pyenv_to_path()


@nox.session
def dist(session: nox.Session) -> None:
    """Build alignment-math's sdist and wheel once (python -m build, isolated)."""
    session.install(*_pins(("build",), "=="))
    shutil.rmtree(DIST, ignore_errors=True)
    session.run("python", "-m", "build", "--outdir", str(DIST), str(ROOT), silent=True)
    session.log("built " + ", ".join(p.name for p in sorted(DIST.iterdir())))


IMPORT_CHECK = """
import sys
from pathlib import Path
import numpy, alignment_math
where = Path(alignment_math.__file__)
assert where.is_relative_to(sys.prefix), f"alignment_math imported from {where}, not the wheel"
assert (where.parent / "py.typed").is_file(), "the installed wheel has no py.typed"
print(f"alignment_math {alignment_math.__version__} (installed wheel), "
      f"numpy {numpy.__version__}, Python {sys.version.split()[0]}")
"""


@nox.session(python=PYTHONS, requires=["dist"])
@nox.parametrize("numpy", ["oldest", "newest"])
def tests(session: nox.Session, numpy: str) -> None:
    """The sdist's tests against the installed wheel, with one end of NumPy's range."""
    wheel, sdist = _one("alignment_math-*.whl"), _one("alignment_math-*.tar.gz")
    assert isinstance(session.python, str)
    spec = f"numpy=={OLDEST_NUMPY[session.python]}" if numpy == "oldest" else "numpy"
    session.install("--only-binary=numpy", str(wheel), spec, *_pins(TEST_TOOLS))
    tmp = Path(session.create_tmp())
    unpacked = tmp / "sdist"
    shutil.rmtree(unpacked, ignore_errors=True)
    with tarfile.open(sdist) as tar:
        if hasattr(tarfile, "data_filter"):
            tar.extractall(unpacked, filter="data")
        else:
            tar.extractall(unpacked)
    (source,) = unpacked.iterdir()
    session.chdir(source)
    session.run("python", "-c", IMPORT_CHECK)
    session.run("python", "-m", "pytest", "-q", "-p", "no:cacheprovider", "tests", "src")
