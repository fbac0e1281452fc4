"""Simulated preference data with a known true reward, for teaching and testing.

Taught in ``docs/chapters/02-preferences.md``.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike

from ._stable import sigmoid
from ._validate import FloatArray, as_float_array, check_positive

__all__ = ["simulate_preference_pairs"]


def simulate_preference_pairs(
    true_weights: ArrayLike, n_pairs: int, *, noise: float = 1.0, seed: int = 0
) -> tuple[FloatArray, FloatArray]:
    r"""Comparisons made by a Bradley–Terry labeler whose true reward is linear in features.

    Parameters
    ----------
    true_weights : array_like, shape (n_features,)
        Weights :math:`w^\star` of the hidden true reward :math:`r^\star(y) = w^\star\cdot f(y)`
        of the features :math:`f(y)` of a response (chapter 2's notation).
    n_pairs : int
        Number of comparisons, >= 1.
    noise : float, default 1.0
        Labeler noise :math:`\tau > 0`: the labeler prefers response A with probability
        :math:`\sigma\bigl((r^\star(A) - r^\star(B))/\tau\bigr)`.
    seed : int, default 0
        Seed of the random generator; the output is a deterministic function of the
        arguments.

    Returns
    -------
    (features_chosen, features_rejected) : tuple of numpy.ndarray, each (n_pairs, n_features)
        Features of the preferred and of the rejected response of each pair, ready for
        :func:`fit_bradley_terry`.

    Notes
    -----
    Both responses of a pair get independent standard-normal features
    :math:`f(A), f(B) \sim \mathcal N(0, I)`. The labeler picks A with probability

    .. math:: P(A \succ B) = \sigma\!\Bigl(\frac{w^\star\cdot(f(A) - f(B))}{\tau}\Bigr),

    so the maximum-likelihood Bradley–Terry fit estimates :math:`w^\star/\tau`: noisier
    labelers identify the same ranking with a smaller reward scale.

    References
    ----------
    Bradley & Terry (1952); the labeler model is the one assumed by the reward-model loss of
    Ouyang et al. (2022), arXiv:2203.02155, Eq. 1.
    Taught in ``docs/chapters/02-preferences.md``.

    Examples
    --------
    >>> chosen, rejected = simulate_preference_pairs([1.0, 0.0], 1000, noise=0.01, seed=0)
    >>> chosen.shape
    (1000, 2)
    >>> round(float(np.mean(chosen[:, 0] > rejected[:, 0])), 2)   # near-noiseless labeler
    1.0
    >>> chosen, rejected = simulate_preference_pairs([1.0, 0.0], 4000, noise=100.0, seed=0)
    >>> round(float(np.mean(chosen[:, 0] > rejected[:, 0])), 1)   # a coin flip
    0.5
    """
    w = as_float_array("true_weights", true_weights)
    if w.ndim != 1 or w.size == 0:
        raise ValueError(f"true_weights must be a non-empty 1-D array, got shape {w.shape}")
    if int(n_pairs) != n_pairs or n_pairs < 1:
        raise ValueError(f"n_pairs must be an integer >= 1, got {n_pairs!r}")
    tau = float(check_positive("noise", noise))
    if int(seed) != seed or seed < 0:
        raise ValueError(f"seed must be an integer >= 0, got {seed!r}")
    rng = np.random.default_rng(int(seed))
    a, b = rng.standard_normal(size=(2, int(n_pairs), w.size))
    prefer_a = rng.random(int(n_pairs)) < sigmoid(((a - b) @ w) / tau)
    chosen = np.where(prefer_a[:, None], a, b)
    rejected = np.where(prefer_a[:, None], b, a)
    return chosen, rejected
