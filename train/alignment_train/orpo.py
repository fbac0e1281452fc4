"""ORPO (Hong, Lee & Thorne 2024): SFT and preference learning in one stage, no reference.

Run: ``alignment-train orpo``. Starts from the base model (for the default task: a freshly
initialised GPT) and trains on preference pairs with NLL on the chosen response plus
lam * (-log sigma(log odds ratio)). The KL and the "before" numbers are reported against
the SFT model (``eval_ref``) so the stages can be compared; ORPO itself never uses it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F

from .common import (
    ConfigError,
    encode_prompt,
    encode_response,
    evaluate,
    pair_batch,
    response_logps,
    sequence_logps,
)
from .engine import BaseConfig, Run, flush_denormals, frozen_copy, load_model, start_model
from .sources import examples
from .task import Task


@dataclass
class ORPOConfig(BaseConfig):
    init_from: str = ""
    """Stage output to start from; empty = the base model (random init for "tiny")."""
    eval_ref: str = "runs/sft"
    """SFT output used only to report KL and the SFT baseline (empty = skip)."""
    lam: float = 0.5
    """Weight lambda of the odds-ratio term (paper: 0.1-0.25 on 7B models)."""
    n_pairs: int = 4000
    """Preference pairs."""
    steps: int = 500
    """Optimizer steps."""
    batch_size: int = 64
    """Pairs per step."""
    lr: float = 2e-3
    """Peak learning rate."""

    def validate(self, n_examples: int | None = None) -> None:
        super().validate(n_examples)
        if self.lam < 0:
            raise ConfigError(f"lam must be >= 0, got {self.lam}")


# ==== ALGO LOGIC ============================================================================
def orpo_log_odds_ratio(chosen_avg_logps: torch.Tensor, rejected_avg_logps: torch.Tensor) -> torch.Tensor:
    """log odds(y_w) - log odds(y_l), odds = p / (1 - p), p = exp(avg logp) (ORPO Eq. 5).

    log odds = logp - log(1 - exp(logp)), with log(1 - e^x) = log(-expm1(x)) for x < 0.
    """
    def log_odds(lp: torch.Tensor) -> torch.Tensor:
        return lp - torch.log(-torch.expm1(lp))

    return log_odds(chosen_avg_logps) - log_odds(rejected_avg_logps)


def orpo_loss(chosen_nll: torch.Tensor, chosen_avg_logps: torch.Tensor,
              rejected_avg_logps: torch.Tensor, lam: float = 0.1) -> torch.Tensor:
    """nll + lam * (-log sigma(log odds ratio)) per pair ``(B,)`` (ORPO Eqs. 6-7)."""
    if lam < 0:
        raise ValueError(f"lam must be >= 0, got {lam}")
    return chosen_nll - lam * F.logsigmoid(orpo_log_odds_ratio(chosen_avg_logps, rejected_avg_logps))


# ==== PLUMBING ==============================================================================
@flush_denormals
def train(cfg: ORPOConfig, resume: bool = False) -> dict[str, Any]:
    cfg.validate()
    run = Run(cfg, "orpo", resume)
    task = Task()
    model, tok = start_model(cfg.model, cfg.init_from)  # "" = the base model

    def synthetic() -> list[tuple[list[int], list[int], list[int]]]:
        pairs = task.preference_data(cfg.n_pairs, cfg.seed)
        return [(encode_prompt(tok, x), encode_response(tok, c), encode_response(tok, r))
                for x, c, r in pairs]

    src = examples(cfg, "preference", tok, synthetic)
    cfg.validate(src.n_train)
    P, C, R = ([row[k] for row in src.rows] for k in range(3))
    ref = load_model(cfg.eval_ref)[0].to(run.device).eval() if cfg.eval_ref else \
        frozen_copy(model, run.device)
    prompts = task.eval_prompts(cfg.eval_prompts, cfg.seed)
    model = model.to(run.device)
    base = run.measure(src, model, ref, tok, None, lambda: evaluate(
        model, ref, tok, task, prompts, cfg.seed + 1, run.autocast))
    policy = run.wrap(model)
    opt = run.optimizer(policy.parameters())

    def loss_fn(il: list[int]) -> tuple[torch.Tensor, dict[str, float]]:
        b = len(il)
        ids, mask = pair_batch(P, C, R, il, tok.pad_id, run.device)  # chosen rows, then rejected
        with run.autocast():  # logits only from the responses on
            avg = sequence_logps(response_logps(policy, ids, mask), mask, average=True)  # (2b,)
        avg = avg.clamp(max=-1e-6)  # log odds needs p < 1
        chosen, rejected = avg[:b], avg[b:]
        loss = orpo_loss(-chosen, chosen, rejected, cfg.lam).mean()
        ratio = orpo_log_odds_ratio(chosen, rejected).detach()
        return loss, {"nll": -chosen.mean().item(), "log_odds_ratio": ratio.mean().item(),
                      "accuracy": (ratio > 0).float().mean().item()}

    def report(m: torch.nn.Module) -> dict[str, Any]:
        return run.measure(src, m, ref, tok, loss_fn, lambda: evaluate(
            run.inner(m), ref, tok, task, prompts, cfg.seed + 1, run.autocast, run.sharded))

    before = run.fit({"policy": policy}, opt, run.batches(src.n_train, loss_fn, opt),
                     lambda: report(ref))
    after = report(policy)
    summary = {"before": before, "base_model": base, "after": after, "lam": cfg.lam,
               "kl_reference": cfg.eval_ref or "initial model"}
    run.finish(policy, summary, tok)
    return summary
