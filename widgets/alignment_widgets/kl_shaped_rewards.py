"""KL-shaped rewards and GAE advantages for one sampled response (chapter 4).

Chapter 4 (docs/chapters/04-ppo.md).  A toy 8-token response with per-token log-probs
under the policy and the reference; the reward-model score lands on the last token and
every token pays −β·(log π − log π_ref) (``kl_penalized_rewards``); advantages and returns
come from ``gae``.

The critic can be wrong.  The *ideal* critic knows the expected return from each token: the
KL penalties still to come (taken as those of this response) plus the discounted mean score
``MEAN_SCORE`` of the policy's responses to this prompt.  The reader's critic is the ideal
one plus ``critic_error`` times a fixed error pattern ``ERROR_PATTERN`` (root-mean-square 1).
Two readouts show GAE's trade-off for the first token: the critic error that leaks into
Â_0 through the values of *later* tokens (a bias of the policy gradient; zero at λ = 1),
and the spread of Â_0 over responses whose scores scatter with standard deviation
``SCORE_SD`` around the mean (a variance; smallest at λ = 0).
"""

from __future__ import annotations

import numpy as np

from alignment_math import gae, kl_estimators, kl_penalized_rewards

from ._spec import Chart, Readout, Result, Series, Slider, widget

PROMPT = "What is the capital of France?"
TOKENS = ("Sure", "!", " It", " is", " Paris", ",", " friend", ".")
# Chart labels: the tokens without their leading space.  The response is short enough (8
# tokens, any two neighbouring labels 7 characters or fewer) that the labels do not run into
# each other on a 390 px phone, where an 11-token version's " The capital of France" did;
# the full response is in the widget's note.
LABELS = tuple(token.strip() for token in TOKENS)
RESPONSE = "".join(TOKENS)
# Log-probabilities of the sampled tokens.  The policy has learned a flattering opener and
# closer ("Sure!", "friend") that the reference (SFT) model finds unlikely.
POLICY_LOGPROBS = np.array([-0.3, -0.4, -0.6, -0.1, -0.05, -0.9, -0.6, -0.1])
REF_LOGPROBS = np.array([-3.0, -1.5, -0.9, -0.2, -0.1, -1.2, -4.0, -0.3])
# The toy's assumptions about the responses the policy samples for this prompt.
MEAN_SCORE = 1.0  # their mean reward-model score: what an ideal critic expects at the end
SCORE_SD = 1.0  # the standard deviation of their scores around that mean
# How the reader's critic is wrong: V_t = V*_t + critic_error · ERROR_PATTERN[t].
_PATTERN = np.array([0.6, -0.9, 1.1, -0.4, 0.8, -1.2, 1.3, -1.0])
ERROR_PATTERN = _PATTERN / np.sqrt(np.mean(_PATTERN**2))


def ideal_values(kl_coef: float, gamma: float) -> np.ndarray:
    """V*_t: the discounted KL penalties still to come plus γ^(T−1−t)·MEAN_SCORE."""
    penalties = kl_penalized_rewards(0.0, POLICY_LOGPROBS, REF_LOGPROBS, kl_coef=kl_coef)
    _, to_go = gae(penalties, np.zeros_like(penalties), gamma=gamma, lam=1.0)
    steps_left = np.arange(len(TOKENS) - 1, -1, -1, dtype=float)
    return to_go + MEAN_SCORE * gamma**steps_left


def critic_values(kl_coef: float, gamma: float, critic_error: float) -> np.ndarray:
    """The reader's critic: the ideal values plus critic_error times the error pattern."""
    return ideal_values(kl_coef, gamma) + critic_error * ERROR_PATTERN


