"""KTO (Ethayarajh et al. 2024): learn from unpaired thumbs-up / thumbs-down examples.

Run: ``alignment-train kto``. Each preference pair of the task is split into a desirable
(chosen) and an undesirable (rejected) example, shuffled independently. The reference point
z0 is estimated per batch on *mismatched* prompt/response pairs (x_i with y_{i+1}), as in
the paper (§4.1), over the whole global batch (gathered from every process, as TRL does),
and is not back-propagated.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch

from .common import (
    ConfigError,
    all_gather_cat,
    collate,
    encode_prompt,
    encode_response,
    evaluate,
    precompute_logps,
    response_logps,
    sequence_logps,
)
from .engine import BaseConfig, Run, flush_denormals, frozen_copy, start_model
from .sources import examples
from .task import Task


@dataclass
class KTOConfig(BaseConfig):
    init_from: str = "runs/sft"
    """Stage output to start from; also the frozen reference pi_ref."""
    beta: float = 0.1
    """Saturation / KL strength beta (paper: 0.1 near-best)."""
    desirable_weight: float = 1.0
    """lambda_D (paper: lambda_D n_D / (lambda_U n_U) in [1, 4/3])."""
    undesirable_weight: float = 1.0
    """lambda_U."""
    n_pairs: int = 4000
    """Preference pairs to split into 2 * n_pairs unpaired examples."""
    steps: int = 250
    """Optimizer steps."""
    batch_size: int = 64
    """Unpaired examples per step."""
    lr: float = 5e-4
    """Peak learning rate."""

    def validate(self, n_examples: int | None = None) -> None:
        super().validate(n_examples)
        if self.beta <= 0 or self.desirable_weight < 0 or self.undesirable_weight < 0:
            raise ConfigError(f"need beta > 0 and desirable_weight, undesirable_weight >= 0, got "
                              f"{self.beta}, {self.desirable_weight}, {self.undesirable_weight}")


# ==== ALGO LOGIC ============================================================================
def kto_reference_point(policy_logps: torch.Tensor, ref_logps: torch.Tensor) -> torch.Tensor:
    """z0 = max(0, mean(log pi - log pi_ref)), detached (a 0-d tensor)."""
    return (policy_logps - ref_logps).mean().clamp(min=0).detach()


def kto_loss(
    policy_logps: torch.Tensor,
    ref_logps: torch.Tensor,
    desirable: torch.Tensor,
    reference_point: torch.Tensor | float,
    beta: float = 0.1,
    desirable_weight: float = 1.0,
    undesirable_weight: float = 1.0,
) -> torch.Tensor:
    """Per-example KTO loss ``(B,)`` (paper Eq. 7); twin of ``alignment_math.kto_loss``.

    r = log pi - log pi_ref;  desirable: lambda_D (1 - sigma(beta (r - z0)));
    undesirable: lambda_U (1 - sigma(beta (z0 - r))).  Note 1 - sigma(u) = sigma(-u).
    """
    if beta <= 0:
        raise ValueError(f"beta must be > 0, got {beta}")
    r = policy_logps - ref_logps
    return torch.where(desirable.bool(),
                       desirable_weight * torch.sigmoid(-beta * (r - reference_point)),
                       undesirable_weight * torch.sigmoid(-beta * (reference_point - r)))


# ==== PLUMBING ==============================================================================
@flush_denormals
def train(cfg: KTOConfig, resume: bool = False) -> dict[str, Any]:
    cfg.validate()
    run = Run(cfg, "kto", resume)
    task = Task()
    model, tok = start_model(cfg.model, cfg.init_from)
    ref = frozen_copy(model, run.device)

    def synthetic() -> list[tuple[list[int], list[int], bool]]:
        pairs = task.preference_data(cfg.n_pairs, cfg.seed)
        rows = [(x, c, True) for x, c, _ in pairs] + [(x, r, False) for x, _, r in pairs]
        return [(encode_prompt(tok, x), encode_response(tok, y), d) for x, y, d in rows]

    src = examples(cfg, "unpaired", tok, synthetic)
    cfg.validate(src.n_train)
    P, Y = [p for p, _, _ in src.rows], [y for _, y, _ in src.rows]
    D = torch.tensor([d for _, _, d in src.rows])
    ref_lp = precompute_logps(ref, P, Y, tok.pad_id, False, run.device, run.autocast)  # (N,)
    prompts = task.eval_prompts(cfg.eval_prompts, cfg.seed)
    policy = run.wrap(model)
    opt = run.optimizer(policy.parameters())

    def loss_fn(il: list[int]) -> tuple[torch.Tensor, dict[str, float]]:
        ids, mask = collate([P[i] for i in il], [Y[i] for i in il], tok.pad_id)
        ids, mask = ids.to(run.device), mask.to(run.device)
        with run.autocast():  # logits only from the responses on
            logps = sequence_logps(response_logps(policy, ids, mask), mask)  # (B,)
        # reference point from mismatched pairs (x_i, y_{i+1}; i+1 the next example of the
        # global batch, whatever the number of processes), no gradient
        shifted = run.mismatched(il)
        mids, mmask = collate([P[i] for i in il], [Y[i] for i in shifted], tok.pad_id)
        mids, mmask = mids.to(run.device), mmask.to(run.device)
        with torch.no_grad(), run.autocast():
            mis_pol = sequence_logps(response_logps(run.inner(policy), mids, mmask), mmask)  # (B,)
            mis_ref = sequence_logps(response_logps(ref, mids, mmask), mmask)  # (B,)
        # z0 over the global batch: gathered from every process before the mean and clamp
        z0 = kto_reference_point(all_gather_cat(mis_pol), all_gather_cat(mis_ref))
        d = D[il].to(run.device)
        rl = ref_lp[il].to(run.device)
        loss = kto_loss(logps, rl, d, z0, cfg.beta, cfg.desirable_weight,
                        cfg.undesirable_weight).mean()
        r = (cfg.beta * (logps - rl)).detach()
        return loss, {"reference_point": z0.item(),
                      "rewards/desirable": r[d].mean().item() if d.any() else 0.0,
                      "rewards/undesirable": r[~d].mean().item() if (~d).any() else 0.0}

    def report(m: torch.nn.Module) -> dict[str, Any]:
        return run.measure(src, m, ref, tok, loss_fn, lambda: evaluate(
            run.inner(m), ref, tok, task, prompts, cfg.seed + 1, run.autocast, run.sharded))

    before = run.fit({"policy": policy}, opt, run.batches(src.n_train, loss_fn, opt),
                     lambda: report(ref))
    after = report(policy)
    summary = {"before": before, "after": after, "beta": cfg.beta}
    run.finish(policy, summary, tok)
    return summary
