"""The training plumbing on one process: gradient accumulation, the learning-rate schedule,
gradient checkpointing, TensorBoard, Hugging Face export and where a stage starts from."""

from __future__ import annotations

import json
import math
import sys
import types
from pathlib import Path
from typing import Any

import pytest

torch = pytest.importorskip("torch")

from _train_helpers import hf_settings, tiny  # noqa: E402
from alignment_train import dpo, sft  # noqa: E402
from alignment_train.config import ConfigError  # noqa: E402
from alignment_train.engine import Run, load_model, start_model  # noqa: E402


def metrics(path: Path) -> list[dict[str, Any]]:
    rows = [json.loads(x) for x in (path / "metrics.jsonl").read_text().splitlines()]
    return [r for r in rows if "summary" not in r]


def params(path: Path) -> dict[str, torch.Tensor]:
    return dict(load_model(path)[0].state_dict())


def close_params(a: Path, b: Path, atol: float = 3e-5) -> None:
    pa, pb = params(a), params(b)
    for k in pa:
        torch.testing.assert_close(pa[k], pb[k], rtol=1e-4, atol=atol, msg=k)


@pytest.mark.slow
def test_grad_accum_4_micro_batches_of_2_equal_a_batch_of_8(sft_dir: str, tmp_path: Path) -> None:
    kw = tiny(init_from=sft_dir, steps=3, batch_size=8, n_pairs=64)
    dpo.train(dpo.DPOConfig(**kw, out_dir=str(tmp_path / "one")))
    dpo.train(dpo.DPOConfig(**kw, grad_accum=4, out_dir=str(tmp_path / "accum")))
    a, b = metrics(tmp_path / "one"), metrics(tmp_path / "accum")
    for key in ("loss", "rewards/margin", "rewards/accuracy"):
        # float32: four partial sums round differently from one; after two updates the margin
        # (~6e-3) differs by ~1e-7 here (rel 1.7e-5), which a wrong accumulation exceeds by far
        assert [r[key] for r in b] == pytest.approx([r[key] for r in a], rel=1e-5, abs=5e-7)
    close_params(tmp_path / "one", tmp_path / "accum")
    # and the loss is the batch mean, not the sum of micro-batch means
    assert a[0]["loss"] == pytest.approx(math.log(2), abs=1e-6)


def test_grad_accum_must_divide_the_batch() -> None:
    with pytest.raises(ConfigError, match="batch_size=8 must be divisible by grad_accum=3"):
        dpo.DPOConfig(batch_size=8, grad_accum=3).validate()


@pytest.mark.parametrize("schedule", ["constant", "linear", "cosine"])
def test_lr_schedule(schedule: str, tmp_path: Path) -> None:
    run = Run(dpo.DPOConfig(steps=10, warmup=2, lr_schedule=schedule, out_dir=str(tmp_path)), "t")
    got = [run.lr_factor(s) for s in range(10)]
    assert got[:2] == [0.5, 1.0]  # linear warm-up
    after = got[2:]  # 8 steps decaying from 1
    want = {"constant": [1.0] * 8,
            "linear": [1 - k / 8 for k in range(8)],
            "cosine": [0.5 * (1 + math.cos(math.pi * k / 8)) for k in range(8)]}[schedule]
    assert after == pytest.approx(want)
    assert all(0 < f <= 1 for f in got)  # every step learns; 0 would be a wasted last step


@pytest.mark.slow
def test_lr_schedule_reaches_the_optimizer(sft_dir: str, tmp_path: Path) -> None:
    dpo.train(dpo.DPOConfig(**tiny(init_from=sft_dir, steps=4, batch_size=8, n_pairs=64,
                                   warmup=1, lr=1e-3, lr_schedule="linear"),
                            out_dir=str(tmp_path)))
    assert [r["lr"] for r in metrics(tmp_path)] == pytest.approx([1e-3, 1e-3, 2e-3 / 3, 1e-3 / 3])


@pytest.mark.slow
def test_grad_checkpointing_gives_the_same_training(sft_dir: str, tmp_path: Path) -> None:
    kw = tiny(init_from=sft_dir, steps=2, batch_size=8, n_pairs=64)
    dpo.train(dpo.DPOConfig(**kw, out_dir=str(tmp_path / "plain")))
    dpo.train(dpo.DPOConfig(**kw, grad_checkpointing=True, out_dir=str(tmp_path / "ckpt")))
    assert [r["loss"] for r in metrics(tmp_path / "ckpt")] == pytest.approx(
        [r["loss"] for r in metrics(tmp_path / "plain")], rel=1e-6)
    close_params(tmp_path / "plain", tmp_path / "ckpt", atol=1e-6)


@pytest.mark.slow
def test_grad_checkpointing_on_a_hugging_face_model(untied_hf_dir: Path, tmp_path: Path) -> None:
    pytest.importorskip("transformers")
    kw = hf_settings(model=str(untied_hf_dir), n_examples=32, batch_size=4, steps=2)
    sft.train(sft.SFTConfig(**kw, out_dir=str(tmp_path / "plain")))
    sft.train(sft.SFTConfig(**kw, grad_checkpointing=True, out_dir=str(tmp_path / "ckpt")))
    assert load_model(tmp_path / "ckpt")[0].hf.config.num_hidden_layers == 2
    assert [r["loss"] for r in metrics(tmp_path / "ckpt")] == pytest.approx(
        [r["loss"] for r in metrics(tmp_path / "plain")], rel=1e-6)
    close_params(tmp_path / "plain", tmp_path / "ckpt", atol=1e-6)


