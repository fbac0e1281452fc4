"""DPO (Rafailov et al. 2023) and its variants: learn from preference pairs, no reward model.

Run: ``alignment-train dpo [--set loss_type=ipo beta=0.5]``. The reference is the SFT model;
its log-probs of every pair are computed once, before training.
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
    precompute_logps,
    response_logps,
    sequence_logps,
)
from .engine import BaseConfig, Run, flush_denormals, frozen_copy, start_model
from .sources import examples
from .task import Task

LOSS_TYPES = ("sigmoid", "robust", "hinge", "ipo")


@dataclass
class DPOConfig(BaseConfig):
    init_from: str = "runs/sft"
    """Stage output to start from; it is also the frozen reference pi_ref."""
    beta: float = 0.1
    """KL strength beta (typical 0.01-1; larger stays closer to pi_ref)."""
    loss_type: str = "sigmoid"
    """One of sigmoid (DPO/cDPO), robust, hinge (SLiC), ipo."""
    label_smoothing: float = 0.0
    """cDPO / robust label-noise rate epsilon in [0, 0.5)."""
    n_pairs: int = 4000
    """Preference pairs generated from the task's (length-biased) labeller."""
    steps: int = 250
    """Optimizer steps."""
    batch_size: int = 64
    """Pairs per step."""
    lr: float = 5e-4
    """Peak learning rate."""

    def validate(self, n_examples: int | None = None) -> None:
        super().validate(n_examples)
        if self.beta <= 0:
            raise ConfigError(f"beta must be > 0, got {self.beta}")
        if self.loss_type not in LOSS_TYPES:
            raise ConfigError(f"loss_type must be one of {', '.join(LOSS_TYPES)}, "
                              f"got {self.loss_type!r}")
        if not 0 <= self.label_smoothing < 0.5:
            raise ConfigError(f"label_smoothing must be in [0, 0.5), got {self.label_smoothing}")
        if self.label_smoothing and self.loss_type in ("hinge", "ipo"):
            raise ConfigError(f"label_smoothing applies only to loss_type sigmoid and robust, "
                              f"not {self.loss_type!r}")


# ==== ALGO LOGIC ============================================================================
def dpo_loss(
    policy_chosen_logps: torch.Tensor,
    policy_rejected_logps: torch.Tensor,
    ref_chosen_logps: torch.Tensor,
    ref_rejected_logps: torch.Tensor,
    beta: float = 0.1,
    loss_type: str = "sigmoid",
    label_smoothing: float = 0.0,
) -> torch.Tensor:
    """Per-pair DPO-family loss ``(B,)``; twin of ``alignment_math.dpo_loss``.

    h = (log pi(y_w) - log pi(y_l)) - (log pi_ref(y_w) - log pi_ref(y_l)).
    IPO is fed per-token *average* log-probs by this trainer (as TRL and the IPO authors do).
    """
    if beta <= 0:
        raise ValueError(f"beta must be > 0, got {beta}")
    if not 0 <= label_smoothing < 0.5:
        raise ValueError(f"label_smoothing must be in [0, 0.5), got {label_smoothing}")
    if label_smoothing and loss_type in ("hinge", "ipo"):
        raise ValueError(f"label_smoothing applies only to loss_type 'sigmoid' and 'robust', "
                         f"got label_smoothing={label_smoothing:g} with loss_type={loss_type!r}")
    h = (policy_chosen_logps - policy_rejected_logps) - (ref_chosen_logps - ref_rejected_logps)
    eps = label_smoothing
    if loss_type == "sigmoid":  # DPO Eq. 7; cDPO when eps > 0
        return -(1 - eps) * F.logsigmoid(beta * h) - eps * F.logsigmoid(-beta * h)
    if loss_type == "robust":  # Chowdhury et al. 2024: unbiased under label noise eps
        return (-(1 - eps) * F.logsigmoid(beta * h) + eps * F.logsigmoid(-beta * h)) / (1 - 2 * eps)
    if loss_type == "hinge":  # SLiC
        return torch.relu(1 - beta * h)
    if loss_type == "ipo":  # Azar et al. 2023, Eq. 17
        return (h - 1 / (2 * beta)) ** 2
    raise ValueError(f"loss_type must be one of {', '.join(LOSS_TYPES)}, got {loss_type!r}")