@widget(
    "kl-shaped-rewards",
    title="KL-shaped rewards and GAE advantages",
    summary=(
        f"Prompt: “{PROMPT}” One sampled response, token by token: each token pays "
        "β·(log π − log π_ref), the reward model's score arrives on the last token, and GAE "
        "turns these rewards into advantages for PPO, using a critic that can be wrong."
    ),
    controls=[
        Slider("kl_coef", "KL coefficient β", 0.0, 0.5, 0.01, 0.1),
        Slider("gamma", "Discount γ", 0.8, 1.0, 0.01, 1.0),
        Slider("lam", "GAE λ", 0.0, 1.0, 0.05, 0.95),
        Slider("score", "Reward-model score of this response r_φ(x, y)", -2.0, 3.0, 0.1, 1.5),
        Slider("critic_error", "Critic error (RMS of V_t − V*_t)", 0.0, 1.5, 0.05, 0.5),
    ],
    readouts=[
        Readout("kl", "Σ_t log π/π_ref (k1 estimate of the KL)", "nats"),
        Readout("kl_k3", "Σ_t k3 (a non-negative estimate)", "nats"),
        Readout("penalty", "KL penalty β·Σ log π/π_ref"),
        Readout("ret", "Return Σ_t γ^t r_t"),
        Readout("adv_first", "Advantage of the first token Â_0"),
        Readout("bias_first", "Critic error reaching Â_0 through later values (bias)"),
        Readout("spread_first", "Spread of Â_0 as the score varies, s.d. 1 (variance)"),
        Readout("worst", "Token with the lowest reward"),
    ],
)
def kl_shaped_rewards(
    kl_coef: float, gamma: float, lam: float, score: float, critic_error: float
) -> Result:
    rewards = kl_penalized_rewards(score, POLICY_LOGPROBS, REF_LOGPROBS, kl_coef=kl_coef)
    ideal = ideal_values(kl_coef, gamma)
    values = ideal + critic_error * ERROR_PATTERN
    advantages, _ = gae(rewards, values, gamma=gamma, lam=lam)
    ideal_advantages, _ = gae(rewards, ideal, gamma=gamma, lam=lam)
    # Â_0 − Â*_0 = −e_0 + (later errors).  −e_0 = −(V_0 − V*_0) only shifts the baseline of
    # the first state (it does not depend on the token chosen, so it does not bias the
    # policy gradient); what remains comes through V_1, V_2, … and is a bias.
    bias_first = float(advantages[0] - ideal_advantages[0] + (values[0] - ideal[0]))
    # the score enters Â_0 only through δ_{T−1}, with weight (γλ)^(T−1)
    spread_first = SCORE_SD * (gamma * lam) ** (len(TOKENS) - 1)
    # the discounted return from the first token: GAE with λ = 1 and a zero critic
    _, mc_returns = gae(rewards, np.zeros_like(rewards), gamma=gamma, lam=1.0)
    k1, _, k3 = kl_estimators(POLICY_LOGPROBS, REF_LOGPROBS)
    kl = float(k1.sum())
    x = np.arange(len(TOKENS), dtype=float)
    reward_chart = Chart(
        title="Per-token rewards r_t",
        x=x,
        categories=list(LABELS),
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
        categories=list(LABELS),
        x_label="token",
        y_label="value",
        series=[
            Series("advantage Â_t with this critic", advantages, "bar", "orange"),
            Series("Â_t with the ideal critic", ideal_advantages, "points", "purple"),
            Series("critic V_t", values, "line", "gray", dash=True),
            Series("ideal critic V*_t", ideal, "line", "green"),
        ],
    )
    worst = int(np.argmin(rewards))
    note = (
        f"The response: “{RESPONSE}” The ideal critic expects "
        f"a score of {MEAN_SCORE:g}; this response scored {score:g}."
    )
    return Result(
        readouts={
            "kl": kl,
            "kl_k3": float(k3.sum()),
            "penalty": kl_coef * kl,
            "ret": float(mc_returns[0]),
            "adv_first": float(advantages[0]),
            "bias_first": bias_first,
            "spread_first": float(spread_first),
            "worst": f"“{TOKENS[worst].strip()}” ({rewards[worst]:.3f})"
            if kl_coef > 0
            else "none: β = 0, only the last token is rewarded",
        },
        charts=[reward_chart, advantage_chart],
        note=note,
    )
