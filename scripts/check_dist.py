#!/usr/bin/env python3
"""Check built distributions before they are published (``make dist``, the release workflow).

Usage::

    python scripts/check_dist.py DIST_DIR [--tag v0.1.0] [--install [--constraints FILE]]

For every wheel and sdist in DIST_DIR:

* a wheel holds exactly one top-level import package (and its ``.dist-info``);
* a wheel that says ``Typing :: Typed`` ships ``py.typed``;
* every module-level import of a third-party package is a declared, unconditional
  ``Requires-Dist`` (so no console script or module fails on a clean install), and every
  console script points into the wheel itself;
* the metadata a PyPI user reads is there: an SPDX ``License-Expression`` with its licence
  file, ``Requires-Python``, Python-version and status classifiers, the Documentation /
  Source / Changelog / Issues URLs, a Markdown description that does not send the reader to
  ``make serve`` or to 127.0.0.1, and version ranges, not exact pins, for dependencies;
* all distributions carry one version, and with ``--tag`` the tag names that version
  (``v0.1.0`` or ``0.1.0``): a release fails before it uploads anything.

With ``--install`` each wheel is installed into a fresh virtualenv (dependencies from
DIST_DIR first, then the package index; ``--constraints`` pins them) and imported there;
its console scripts are run with ``--help``.

Exit status 0 when everything holds; otherwise 1, with one line per problem.
"""

from __future__ import annotations

import argparse
import ast
import email.message
import email.parser
import re
import subprocess
import sys
import tarfile
import tempfile
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

#: classifiers every published distribution must carry
PYTHON_CLASSIFIERS = tuple(f"Programming Language :: Python :: 3.{minor}" for minor in
                           range(10, 14))
#: Project-URL labels every distribution must carry
URL_LABELS = ("Documentation", "Source", "Changelog", "Issues")
#: import names whose distribution is named differently
IMPORT_TO_DIST = {"yaml": "pyyaml", "PIL": "pillow", "sklearn": "scikit-learn"}
#: what a PyPI page must not say: these only make sense inside a clone of the repository
CLONE_ONLY = ("make serve", "127.0.0.1", "localhost:8000")


def normalize(name: str) -> str:
    """A distribution name in PEP 503 form (``Alignment_Math`` -> ``alignment-math``)."""
    return re.sub(r"[-_.]+", "-", name).lower()


@dataclass
class Wheel:
    path: Path
    metadata: email.message.Message
    files: dict[str, bytes] = field(default_factory=dict)

    @property
    def name(self) -> str:
        return str(self.metadata["Name"])

    @property
    def version(self) -> str:
        return str(self.metadata["Version"])

    @property
    def top_level(self) -> set[str]:
        return {n.split("/")[0] for n in self.files
                if not n.split("/")[0].endswith((".dist-info", ".data"))}

    def dist_info(self, name: str) -> str | None:
        for path, data in self.files.items():
            parts = path.split("/")
            if len(parts) == 2 and parts[0].endswith(".dist-info") and parts[1] == name:
                return data.decode()
        return None

    def console_scripts(self) -> dict[str, str]:
        text = self.dist_info("entry_points.txt") or ""
        scripts: dict[str, str] = {}
        section = None
        for line in text.splitlines():
            line = line.strip()
            if line.startswith("["):
                section = line.strip("[]")
            elif "=" in line and section == "console_scripts":
                key, value = (part.strip() for part in line.split("=", 1))
                scripts[key] = value
        return scripts


def read_wheel(path: Path) -> Wheel:
    with zipfile.ZipFile(path) as zf:
        files = {name: zf.read(name) for name in zf.namelist() if not name.endswith("/")}
    wheel = Wheel(path, email.message.Message(), files)
    text = wheel.dist_info("METADATA")
    if text is None:
        raise ValueError(f"{path.name} has no .dist-info/METADATA: not a wheel")
    wheel.metadata = email.parser.Parser().parsestr(text)
    return wheel


def read_sdist_metadata(path: Path) -> email.message.Message:
    with tarfile.open(path) as tar:
        for member in tar.getmembers():
            if member.name.count("/") == 1 and member.name.endswith("/PKG-INFO"):
                fh = tar.extractfile(member)
                assert fh is not None
                return email.parser.Parser().parsestr(fh.read().decode())
    raise ValueError(f"{path.name} has no PKG-INFO at its top: not an sdist")


