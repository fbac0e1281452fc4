"""Stage 3 of RLHF: PPO against the reward model with a per-token KL penalty to pi_ref.

Run: ``alignment-train ppo [--set kl_coef=0.02]``. One iteration = sample a batch of
responses, score them, turn scores into per-token rewards (KL penalty on every token, the
score on the last), estimate advantages with GAE from a critic, then several epochs of
clipped policy and value updates on minibatches (Schulman et al. 2017; Ziegler et al. 2019;
Ouyang et al. 2022). ``reward_from = "true"`` optimises the task's true reward instead
(PPO-GT, an upper reference).
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F

from .common import (
    ConfigError,
    collate,
    encode_prompt,
    evaluate,
    generate,
    masked_mean,
    response_logps,
    whiten,
)
from .engine import BaseConfig, Run, flush_denormals, frozen_copy, load_model, start_model
from .model import ScalarModel
from .reward_model import normalized_scores, reward_scores
from .sources import examples
from .task import Task


@dataclass
class PPOConfig(BaseConfig):
    init_from: str = "runs/sft"
    """Stage output to start the policy from; also the frozen reference pi_ref."""
    reward_from: str = "runs/rm"
    """Reward-model output folder, or "true" to optimise the task's true reward (PPO-GT)."""
    kl_coef: float = 0.5
    """KL penalty beta per token (InstructGPT 0.02, Ziegler et al. 0.03-0.15; on the default
    task's small, exploitable reward model, below ~0.3 PPO trades true reward for length)."""
    clip_eps: float = 0.2
    """Policy ratio clip epsilon (typical 0.1-0.3)."""
    vf_clip: float = 0.2
    """Value clip range around the rollout's values."""
    vf_coef: float = 0.5
    """Weight of the value loss. The critic has its own AdamW and clipping, so this only scales
    the critic's gradient before its clip (Adam is almost scale-invariant): tune critic_lr."""
    gamma: float = 1.0
    """Discount (1 in RLHF)."""
    lam: float = 0.95
    """GAE lambda."""
    ppo_epochs: int = 4
    """Passes over each rollout batch."""
    minibatches: int = 4
    """Minibatches per epoch (each one optimizer step)."""
    n_prompts: int = 4000
    """Training prompt pool."""
    steps: int = 60
    """PPO iterations (each: one rollout batch, ppo_epochs * minibatches optimizer steps)."""
    batch_size: int = 64
    """Rollouts (prompts) per iteration."""
    lr: float = 2e-4
    """Peak learning rate of the policy (actor)."""
    critic_lr: float = 2e-4
    """Peak learning rate of the critic, its own AdamW (OpenRLHF: separate actor/critic)."""
    normalize_reward: bool = True
    """Normalise reward-model scores with its mean and std on SFT samples (saved by rm)."""
    reward_clip: float = 0.0
    """Clip (normalised) scores to [-reward_clip, reward_clip]; 0 = off (OpenRLHF: 10)."""
    log_every: int = 5
    """Write a metrics line every this many iterations."""
    ckpt_every: int = 20
    """Checkpoint every this many iterations."""

    def validate(self, n_examples: int | None = None) -> None:
        super().validate(n_examples)
        if self.kl_coef < 0 or self.clip_eps <= 0 or self.ppo_epochs < 1 or self.minibatches < 1:
            raise ConfigError(f"need kl_coef >= 0, clip_eps > 0, ppo_epochs >= 1, minibatches >= 1; "
                              f"got {self.kl_coef}, {self.clip_eps}, {self.ppo_epochs}, "
                              f"{self.minibatches}")
        if not 0 <= self.gamma <= 1 or not 0 <= self.lam <= 1:
            raise ConfigError(f"gamma and lam must be in [0, 1], got {self.gamma}, {self.lam}")
        if self.critic_lr <= 0 or self.reward_clip < 0 or self.vf_coef <= 0:
            raise ConfigError(f"need critic_lr > 0, vf_coef > 0 and reward_clip >= 0, got "
                              f"{self.critic_lr}, {self.vf_coef}, {self.reward_clip}")


# ==== ALGO LOGIC ============================================================================
def ppo_clip_objective(ratio: torch.Tensor, advantages: torch.Tensor, clip_eps: float = 0.2) -> torch.Tensor:
    """min(r A, clip(r, 1-eps, 1+eps) A), to maximise (PPO Eq. 7); twin of alignment_math's."""
    if clip_eps <= 0:
        raise ValueError(f"clip_eps must be > 0, got {clip_eps}")
    return torch.minimum(ratio * advantages, ratio.clamp(1 - clip_eps, 1 + clip_eps) * advantages)


