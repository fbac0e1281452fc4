"""KL-shaped rewards and GAE advantages for one sampled response (chapter 4).

Chapter 4 (docs/chapters/04-ppo.md).  A toy 11-token response with per-token log-probs
under the policy and the reference; the reward-model score lands on the last token and
every token pays −β·(log π − log π_ref) (``kl_penalized_rewards``); advantages and returns
come from ``gae`` with a simple critic that predicts the final score, discounted.
"""

from __future__ import annotations

import numpy as np

from alignment_math import gae, kl_estimators, kl_penalized_rewards

from ._spec import Chart, Readout, Result, Series, Slider, widget

PROMPT = "What is the capital of France?"
TOKENS = ("Sure", "!", " The", " capital", " of", " France", " is", " Paris", ",", " friend", ".")
# Log-probabilities of the sampled tokens.  The policy has learned a flattering opener and
# closer ("Sure!", "friend") that the reference (SFT) model finds unlikely.
POLICY_LOGPROBS = np.array([-0.3, -0.4, -0.5, -0.2, -0.05, -0.1, -0.05, -0.02, -0.9, -0.6, -0.1])
REF_LOGPROBS = np.array([-3.0, -1.5, -0.8, -0.3, -0.05, -0.1, -0.1, -0.1, -1.2, -4.0, -0.3])


def critic_values(predicted_score: float, gamma: float) -> np.ndarray:
    """A simple critic: at token t it expects the final score, discounted to t,
    V_t = γ^(T−1−t)·b; it knows nothing about the KL penalty still to come."""
    steps_left = np.arange(len(TOKENS) - 1, -1, -1, dtype=float)
    return predicted_score * gamma**steps_left


@widget(
    "kl-shaped-rewards",
    title="KL-shaped rewards and GAE advantages",
    summary=(
        f"Prompt: “{PROMPT}” One sampled response, token by token: each token pays "
        "β·(log π − log π_ref), the reward model's score arrives on the last token, and GAE "
        "turns these rewards into advantages for PPO."
    ),
    controls=[
        Slider("kl_coef", "KL coefficient β", 0.0, 0.5, 0.01, 0.1),
        Slider("gamma", "Discount γ", 0.8, 1.0, 0.01, 1.0),
        Slider("lam", "GAE λ", 0.0, 1.0, 0.05, 0.95),
        Slider("score", "Reward-model score r_φ(x, y)", -2.0, 3.0, 0.1, 1.5),
        Slider("predicted_score", "Critic's predicted score b", -2.0, 3.0, 0.1, 1.0),
    ],
    readouts=[
        Readout("kl", "Σ_t log π/π_ref (k1 estimate of the KL)", "nats"),
        Readout("kl_k3", "Σ_t k3 (a non-negative estimate)", "nats"),
        Readout("penalty", "KL penalty β·Σ log π/π_ref"),
        Readout("ret", "Return Σ_t γ^t r_t"),
        Readout("adv_first", "Advantage of the first token"),
        Readout("worst", "Token with the lowest reward"),
    ],
)
def kl_shaped_rewards(
    kl_coef: float, gamma: float, lam: float, score: float, predicted_score: float
) -> Result:
    rewards = kl_penalized_rewards(score, POLICY_LOGPROBS, REF_LOGPROBS, kl_coef=kl_coef)
    values = critic_values(predicted_score, gamma)
    advantages, returns = gae(rewards, values, gamma=gamma, lam=lam)
    # the discounted return from the first token: GAE with λ = 1 and a zero critic
    _, mc_returns = gae(rewards, np.zeros_like(rewards), gamma=gamma, lam=1.0)
    k1, _, k3 = kl_estimators(POLICY_LOGPROBS, REF_LOGPROBS)
    kl = float(k1.sum())
    x = np.arange(len(TOKENS), dtype=float)
    reward_chart = Chart(
        title="Per-token rewards r_t",
        x=x,
        categories=list(TOKENS),
        x_label="token",
        y_label="reward",
        series=[
            Series("r_t = −β·log π/π_ref (+ score on the last token)", rewards, "bar", "blue"),
            Series("log π/π_ref (nats)", k1, "points", "gray"),
        ],
    )
    advantage_chart = Chart(
        title=f"GAE advantages (γ = {gamma:g}, λ = {lam:g})",
        x=x,
        categories=list(TOKENS),
        x_label="token",
        y_label="value",
        series=[
            Series("advantage Â_t", advantages, "bar", "orange"),
            Series("critic V_t", values, "line", "gray", dash=True),
            Series("return target Â_t + V_t", returns, "line", "purple"),
        ],
    )
    worst = int(np.argmin(rewards))
    return Result(
        readouts={
            "kl": kl,
            "kl_k3": float(k3.sum()),
            "penalty": kl_coef * kl,
            "ret": float(mc_returns[0]),
            "adv_first": float(advantages[0]),
            "worst": f"“{TOKENS[worst].strip()}” ({rewards[worst]:.3f})"
            if kl_coef > 0
            else "none: β = 0, only the last token is rewarded",
        },
        charts=[reward_chart, advantage_chart],
    )
