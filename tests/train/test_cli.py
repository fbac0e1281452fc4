"""The ``alignment-train`` command: per-stage help, --version, --list, settings and errors."""

from __future__ import annotations

import dataclasses
import importlib.metadata
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from alignment_train import cli
from alignment_train.config import ConfigError, parse_config

STAGES = list(cli.STAGE_INFO)


def run(args: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    code = cli.main(args)
    out = capsys.readouterr()
    return code, out.out, out.err


def error(args: list[str], capsys: pytest.CaptureFixture[str]) -> str:
    """The one-line error of a command that must fail with exit status 2."""
    code, _, err = run(args, capsys)
    assert code == 2, err
    assert err.startswith("alignment-train: error: ") and err.count("\n") == 1, err
    return err


def flat(text: str) -> str:
    return " ".join(text.split())


def help_text(args: list[str], capsys: pytest.CaptureFixture[str]) -> str:
    with pytest.raises(SystemExit) as e:
        cli.main(args)
    assert e.value.code == 0
    return capsys.readouterr().out


# ---- help, version, python -m --------------------------------------------------------------------
def test_top_level_help_lists_the_stages(capsys: pytest.CaptureFixture[str]) -> None:
    out = help_text(["--help"], capsys)
    for stage in [*STAGES, "all"]:
        assert f"    {stage} " in out and cli.SHORT[stage] in flat(out)


@pytest.mark.parametrize("stage", STAGES)
def test_stage_help_explains_the_stage_and_every_setting(
        stage: str, capsys: pytest.CaptureFixture[str]) -> None:
    pytest.importorskip("torch")
    out = help_text([stage, "--help"], capsys)
    assert out != help_text(["--help"], capsys)
    assert flat(cli.STAGE_INFO[stage][2]) in flat(out)
    cls = cli.stage_entry(stage)[0]
    docs, default = cli.field_docs(cls), cls()
    for f in dataclasses.fields(cls):  # base-class fields too, whoever added them
        assert docs.get(f.name), f"{cls.__name__}.{f.name} has no docstring under it"
        assert f"\n  {f.name} = {getattr(default, f.name)!r}\n" in out
        assert docs[f.name] in flat(out)
    assert "out_dir = ''" in out and "seed = 0" in out  # BaseConfig's


def test_version(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    out = help_text(["--version"], capsys)
    assert out == f"alignment-train {importlib.metadata.version('alignment-train')}\n"

    def missing(name: str) -> str:
        raise importlib.metadata.PackageNotFoundError(name)

    monkeypatch.setattr(importlib.metadata, "version", missing)
    assert "unknown" in help_text(["--version"], capsys)


def test_python_m_alignment_train(tmp_path: Path) -> None:
    pytest.importorskip("torch")
    p = subprocess.run([sys.executable, "-m", "alignment_train", "sft", "--list", "--set",
                        "steps=7"], capture_output=True, text=True, cwd=tmp_path, timeout=120)
    assert p.returncode == 0, p.stderr
    assert "steps = 7   (default 400)" in p.stdout


def no_torch_env(tmp_path: Path) -> dict[str, str]:
    """Environment of a Python in which ``import torch`` fails (as in a NumPy-only install)."""
    (tmp_path / "sitecustomize.py").write_text("import sys\nsys.modules['torch'] = None\n")
    path = os.pathsep.join([str(tmp_path), os.environ.get("PYTHONPATH", "")])
    return {**os.environ, "PYTHONPATH": path}


def test_without_torch_one_sentence_not_a_traceback(tmp_path: Path) -> None:
    env = no_torch_env(tmp_path)
    script = Path(sys.executable).with_name("alignment-train")
    base = [str(script)] if script.exists() else [sys.executable, "-m", "alignment_train"]
    for args in (["dpo"], ["all", "--set", "steps=1"], ["ppo", "--list"]):
        p = subprocess.run([*base, *args], capture_output=True, text=True, env=env,
                           cwd=tmp_path, timeout=60)
        assert p.returncode == 2 and "Traceback" not in p.stderr, p.stderr
        assert p.stderr.count("\n") == 1 and "pip install alignment-train" in p.stderr
    p = subprocess.run([*base, "dpo", "--help"], capture_output=True, text=True, env=env,
                       timeout=60)
    assert p.returncode == 0 and "Direct preference optimisation" in p.stdout
    assert "settings: not shown, because training needs PyTorch" in p.stdout
    p = subprocess.run([*base, "--version"], capture_output=True, text=True, env=env, timeout=60)
    assert p.returncode == 0 and p.stdout.startswith("alignment-train ")


# ---- settings: --config, --set, --list ---------------------------------------------------------------
def test_list_reflects_config_tables_and_set(tmp_path: Path,
                                             capsys: pytest.CaptureFixture[str]) -> None:
    pytest.importorskip("torch")
    cfg = tmp_path / "c.toml"
    cfg.write_text('steps = 3\nlr = 1\n[dpo]\nbeta = 0.3\nsteps = 4\n[sft]\nbeta = "ignored"\n')
    code, out, _ = run(["dpo", "--config", str(cfg), "--set", "dpo.lr=0.25", "sft.lr=9",
                        "loss_type=ipo", "--list"], capsys)
    assert code == 0
    assert "\n  steps = 4   (default 250)\n" in out  # the [dpo] table wins over the top level
    assert "\n  beta = 0.3   (default 0.1)\n" in out
    assert "\n  lr = 0.25   (default 0.0005)\n" in out  # --set wins; sft.lr is for sft only
    assert "\n  loss_type = 'ipo'   (default 'sigmoid')\n" in out
    assert "\n  seed = 0\n" in out  # unchanged: no "(default ...)"
    code, out, err = run(["dpo", "--set", "lr=-1", "--list"], capsys)
    assert code == 2 and "\n  lr = -1.0   (default 0.0005)\n" in out and "lr must be > 0" in err
    code, out, _ = run(["all", "--set", "steps=2", "dpo.beta=0.5", "--list"], capsys)
    assert code == 0 and out.count("  steps = 2   (default") == len(STAGES)
    assert out.count("  beta = 0.5") == 1 and "kto:\n" in out


def test_set_cannot_swallow_the_stage_name(capsys: pytest.CaptureFixture[str]) -> None:
    pytest.importorskip("torch")
    code, out, _ = run(["--set", "steps=2", "sft", "--list"], capsys)
    assert code == 0 and out.startswith("sft:\n") and "steps = 2   (default 400)" in out
    err = error(["sft", "--set", "steps=2", "dpo"], capsys)
    assert "--set expects key=value, got 'dpo'" in err


def test_types_are_checked_with_readable_words(tmp_path: Path) -> None:
    @dataclasses.dataclass
    class C:
        steps: int = 1
        """s"""
        lr: float = 0.1
        """l"""
        bf16: bool = True
        """b"""
        out_dir: str = ""
        """o"""

    c = parse_config(C, None, ["steps=3", "lr=2", "bf16=false", "out_dir=x"])
    assert (c.steps, c.lr, c.bf16, c.out_dir) == (3, 2.0, False, "x")
    assert isinstance(c.lr, float)
    for item, words in [("steps=many", "steps expects an integer, got 'many'"),
                        ("steps=2.5", "steps expects an integer"),
                        ("lr=fast", "lr expects a number, got 'fast'"),
                        ("bf16=maybe", "bf16 expects true or false, got 'maybe'")]:
        with pytest.raises(ConfigError, match=words):
            parse_config(C, None, [item])
    toml = tmp_path / "t.toml"
    for line, words in [("steps = 2.5", "steps expects an integer, got 2.5"),
                        ("steps = true", "steps expects an integer, got True"),
                        ('lr = "fast"', "lr expects a number, got 'fast'"),
                        ("out_dir = 5", "out_dir expects a string, got 5"),
                        ("bf16 = 1", "bf16 expects true or false, got 1")]:
        toml.write_text(line + "\n")
        with pytest.raises(ConfigError, match=words):
            parse_config(C, str(toml), [])
    toml.write_text('lr = 1\nsteps = "4"\n')  # a TOML int for a float; a quoted number
    assert parse_config(C, str(toml), []).lr == 1.0 and parse_config(C, str(toml), []).steps == 4


# ---- one-line errors -----------------------------------------------------------------------------------
def test_config_file_errors(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    pytest.importorskip("torch")
    bad = tmp_path / "bad.toml"
    bad.write_text("steps = 2\nbeta 0.3\n")
    err = error(["dpo", "--config", str(bad)], capsys)
    assert "bad.toml is not valid TOML" in err and "line 2, column" in err
    err = error(["dpo", "--config", str(tmp_path)], capsys)
    assert "is a folder; pass a TOML file" in err
    err = error(["dpo", "--config", str(tmp_path / "missing.toml")], capsys)
    assert "missing.toml does not exist" in err
    bad.write_bytes(b"\xff\xfe steps = 1\n")
    assert "not UTF-8" in error(["dpo", "--config", str(bad)], capsys)
    bad.write_text("beta = 0.3\nbta = 1\n")
    err = error(["dpo", "--config", str(bad)], capsys)
    assert f"dpo has no setting bta (from config file {bad}); did you mean beta?" in err
    assert "its settings are: batch_size, beta, bf16" in err


def test_unknown_keys_name_the_stage(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    pytest.importorskip("torch")
    err = error(["dpo", "--set", "nope=1"], capsys)
    assert "dpo has no setting nope (from --set)" in err and "beta, bf16" in err
    err = error(["all", "--set", "beta=0.1"], capsys)
    assert "all: stage sft has no setting beta (from --set)" in err
    assert "beta is a setting of dpo, kto: write dpo.beta=... to set it for one stage" in err
    assert "no stage has it" in error(["all", "--set", "nope=1"], capsys)
    toml = tmp_path / "p.toml"
    toml.write_text("steps = 5\nlam = 0.2\n")
    err = error(["all", "--config", str(toml)], capsys)
    assert f"all: stage sft has no setting lam (from config file {toml})" in err
    assert "lam is a setting of ppo, orpo: put it in a [ppo] table to set it for one stage" in err
    err = error(["all", "--set", "out_dir=x"], capsys)
    assert "two stages would write to the same out_dir" in err


def test_bad_values_are_one_sentence(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    pytest.importorskip("torch")
    assert "lr must be > 0" in error(["dpo", "--set", "lr=-1"], capsys)
    assert "sigmoid, robust, hinge, ipo" in error(["dpo", "--set", "loss_type=dpo"], capsys)
    assert "steps expects an integer, got 'many'" in error(["sft", "--set", "steps=many"], capsys)
    with pytest.raises(ConfigError, match="steps expects an integer"):
        cli.run_stage("sft", None, ["steps=many"], False)


def test_missing_inputs_fail_before_any_training(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    pytest.importorskip("torch")
    monkeypatch.chdir(tmp_path)  # the default paths runs/<stage> are empty here

    def no_training(*a: object, **k: object) -> dict[str, object]:
        raise AssertionError("a stage started training")

    real = cli.stage_entry
    monkeypatch.setattr(cli, "stage_entry", lambda s: (real(s)[0], no_training))
    err = error(["dpo", "--resume"], capsys)  # used to train SFT for 32 s first
    assert "--resume: no checkpoint in runs/dpo" in err
    assert "no stage has a checkpoint" in error(["all", "--resume"], capsys)
    err = error(["dpo", "--set", f"init_from={tmp_path / 'nothing'}"], capsys)
    assert f"dpo: init_from={tmp_path / 'nothing'} does not exist (train sft first" in err
    (tmp_path / "nothing").mkdir()
    err = error(["kto", "--set", f"init_from={tmp_path / 'nothing'}"], capsys)
    assert "holds no trained model" in err
    (tmp_path / "sft").mkdir()
    (tmp_path / "sft" / "model.pt").write_bytes(b"")  # only its presence is checked up front
    err = error(["ppo", "--set", "init_from=sft", f"reward_from={tmp_path / 'no-rm'}"], capsys)
    assert "ppo: reward_from=" in err and "train rm first" in err
    assert "no such folder" in error(["dpo", "--model", str(tmp_path / "no-model")], capsys)
    (tmp_path / "empty").mkdir()
    assert "no config.json" in error(["sft", "--model", str(tmp_path / "empty")], capsys)
    err = error(["sft", "--data", str(tmp_path / "none.jsonl")], capsys)
    assert "sft: data=" in err and "no such file or folder" in err
    assert not (tmp_path / "runs").exists()


# ---- real runs (seconds) -------------------------------------------------------------------------------
def test_config_file_runs_a_stage(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    pytest.importorskip("torch")
    small = ["steps=2", "batch_size=4", "eval_prompts=8", "threads=1", "log_every=1"]
    assert cli.main(["sft", "--set", *small, "n_examples=16", f"out_dir={tmp_path / 'sft'}"]) == 0
    cfg = tmp_path / "c.toml"
    cfg.write_text(f'init_from = "{tmp_path / "sft"}"\nsteps = 1\nbatch_size = 4\n'
                   f'eval_prompts = 8\nthreads = 1\nout_dir = "{tmp_path / "out"}"\n'
                   f'[dpo]\nbeta = 0.5\nn_pairs = 16\n')
    assert cli.main(["dpo", "--config", str(cfg), "--set", "loss_type=hinge"]) == 0
    s = json.loads((tmp_path / "out" / "summary.json").read_text())
    assert s["beta"] == 0.5 and s["loss_type"] == "hinge"
    capsys.readouterr()
    err = error(["dpo", "--config", str(cfg), "--set", "n_pairs=2"], capsys)
    assert "batch_size=4 is larger than the data (2 examples)" in err


def test_all_runs_the_pipeline_with_per_stage_settings(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    pytest.importorskip("torch")
    monkeypatch.chdir(tmp_path)
    code, out, _ = run(["all", "--set", "steps=1", "batch_size=4", "eval_prompts=4", "threads=1",
                        "sft.n_examples=16", "rm.n_pairs=16", "rm.heldout_pairs=8", "rm.best_of=2",
                        "ppo.n_prompts=16", "dpo.n_pairs=16", "kto.n_pairs=16", "orpo.n_pairs=16",
                        "dpo.beta=0.5"], capsys)
    assert code == 0
    table = json.loads(out)
    assert set(table) == {"sft", "rm_heldout_accuracy", "ppo", "dpo", "kto", "orpo"}
    for stage in STAGES:
        assert (tmp_path / "runs" / stage / "summary.json").exists()
    assert json.loads((tmp_path / "runs" / "dpo" / "summary.json").read_text())["beta"] == 0.5
    assert json.loads((tmp_path / "runs" / "kto" / "summary.json").read_text())["beta"] == 0.1


def test_data_warnings_are_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                    monkeypatch: pytest.MonkeyPatch) -> None:
    pytest.importorskip("torch")
    import warnings

    from alignment_train.data import DataWarning

    def warns(*a: object, **k: object) -> dict[str, object]:
        warnings.warn("dropped 1 of 2 SFT examples (max_length=8): 1 with an empty prompt",
                      DataWarning, stacklevel=2)
        return {}

    real = cli.stage_entry
    monkeypatch.setattr(cli, "stage_entry", lambda s: (real(s)[0], warns))
    code, _, err = run(["sft", "--set", f"out_dir={tmp_path}"], capsys)
    assert code == 0
    assert err == ("alignment-train: warning: dropped 1 of 2 SFT examples (max_length=8): "
                   "1 with an empty prompt\n")


def test_data_flag_trains_on_jsonl_and_reports_bad_records(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    pytest.importorskip("torch")
    sft = tmp_path / "sft.jsonl"
    sft.write_text("".join(json.dumps({"prompt": p + ":", "completion": c}) + "\n"
                           for p, c in [("abcd", "abc"), ("ponm", "pon"), ("efgh", "hgf")] * 4))
    small = ["steps=2", "batch_size=4", "eval_prompts=4", "threads=1", "max_length=24",
             "max_new_tokens=8"]
    assert cli.main(["sft", "--data", str(sft), "--set", *small,
                     f"out_dir={tmp_path / 'out'}"]) == 0
    s = json.loads((tmp_path / "out" / "summary.json").read_text())
    assert s["after"]["eval_loss"] < s["before"]["eval_loss"]  # no true reward with your data
    capsys.readouterr()
    err = error(["dpo", "--data", str(sft), "--set", *small, f"init_from={tmp_path / 'out'}",
                 f"out_dir={tmp_path / 'dpo'}"], capsys)
    assert f"{sft} line 1: a preference record needs 'chosen' and 'rejected'" in err



def test_data_longer_than_the_tiny_gpt_reads_is_refused_before_training(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    data = tmp_path / "sft.jsonl"
    data.write_text('{"prompt": "ab", "completion": "cd"}\n', encoding="utf-8")
    err = error(["sft", "--set", f"data={data}", f"out_dir={tmp_path / 'out'}"], capsys)
    assert "max_length=512 is longer than the tiny GPT reads (32 tokens)" in err
    assert not (tmp_path / "out" / "model.pt").exists()