def module_level_imports(source: str) -> set[str]:
    """Top-level names imported unconditionally when a module is imported.

    Imports inside functions, classes, ``try`` blocks (optional dependencies with a
    fallback) and ``if`` blocks (``TYPE_CHECKING``, version checks) are left out.
    """
    names: set[str] = set()
    for node in ast.parse(source).body:
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module.split(".")[0])
    return names


def required_dists(metadata: email.message.Message) -> dict[str, str]:
    """Unconditional Requires-Dist entries: normalized name -> the full requirement."""
    found: dict[str, str] = {}
    for requirement in metadata.get_all("Requires-Dist") or []:
        if ";" in requirement:
            continue  # an extra or a marker: not there on every install
        name = re.match(r"[A-Za-z0-9._-]+", requirement)
        if name:
            found[normalize(name.group(0))] = requirement
    return found


def metadata_problems(label: str, metadata: email.message.Message) -> list[str]:
    problems = []
    if metadata.get("License-Expression") != "MIT":
        problems.append(f"{label}: License-Expression is {metadata.get('License-Expression')!r},"
                        " expected the SPDX expression 'MIT'")
    if not metadata.get_all("License-File"):
        problems.append(f"{label}: no License-File")
    if not metadata.get("Requires-Python"):
        problems.append(f"{label}: no Requires-Python")
    classifiers = metadata.get_all("Classifier") or []
    if any(c.startswith("License ::") for c in classifiers):
        problems.append(f"{label}: a License :: classifier beside License-Expression")
    for classifier in PYTHON_CLASSIFIERS:
        if classifier not in classifiers:
            problems.append(f"{label}: classifier {classifier!r} is missing")
    if not any(c.startswith("Development Status ::") for c in classifiers):
        problems.append(f"{label}: no 'Development Status ::' classifier")
    labels = {url.split(",")[0].strip() for url in metadata.get_all("Project-URL") or []}
    for wanted in URL_LABELS:
        if wanted not in labels:
            problems.append(f"{label}: no Project-URL {wanted!r}")
    if metadata.get("Description-Content-Type") != "text/markdown":
        problems.append(f"{label}: the description is not Markdown")
    description = metadata.get_payload()
    if not isinstance(description, str) or len(description.strip()) < 200:
        problems.append(f"{label}: the description (its PyPI page) is missing or a stub")
    else:
        for phrase in CLONE_ONLY:
            if phrase in description:
                problems.append(f"{label}: the PyPI description says {phrase!r}, which only "
                                "works in a clone of the repository")
    for requirement in metadata.get_all("Requires-Dist") or []:
        if re.search(r"===?\s*[0-9]", requirement.split(";")[0]):
            problems.append(f"{label}: exact pin {requirement!r}; publish a range")
    return problems


def wheel_problems(wheel: Wheel) -> list[str]:
    label = wheel.path.name
    problems = metadata_problems(label, wheel.metadata)
    top = wheel.top_level
    if len(top) != 1:
        problems.append(f"{label}: {len(top)} top-level packages ({', '.join(sorted(top))}); "
                        "a distribution ships one")
    classifiers = wheel.metadata.get_all("Classifier") or []
    for package in sorted(top):
        if "Typing :: Typed" in classifiers and f"{package}/py.typed" not in wheel.files:
            problems.append(f"{label}: says 'Typing :: Typed' but has no {package}/py.typed")
    declared = required_dists(wheel.metadata)
    stdlib = set(sys.stdlib_module_names) | {"__future__"}
    for path, data in sorted(wheel.files.items()):
        if not path.endswith(".py") or path.split("/")[0] not in top:
            continue
        for name in sorted(module_level_imports(data.decode()) - stdlib - top):
            dist = normalize(IMPORT_TO_DIST.get(name, name))
            if dist not in declared:
                problems.append(f"{label}: {path} imports {name!r} but {dist!r} is not an "
                                "unconditional Requires-Dist")
    for script, target in wheel.console_scripts().items():
        module = target.split(":")[0]
        as_path = module.replace(".", "/")
        if f"{as_path}.py" not in wheel.files and f"{as_path}/__init__.py" not in wheel.files:
            problems.append(f"{label}: console script {script!r} points at {module!r}, "
                            "which is not in the wheel")
    return problems


