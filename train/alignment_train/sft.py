"""Stage 1, supervised fine-tuning: maximise log pi(y | x) on demonstrations.

Run: ``alignment-train sft``. The model starts from random init (the "base model" of the
default task) and learns the noisy demonstrator; its output is the reference policy of
every later stage.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch

from .common import build_model, collate, encode_prompt, encode_response, evaluate, response_logps
from .engine import BaseConfig, Run, flush_denormals, frozen_copy
from .sources import examples
from .task import Task


@dataclass
class SFTConfig(BaseConfig):
    steps: int = 400
    """Optimizer steps."""
    batch_size: int = 64
    """Demonstrations per step."""
    lr: float = 2e-3
    """Peak learning rate."""
    n_examples: int = 8000
    """Demonstrations generated from the task."""


# ==== ALGO LOGIC ============================================================================
def sft_loss(tok_logps: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Mean negative log-likelihood per response token (a scalar).

    ``tok_logps (B, T)`` from :func:`~alignment_train.common.token_logps`, ``mask (B, T)``
    is 1 on response tokens (EOS included).
    """
    return -(tok_logps * mask).sum() / mask.sum()


# ==== PLUMBING ==============================================================================
@flush_denormals
def train(cfg: SFTConfig, resume: bool = False) -> dict[str, Any]:
    run = Run(cfg, "sft", resume)
    task = Task()
    model, tok = build_model(cfg.model)
    data = [] if cfg.data else task.sft_data(cfg.n_examples, cfg.seed)
    src = examples(cfg, "sft", tok, lambda: [(encode_prompt(tok, x), encode_response(tok, y))
                                              for x, y in data])
    cfg.validate(src.n_train)
    enc = src.rows
    init = frozen_copy(model, run.device)  # for the KL of the "after" report
    prompts = task.eval_prompts(cfg.eval_prompts, cfg.seed)
    policy = run.wrap(model)
    opt = run.optimizer(policy.parameters())

    def loss_fn(idx: list[int]) -> tuple[torch.Tensor, dict[str, float]]:
        ids, mask = collate([enc[i][0] for i in idx], [enc[i][1] for i in idx], tok.pad_id)
        ids, mask = ids.to(run.device), mask.to(run.device)
        with run.autocast():  # logits only from the responses on
            return sft_loss(response_logps(policy, ids, mask), mask), {}

    def report(m: torch.nn.Module) -> dict[str, Any]:
        return run.measure(src, m, init, tok, loss_fn, lambda: evaluate(
            run.inner(m), init, tok, task, prompts, cfg.seed + 1, run.autocast, run.sharded))

    before = run.fit({"policy": policy}, opt, run.batches(src.n_train, loss_fn, opt),
                     lambda: report(init))
    after = report(policy)
    summary = {"before": before, "after": after}
    if src.task is not None:
        demo = sum(task.true_reward(x, y) for x, y in data[:2000]) / min(2000, len(data))
        summary["demonstrator_true_reward"] = demo
    run.finish(policy, summary, tok)
    return summary
