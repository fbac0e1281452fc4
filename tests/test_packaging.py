"""The distributions as their users install them (what `make dist` and a release check).

Builds the sdist and wheel of alignment-math, alignment-train and alignment-widgets with the
standard build backend, then checks what scripts/check_dist.py checks before an upload (and
that it catches the faults it exists for), the sdist's test set, the one version across
pyproject/CHANGELOG/CITATION.cff, CITATION.cff against the CFF 1.2.0 schema, and the release
and CI workflows' essential steps.
"""

from __future__ import annotations

import ast
import email.parser
import importlib.util
import json
import os
import re
import subprocess
import sys
import tarfile
import zipfile
from pathlib import Path
from types import ModuleType

import jsonschema
import pytest
import yaml

import alignment_math

ROOT = Path(__file__).resolve().parents[1]
PROJECTS = {"alignment-math": ROOT, "alignment-train": ROOT / "train",
            "alignment-widgets": ROOT / "widgets"}
CFF_SCHEMA = ROOT / "tests" / "data" / "citation-file-format-1.2.0.schema.json"


def _load(name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(name, ROOT / "scripts" / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules.setdefault(name, module)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def check_dist() -> ModuleType:
    return _load("check_dist")


@pytest.fixture(scope="module")
def dist(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """sdist + wheel of each distribution, built as `make dist` builds them."""
    out = tmp_path_factory.mktemp("dist")
    for project in PROJECTS.values():
        proc = subprocess.run(
            [sys.executable, "-m", "build", "--no-isolation", "--outdir", str(out), str(project)],
            capture_output=True, text=True, check=False, timeout=600)
        assert proc.returncode == 0, proc.stderr[-2000:]
    return out


def _wheel(dist: Path, name: str) -> Path:
    (path,) = dist.glob(f"{name.replace('-', '_')}-*.whl")
    return path


def _sdist(dist: Path, name: str) -> Path:
    (path,) = dist.glob(f"{name.replace('-', '_')}-*.tar.gz")
    return path


def _fake_wheel(path: Path, files: dict[str, str], metadata: str,
                entry_points: str = "") -> Path:
    """A wheel-shaped zip for exercising the checker on a fault."""
    info = "demo-1.0.dist-info"
    with zipfile.ZipFile(path, "w") as zf:
        for name, text in files.items():
            zf.writestr(name, text)
        zf.writestr(f"{info}/METADATA", metadata)
        if entry_points:
            zf.writestr(f"{info}/entry_points.txt", entry_points)
    return path


def _metadata_of(check_dist: ModuleType, dist: Path, name: str) -> str:
    text = check_dist.read_wheel(_wheel(dist, name)).dist_info("METADATA")
    assert text is not None
    return str(text)


# ------------------------------------------------------------------ what we build


def test_our_distributions_pass_every_pre_upload_check(check_dist: ModuleType,
                                                       dist: Path) -> None:
    assert check_dist.check(dist) == []
    assert check_dist.main([str(dist), "--tag", f"v{alignment_math.__version__}"]) == 0


def test_alignment_math_is_numpy_only_one_package_typed_no_command(check_dist: ModuleType,
                                                                   dist: Path) -> None:
    wheel = check_dist.read_wheel(_wheel(dist, "alignment-math"))
    assert wheel.top_level == {"alignment_math"}
    assert "alignment_math/py.typed" in wheel.files
    assert "alignment_math/README.md" not in wheel.files  # the PyPI text, not package data
    assert wheel.console_scripts() == {}
    assert wheel.metadata.get_all("Requires-Dist") == ["numpy>=1.26"]
    assert wheel.version == alignment_math.__version__


def test_alignment_train_owns_its_command_and_declares_what_it_imports(
        check_dist: ModuleType, dist: Path) -> None:
    wheel = check_dist.read_wheel(_wheel(dist, "alignment-train"))
    assert wheel.top_level == {"alignment_train"}
    assert wheel.console_scripts() == {"alignment-train": "alignment_train.cli:main"}
    required = check_dist.required_dists(wheel.metadata)
    assert {"torch", "alignment-math"} <= set(required)
    assert any("tomli" in r and "python_version" in r
               for r in wheel.metadata.get_all("Requires-Dist"))


def test_the_widgets_are_never_uploaded(check_dist: ModuleType, dist: Path) -> None:
    wheel = check_dist.read_wheel(_wheel(dist, "alignment-widgets"))
    assert wheel.top_level == {"alignment_widgets"}
    assert "Private :: Do Not Upload" in wheel.metadata.get_all("Classifier")


@pytest.mark.parametrize("name", sorted(PROJECTS))
def test_metadata_a_pypi_user_reads(check_dist: ModuleType, dist: Path, name: str) -> None:
    metadata = email.parser.Parser().parsestr(_metadata_of(check_dist, dist, name))
    assert metadata["License-Expression"] == "MIT"
    assert metadata["Requires-Python"] == ">=3.10"
    urls = dict(u.split(", ", 1) for u in metadata.get_all("Project-URL"))
    assert set(check_dist.URL_LABELS) <= set(urls)
    assert all(u.startswith("https://") for u in urls.values())
    classifiers = metadata.get_all("Classifier")
    minors = sorted(int(c.rsplit(".", 1)[1]) for c in classifiers
                    if re.fullmatch(r"Programming Language :: Python :: 3\.\d+", c))
    assert minors == [10, 11, 12, 13]  # the range nox proves, no more
    with zipfile.ZipFile(_wheel(dist, name)) as zf:
        licence = next(n for n in zf.namelist() if n.endswith(".dist-info/licenses/LICENSE"))
        assert zf.read(licence) == (ROOT / "LICENSE").read_bytes()


def test_one_version_source_and_the_files_that_repeat_it() -> None:
    pyproject = (ROOT / "pyproject.toml").read_text()
    assert 'dynamic = ["version"]' in pyproject
    assert 'version = { attr = "alignment_math.__version__" }' in pyproject
    version = alignment_math.__version__
    changelog = (ROOT / "CHANGELOG.md").read_text()
    released = re.findall(r"^## \[(\d+\.\d+\.\d+)\] - (\d{4}-\d\d-\d\d)$", changelog, re.M)
    assert released and released[0][0] == version, "CHANGELOG's newest release is not ours"
    citation = yaml.safe_load((ROOT / "CITATION.cff").read_text())
    assert str(citation["version"]) == version
    assert citation["date-released"] == released[0][1]


# ------------------------------------------------------------ the checker itself


GOOD_METADATA = """Metadata-Version: 2.4
Name: demo
Version: 1.0
License-Expression: MIT
License-File: LICENSE
Requires-Python: >=3.10
Classifier: Development Status :: 3 - Alpha
""" + "".join(f"Classifier: Programming Language :: Python :: 3.{m}\n" for m in range(10, 14)) + \
    "".join(f"Project-URL: {label}, https://example.org/{label}\n"
            for label in ("Documentation", "Source", "Changelog", "Issues")) + """\
Requires-Dist: numpy>=1.26
Description-Content-Type: text/markdown

""" + "A description for PyPI readers. " * 10


def test_the_checker_accepts_a_clean_wheel(check_dist: ModuleType, tmp_path: Path) -> None:
    wheel = _fake_wheel(tmp_path / "demo-1.0-py3-none-any.whl",
                        {"demo/__init__.py": "import numpy\n"}, GOOD_METADATA)
    assert check_dist.wheel_problems(check_dist.read_wheel(wheel)) == []


def test_the_checker_catches_the_faults_of_the_old_wheel(check_dist: ModuleType,
                                                         tmp_path: Path) -> None:
    """Two packages in one wheel, a command whose module needs an undeclared torch, a
    deprecated licence field, an exact pin, and a PyPI page that points at a local server."""
    metadata = (GOOD_METADATA.replace("License-Expression: MIT\n", "License: MIT\n")
                .replace("Requires-Dist: numpy>=1.26\n",
                         "Requires-Dist: numpy>=1.26\nRequires-Dist: torch==2.13.0; extra == 'train'\n")
                + "\nRun `make serve` and open http://127.0.0.1:8000.\n")
    wheel = _fake_wheel(
        tmp_path / "demo-1.0-py3-none-any.whl",
        {"demo/__init__.py": "", "demo_train/__init__.py": "",
         "demo_train/cli.py": "import torch\n\ndef main():\n    pass\n"},
        metadata, entry_points="[console_scripts]\ndemo-train = demo_train.cli:main\n")
    problems = "\n".join(check_dist.wheel_problems(check_dist.read_wheel(wheel)))
    assert "2 top-level packages" in problems
    assert "demo_train/cli.py imports 'torch'" in problems
    assert "License-Expression" in problems
    assert "exact pin" in problems
    assert "'make serve'" in problems and "'127.0.0.1'" in problems


def test_an_optional_import_with_a_fallback_needs_no_declaration(check_dist: ModuleType) -> None:
    source = ("import os\ntry:\n    import tomllib\nexcept ImportError:\n    import tomli\n"
              "def f():\n    import transformers\n")
    assert check_dist.module_level_imports(source) == {"os"}


def test_a_command_pointing_outside_its_wheel_is_refused(check_dist: ModuleType,
                                                         tmp_path: Path) -> None:
    wheel = _fake_wheel(tmp_path / "demo-1.0-py3-none-any.whl",
                        {"demo/__init__.py": ""}, GOOD_METADATA,
                        entry_points="[console_scripts]\ndemo = other.cli:main\n")
    problems = check_dist.wheel_problems(check_dist.read_wheel(wheel))
    assert any("not in the wheel" in p for p in problems), problems


@pytest.mark.parametrize(("tag", "ok"), [("v0.3.1", True), ("0.3.1", True), ("v0.3.2", False),
                                         ("v0.3", False)])
def test_the_tag_must_name_the_version(check_dist: ModuleType, tag: str, ok: bool) -> None:
    problems = check_dist.version_problems({"alignment-math": "0.3.1",
                                            "alignment-train": "0.3.1"}, tag)
    assert (problems == []) is ok, problems
    if not ok:
        assert all(tag in p and "0.3.1" in p for p in problems)


def test_distributions_must_agree_on_the_version(check_dist: ModuleType) -> None:
    problems = check_dist.version_problems({"alignment-math": "0.3.1",
                                            "alignment-train": "0.3.0"}, None)
    assert len(problems) == 1 and "disagree" in problems[0]


def test_a_wrong_tag_fails_the_command_in_one_line(check_dist: ModuleType, dist: Path,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    assert check_dist.main([str(dist), "--tag", "v99.0.0"]) == 1
    err = capsys.readouterr().err
    assert "tag 'v99.0.0' does not match alignment-math" in err and "Traceback" not in err
    assert check_dist.main([str(dist / "missing")]) == 1


# ------------------------------------------------------------------------ the sdist


def _needs_only_the_library(path: Path) -> bool:
    allowed = set(sys.stdlib_module_names) | {"__future__", "numpy", "pytest", "hypothesis",
                                               "alignment_math"}
    imported = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            imported.update(a.name.split(".")[0] for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            imported.add(node.module.split(".")[0])
    reads_repo = re.search(r"ROOT|parents\[1\]|\"docs\"|'docs'", path.read_text())
    return imported <= allowed and not reads_repo


def test_the_sdist_ships_the_tests_that_need_only_the_library(dist: Path) -> None:
    with tarfile.open(_sdist(dist, "alignment-math")) as tar:
        names = {n.split("/", 1)[1] for n in tar.getnames() if "/" in n}
    shipped = {n for n in names if n.startswith("tests/")}
    expected = {f"tests/{p.name}" for p in sorted((ROOT / "tests").glob("test_*.py"))
                if _needs_only_the_library(p)}
    assert shipped == expected, "MANIFEST.in's test list is out of date"
    assert {"conftest.py", "LICENSE", "pyproject.toml", "src/alignment_math/README.md",
            "src/alignment_math/py.typed", "CHANGELOG.md", "CITATION.cff"} <= names
    assert not any(n.startswith(("widgets/", "train/", "docs/", "scripts/")) for n in names)


def test_each_distribution_carries_the_licence() -> None:
    for project in PROJECTS.values():
        assert (project / "LICENSE").read_bytes() == (ROOT / "LICENSE").read_bytes()


# ----------------------------------------------------------- citation and workflows


def _cff_errors(data: object) -> list[str]:
    schema = json.loads(CFF_SCHEMA.read_text())
    validator = jsonschema.Draft7Validator(schema,
                                           format_checker=jsonschema.Draft7Validator.FORMAT_CHECKER)
    return [e.message for e in validator.iter_errors(data)]


def test_citation_cff_is_valid_cff_1_2_0() -> None:
    data = yaml.safe_load((ROOT / "CITATION.cff").read_text())
    assert _cff_errors(data) == []
    assert data["license"] == "MIT"
    # the validator is not a rubber stamp: a file without authors, or with a bad date, fails
    assert _cff_errors({k: v for k, v in data.items() if k != "authors"})
    assert _cff_errors({**data, "date-released": "1 December 2026"})


def _workflow(name: str) -> dict:
    return yaml.safe_load((ROOT / ".github" / "workflows" / name).read_text())


def _steps_text(workflow: dict) -> str:
    return "\n".join(json.dumps(step) for job in workflow["jobs"].values()
                     for step in job.get("steps", []))


def test_release_workflow_checks_before_it_publishes() -> None:
    workflow = _workflow("release.yml")
    on = workflow.get("on", workflow.get(True))  # YAML 1.1 reads a bare `on` as True
    assert on["push"]["tags"], "releases run on version tags"
    text = _steps_text(workflow)
    for needed in ("python -m build", "twine check --strict",
                   "scripts/check_dist.py", "--tag", "pypa/gh-action-pypi-publish"):
        assert needed in text, needed
    publish = next(job for job in workflow["jobs"].values()
                   if "pypa/gh-action-pypi-publish" in json.dumps(job))
    assert publish["permissions"]["id-token"] == "write"  # trusted publishing, no token
    assert "password" not in json.dumps(publish)
    assert publish.get("needs"), "publishing waits for the checked build"


def test_ci_workflow_runs_the_readme_test_command_and_the_matrix() -> None:
    workflow = _workflow("ci.yml")
    on = workflow.get("on", workflow.get(True))
    assert "pull_request" in on
    text = _steps_text(workflow)
    readme = (ROOT / "README.md").read_text()
    assert "`make test`" in readme and "make test" in text
    assert "nox" in text and "--error-on-missing-interpreters" in text


def test_the_matrix_starts_at_the_numpy_floor(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", os.environ.get("PATH", ""))  # noxfile.py prepends pyenv's dirs
    nox_spec = importlib.util.spec_from_file_location("noxfile_for_test", ROOT / "noxfile.py")
    assert nox_spec is not None and nox_spec.loader is not None
    pytest.importorskip("nox")
    noxfile = importlib.util.module_from_spec(nox_spec)
    nox_spec.loader.exec_module(noxfile)
    floor = re.search(r'"numpy>=([\d.]+)"', (ROOT / "pyproject.toml").read_text())
    assert floor is not None
    oldest = sorted(noxfile.OLDEST_NUMPY.values(), key=lambda v: [int(x) for x in v.split(".")])
    assert oldest[0].startswith(floor.group(1))
    assert sorted(noxfile.OLDEST_NUMPY) == noxfile.PYTHONS == ["3.10", "3.11", "3.12", "3.13"]


def test_the_developer_tools_are_locked() -> None:
    locked = dict(re.findall(r"^([A-Za-z0-9._-]+)==(\S+)$",
                             (ROOT / "constraints.txt").read_text(), re.M))
    for tool in ("pip", "setuptools", "ruff", "mypy", "pytest", "hypothesis", "sybil", "mkdocs",
                 "mkdocs-material", "nox", "build", "twine", "torch"):
        assert tool in locked, f"constraints.txt does not pin {tool}"
    assert locked["torch"] == "2.13.0"  # resolves to the CPU build on this project's machines
