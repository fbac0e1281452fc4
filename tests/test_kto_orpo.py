"""KTO's reference point and loss; ORPO's log-odds ratio and loss."""

import math

import numpy as np
import pytest

from alignment_math import kto_loss, kto_reference_point, orpo_log_odds_ratio, orpo_loss


def sigma(x):
    return 1 / (1 + math.exp(-x))


def test_kto_reference_point():
    assert kto_reference_point([-10.0, -12.0], [-11.0, -12.0]) == 0.5
    assert kto_reference_point([-12.0, -9.0], [-10.0, -10.0]) == 0.0  # mean -0.5 clamped
    assert isinstance(kto_reference_point([-1.0], [-2.0]), float)


def test_kto_hand_values():
    # desirable: lam_D (1 - sigma(beta (r - z0))); undesirable: lam_U (1 - sigma(beta (z0 - r)))
    r, z0, beta = 2.0, 0.5, 0.7
    out = kto_loss(
        [-8.0, -8.0],
        [-10.0, -10.0],
        [True, False],
        z0,
        beta=beta,
        desirable_weight=1.33,
        undesirable_weight=0.8,
    )
    np.testing.assert_allclose(
        out, [1.33 * (1 - sigma(beta * (r - z0))), 0.8 * (1 - sigma(beta * (z0 - r)))], rtol=1e-14
    )


def test_kto_loss_aversion_asymmetry():
    # with lam_U > lam_D, a loss of the same size costs more than a gain of the same size earns
    r = np.linspace(-6, 6, 25)
    good = kto_loss(r, 0.0, True, 0.0, beta=1.0, desirable_weight=1.0, undesirable_weight=2.25)
    bad = kto_loss(-r, 0.0, False, 0.0, beta=1.0, desirable_weight=1.0, undesirable_weight=2.25)
    np.testing.assert_allclose(bad, 2.25 * good, rtol=1e-12)  # mirror images, scaled by lambda
    # desirable loss falls as r rises; undesirable loss rises as r rises; both bounded by lambda
    assert np.all(np.diff(good) < 0) and np.all(good < 1.0)
    assert np.all(np.diff(kto_loss(r, 0.0, False, 0.0, beta=1.0)) > 0)


def test_kto_accepts_zero_one_labels_and_rejects_others():
    a = kto_loss([-1.0, -2.0], [-1.5, -1.5], [1, 0], 0.1)
    b = kto_loss([-1.0, -2.0], [-1.5, -1.5], [True, False], 0.1)
    np.testing.assert_array_equal(a, b)
    with pytest.raises(ValueError, match="desirable must be booleans"):
        kto_loss([-1.0], [-1.0], [2], 0.0)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"beta": 0.0}, "beta must be > 0, got 0"),
        ({"desirable_weight": -1.0}, "desirable_weight must be >= 0, got -1"),
        ({"undesirable_weight": -0.5}, "undesirable_weight must be >= 0"),
        ({"reference_point": [0.1, 0.2]}, "reference_point must be a scalar"),
    ],
)
def test_kto_bad_arguments(kwargs, message):
    args = {"policy_logps": -1.0, "ref_logps": -1.0, "desirable": True, "reference_point": 0.0}
    with pytest.raises(ValueError, match=message):
        kto_loss(**(args | kwargs))


def test_orpo_log_odds_ratio_hand_value():
    # p_w = 0.5 (odds 1), p_l = 0.2 (odds 0.25): log(1 / 0.25)
    assert orpo_log_odds_ratio(math.log(0.5), math.log(0.2)) == pytest.approx(
        math.log(4), rel=1e-14
    )


def test_orpo_log_odds_ratio_is_antisymmetric():
    rng = np.random.default_rng(0)
    a, b = -rng.uniform(1e-6, 20, size=(2, 100))
    np.testing.assert_allclose(orpo_log_odds_ratio(a, b), -orpo_log_odds_ratio(b, a), rtol=1e-14)
    np.testing.assert_array_equal(orpo_log_odds_ratio(a, a), 0.0)


# Reference log-odds l - log(1 - e^l) at the extremes, computed exactly:
# l = -1e-12: 1 - e^l = 1e-12 - 5e-25 + ..., so log-odds = -1e-12 - log(1e-12) + 5e-13 ≈ 27.631021115928547
# l = -50: log(1 - e^-50) = -1.9287498479639178e-22, so log-odds = -50 + 1.93e-22 = -50.0
@pytest.mark.parametrize(
    ("chosen", "expected"),
    [(-1e-12, -1e-12 - math.log(1e-12) + 5e-13), (-50.0, -50.0), (-1e6, -1e6)],
)
def test_orpo_log_odds_extremes(chosen, expected):
    # against a rejected response with odds exactly 1 (p = 0.5)
    assert float(orpo_log_odds_ratio(chosen, math.log(0.5))) == pytest.approx(expected, rel=1e-12)


def test_orpo_loss_hand_values():
    # equal odds: nll + lam * ln 2
    assert orpo_loss(1.2, math.log(0.5), math.log(0.5), lam=0.1) == pytest.approx(
        1.2 + 0.1 * math.log(2)
    )
    lor = math.log(4)
    assert orpo_loss(0.7, math.log(0.5), math.log(0.2), lam=0.25) == pytest.approx(
        0.7 - 0.25 * math.log(sigma(lor)), rel=1e-14
    )
    assert orpo_loss(0.7, -1.0, -2.0, lam=0.0) == 0.7  # lam = 0 is plain SFT


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: orpo_log_odds_ratio(0.0, -1.0), "avg logps must be < 0"),
        (lambda: orpo_log_odds_ratio(-1.0, 0.5), "avg logps must be < 0"),
        (lambda: orpo_loss(1.0, -1.0, -2.0, lam=-0.1), "lam must be >= 0, got -0.1"),
        (lambda: orpo_loss(np.zeros(2), np.full(3, -1.0), -2.0), "shapes do not broadcast"),
    ],
)
def test_orpo_bad_arguments(call, message):
    with pytest.raises(ValueError, match=message):
        call()
