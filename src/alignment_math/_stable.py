"""Numerically stable building blocks; each identity is written down once, here."""

from __future__ import annotations

import numpy as np

from ._validate import FloatArray


def log_sigmoid(x: FloatArray) -> FloatArray:
    """log σ(x) = −log(1 + e^{−x}) = −logaddexp(0, −x): no overflow for any finite x.

    NaN propagates quietly, as in NumPy arithmetic (logaddexp alone would warn)."""
    with np.errstate(invalid="ignore"):
        return np.asarray(-np.logaddexp(0.0, -x))


def sigmoid(x: FloatArray) -> FloatArray:
    """σ(x) = exp(log σ(x)): keeps full relative precision in both tails; underflows to 0."""
    return np.asarray(np.exp(log_sigmoid(x)))


def log1mexp(x: FloatArray) -> FloatArray:
    """log(1 − e^{x}) for x < 0, in the two regimes of Mächler (2012):
    log(−expm1(x)) for x > −ln 2 (where e^x is near 1), log1p(−e^x) otherwise."""
    log2 = np.log(2.0)
    with np.errstate(divide="ignore"):
        near_zero = np.log(-np.expm1(np.minimum(x, 0.0)))
        far = np.log1p(-np.exp(np.minimum(x, -log2)))
    return np.asarray(np.where(x > -log2, near_zero, far))
