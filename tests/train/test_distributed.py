"""DDP on 2 CPU processes (gloo, launched by torchrun) equals 1 process on the same global
batch: same logged losses, same gradients, same parameters after training."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

torch = pytest.importorskip("torch")

from _train_helpers import ddp_batch_grads, ddp_settings  # noqa: E402

from alignment_train import dpo  # noqa: E402
from alignment_train.engine import Run, load_model  # noqa: E402

HERE = Path(__file__).parent


def losses(path: Path) -> list[float]:
    rows = [json.loads(x) for x in path.read_text().splitlines()]
    return [r["loss"] for r in rows if "loss" in r]


@pytest.mark.slow
def test_ddp_two_processes_match_one(sft_dir: str, tmp_path: Path) -> None:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(HERE), os.environ.get("PYTHONPATH", "")]),
           "OMP_NUM_THREADS": "1"}
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2",
           str(HERE / "_ddp_worker.py"), str(tmp_path), sft_dir]
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=240)
    assert proc.returncode == 0, proc.stderr[-3000:]

    dpo.train(dpo.DPOConfig(**ddp_settings(sft_dir), out_dir=str(tmp_path / "single")))
    assert losses(tmp_path / "ddp" / "metrics.jsonl") == pytest.approx(
        losses(tmp_path / "single" / "metrics.jsonl"), rel=1e-5)
    a = load_model(tmp_path / "ddp")[0].state_dict()
    b = load_model(tmp_path / "single")[0].state_dict()
    for k in a:  # Adam turns float-rounding noise of ~0 gradients into up to ~1e-5 moves
        torch.testing.assert_close(a[k], b[k], rtol=1e-4, atol=3e-5)

    run = Run(dpo.DPOConfig(**ddp_settings(sft_dir), out_dir=str(tmp_path / "g1")), "grads")
    single = ddp_batch_grads(sft_dir, run)
    ddp = torch.load(tmp_path / "ddp_grads.pt")
    assert set(single) == set(ddp)
    for k in single:
        torch.testing.assert_close(ddp[k], single[k], rtol=1e-4, atol=1e-7)
    assert any(float(g.abs().max()) > 1e-4 for g in single.values())
