"""KTO: Kahneman–Tversky Optimization from binary desirable/undesirable feedback.

Taught in ``docs/chapters/06-kto-orpo.md``.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike

from ._stable import sigmoid
from ._validate import FloatArray, as_float_array, broadcast, check_nonnegative, check_positive

__all__ = ["kto_loss", "kto_reference_point"]


def kto_reference_point(policy_logps: ArrayLike, ref_logps: ArrayLike) -> float:
    r"""KTO's reference point :math:`z_0 = \max\bigl(0,\ \mathrm{mean}(\log\pi_\theta - \log\pi_{ref})\bigr)`.

    Parameters
    ----------
    policy_logps, ref_logps : array_like
        Log-probabilities under the policy and the reference. In training these are
        computed on *mismatched* pairs (each prompt with another example's response in
        the micro-batch). The mean log-ratio is taken over responses from the
        *dataset*, not samples of :math:`\pi_\theta`, so it is not an unbiased estimate
        of :math:`\mathrm{KL}(\pi_\theta\|\pi_{ref})` and can be negative; hence the
        clamp at 0.

    Returns
    -------
    float
        :math:`z_0 \ge 0`. In training it is not back-propagated through: it only sets
        where the loss saturates (Ethayarajh et al.).

    References
    ----------
    Ethayarajh et al. (2024), *KTO*, arXiv:2402.01306, §4.1.
    Taught in ``docs/chapters/06-kto-orpo.md``.

    Examples
    --------
    >>> kto_reference_point([-10.0, -12.0], [-11.0, -12.0])
    0.5
    >>> kto_reference_point([-12.0], [-10.0])   # a negative mean is clamped to 0
    0.0
    """
    policy, ref = broadcast(policy_logps=policy_logps, ref_logps=ref_logps)
    if policy.size == 0:
        raise ValueError("policy_logps must contain at least one value")
    return float(max(0.0, float(np.mean(policy - ref))))


def kto_loss(
    policy_logps: ArrayLike,
    ref_logps: ArrayLike,
    desirable: ArrayLike,
    reference_point: float,
    beta: float = 0.1,
    desirable_weight: float = 1.0,
    undesirable_weight: float = 1.0,
) -> FloatArray:
    r"""The KTO loss per example, for desirable and undesirable responses.

    Parameters
    ----------
    policy_logps, ref_logps : array_like
        Summed log-probabilities of each response under the policy and the reference.
    desirable : array_like of bool
        True where the response was labelled desirable (thumbs up).
    reference_point : float
        :math:`z_0`, from :func:`kto_reference_point`.
    beta : float, default 0.1
        :math:`\beta > 0`: how sharply the value saturates (and the KL strength).
    desirable_weight, undesirable_weight : float, default 1.0
        :math:`\lambda_D, \lambda_U \ge 0`: loss aversion. The paper recommends
        :math:`\lambda_D n_D / (\lambda_U n_U) \in [1, 4/3]`.

    Returns
    -------
    numpy.ndarray
        Per-example loss, broadcast shape, not reduced.

    Notes
    -----
    With :math:`r = \log\pi_\theta(y|x) - \log\pi_{ref}(y|x)`:

    .. math::
        \mathcal L = \begin{cases}
        \lambda_D\bigl(1 - \sigma(\beta(r - z_0))\bigr) & y \text{ desirable}\\
        \lambda_U\bigl(1 - \sigma(\beta(z_0 - r))\bigr) & y \text{ undesirable}
        \end{cases}

    :math:`\sigma(\beta(r - z_0))` is a Kahneman–Tversky-style value: concave in gains,
    saturating, so one very likely desirable response cannot buy an unlimited reward.
    :math:`1-\sigma(x)` is computed as :math:`\sigma(-x)` to keep precision.

    References
    ----------
    Ethayarajh et al. (2024), arXiv:2402.01306, Eq. 7 (as implemented in TRL, with
    :math:`z_0` outside β). Taught in ``docs/chapters/06-kto-orpo.md``.

    Examples
    --------
    >>> kto_loss([-10.0, -10.0], [-10.0, -10.0], [True, False], 0.0).tolist()   # r = z0
    [0.5, 0.5]
    >>> round(float(kto_loss(-8.0, -10.0, True, 0.0, beta=1.0, desirable_weight=1.33)), 4)
    0.1585
    """
    b = float(check_positive("beta", beta))
    lam_d = float(check_nonnegative("desirable_weight", desirable_weight))
    lam_u = float(check_nonnegative("undesirable_weight", undesirable_weight))
    z0 = as_float_array("reference_point", reference_point)
    if z0.ndim != 0:
        raise ValueError(f"reference_point must be a scalar, got shape {z0.shape}")
    flags = np.asarray(desirable)
    if flags.dtype != np.bool_:
        if not np.all(np.isin(flags, (0, 1))):
            raise ValueError("desirable must be booleans (True = desirable), got other values")
        flags = flags.astype(bool)
    policy, ref, flag_f = broadcast(policy_logps=policy_logps, ref_logps=ref_logps, desirable=flags)
    r = policy - ref
    wanted = flag_f.astype(bool)
    return np.asarray(
        np.where(wanted, lam_d * sigmoid(-b * (r - z0)), lam_u * sigmoid(-b * (z0 - r)))
    )
