"""simulate_preference_pairs and prospect_value: fixed cases, limits, bad parameters."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from alignment_math import fit_bradley_terry, prospect_value, simulate_preference_pairs

# ------------------------------------------------------------------ simulate_preference_pairs


def test_simulation_is_a_deterministic_function_of_its_arguments() -> None:
    a = simulate_preference_pairs([1.0, -2.0], 50, noise=0.5, seed=3)
    b = simulate_preference_pairs([1.0, -2.0], 50, noise=0.5, seed=3)
    c = simulate_preference_pairs([1.0, -2.0], 50, noise=0.5, seed=4)
    assert all(np.array_equal(x, y) for x, y in zip(a, b, strict=True))
    assert not np.array_equal(a[0], c[0])


def test_each_pair_holds_the_same_two_responses_in_some_order() -> None:
    # the labeler only chooses an order; it never changes the features
    chosen, rejected = simulate_preference_pairs([1.0, 0.0, 0.0], 200, noise=1.0, seed=0)
    rng = np.random.default_rng(0)
    a, b = rng.standard_normal(size=(2, 200, 3))
    same = np.all(chosen == a, axis=1) & np.all(rejected == b, axis=1)
    swapped = np.all(chosen == b, axis=1) & np.all(rejected == a, axis=1)
    assert np.all(same | swapped)


def test_labels_follow_bradley_terry_with_temperature() -> None:
    # P(A ≻ B) = σ(Δ/τ): the fraction of pairs where the chosen one has the higher true
    # reward equals E[σ(|Δ|/τ)], estimated from the same draws
    w = np.array([1.0, 0.5])
    for noise in (0.5, 2.0):
        chosen, rejected = simulate_preference_pairs(w, 20_000, noise=noise, seed=1)
        gap = (chosen - rejected) @ w
        expected = np.mean(1 / (1 + np.exp(-np.abs(gap) / noise)))
        assert np.mean(gap > 0) == pytest.approx(expected, abs=0.01)


def test_fit_recovers_weights_over_temperature() -> None:
    w = np.array([2.0, -1.0])
    chosen, rejected = simulate_preference_pairs(w, 20_000, noise=2.0, seed=5)
    fit = fit_bradley_terry(chosen, rejected)
    assert fit.weights == pytest.approx(w / 2.0, abs=0.05)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"true_weights": [1.0], "n_pairs": 0}, "n_pairs"),
        ({"true_weights": [1.0], "n_pairs": 2.5}, "n_pairs"),
        ({"true_weights": [1.0], "n_pairs": 5, "noise": 0.0}, "noise"),
        ({"true_weights": [1.0], "n_pairs": 5, "seed": -1}, "seed"),
        ({"true_weights": [[1.0]], "n_pairs": 5}, "true_weights"),
        ({"true_weights": [], "n_pairs": 5}, "true_weights"),
    ],
)
def test_simulation_rejects_bad_arguments(kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        simulate_preference_pairs(**kwargs)  # type: ignore[arg-type]


def test_simulation_with_huge_weights_is_warning_free() -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        chosen, rejected = simulate_preference_pairs([1e6, -1e6], 100, noise=1e-3, seed=0)
    assert np.all(np.isfinite(chosen)) and np.all(np.isfinite(rejected))
    gap = (chosen - rejected) @ np.array([1e6, -1e6])
    assert np.all(gap >= 0)  # a noiseless labeler always picks the higher reward


# ------------------------------------------------------------------ prospect_value


def test_prospect_value_fixed_cases() -> None:
    # z^0.88 and -2.25·(-z)^0.88, written out
    z = np.array([0.0, 1.0, 4.0, -1.0, -4.0])
    expected = [0.0, 1.0, 4.0**0.88, -2.25, -2.25 * 4.0**0.88]
    assert prospect_value(z) == pytest.approx(expected)
    assert float(prospect_value(3.0, alpha=1.0, loss_aversion=1.0)) == 3.0


def test_prospect_value_shape_and_asymmetry() -> None:
    z = np.linspace(0.1, 5, 50)
    gains, losses = prospect_value(z), prospect_value(-z)
    assert np.all(-losses > gains)  # losses loom larger than gains
    assert np.all(np.diff(gains, 2) < 0)  # concave for gains
    assert prospect_value(np.ones((2, 3))).shape == (2, 3)


def test_prospect_value_extremes_and_nan() -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        big = prospect_value([1e6, -1e6])
    assert np.all(np.isfinite(big))
    assert np.isnan(prospect_value(np.nan))


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"alpha": 0.0}, "alpha"),
        ({"alpha": 1.5}, "alpha"),
        ({"loss_aversion": -1.0}, "loss_aversion"),
    ],
)
def test_prospect_value_rejects_bad_parameters(kwargs: dict[str, float], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        prospect_value(1.0, **kwargs)