def gae(rewards: torch.Tensor, values: torch.Tensor, gamma: float = 1.0,
        lam: float = 0.95) -> tuple[torch.Tensor, torch.Tensor]:
    """(advantages, returns) over the last axis; V after the last token is 0.

    delta_t = r_t + gamma V_{t+1} - V_t;  A_t = delta_t + gamma lam A_{t+1}.
    With right padding, zero rewards and values on pads make this exact per response.
    """
    adv = torch.zeros_like(rewards)
    running = torch.zeros_like(rewards[..., 0])
    next_value = torch.zeros_like(rewards[..., 0])
    for t in range(rewards.shape[-1] - 1, -1, -1):
        delta = rewards[..., t] + gamma * next_value - values[..., t]
        running = delta + gamma * lam * running
        adv[..., t] = running
        next_value = values[..., t]
    return adv, adv + values


def kl_penalized_rewards(scores: torch.Tensor, logprobs: torch.Tensor, ref_logprobs: torch.Tensor,
                         kl_coef: float, mask: torch.Tensor | None = None) -> torch.Tensor:
    """Per-token rewards -kl_coef (log pi - log pi_ref), plus the score on the last token.

    ``logprobs (B, T)``; ``scores (B,)``. With ``mask (B, T)`` the score goes on each row's
    last masked-in token and pads get 0 (without it: the last column, like the twin).
    """
    rewards = -kl_coef * (logprobs - ref_logprobs)  # (B, T)
    if mask is None:
        last = torch.full(scores.shape, rewards.shape[-1] - 1, device=rewards.device)
    else:
        rewards = rewards * mask
        last = (mask * torch.arange(mask.shape[-1], device=mask.device)).argmax(-1)
    return rewards.scatter_add(-1, last[..., None].long(), scores[..., None].to(rewards.dtype))


