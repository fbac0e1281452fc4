"""Bradley–Terry probability, loss and the Newton fit."""

import math

import numpy as np
import pytest

from alignment_math import bradley_terry_loss, bradley_terry_probability, fit_bradley_terry


def sigma(x: float) -> float:
    return 1.0 / (1.0 + math.exp(-x))


def test_probability_hand_values():
    assert bradley_terry_probability(1.0, 0.0) == pytest.approx(sigma(1.0), rel=1e-15)
    assert bradley_terry_probability(3.0, 3.0) == 0.5
    assert bradley_terry_probability(0.0, 2.0) == pytest.approx(1 / (1 + math.e**2), rel=1e-15)


def test_probability_is_shift_invariant_and_complementary():
    rng = np.random.default_rng(1)
    c, r = rng.normal(size=(2, 50))
    p = bradley_terry_probability(c, r)
    np.testing.assert_allclose(bradley_terry_probability(c + 7.5, r + 7.5), p, rtol=1e-12)
    np.testing.assert_allclose(p + bradley_terry_probability(r, c), 1.0, rtol=1e-15)


def test_loss_hand_values_and_margin():
    assert bradley_terry_loss(1.0, 0.0) == pytest.approx(-math.log(sigma(1.0)), rel=1e-15)
    assert bradley_terry_loss(0.0, 0.0) == pytest.approx(math.log(2), rel=1e-15)
    # a margin m shifts the gap: loss(gap, m) == loss(gap - m, 0)
    assert bradley_terry_loss(2.0, 0.5, margin=1.0) == pytest.approx(
        float(bradley_terry_loss(0.5, 0.0)), rel=1e-15
    )


def test_loss_is_minus_log_probability():
    gaps = np.linspace(-8, 8, 33)
    np.testing.assert_allclose(
        bradley_terry_loss(gaps, 0.0), -np.log(bradley_terry_probability(gaps, 0.0)), rtol=1e-12
    )


# Reference values of -log σ(x) at the extremes, from the exact identities
# -log σ(x) = log1p(exp(-x)) for x >= 0 and = -x + log1p(exp(x)) for x < 0,
# evaluated with math (correctly rounded to ~1 ulp in these regimes).
@pytest.mark.parametrize(
    ("gap", "expected"),
    [
        (40.0, math.log1p(math.exp(-40.0))),  # 4.2483542552915889e-18, no cancellation to 0
        (-40.0, 40.0 + math.log1p(math.exp(-40.0))),
        (-800.0, 800.0),
        (800.0, 0.0),
        (1e6, 0.0),
        (-1e6, 1e6),
    ],
)
def test_loss_extremes_match_reference(gap, expected):
    assert float(bradley_terry_loss(gap, 0.0)) == pytest.approx(expected, rel=1e-15, abs=1e-300)


def test_shapes_broadcast_without_reduction():
    out = bradley_terry_loss(np.zeros((3, 1)), np.zeros(4), margin=np.zeros((1, 4)))
    assert out.shape == (3, 4)


def _simulate(true_w, n, seed, noise_free=False):
    rng = np.random.default_rng(seed)
    a, b = rng.normal(size=(2, n, len(true_w)))
    p = bradley_terry_probability(a @ true_w, b @ true_w)
    prefer_a = (p > 0.5) if noise_free else (rng.random(n) < p)
    chosen = np.where(prefer_a[:, None], a, b)
    rejected = np.where(prefer_a[:, None], b, a)
    return chosen, rejected


def test_fit_recovers_true_weights():
    true_w = np.array([1.5, -0.5, 0.8])
    chosen, rejected = _simulate(true_w, 20000, seed=3)
    fit = fit_bradley_terry(chosen, rejected)
    assert fit.converged
    np.testing.assert_allclose(fit.weights, true_w, atol=0.08)


def test_fit_losses_never_rise_and_reach_the_optimum():
    chosen, rejected = _simulate(np.array([2.0, 1.0]), 500, seed=4)
    fit = fit_bradley_terry(chosen, rejected, l2=0.01)
    assert fit.losses[0] == pytest.approx(math.log(2))  # w = 0 start
    assert np.all(np.diff(fit.losses) <= 1e-15)
    # at the optimum the gradient vanishes: compare with a finite-difference gradient
    d = chosen - rejected

    def objective(w):
        return float(np.mean(bradley_terry_loss(d @ w, 0.0)) + 0.005 * w @ w)

    for i in range(2):
        e = np.zeros(2)
        e[i] = 1e-5
        slope = (objective(fit.weights + e) - objective(fit.weights - e)) / 2e-5
        assert abs(slope) < 1e-6


def test_fit_on_separable_data_stays_finite_and_l2_shrinks():
    chosen, rejected = _simulate(np.array([1.0, 1.0]), 50, seed=5, noise_free=True)
    free = fit_bradley_terry(chosen, rejected, steps=30)
    assert np.all(np.isfinite(free.weights)) and free.losses[-1] < 0.05
    ridge = fit_bradley_terry(chosen, rejected, l2=1.0)
    assert ridge.converged
    assert np.linalg.norm(ridge.weights) < np.linalg.norm(free.weights)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"features_chosen": np.zeros((3, 2)), "features_rejected": np.zeros((3, 3))}, "shape"),
        ({"features_chosen": np.zeros(3), "features_rejected": np.zeros(3)}, "n_pairs, n_features"),
        ({"l2": -1.0}, "l2 must be >= 0, got -1"),
        ({"steps": 0}, "steps must be an integer >= 1"),
    ],
)
def test_fit_rejects_bad_arguments(kwargs, message):
    args = {"features_chosen": np.ones((4, 2)), "features_rejected": np.zeros((4, 2))} | kwargs
    with pytest.raises(ValueError, match=message):
        fit_bradley_terry(**args)