def dpo_rewards(policy_logps: torch.Tensor, ref_logps: torch.Tensor, beta: float = 0.1) -> torch.Tensor:
    """Implicit rewards beta * (log pi - log pi_ref); twin of ``alignment_math.dpo_rewards``."""
    return beta * (policy_logps - ref_logps)


# ==== PLUMBING ==============================================================================
Tokenized = list[tuple[list[int], list[int], list[int]]]


@flush_denormals
def train(cfg: DPOConfig, resume: bool = False, data: Tokenized | None = None) -> dict[str, Any]:
    """Train; ``data`` optionally replaces the task's pairs with (prompt, chosen, rejected)
    token ids, responses ending in EOS (used by scripts/bench_train.py)."""
    cfg.validate()
    run = Run(cfg, "dpo", resume)
    task = Task()
    model, tok = start_model(cfg.model, cfg.init_from)
    ref = frozen_copy(model, run.device)
    def synthetic() -> Tokenized:
        if data is not None:
            return data
        pairs = task.preference_data(cfg.n_pairs, cfg.seed)
        return [(encode_prompt(tok, x), encode_response(tok, c), encode_response(tok, r))
                for x, c, r in pairs]

    src = examples(cfg, "preference", tok, synthetic)
    cfg.validate(src.n_train)
    P, C, R = ([row[k] for row in src.rows] for k in range(3))
    avg = cfg.loss_type == "ipo"
    # pi_ref's log-probs once, under the policy's autocast (so pi = pi_ref gives ln 2 exactly)
    ref_c = precompute_logps(ref, P, C, tok.pad_id, avg, run.device, run.autocast)  # (N,)
    ref_r = precompute_logps(ref, P, R, tok.pad_id, avg, run.device, run.autocast)  # (N,)
    prompts = task.eval_prompts(cfg.eval_prompts, cfg.seed)
    policy = run.wrap(model)
    opt = run.optimizer(policy.parameters())

    def loss_fn(il: list[int]) -> tuple[torch.Tensor, dict[str, float]]:
        b = len(il)
        ids, mask = pair_batch(P, C, R, il, tok.pad_id, run.device)  # chosen rows, then rejected
        with run.autocast():  # logits only from the responses on
            logps = sequence_logps(response_logps(policy, ids, mask), mask, average=avg)  # (2b,)
        pc, pr = logps[:b], logps[b:]
        rc, rr = ref_c[il].to(run.device), ref_r[il].to(run.device)  # (b,)
        loss = dpo_loss(pc, pr, rc, rr, cfg.beta, cfg.loss_type, cfg.label_smoothing).mean()
        chosen, rejected = dpo_rewards(pc, rc, cfg.beta), dpo_rewards(pr, rr, cfg.beta)
        n_tok = sum(2 * len(P[i]) + len(C[i]) + len(R[i]) for i in il)  # policy tokens
        return loss, {"tokens": n_tok,
                      "rewards/margin": (chosen - rejected).mean().item(),
                      "rewards/accuracy": (chosen > rejected).float().mean().item(),
                      "rewards/chosen": chosen.mean().item(),
                      "rewards/rejected": rejected.mean().item()}

    def report(m: torch.nn.Module) -> dict[str, Any]:
        return run.measure(src, m, ref, tok, loss_fn, lambda: evaluate(
            run.inner(m), ref, tok, task, prompts, cfg.seed + 1, run.autocast, run.sharded))

    before = run.fit({"policy": policy}, opt, run.batches(src.n_train, loss_fn, opt),
                     lambda: report(ref))
    after = report(policy)
    summary = {"before": before, "after": after, "beta": cfg.beta, "loss_type": cfg.loss_type}
    run.finish(policy, summary, tok)
    return summary