def version_problems(versions: dict[str, str], tag: str | None) -> list[str]:
    """One version across the distributions; the tag (if any) names it."""
    problems = []
    distinct = sorted(set(versions.values()))
    if len(distinct) > 1:
        listing = ", ".join(f"{name} {version}" for name, version in sorted(versions.items()))
        problems.append(f"the distributions disagree on the version: {listing}")
    if tag is not None:
        wanted = tag[1:] if tag.startswith("v") else tag
        for name, version in sorted(versions.items()):
            if version != wanted:
                problems.append(f"tag {tag!r} does not match {name} {version}: bump the version "
                                f"or tag v{version}")
    return problems


def _run(cmd: list[str], what: str) -> str | None:
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if proc.returncode == 0:
        return None
    tail = " | ".join((proc.stderr or proc.stdout).strip().splitlines()[-3:])
    return f"{what} failed: {tail}"


def install_problems(wheel: Wheel, dist_dir: Path, constraints: Path | None) -> list[str]:
    """Install ``wheel`` into a fresh virtualenv and import it (and run its commands)."""
    label = wheel.path.name
    with tempfile.TemporaryDirectory(prefix="check_dist-") as tmp:
        venv = Path(tmp) / "venv"
        error = _run([sys.executable, "-m", "venv", str(venv)], f"{label}: creating a venv")
        if error:
            return [error]
        python, bin_dir = venv / "bin" / "python", venv / "bin"
        pip = [str(python), "-m", "pip", "install", "--quiet", "--disable-pip-version-check",
               "--find-links", str(dist_dir)]
        if constraints is not None:
            pip += ["-c", str(constraints)]
        error = _run([*pip, str(wheel.path)], f"{label}: pip install into a fresh venv")
        if error:
            return [error]
        problems = []
        for package in sorted(wheel.top_level):
            code = (f"import {package}, sys; from pathlib import Path; "
                    f"sys.exit(0 if Path({package}.__file__).is_relative_to(sys.prefix) "
                    f"else 'imported from ' + {package}.__file__)")
            error = _run([str(python), "-I", "-c", code], f"{label}: import {package}")
            if error:
                problems.append(error)
        for script in wheel.console_scripts():
            error = _run([str(bin_dir / script), "--help"], f"{label}: `{script} --help`")
            if error:
                problems.append(error)
        error = _run([str(python), "-m", "pip", "check"], f"{label}: pip check")
        if error:
            problems.append(error)
        return problems


def check(dist_dir: Path, tag: str | None = None, install: bool = False,
          constraints: Path | None = None) -> list[str]:
    wheels = sorted(dist_dir.glob("*.whl"))
    sdists = sorted(dist_dir.glob("*.tar.gz"))
    if not wheels:
        return [f"{dist_dir} holds no wheel; build first (make dist)"]
    problems: list[str] = []
    versions: dict[str, str] = {}
    for path in wheels:
        wheel = read_wheel(path)
        versions[normalize(wheel.name)] = wheel.version
        problems += wheel_problems(wheel)
        if install:
            problems += install_problems(wheel, dist_dir, constraints)
    for path in sdists:
        metadata = read_sdist_metadata(path)
        name = normalize(str(metadata["Name"]))
        if name in versions and versions[name] != metadata["Version"]:
            problems.append(f"{path.name}: version {metadata['Version']} but its wheel says "
                            f"{versions[name]}")
        versions.setdefault(name, str(metadata["Version"]))
        problems += metadata_problems(path.name, metadata)
    return problems + version_problems(versions, tag)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("dist_dir", type=Path, help="folder with the built sdists and wheels")
    parser.add_argument("--tag", help="the release tag; fail unless it names the version")
    parser.add_argument("--install", action="store_true",
                        help="install each wheel into a fresh virtualenv and import it")
    parser.add_argument("--constraints", type=Path, help="pip constraints for --install")
    args = parser.parse_args(argv)
    if not args.dist_dir.is_dir():
        print(f"check_dist: error: {args.dist_dir} is not a folder", file=sys.stderr)
        return 1
    try:
        problems = check(args.dist_dir, args.tag, args.install, args.constraints)
    except (ValueError, OSError, zipfile.BadZipFile, tarfile.TarError) as exc:
        print(f"check_dist: error: {exc}", file=sys.stderr)
        return 1
    for problem in problems:
        print(f"check_dist: {problem}", file=sys.stderr)
    names = ", ".join(p.name for p in sorted(args.dist_dir.iterdir()) if p.is_file())
    if not problems:
        print(f"check_dist: ok: {names}" + (" (installed and imported)" if args.install else ""))
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
