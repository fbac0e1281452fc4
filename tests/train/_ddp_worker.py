"""Run under torchrun by test_distributed.py: DDP training and DDP gradients on 2 processes."""

from __future__ import annotations

import sys

import torch
import torch.distributed as dist
from _train_helpers import ddp_batch_grads, ddp_settings

from alignment_train import dpo
from alignment_train.engine import Run


def main() -> None:
    out, sft_dir = sys.argv[1], sys.argv[2]
    dpo.train(dpo.DPOConfig(**ddp_settings(sft_dir), out_dir=f"{out}/ddp"))
    run = Run(dpo.DPOConfig(**ddp_settings(sft_dir), out_dir=f"{out}/grads"), "grads")
    grads = ddp_batch_grads(sft_dir, run)
    if run.rank == 0:
        torch.save(grads, f"{out}/ddp_grads.pt")
    dist.barrier()  # neither process leaves while the other still talks to it
    dist.destroy_process_group()


if __name__ == "__main__":
    main()
