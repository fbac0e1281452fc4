"""Stage 2, the reward model: a scalar head on the SFT trunk, fit with the Bradley–Terry loss.

Run: ``alignment-train rm``. Reports held-out accuracy against the labels and against the
*true* reward, and how much the model's scores follow response length (the labeller's
flaw it inherits). As a policy-side check it also reports best-of-n sampling from the SFT
model ranked by the reward model: true reward and the best-of-n KL bound log n - (n-1)/n.
"""

from __future__ import annotations

import contextlib
import math
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F

from .common import Autocast, collate, encode_prompt, encode_response, generate, pair_batch
from .config import ConfigError
from .engine import BaseConfig, Run, flush_denormals, frozen_copy, start_model, unwrap
from .model import ScalarModel
from .sources import examples
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
    center_rewards_coefficient: float = 0.01
    """Weight of mean((r_chosen + r_rejected)^2), pulling scores towards mean zero (Eisenstein
    et al. 2023, Eq. 2; TRL's recommended 0.01, off in TRL by default; 0 = off)."""
    best_of: int = 4
    """n for the best-of-n check on held-out prompts."""
    steps: int = 500
    """Optimizer steps."""
    batch_size: int = 64
    """Pairs per step."""
    lr: float = 1e-3
    """Peak learning rate."""

    def validate(self, n_examples: int | None = None) -> None:
        super().validate(n_examples)
        if self.center_rewards_coefficient < 0:
            raise ConfigError(f"center_rewards_coefficient must be >= 0, "
                              f"got {self.center_rewards_coefficient}")
        if self.best_of < 1:
            raise ConfigError(f"best_of must be >= 1, got {self.best_of}")


# ==== ALGO LOGIC ============================================================================
def bradley_terry_probability(chosen_rewards: torch.Tensor, rejected_rewards: torch.Tensor) -> torch.Tensor:
    """P(chosen preferred) = sigma(r_c - r_r); twin of ``alignment_math``'s."""
    return torch.sigmoid(chosen_rewards - rejected_rewards)


def bradley_terry_loss(
    chosen_rewards: torch.Tensor, rejected_rewards: torch.Tensor, margin: float = 0.0
) -> torch.Tensor:
    """-log sigma(r_c - r_r - margin) per pair ``(B,)`` (InstructGPT Eq. 1)."""
    return -F.logsigmoid(chosen_rewards - rejected_rewards - margin)


def centering_penalty(chosen_rewards: torch.Tensor, rejected_rewards: torch.Tensor) -> torch.Tensor:
    """mean((r_c + r_r)^2): zero when each pair's scores sum to zero (Eisenstein et al. 2023,
    Eq. 2; TRL's ``center_rewards_coefficient`` term). Bradley-Terry sees only differences,
    so without it the scores' offset drifts freely."""
    return ((chosen_rewards + rejected_rewards) ** 2).mean()