def kl_estimators(logprobs: torch.Tensor,
                  ref_logprobs: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(k1, k2, k3) per sample of KL(pi || pi_ref) from y ~ pi (Schulman 2020)."""
    log_rho = ref_logprobs - logprobs
    return -log_rho, 0.5 * log_rho**2, torch.expm1(log_rho) - log_rho


def critic_values(critic: torch.nn.Module, ids: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """V(s_t) aligned with token t, i.e. read at position t-1 (the prefix before it): (B, T)."""
    return F.pad(critic(ids)[:, :-1], (1, 0)) * mask  # (B, T)


# ==== PLUMBING ==============================================================================
@flush_denormals
def train(cfg: PPOConfig, resume: bool = False) -> dict[str, Any]:
    cfg.validate()
    if cfg.data and cfg.reward_from == "true":
        raise ConfigError("reward_from=true needs the synthetic task (its true reward); with "
                          "data, give a reward model: reward_from=runs/rm")
    run = Run(cfg, "ppo", resume)
    if (cfg.batch_size // run.world) % cfg.minibatches:
        raise ConfigError(f"batch_size per process ({cfg.batch_size // run.world}) must be "
                          f"divisible by minibatches={cfg.minibatches}")
    mb = cfg.batch_size // run.world // cfg.minibatches
    if mb % cfg.grad_accum:
        raise ConfigError(f"each process's minibatch ({mb}) must be divisible by "
                          f"grad_accum={cfg.grad_accum}")
    task = Task()
    model, tok = start_model(cfg.model, cfg.init_from)
    ref = frozen_copy(model, run.device)
    pool = [] if cfg.data else task.sft_data(cfg.n_prompts, cfg.seed + 7)  # prompts only
    src = examples(cfg, "prompt", tok, lambda: [encode_prompt(tok, x) for x, _ in pool],
                   prompt_budget=cfg.max_length - cfg.max_new_tokens)
    cfg.validate(src.n_train)
    max_new = task.max_new_tokens if src.task else cfg.max_new_tokens
    true_reward = cfg.reward_from == "true"
    if true_reward:  # PPO-GT: critic starts from the SFT trunk
        critic_model: torch.nn.Module = ScalarModel(copy.deepcopy(model))
        rm = None
    else:  # InstructGPT: critic initialised from the reward model
        critic_model = load_model(cfg.reward_from)[0]
        rm = frozen_copy(critic_model, run.device)
    prompts = task.eval_prompts(cfg.eval_prompts, cfg.seed)
    policy, critic = run.wrap(model), run.wrap(critic_model)
    # separate optimizers (own learning rate, own gradient clipping), as OpenRLHF's actor/critic
    actor_opt = run.optimizer(policy.parameters())
    critic_opt = run.optimizer(critic.parameters(), lr=cfg.critic_lr)
    run.total_steps = cfg.steps * cfg.ppo_epochs * cfg.minibatches

    def iteration(it: int) -> dict[str, float]:
        # ---- rollout: sample, score, per-token rewards, GAE (no gradients) ----
        idx = run.shard(run.batch_indices(src.n_train)).tolist()
        enc = [src.rows[i] for i in idx]
        policy.eval()
        responses = generate(run.inner(policy), enc, max_new, tok.eos_id,
                             tok.pad_id, run.sample_gen, autocast=run.autocast, sync=run.sharded)
        ids, mask = collate(enc, responses, tok.pad_id)
        ids, mask = ids.to(run.device), mask.to(run.device)
        texts = [tok.decode(r) for r in responses]
        truth = torch.tensor([task.true_reward(pool[i][0], t) if src.task else float("nan")
                              for i, t in zip(idx, texts, strict=True)])
        with torch.no_grad(), run.autocast():
            old_lp = response_logps(run.inner(policy), ids, mask)  # (B, T)
            ref_lp = response_logps(ref, ids, mask)  # (B, T)
            values = critic_values(run.inner(critic), ids, mask).float()  # (B, T)
            if rm is None:
                scores = truth.to(run.device)
            else:
                scores = reward_scores(rm, ids, mask).float()
                if cfg.normalize_reward:
                    scores = normalized_scores(rm, scores, cfg.reward_clip)  # type: ignore[arg-type]
                elif cfg.reward_clip:
                    scores = scores.clamp(-cfg.reward_clip, cfg.reward_clip)
        rewards = kl_penalized_rewards(scores, old_lp, ref_lp, cfg.kl_coef, mask)  # (B, T)
        adv, returns = gae(rewards, values, cfg.gamma, cfg.lam)  # (B, T)
        adv = whiten(adv, mask)  # mean and variance over every process's tokens

        def actor_loss(j: list[int]) -> tuple[torch.Tensor, dict[str, float]]:
            m = mask[j]
            with run.autocast():
                new_lp = response_logps(policy, ids[j], m)  # (b, T)
            log_ratio = (new_lp - old_lp[j]) * m
            ratio = torch.exp(log_ratio)
            pg_loss = -masked_mean(ppo_clip_objective(ratio, adv[j], cfg.clip_eps), m)
            return pg_loss, {
                "clipfrac": masked_mean(((ratio - 1).abs() > cfg.clip_eps).float(), m).item(),
                "approx_kl": masked_mean((ratio - 1) - log_ratio, m).item()}  # k3, new vs old

        def critic_loss(j: list[int]) -> tuple[torch.Tensor, dict[str, float]]:
            m = mask[j]
            with run.autocast():
                v = critic_values(critic, ids[j], m).float()  # (b, T)
            v_clip = values[j] + (v - values[j]).clamp(-cfg.vf_clip, cfg.vf_clip)
            vf_loss = 0.5 * masked_mean(torch.maximum((v - returns[j]) ** 2,
                                                      (v_clip - returns[j]) ** 2), m)
            return cfg.vf_coef * vf_loss, {"vf_loss": vf_loss.item()}

        # ---- several epochs of clipped policy + value updates on minibatches ----
        policy.train()
        critic.train()
        stats: dict[str, list[float]] = {"pg_loss": [], "vf_loss": [], "clipfrac": [], "approx_kl": []}
        for epoch in range(cfg.ppo_epochs):
            perm = torch.randperm(len(idx), generator=run.gen)
            for k in range(cfg.minibatches):
                j = perm[k * mb : (k + 1) * mb].tolist()
                n = (it * cfg.ppo_epochs + epoch) * cfg.minibatches + k
                a = run.step(actor_loss, j, actor_opt, n)
                got = {**a, **run.step(critic_loss, j, critic_opt, n), "pg_loss": a["loss"]}
                for key in stats:
                    stats[key].append(got[key])

        k1, _, k3 = kl_estimators(old_lp, ref_lp)
        resid = masked_mean((returns - values - masked_mean(returns - values, mask)) ** 2, mask)
        ret_var = masked_mean((returns - masked_mean(returns, mask)) ** 2, mask)
        return {
            "score": scores.mean().item(),
            **({"true_reward": truth.mean().item()} if src.task else {}),
            "kl": (k1 * mask).sum(-1).mean().item(), "kl_k3": (k3 * mask).sum(-1).mean().item(),
            "length": mask.sum(-1).mean().item() - 1,
            "explained_variance": (1 - resid / ret_var.clamp(min=1e-8)).item(),
            **{k: sum(v) / len(v) for k, v in stats.items()}}

    def report(m: torch.nn.Module) -> dict[str, Any]:
        return run.measure(src, m, ref, tok, None, lambda: evaluate(
            run.inner(m), ref, tok, task, prompts, cfg.seed + 1, run.autocast, run.sharded))

    before = run.fit({"policy": policy, "critic": critic}, [actor_opt, critic_opt], iteration,
                     lambda: report(ref))
    after = report(policy)
    summary = {"before": before, "after": after, "kl_coef": cfg.kl_coef, "reward": cfg.reward_from}
    run.finish(policy, summary, tok)
    return summary
