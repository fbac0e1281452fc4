"""Run under torchrun (2 processes, gloo) by test_distributed.py: every multi-process run of
the training tests in one launch (CI has 2 cores; each launch costs seconds of start-up).

argv: OUT SFT_DIR HF_SFT HF_RM. Writes OUT/<job>/ for each job and OUT/ddp_grads.pt.
"""

from __future__ import annotations

import sys

import torch
import torch.distributed as dist
from _train_helpers import (
    collective_inputs,
    ddp_batch_grads,
    ddp_settings,
    hf_jobs,
    run_job,
    tiny,
)
from alignment_train import dpo, ppo
from alignment_train.common import all_gather_cat, global_masked_moments
from alignment_train.engine import Run, TrainingStopped


def killed_then_resumed(train: object, cfg: object, stop_after: int) -> None:
    """Train until ``stop_after`` (as if killed), then resume to the end."""
    try:
        train(type(cfg)(**{**cfg.__dict__, "stop_after": stop_after}))  # type: ignore[operator]
    except TrainingStopped:
        pass
    train(cfg, resume=True)  # type: ignore[operator]


def main() -> None:
    out, sft_dir, hf_sft, hf_rm = sys.argv[1:5]
    # the collectives KTO and PPO use, on uneven inputs
    dist.init_process_group("gloo")
    rows, x, mask = collective_inputs(dist.get_rank())
    got = {"cat": all_gather_cat(rows), "moments": global_masked_moments(x, mask)}
    if dist.get_rank() == 0:
        torch.save(got, f"{out}/collectives.pt")
    # tiny GPT, DDP: training and gradients equal one process
    dpo.train(dpo.DPOConfig(**ddp_settings(sft_dir), out_dir=f"{out}/ddp"))
    run = Run(dpo.DPOConfig(**ddp_settings(sft_dir), out_dir=f"{out}/grads"), "grads")
    grads = ddp_batch_grads(sft_dir, run)
    if run.rank == 0:
        torch.save(grads, f"{out}/ddp_grads.pt")
    # tiny GPT, FSDP2: equals one process; killed and resumed equals uninterrupted
    fsdp = {**ddp_settings(sft_dir), "fsdp": True, "ckpt_every": 1}
    dpo.train(dpo.DPOConfig(**fsdp, out_dir=f"{out}/fsdp"))
    killed_then_resumed(dpo.train, dpo.DPOConfig(**fsdp, out_dir=f"{out}/fsdp_resumed"), 2)
    # gradient accumulation across processes: DDP no_sync, FSDP2 set_requires_gradient_sync
    dpo.train(dpo.DPOConfig(**ddp_settings(sft_dir), grad_accum=2, out_dir=f"{out}/ddp_accum"))
    dpo.train(dpo.DPOConfig(**fsdp, grad_accum=2, out_dir=f"{out}/fsdp_accum"))
    dpo.train(dpo.DPOConfig(**fsdp, grad_checkpointing=True, out_dir=f"{out}/fsdp_ckpt"))
    # tiny GPT, DDP PPO (each process samples its own stream): resume is bit-exact
    kw = tiny(init_from=sft_dir, reward_from="true", steps=3, ckpt_every=1, batch_size=8)
    ppo.train(ppo.PPOConfig(**kw, out_dir=f"{out}/ppo"))
    killed_then_resumed(ppo.train, ppo.PPOConfig(**kw, out_dir=f"{out}/ppo_resumed"), 2)
    # tiny GPT, PPO under FSDP2: processes sample different lengths, none is left waiting
    ppo.train(ppo.PPOConfig(**{**kw, "fsdp": True, "steps": 2}, out_dir=f"{out}/ppo_fsdp"))
    # the untied bf16 Hugging Face model: rm, ppo, dpo, kto (DDP) and dpo (FSDP2)
    for name, job in hf_jobs({"sft": hf_sft, "rm": hf_rm}).items():
        run_job(out, name, job)
    dist.barrier()  # neither process leaves while the other still talks to it
    dist.destroy_process_group()


if __name__ == "__main__":
    main()