def reward_scores(rm: torch.nn.Module, ids: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """The reward model's score of each sequence, read at its last response token: ``(B,)``."""
    values = rm(ids)  # (B, T)
    pos = torch.arange(ids.shape[1], device=ids.device)
    last = (mask * pos).argmax(-1)  # (B,) index of the last response token (EOS)
    return values.gather(1, last[:, None]).squeeze(1)


def normalized_scores(rm: ScalarModel, scores: torch.Tensor, clip: float = 0.0) -> torch.Tensor:
    """(score - mean) / std with the reward model's statistics on SFT samples (InstructGPT
    normalises its reward model so SFT samples score 0 on average), clipped to
    ``[-clip, clip]`` when ``clip > 0``."""
    out = (scores - rm.score_mean) / rm.score_std.clamp(min=1e-6)
    return out.clamp(-clip, clip) if clip > 0 else out


# ==== PLUMBING ==============================================================================
@flush_denormals
def train(cfg: RMConfig, resume: bool = False) -> dict[str, Any]:
    run = Run(cfg, "rm", resume)
    task = Task()
    pairs = [] if cfg.data else task.preference_data(cfg.n_pairs + cfg.heldout_pairs, cfg.seed)
    held = pairs[cfg.n_pairs :]
    sft, tok = start_model(cfg.model, cfg.init_from)
    src = examples(cfg, "preference", tok, lambda: [
        (encode_prompt(tok, x), encode_response(tok, c), encode_response(tok, r))
        for x, c, r in pairs], n_train=cfg.n_pairs)
    cfg.validate(src.n_train)
    P, C, R = ([row[k] for row in src.rows] for k in range(3))
    sampler = frozen_copy(sft, run.device)  # the SFT policy, for the best-of-n check
    rm = run.wrap(ScalarModel(sft))
    opt = run.optimizer(rm.parameters())

    def batch(idx: list[int]) -> tuple[torch.Tensor, torch.Tensor]:
        return pair_batch(P, C, R, idx, tok.pad_id, run.device)  # chosen rows, then rejected

    def loss_fn(idx: list[int]) -> tuple[torch.Tensor, dict[str, float]]:
        ids, mask = batch(idx)
        with run.autocast():
            scores = reward_scores(rm, ids, mask).float()  # (2b,)
        rc, rr = scores[: len(idx)], scores[len(idx) :]
        loss = bradley_terry_loss(rc, rr, cfg.margin).mean()
        if cfg.center_rewards_coefficient:
            loss = loss + cfg.center_rewards_coefficient * centering_penalty(rc, rr)
        return loss, {"accuracy": (rc > rr).float().mean().item(), "margin": (rc - rr).mean().item(),
                      "mean_score": scores.mean().item()}

    run.fit({"rm": rm}, opt, run.batches(src.n_train, loss_fn, opt), dict)
    model = run.inner(rm).eval()
    with torch.no_grad(), run.autocast():
        ids, mask = batch(src.heldout)
        s = reward_scores(model, ids, mask).float()
    n = len(src.heldout)
    rc, rr = s[:n], s[n:]
    lengths = torch.tensor([float(len(C[i])) for i in src.heldout] +
                           [float(len(R[i])) for i in src.heldout])  # tokens
    summary = {
        "heldout_accuracy": (rc > rr).float().mean().item(),
        "score_length_correlation": torch.corrcoef(torch.stack([s.cpu(), lengths]))[0, 1].item(),
    }
    if src.task is not None:
        truth = torch.tensor([task.true_reward(x, c) > task.true_reward(x, r) for x, c, r in held])
        summary["heldout_true_order_accuracy"] = ((rc > rr).cpu() == truth).float().mean().item()
        summary.update(best_of_n(model, sampler, task, tok, cfg, run.autocast))
    else:  # no true reward: only the score statistics of SFT samples, for PPO
        summary.update(sample_score_stats(model, sampler, src.eval_prompts, tok, cfg,
                                          run.autocast))
    # saved with the model: PPO normalises rewards to mean 0, std 1 on SFT samples
    unwrap(model).score_mean.fill_(summary["sft_score_mean"])
    unwrap(model).score_std.fill_(max(summary["sft_score_std"], 1e-6))
    run.finish(rm, summary, tok)
    return summary


@torch.no_grad()
def best_of_n(rm: torch.nn.Module, sft: torch.nn.Module, task: Task, tok: Any,
              cfg: RMConfig, autocast: Autocast | None = None) -> dict[str, float]:
    """True reward of SFT samples: one sample vs the best of ``n`` by the reward model, and
    the mean and standard deviation of the reward model's scores of those samples (the
    statistics PPO normalises rewards with)."""
    prompts = task.eval_prompts(cfg.eval_prompts, cfg.seed)
    enc = [encode_prompt(tok, p) for p in prompts]
    gen = torch.Generator().manual_seed(cfg.seed + 1)
    device = next(rm.parameters()).device
    cands = [generate(sft.eval(), enc, task.max_new_tokens, tok.eos_id, tok.pad_id, gen,
                      autocast=autocast) for _ in range(cfg.best_of)]
    scores = []
    for resp in cands:
        ids, mask = collate(enc, resp, tok.pad_id)
        with (autocast or contextlib.nullcontext)():
            scores.append(reward_scores(rm, ids.to(device), mask.to(device)).float().cpu())
    stacked = torch.stack(scores)  # (n, B): the reward model's scores of SFT samples
    best = stacked.argmax(0)  # (B,)
    texts = [[tok.decode(c[i]) for c in cands] for i in range(len(prompts))]
    single = [task.true_reward(p, t[0]) for p, t in zip(prompts, texts, strict=True)]
    chosen = [task.true_reward(p, t[int(b)]) for p, t, b in zip(prompts, texts, best, strict=True)]
    n = cfg.best_of
    return {"sft_score_mean": stacked.mean().item(), "sft_score_std": stacked.std().item(),
            "sft_true_reward": sum(single) / len(single),
            f"best_of_{n}_true_reward": sum(chosen) / len(chosen),
            f"best_of_{n}_length": sum(len(t[int(b)]) for t, b in zip(texts, best, strict=True))
            / len(texts),
            f"best_of_{n}_kl_bound": math.log(n) - (n - 1) / n}


@torch.no_grad()
def sample_score_stats(rm: torch.nn.Module, sft: torch.nn.Module, prompts: list[list[int]],
                       tok: Any, cfg: RMConfig, autocast: Autocast | None = None) -> dict[str, float]:
    """Mean and standard deviation of the reward model's scores of ``best_of`` SFT samples per
    held-out prompt (your data: the statistics PPO normalises rewards with)."""
    gen = torch.Generator().manual_seed(cfg.seed + 1)
    device = next(rm.parameters()).device
    scores = []
    for _ in range(cfg.best_of):
        resp = generate(sft.eval(), prompts, cfg.max_new_tokens, tok.eos_id, tok.pad_id, gen,
                        autocast=autocast)
        ids, mask = collate(prompts, resp, tok.pad_id)
        with (autocast or contextlib.nullcontext)():
            scores.append(reward_scores(rm, ids.to(device), mask.to(device)).float().cpu())
    stacked = torch.cat(scores)
    return {"sft_score_mean": stacked.mean().item(),
            "sft_score_std": stacked.std().item() if len(stacked) > 1 else 1.0}
