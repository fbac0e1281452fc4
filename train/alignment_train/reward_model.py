"""Stage 2, the reward model: a scalar head on the SFT trunk, fit with the Bradley–Terry loss.

Run: ``alignment-train rm``. Reports held-out accuracy against the labels and against the
*true* reward, and how much the model's scores follow response length (the labeller's
flaw it inherits). As a policy-side check it also reports best-of-n sampling from the SFT
model ranked by the reward model: true reward and the best-of-n KL bound log n - (n-1)/n.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F

from .common import collate, encode_prompt, encode_response, generate
from .engine import BaseConfig, Run, flush_denormals, frozen_copy, load_model
from .model import ScalarModel
from .task import Task


@dataclass
class RMConfig(BaseConfig):
    init_from: str = "runs/sft"
    """Stage output whose trunk initialises the reward model (InstructGPT starts from SFT)."""
    n_pairs: int = 4000
    """Training preference pairs."""
    heldout_pairs: int = 500
    """Held-out pairs for accuracy."""
    margin: float = 0.0
    """Margin in the Bradley-Terry loss (0 = plain BT)."""
    best_of: int = 4
    """n for the best-of-n check on held-out prompts."""
    steps: int = 500
    """Optimizer steps."""
    batch_size: int = 64
    """Pairs per step."""
    lr: float = 1e-3
    """Peak learning rate."""


# ==== ALGO LOGIC ============================================================================
def bradley_terry_probability(chosen_rewards: torch.Tensor, rejected_rewards: torch.Tensor) -> torch.Tensor:
    """P(chosen preferred) = sigma(r_c - r_r); twin of ``alignment_math``'s."""
    return torch.sigmoid(chosen_rewards - rejected_rewards)


def bradley_terry_loss(
    chosen_rewards: torch.Tensor, rejected_rewards: torch.Tensor, margin: float = 0.0
) -> torch.Tensor:
    """-log sigma(r_c - r_r - margin) per pair ``(B,)`` (InstructGPT Eq. 1)."""
    return -F.logsigmoid(chosen_rewards - rejected_rewards - margin)


def reward_scores(rm: torch.nn.Module, ids: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """The reward model's score of each sequence, read at its last response token: ``(B,)``."""
    values = rm(ids)  # (B, T)
    pos = torch.arange(ids.shape[1], device=ids.device)
    last = (mask * pos).argmax(-1)  # (B,) index of the last response token (EOS)
    return values.gather(1, last[:, None]).squeeze(1)


# ==== PLUMBING ==============================================================================
@flush_denormals
def train(cfg: RMConfig, resume: bool = False) -> dict[str, Any]:
    run = Run(cfg, "rm", resume)
    task = Task()
    pairs = task.preference_data(cfg.n_pairs + cfg.heldout_pairs, cfg.seed)
    train_pairs, held = pairs[: cfg.n_pairs], pairs[cfg.n_pairs :]
    cfg.validate(len(train_pairs))
    sft, tok = load_model(cfg.init_from)
    sampler = frozen_copy(sft, run.device)  # the SFT policy, for the best-of-n check
    rm = run.wrap(ScalarModel(sft))
    opt = run.optimizer(rm.parameters())

    def batch(rows: list[tuple[str, str, str]]) -> tuple[torch.Tensor, torch.Tensor]:
        P = [encode_prompt(tok, x) for x, _, _ in rows]
        resp = [encode_response(tok, c) for _, c, _ in rows] + [encode_response(tok, r) for _, _, r in rows]
        ids, mask = collate(P * 2, resp, tok.pad_id)  # rows [0, b) chosen, [b, 2b) rejected
        return ids.to(run.device), mask.to(run.device)

    def loss_fn(idx: list[int]) -> tuple[torch.Tensor, dict[str, float]]:
        ids, mask = batch([train_pairs[i] for i in idx])
        with run.autocast():
            scores = reward_scores(rm, ids, mask).float()  # (2b,)
        rc, rr = scores[: len(idx)], scores[len(idx) :]
        loss = bradley_terry_loss(rc, rr, cfg.margin).mean()
        return loss, {"accuracy": (rc > rr).float().mean().item(), "margin": (rc - rr).mean().item()}

    run.fit({"rm": rm}, opt, run.batches(len(train_pairs), loss_fn, opt), dict)
    model = run.inner(rm).eval()
    with torch.no_grad():
        ids, mask = batch(held)
        s = reward_scores(model, ids, mask)
    n = len(held)
    rc, rr = s[:n], s[n:]
    truth = torch.tensor([task.true_reward(x, c) > task.true_reward(x, r) for x, c, r in held])
    lengths = torch.tensor([float(len(c)) for _, c, _ in held] + [float(len(r)) for _, _, r in held])
    summary = {
        "heldout_accuracy": (rc > rr).float().mean().item(),
        "heldout_true_order_accuracy": ((rc > rr).cpu() == truth).float().mean().item(),
        "score_length_correlation": torch.corrcoef(torch.stack([s.cpu(), lengths]))[0, 1].item(),
        **best_of_n(model, sampler, task, tok, cfg),
    }
    run.finish(rm, summary)
    return summary


@torch.no_grad()
def best_of_n(rm: torch.nn.Module, sft: torch.nn.Module, task: Task, tok: Any,
              cfg: RMConfig) -> dict[str, float]:
    """True reward of SFT samples: one sample vs the best of ``n`` by the reward model."""
    prompts = task.eval_prompts(cfg.eval_prompts, cfg.seed)
    enc = [encode_prompt(tok, p) for p in prompts]
    gen = torch.Generator().manual_seed(cfg.seed + 1)
    device = next(rm.parameters()).device
    cands = [generate(sft.eval(), enc, task.max_new_tokens, tok.eos_id, tok.pad_id, gen)
             for _ in range(cfg.best_of)]
    scores = []
    for resp in cands:
        ids, mask = collate(enc, resp, tok.pad_id)
        scores.append(reward_scores(rm, ids.to(device), mask.to(device)).cpu())
    best = torch.stack(scores).argmax(0)  # (B,)
    texts = [[tok.decode(c[i]) for c in cands] for i in range(len(prompts))]
    single = [task.true_reward(p, t[0]) for p, t in zip(prompts, texts, strict=True)]
    chosen = [task.true_reward(p, t[int(b)]) for p, t, b in zip(prompts, texts, best, strict=True)]
    n = cfg.best_of
    return {"sft_true_reward": sum(single) / len(single),
            f"best_of_{n}_true_reward": sum(chosen) / len(chosen),
            f"best_of_{n}_length": sum(len(t[int(b)]) for t, b in zip(texts, best, strict=True))
            / len(texts),
            f"best_of_{n}_kl_bound": math.log(n) - (n - 1) / n}
