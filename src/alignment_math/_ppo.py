"""PPO for RLHF: the clipped surrogate, GAE, the per-token KL penalty, KL estimators.

Taught in ``docs/chapters/04-ppo.md``.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike

from ._validate import (
    FloatArray,
    as_float_array,
    broadcast,
    check_interval,
    check_nonnegative,
    check_positive,
)

__all__ = ["gae", "kl_estimators", "kl_penalized_rewards", "ppo_clip_objective"]


def ppo_clip_objective(
    ratio: ArrayLike, advantages: ArrayLike, clip_eps: float = 0.2
) -> FloatArray:
    r"""PPO's clipped surrogate :math:`\min(rA,\ \mathrm{clip}(r, 1-\epsilon, 1+\epsilon)A)` (to maximise).

    Parameters
    ----------
    ratio : array_like
        Probability ratio :math:`r_t = \pi_\theta(a_t|s_t) / \pi_{old}(a_t|s_t) \ge 0`.
    advantages : array_like
        Advantage estimates :math:`\hat A_t` (e.g. from :func:`gae`).
    clip_eps : float, default 0.2
        Clip range :math:`\epsilon > 0`.

    Returns
    -------
    numpy.ndarray
        The surrogate per sample, broadcast shape, not reduced. The PPO *loss* is its
        negative mean.

    Notes
    -----
    .. math:: L^{CLIP}_t = \min\bigl(r_t\hat A_t,\ \mathrm{clip}(r_t, 1-\epsilon, 1+\epsilon)\,\hat A_t\bigr)

    Inside :math:`[1-\epsilon, 1+\epsilon]` it equals :math:`r_t\hat A_t`. For
    :math:`\hat A_t > 0` it is flat above :math:`1+\epsilon` (no reward for pushing a good
    action further); for :math:`\hat A_t < 0` it is flat below :math:`1-\epsilon`. On the
    other side the unclipped term is smaller and the min keeps it, so a step that made
    things worse is always undone.

    References
    ----------
    Schulman et al. (2017), *Proximal Policy Optimization Algorithms*, arXiv:1707.06347,
    Eq. 7. Taught in ``docs/chapters/04-ppo.md``.

    Examples
    --------
    >>> ppo_clip_objective([0.5, 1.0, 1.5], 1.0, clip_eps=0.2).tolist()
    [0.5, 1.0, 1.2]
    >>> ppo_clip_objective([0.5, 1.0, 1.5], -1.0, clip_eps=0.2).tolist()
    [-0.8, -1.0, -1.5]
    """
    eps = float(check_positive("clip_eps", clip_eps))
    r, adv = broadcast(ratio=ratio, advantages=advantages)
    return np.asarray(np.minimum(r * adv, np.clip(r, 1.0 - eps, 1.0 + eps) * adv))


def gae(
    rewards: ArrayLike, values: ArrayLike, gamma: float = 1.0, lam: float = 0.95
) -> tuple[FloatArray, FloatArray]:
    r"""Generalised advantage estimation over the last axis (time).

    Parameters
    ----------
    rewards : array_like, shape (..., T)
        Per-token rewards :math:`r_t` (e.g. from :func:`kl_penalized_rewards`).
    values : array_like, shape (..., T)
        Value estimates :math:`V(s_t)`; the value after the last token is taken as 0
        (the response has ended).
    gamma : float, default 1.0
        Discount :math:`\gamma \in [0, 1]` (RLHF uses 1).
    lam : float, default 0.95
        GAE parameter :math:`\lambda \in [0, 1]`.

    Returns
    -------
    (advantages, returns) : tuple of numpy.ndarray
        Both of the broadcast shape; ``returns = advantages + values`` (the value
        function's regression target).

    Notes
    -----
    .. math:: \delta_t = r_t + \gamma V_{t+1} - V_t,\qquad
              \hat A_t = \sum_{l\ge0} (\gamma\lambda)^l\,\delta_{t+l}
              = \delta_t + \gamma\lambda\,\hat A_{t+1},

    with :math:`V_T = 0` and :math:`\hat A_T = 0`. :math:`\lambda = 0` gives the one-step
    TD error, :math:`\lambda = 1` the Monte-Carlo return minus the value. Unlike the
    paper's infinite-horizon sum, the sum stops at the end of the response.

    References
    ----------
    Schulman et al. (2016), *High-Dimensional Continuous Control Using Generalized
    Advantage Estimation*, arXiv:1506.02438, Eq. 16; used with γ = 1, λ = 0.95 by
    Ziegler et al. (2019), arXiv:1909.08593. Taught in ``docs/chapters/04-ppo.md``.

    Examples
    --------
    >>> adv, ret = gae([0.0, 0.0, 1.0], [0.5, 0.5, 0.5], gamma=1.0, lam=1.0)
    >>> adv.tolist(), ret.tolist()   # reward-to-go minus values
    ([0.5, 0.5, 0.5], [1.0, 1.0, 1.0])
    """
    g = check_interval("gamma", gamma, 0.0, 1.0)
    lam_ = check_interval("lam", lam, 0.0, 1.0)
    r, v = broadcast(rewards=rewards, values=values)
    if r.ndim == 0:
        raise ValueError("rewards and values must have a time axis (the last axis)")
    advantages = np.zeros_like(r)
    next_value = np.zeros(r.shape[:-1])
    running = np.zeros(r.shape[:-1])
    for t in range(r.shape[-1] - 1, -1, -1):
        delta = r[..., t] + g * next_value - v[..., t]
        running = delta + g * lam_ * running
        advantages[..., t] = running
        next_value = v[..., t]
    return advantages, advantages + v


def kl_penalized_rewards(
    scores: ArrayLike, logprobs: ArrayLike, ref_logprobs: ArrayLike, kl_coef: float
) -> FloatArray:
    r"""Per-token RLHF rewards: a KL penalty on every token, the reward-model score on the last.

    Parameters
    ----------
    scores : array_like, shape (...)
        The reward model's scalar score of each whole response.
    logprobs, ref_logprobs : array_like, shape (..., T)
        Per-token log-probabilities of the sampled response under the policy and the
        reference (SFT) model.
    kl_coef : float
        KL coefficient :math:`\beta \ge 0` (0 switches the penalty off).

    Returns
    -------
    numpy.ndarray, shape (..., T)
        :math:`r_t = -\beta(\log\pi(y_t) - \log\pi_{ref}(y_t))`, plus the score at
        :math:`t = T-1`.

    Notes
    -----
    .. math:: r_t = -\beta\,\log\frac{\pi_\theta(y_t\mid x, y_{<t})}{\pi_{ref}(y_t\mid x, y_{<t})}
              + \mathbb 1[t = T-1]\; r_\phi(x, y)

    Summed over the response this is :math:`r_\phi(x,y) - \beta\,k_1`, the sampled form of
    the objective :math:`\mathbb E[r_\phi] - \beta\,\mathrm{KL}(\pi\,\|\,\pi_{ref})`.
    All responses here share the length ``T``; pad and mask ragged batches yourself.

    References
    ----------
    Ziegler et al. (2019), arXiv:1909.08593, §2.2; Ouyang et al. (2022),
    arXiv:2203.02155, Eq. 2. Taught in ``docs/chapters/04-ppo.md``.

    Examples
    --------
    >>> kl_penalized_rewards(1.0, [-1.0, -2.0], [-1.5, -1.5], kl_coef=0.1).tolist()
    [-0.05, 1.05]
    """
    beta = float(check_nonnegative("kl_coef", kl_coef))
    lp = as_float_array("logprobs", logprobs)
    if lp.ndim == 0:
        raise ValueError("logprobs must have a time axis (the last axis)")
    lp, ref = broadcast(logprobs=lp, ref_logprobs=ref_logprobs)
    s = as_float_array("scores", scores)
    try:
        s = np.broadcast_to(s, lp.shape[:-1])
    except ValueError:
        raise ValueError(
            f"shapes do not broadcast together: scores {s.shape}, logprobs {lp.shape} "
            "(scores must match logprobs without its last, time, axis)"
        ) from None
    rewards = -beta * (lp - ref)
    rewards[..., -1] += s
    return np.asarray(rewards)


def kl_estimators(
    logprobs: ArrayLike, ref_logprobs: ArrayLike
) -> tuple[FloatArray, FloatArray, FloatArray]:
    r"""Per-sample estimates :math:`(k_1, k_2, k_3)` of :math:`\mathrm{KL}(\pi\,\|\,\pi_{ref})` from samples of π.

    Parameters
    ----------
    logprobs, ref_logprobs : array_like
        :math:`\log\pi(y)` and :math:`\log\pi_{ref}(y)` of samples :math:`y\sim\pi`.

    Returns
    -------
    (k1, k2, k3) : tuple of numpy.ndarray
        Broadcast shape, not reduced: average them over samples.

    Notes
    -----
    With :math:`\rho = \pi_{ref}(y)/\pi(y)`:

    .. math:: k_1 = -\log\rho,\qquad k_2 = \tfrac12(\log\rho)^2,\qquad k_3 = (\rho - 1) - \log\rho.

    :math:`k_1` is unbiased but has high variance and can be negative; :math:`k_2` is
    biased (slightly, when π ≈ π_ref) with low variance; :math:`k_3` is unbiased, low
    variance and never negative, because :math:`\mathbb E_\pi[\rho - 1] = 0` and
    :math:`\rho - 1 \ge \log\rho`. :math:`k_3` is computed as ``expm1(log ρ) - log ρ``;
    it overflows to ``inf`` (silently) only when :math:`\log\rho > 709`.

    References
    ----------
    Schulman (2020), *Approximating KL Divergence*, joschu.net/blog/kl-approx.html.
    Taught in ``docs/chapters/04-ppo.md``.

    Examples
    --------
    >>> k1, k2, k3 = kl_estimators(-1.0, -2.0)
    >>> float(k1), float(k2), round(float(k3), 4)
    (1.0, 0.5, 0.3679)
    """
    lp, ref = broadcast(logprobs=logprobs, ref_logprobs=ref_logprobs)
    log_rho = ref - lp
    with np.errstate(over="ignore"):
        k3 = np.expm1(log_rho) - log_rho
    return -log_rho, 0.5 * log_rho**2, np.asarray(k3)
