"""The Kahneman–Tversky value function that KTO is modelled on.

Taught in ``docs/chapters/06-kto-orpo.md``.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike

from ._validate import FloatArray, as_float_array, check_positive

__all__ = ["prospect_value"]


def prospect_value(z: ArrayLike, *, alpha: float = 0.88, loss_aversion: float = 2.25) -> FloatArray:
    r"""Kahneman–Tversky value of an outcome :math:`z` relative to a reference point.

    Parameters
    ----------
    z : array_like
        Outcome minus the reference point (a gain if positive, a loss if negative).
    alpha : float, default 0.88
        Curvature :math:`0 < \alpha \le 1`: diminishing sensitivity to larger gains and losses.
    loss_aversion : float, default 2.25
        :math:`\lambda > 0`: how much more a loss hurts than an equal gain pleases.

    Returns
    -------
    numpy.ndarray
        :math:`v(z)`, the shape of ``z``, not reduced.

    Notes
    -----
    .. math:: v(z) = \begin{cases} z^\alpha & z \ge 0 \\ -\lambda\,(-z)^\alpha & z < 0 \end{cases}

    Concave for gains, convex for losses, and steeper for losses when :math:`\lambda > 1`.
    The defaults are the median parameters Tversky & Kahneman (1992) estimated, as quoted
    by Ethayarajh et al. KTO keeps the idea — a reference point, saturation, separate
    weights for gains and losses — but swaps the power law for a logistic function (see
    :func:`kto_loss`).

    References
    ----------
    Tversky & Kahneman (1992), *Advances in prospect theory*; Ethayarajh et al. (2024),
    *KTO*, arXiv:2402.01306, Eq. 4. Taught in ``docs/chapters/06-kto-orpo.md``.

    Examples
    --------
    >>> prospect_value([1.0, -1.0]).tolist()   # a loss hurts 2.25 times as much
    [1.0, -2.25]
    >>> round(float(prospect_value(2.0, alpha=0.5)), 4)
    1.4142
    """
    values = as_float_array("z", z)
    a = float(check_positive("alpha", alpha))
    if a > 1:
        raise ValueError(f"alpha must be in (0, 1], got {alpha!r}")
    lam = float(check_positive("loss_aversion", loss_aversion))
    magnitude = np.abs(values) ** a
    return np.asarray(np.where(values >= 0, magnitude, -lam * magnitude))
