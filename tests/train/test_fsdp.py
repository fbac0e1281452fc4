"""FSDP2 (``fully_shard`` per block + root, gloo on CPU): 2 processes equal 1 process, and a
run killed after step 2 and resumed from its sharded ``torch.distributed.checkpoint`` equals
the uninterrupted run. The runs come from the one torchrun launch of conftest.torchrun_out."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

torch = pytest.importorskip("torch")

from alignment_train.engine import load_model  # noqa: E402

pytestmark = pytest.mark.slow


def rows(path: Path) -> list[dict[str, float]]:
    out = [json.loads(x) for x in (path / "metrics.jsonl").read_text().splitlines()]
    return [{k: v for k, v in r.items() if k != "ms_per_step"} for r in out if "summary" not in r]


@pytest.mark.parametrize("name", ["fsdp", "fsdp_accum", "ddp_accum", "fsdp_ckpt"])
def test_fsdp2_two_processes_match_one(torchrun_out: Path, dpo_single: Path, name: str) -> None:
    """FSDP2 (also with gradient checkpointing), and both wrappers with 2 micro-batches per
    process, equal 1 process."""
    two, one = rows(torchrun_out / name), rows(dpo_single)
    assert [r["loss"] for r in two] == pytest.approx([r["loss"] for r in one], rel=1e-5)
    a, b = load_model(torchrun_out / name)[0].state_dict(), load_model(dpo_single)[0].state_dict()
    assert set(a) == set(b)
    for k in a:  # the exported model is the full (gathered) state dict, not a shard
        assert a[k].shape == b[k].shape
        torch.testing.assert_close(a[k], b[k], rtol=1e-4, atol=3e-5, msg=k)


def test_fsdp2_resume_from_sharded_checkpoint_equals_uninterrupted(torchrun_out: Path) -> None:
    ckpt = torchrun_out / "fsdp_resumed" / "ckpt"
    assert (ckpt / ".metadata").exists() and (ckpt / "meta.pt").exists()  # DCP layout
    assert len(list(ckpt.glob("*.distcp"))) == 2  # one shard file per process
    a = load_model(torchrun_out / "fsdp")[0].state_dict()
    b = load_model(torchrun_out / "fsdp_resumed")[0].state_dict()
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert rows(torchrun_out / "fsdp") == rows(torchrun_out / "fsdp_resumed")
