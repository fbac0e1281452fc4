"""Reward over-optimisation: Gao, Schulman & Hilton's functional forms, and an exact sweep.

Taught in ``docs/chapters/10-reward-hacking.md``.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike

from ._kl import kl_divergence, optimal_policy
from ._validate import FloatArray, as_float_array, broadcast, check_positive, check_probabilities

__all__ = ["best_of_n_kl", "gold_reward_best_of_n", "gold_reward_rl", "proxy_true_sweep"]


def best_of_n_kl(n: ArrayLike) -> FloatArray:
    r"""The KL Gao et al. assign to best-of-n sampling: :math:`\log n - \frac{n-1}{n}`.

    Parameters
    ----------
    n : array_like
        Number of samples, :math:`n \ge 1`.

    Returns
    -------
    numpy.ndarray
        Nats, broadcast shape. 0 at :math:`n = 1`.

    Notes
    -----
    The formula is exact when the reward has a continuous distribution under the base
    policy (no ties, no response with noticeable probability of its own): the returned
    response's rank :math:`U = F(r)` then has density :math:`n u^{n-1}`, and
    :math:`\mathbb E[\log n + (n-1)\log U] = \log n - (n-1)/n`. In general Beirami et al.
    (2024) prove it is only an **upper bound** on the actual KL between the best-of-n
    policy and the base policy (loose when a few responses carry most of the probability;
    on a finite set the KL never exceeds :math:`-\log \pi_{base}(\text{top response})`):
    read it as "at most".

    References
    ----------
    Gao, Schulman & Hilton (2022), arXiv:2210.10760, §2; Beirami et al. (2024),
    arXiv:2401.01879. Taught in ``docs/chapters/10-reward-hacking.md``.

    Examples
    --------
    >>> round(float(best_of_n_kl(16)), 4)
    1.8351
    """
    n_arr = as_float_array("n", n)
    if np.any(n_arr < 1):
        raise ValueError(f"n must be >= 1, got {n!r}")
    return np.asarray(np.log(n_arr) - (n_arr - 1) / n_arr)


def _check_d(d: ArrayLike) -> FloatArray:
    d_arr = as_float_array("d", d)
    if np.any(d_arr < 0):
        raise ValueError("d must be >= 0 (it is the square root of a KL divergence)")
    return d_arr


def gold_reward_best_of_n(d: ArrayLike, alpha: ArrayLike, beta: ArrayLike) -> FloatArray:
    r"""Gold reward under best-of-n as a function of :math:`d = \sqrt{\mathrm{KL}}`: :math:`d(\alpha - \beta d)`.

    Rises, peaks at :math:`d = \alpha/(2\beta)` and then falls: over-optimisation.

    References
    ----------
    Gao, Schulman & Hilton (2022), arXiv:2210.10760, §1.
    Taught in ``docs/chapters/10-reward-hacking.md``.

    Examples
    --------
    >>> gold_reward_best_of_n([0.0, 1.0, 2.0], alpha=1.0, beta=0.25).tolist()
    [0.0, 0.75, 1.0]
    """
    d_arr, a, b = broadcast(d=_check_d(d), alpha=alpha, beta=beta)
    return np.asarray(d_arr * (a - b * d_arr))


def gold_reward_rl(d: ArrayLike, alpha: ArrayLike, beta: ArrayLike) -> FloatArray:
    r"""Gold reward under RL as a function of :math:`d = \sqrt{\mathrm{KL}}`: :math:`d(\alpha - \beta\log d)`.

    The form is not meant to hold near :math:`d = 0` (Gao et al.); its limit there, 0, is
    returned. Peaks at :math:`d = e^{\alpha/\beta - 1}`.

    References
    ----------
    Gao, Schulman & Hilton (2022), arXiv:2210.10760, §1.
    Taught in ``docs/chapters/10-reward-hacking.md``.

    Examples
    --------
    >>> gold_reward_rl([0.0, 1.0, np.e], alpha=1.0, beta=0.5).round(4).tolist()
    [0.0, 1.0, 1.3591]
    """
    d_arr, a, b = broadcast(d=_check_d(d), alpha=alpha, beta=beta)
    with np.errstate(divide="ignore", invalid="ignore"):
        value = d_arr * (a - b * np.log(d_arr))
    return np.asarray(np.where(d_arr > 0, value, 0.0))


def proxy_true_sweep(
    ref_probs: ArrayLike, true_rewards: ArrayLike, proxy_rewards: ArrayLike, betas: ArrayLike
) -> tuple[FloatArray, FloatArray, FloatArray]:
    r"""Optimise a proxy reward exactly at each KL coefficient; measure the true reward.

    Parameters
    ----------
    ref_probs : array_like, shape (n,)
        The reference policy over a discrete set of ``n`` responses.
    true_rewards, proxy_rewards : array_like, shape (n,)
        The reward we care about and the (misspecified) reward we optimise.
    betas : array_like, shape (m,)
        KL coefficients :math:`\beta > 0`; small β = strong optimisation pressure.

    Returns
    -------
    (kl, proxy, true) : tuple of numpy.ndarray, each shape (m,)
        For each β, with :math:`\pi_\beta \propto \pi_{ref}\,e^{r_{proxy}/\beta}`
        (:func:`optimal_policy`): :math:`\mathrm{KL}(\pi_\beta\|\pi_{ref})`,
        :math:`\mathbb E_{\pi_\beta}[r_{proxy}]` and :math:`\mathbb E_{\pi_\beta}[r_{true}]`.

    Notes
    -----
    As β falls, KL and the expected proxy reward rise monotonically; the expected true
    reward rises while the proxy and the true reward agree and falls once the
    optimisation starts buying the misspecification: Goodhart's law, computed exactly.

    References
    ----------
    Gao, Schulman & Hilton (2022), arXiv:2210.10760; Skalse et al. (2022),
    arXiv:2209.13085. Taught in ``docs/chapters/10-reward-hacking.md``.

    Examples
    --------
    >>> ref = [0.4, 0.3, 0.2, 0.1]
    >>> true = [0.0, 1.0, 2.0, 0.0]
    >>> proxy = [0.0, 1.0, 2.0, 2.5]     # the last response games the proxy
    >>> kl, p, t = proxy_true_sweep(ref, true, proxy, betas=[100.0, 1.0, 0.01])
    >>> kl.round(2).tolist(), p.round(2).tolist(), t.round(2).tolist()
    ([0.0, 0.38, 2.3], [0.96, 1.74, 2.5], [0.7, 0.96, 0.0])
    """
    ref = check_probabilities("ref_probs", ref_probs)
    b = check_positive("betas", betas)
    ref, true, proxy = broadcast(
        ref_probs=ref, true_rewards=true_rewards, proxy_rewards=proxy_rewards
    )
    if ref.ndim != 1:
        raise ValueError(
            f"ref_probs, true_rewards and proxy_rewards must be 1-D, got shape {ref.shape}"
        )
    policies = optimal_policy(ref, proxy, b.reshape(-1, 1))  # (m, n)
    return kl_divergence(policies, ref), policies @ proxy, policies @ true