class FakeWriter:
    """Records what a SummaryWriter would write."""

    made: list[FakeWriter] = []  # noqa: RUF012

    def __init__(self, log_dir: str, purge_step: int | None = None) -> None:
        self.log_dir, self.scalars, self.closed = log_dir, [], False
        FakeWriter.made.append(self)

    def add_scalar(self, tag: str, value: float, step: int) -> None:
        self.scalars.append((tag, value, step))

    def flush(self) -> None:
        pass

    def close(self) -> None:
        self.closed = True


def test_tensorboard_scalars_next_to_metrics(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    fake = types.ModuleType("torch.utils.tensorboard")
    fake.SummaryWriter = FakeWriter  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "torch.utils.tensorboard", fake)
    FakeWriter.made.clear()
    sft.train(sft.SFTConfig(**tiny(steps=2, batch_size=4, n_examples=16, eval_prompts=4),
                            out_dir=str(tmp_path)))
    (w,) = FakeWriter.made
    assert w.log_dir == str(tmp_path / "tensorboard") and w.closed
    lines = metrics(tmp_path)
    assert [(v, s) for t, v, s in w.scalars if t == "sft/loss"] == \
        [(r["loss"], r["step"]) for r in lines] != []


def test_tensorboard_on_without_the_package_is_a_note(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setitem(sys.modules, "torch.utils.tensorboard", None)  # import fails
    sft.train(sft.SFTConfig(**tiny(steps=1, batch_size=4, n_examples=16, eval_prompts=4),
                            tensorboard="on", out_dir=str(tmp_path)))
    err = capsys.readouterr().err
    assert "tensorboard=on but the tensorboard package is not installed" in err
    assert (tmp_path / "metrics.jsonl").exists()


def test_start_model_errors(tmp_path: Path, sft_dir: str, untied_hf_dir: Path) -> None:
    with pytest.raises(ConfigError, match="no trained model there"):
        start_model("tiny", str(tmp_path / "nothing"))
    with pytest.raises(ConfigError, match="holds the tiny GPT, but model="):
        start_model(str(untied_hf_dir), sft_dir)
    model, _ = start_model("tiny", "")  # empty init_from: the base model
    assert sum(p.numel() for p in model.parameters()) > 0


def test_resume_in_another_world_size_is_refused(sft_dir: str, tmp_path: Path) -> None:
    kw = tiny(init_from=sft_dir, steps=2, ckpt_every=1, batch_size=4, n_pairs=16)
    dpo.train(dpo.DPOConfig(**kw, out_dir=str(tmp_path)))
    blob = torch.load(tmp_path / "ckpt.pt", weights_only=False)
    blob["world"] = 2
    torch.save(blob, tmp_path / "ckpt.pt")
    with pytest.raises(ConfigError, match="written by 2 processes, this run has 1"):
        dpo.train(dpo.DPOConfig(**kw, out_dir=str(tmp_path)), resume=True)


def test_grad_checkpointing_recomputes_each_block_in_backward() -> None:
    from alignment_train.engine import enable_grad_checkpointing
    from alignment_train.model import GPT, GPTConfig

    model = GPT(GPTConfig())
    enable_grad_checkpointing(model)
    calls = {"n": 0}

    def counted(forward: Any) -> Any:
        def run(*a: Any) -> Any:
            calls["n"] += 1
            return forward(*a)
        return run

    for block in model.blocks:  # (module hooks do not fire in the recomputation)
        block.mlp.forward = counted(block.mlp.forward)
    logits, _ = model(torch.randint(0, 20, (2, 8)))
    assert calls["n"] == 2  # one forward per block
    logits.sum().backward()
    assert calls["n"] == 4  # and one recomputation per block
    with torch.no_grad():
        model(torch.randint(0, 20, (2, 8)))
    assert calls["n"] == 6  # sampling and scoring: no checkpoint


def test_heldout_split_of_your_data(tmp_path: Path) -> None:
    from alignment_train.sources import _cut_left, split_records

    rows = [{"prompt": f"p{i}", "completion": "c"} for i in range(40)]
    one = tmp_path / "all.jsonl"
    one.write_text("".join(json.dumps(r) + "\n" for r in rows))
    train, held = split_records(str(one))  # one file: its last 5 % are held out
    assert [r["prompt"] for r in held] == ["p38", "p39"] and len(train) == 38
    (tmp_path / "d").mkdir()
    (tmp_path / "d" / "train.jsonl").write_text(one.read_text())
    (tmp_path / "d" / "test.jsonl").write_text(json.dumps(rows[0]) + "\n")
    train, held = split_records(str(tmp_path / "d"))  # a test split is used as it is
    assert len(train) == 40 and len(held) == 1
    (tmp_path / "tiny.jsonl").write_text(json.dumps(rows[0]) + "\n")
    with pytest.raises(ConfigError, match="need at least 2"):
        split_records(str(tmp_path / "tiny.jsonl"))
    assert _cut_left([1, 5, 6, 7, 8], 3, bos=1) == [1, 7, 8]  # BOS kept, then the end
    assert _cut_left([5, 6, 7, 8], 3, bos=1) == [6, 7, 8]
