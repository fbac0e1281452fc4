"""Open problems: weak-to-strong generalisation.

Taught in ``docs/chapters/11-open-problems.md``.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike

from ._validate import FloatArray, broadcast

__all__ = ["performance_gap_recovered"]


def performance_gap_recovered(
    weak: ArrayLike, weak_to_strong: ArrayLike, strong_ceiling: ArrayLike
) -> FloatArray:
    r"""Performance gap recovered: :math:`\frac{\text{weak-to-strong} - \text{weak}}{\text{strong ceiling} - \text{weak}}`.

    Parameters
    ----------
    weak : array_like
        Performance of the weak supervisor.
    weak_to_strong : array_like
        Performance of the strong student trained on the weak supervisor's labels.
    strong_ceiling : array_like
        Performance of the strong model trained on ground truth; must differ from ``weak``.

    Returns
    -------
    numpy.ndarray
        0 = the student only matches its teacher; 1 = it recovers the full gap. Can be
        negative or above 1. Broadcast shape.

    References
    ----------
    Burns et al. (2023), *Weak-to-Strong Generalization*, arXiv:2312.09390.
    Taught in ``docs/chapters/11-open-problems.md``.

    Examples
    --------
    >>> round(float(performance_gap_recovered(0.6, 0.75, 0.9)), 4)
    0.5
    """
    w, w2s, ceiling = broadcast(
        weak=weak, weak_to_strong=weak_to_strong, strong_ceiling=strong_ceiling
    )
    gap = ceiling - w
    if np.any(gap == 0):
        raise ValueError("strong_ceiling must differ from weak (the gap to recover is zero)")
    return np.asarray((w2s - w) / gap)
