"""Argument checks shared by every function: one message format, naming the parameter."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from numpy.typing import ArrayLike, NDArray

FloatArray = NDArray[np.float64]

PROBABILITY_ATOL = 1e-6


def as_float_array(name: str, value: ArrayLike) -> FloatArray:
    """``value`` as a float64 array; a ValueError naming ``name`` if it is not numeric."""
    try:
        return np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be an array of numbers, got {value!r}") from None


def broadcast(**arrays: ArrayLike) -> list[FloatArray]:
    """The arrays as float64, broadcast together; a ValueError listing the shapes if not."""
    converted = [as_float_array(name, value) for name, value in arrays.items()]
    try:
        return [np.asarray(a) for a in np.broadcast_arrays(*converted)]
    except ValueError:
        shapes = ", ".join(f"{n} {a.shape}" for n, a in zip(arrays, converted, strict=True))
        raise ValueError(f"shapes do not broadcast together: {shapes}") from None


def check_positive(name: str, value: ArrayLike) -> FloatArray:
    """``value`` > 0 everywhere (and finite)."""
    array = as_float_array(name, value)
    if not np.all(np.isfinite(array)) or np.any(array <= 0):
        raise ValueError(f"{name} must be > 0, got {_show(value)}")
    return array


def check_nonnegative(name: str, value: ArrayLike) -> FloatArray:
    """``value`` >= 0 everywhere (and finite)."""
    array = as_float_array(name, value)
    if not np.all(np.isfinite(array)) or np.any(array < 0):
        raise ValueError(f"{name} must be >= 0, got {_show(value)}")
    return array


def check_interval(
    name: str, value: float, low: float, high: float, *, closed_high: bool = True
) -> float:
    """``low <= value <= high`` (or ``< high`` when ``closed_high`` is False)."""
    number = float(value)
    inside = low <= number <= high if closed_high else low <= number < high
    if not inside:
        bracket = "]" if closed_high else ")"
        raise ValueError(f"{name} must be in [{low:g}, {high:g}{bracket}, got {_show(value)}")
    return number


def check_choice(name: str, value: str, choices: Sequence[str]) -> str:
    """``value`` is one of ``choices``; the message lists them."""
    if value not in choices:
        valid = ", ".join(repr(c) for c in choices)
        raise ValueError(f"{name} must be one of {valid}, got {value!r}")
    return value


def check_probabilities(name: str, value: ArrayLike) -> FloatArray:
    """A probability vector (or a batch of them along the last axis)."""
    array = as_float_array(name, value)
    if array.ndim == 0 or array.shape[-1] == 0:
        raise ValueError(f"{name} must be a non-empty probability vector, got shape {array.shape}")
    if np.any(array < 0):
        raise ValueError(f"{name} must be a probability vector: entries must be >= 0")
    totals = array.sum(axis=-1)
    if not np.all(np.abs(totals - 1.0) <= PROBABILITY_ATOL):
        raise ValueError(
            f"{name} must be a probability vector summing to 1 over the last axis, "
            f"got sum(s) {_show(totals)}"
        )
    return array


def _show(value: object) -> str:
    array = np.asarray(value)
    if array.ndim == 0:
        return f"{array.item():g}" if np.issubdtype(array.dtype, np.number) else repr(value)
    return np.array2string(array.ravel()[:6], precision=4, separator=", ") + (
        " ..." if array.size > 6 else ""
    )
