"""The KL-regularised objective and its closed-form optimal policy.

Taught in ``docs/chapters/01-alignment-problem.md`` and ``docs/chapters/05-dpo.md``.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike

from ._validate import FloatArray, broadcast, check_positive, check_probabilities

__all__ = ["implicit_reward", "kl_divergence", "optimal_policy"]


def optimal_policy(ref_probs: ArrayLike, rewards: ArrayLike, beta: ArrayLike) -> FloatArray:
    r"""The optimum of the KL-regularised objective: :math:`\pi^*(y) \propto \pi_{ref}(y)\,e^{r(y)/\beta}`.

    Parameters
    ----------
    ref_probs : array_like, shape (..., n)
        Reference distribution :math:`\pi_{ref}` over ``n`` responses (last axis).
    rewards : array_like, shape (..., n)
        Reward :math:`r(y)` of each response.
    beta : float or array_like
        KL coefficient :math:`\beta > 0`; an array of shape (..., 1) sweeps it.

    Returns
    -------
    numpy.ndarray
        :math:`\pi^*`, the broadcast shape of the inputs, summing to 1 over the last axis.

    Notes
    -----
    .. math::
        \pi^* = \arg\max_\pi\; \mathbb{E}_{y\sim\pi}[r(y)] - \beta\,\mathrm{KL}(\pi\,\|\,\pi_{ref}),
        \qquad
        \pi^*(y) = \frac{\pi_{ref}(y)\exp(r(y)/\beta)}{Z},\quad Z = \sum_y \pi_{ref}(y)e^{r(y)/\beta}.

    As :math:`\beta\to\infty`, :math:`\pi^*\to\pi_{ref}`; as :math:`\beta\to0` it puts all
    its mass on the highest-reward responses that :math:`\pi_{ref}` can produce
    (responses with :math:`\pi_{ref}(y)=0` keep probability 0 for every β). Computed in
    log space with the best reward subtracted first, so no β overflows.

    References
    ----------
    Rafailov et al. (2023), arXiv:2305.18290, Eq. 4 and App. A.1; Ziegler et al. (2019),
    arXiv:1909.08593. Taught in ``docs/chapters/01-alignment-problem.md``.

    Examples
    --------
    >>> optimal_policy([0.5, 0.5], [1.0, 0.0], beta=1.0).round(4).tolist()   # [e, 1]/(e+1)
    [0.7311, 0.2689]
    >>> optimal_policy([0.9, 0.1], [0.0, 1.0], beta=1e-3).round(4).tolist()
    [0.0, 1.0]
    """
    ref = check_probabilities("ref_probs", ref_probs)
    beta_arr = check_positive("beta", beta)
    ref, r, b = broadcast(ref_probs=ref, rewards=rewards, beta=beta_arr)
    support = ref > 0
    best = np.max(np.where(support, r, -np.inf), axis=-1, keepdims=True)
    with np.errstate(divide="ignore", over="ignore", invalid="ignore"):
        logits = np.where(support, np.log(ref) + (r - best) / b, -np.inf)
    logits = logits - np.max(logits, axis=-1, keepdims=True)
    weights = np.exp(logits)
    return np.asarray(weights / weights.sum(axis=-1, keepdims=True))


def kl_divergence(p: ArrayLike, q: ArrayLike) -> FloatArray:
    r"""Kullback–Leibler divergence :math:`\mathrm{KL}(p\,\|\,q) = \sum_y p(y)\log\frac{p(y)}{q(y)}`.

    Parameters
    ----------
    p, q : array_like, shape (..., n)
        Probability vectors over the last axis.

    Returns
    -------
    numpy.ndarray
        The divergence in nats, over the last axis (the other axes broadcast). Terms with
        :math:`p(y) = 0` contribute 0; :math:`q(y) = 0 < p(y)` gives ``inf``.

    Notes
    -----
    KL is not symmetric. RLHF penalises :math:`\mathrm{KL}(\pi\,\|\,\pi_{ref})`, the
    expectation under the policy's own samples.

    References
    ----------
    Kullback & Leibler (1951). Taught in ``docs/chapters/01-alignment-problem.md``.

    Examples
    --------
    >>> round(float(kl_divergence([0.5, 0.5], [0.9, 0.1])), 4)
    0.5108
    >>> float(kl_divergence([0.2, 0.8], [0.2, 0.8]))
    0.0
    """
    p_arr = check_probabilities("p", p)
    q_arr = check_probabilities("q", q)
    p_arr, q_arr = broadcast(p=p_arr, q=q_arr)
    with np.errstate(divide="ignore", invalid="ignore"):
        terms = np.where(p_arr > 0, p_arr * (np.log(p_arr) - np.log(q_arr)), 0.0)
    return np.asarray(np.sum(terms, axis=-1))


def implicit_reward(policy_logps: ArrayLike, ref_logps: ArrayLike, beta: ArrayLike) -> FloatArray:
    r"""The reward a policy implicitly defines: :math:`\beta(\log\pi(y) - \log\pi_{ref}(y))`.

    Parameters
    ----------
    policy_logps, ref_logps : array_like
        Log-probabilities of the same responses under the policy and the reference.
    beta : float
        KL coefficient :math:`\beta > 0`.

    Returns
    -------
    numpy.ndarray
        Broadcast shape, not reduced.

    Notes
    -----
    Inverting :func:`optimal_policy` gives
    :math:`r(y) = \beta\log\frac{\pi^*(y)}{\pi_{ref}(y)} + \beta\log Z`; the
    :math:`\beta\log Z` term is the same for every response to a prompt, so it cancels
    in any comparison of two responses, and this expression ranks them exactly as
    :math:`r` does.

    References
    ----------
    Rafailov et al. (2023), arXiv:2305.18290, Eq. 5. Taught in ``docs/chapters/05-dpo.md``.

    Examples
    --------
    >>> round(float(implicit_reward(-10.0, -12.0, beta=0.1)), 4)
    0.2
    """
    b = check_positive("beta", beta)
    policy, ref, b = broadcast(policy_logps=policy_logps, ref_logps=ref_logps, beta=b)
    return np.asarray(b * (policy - ref))
