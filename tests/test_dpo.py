"""The DPO family: sigmoid (DPO/cDPO), robust, hinge (SLiC), IPO; rewards and gradient weight."""

import math

import numpy as np
import pytest

from alignment_math import (
    DPO_LOSS_TYPES,
    bradley_terry_loss,
    dpo_gradient_weight,
    dpo_log_ratio,
    dpo_loss,
    dpo_rewards,
)

RNG = np.random.default_rng(0)
PC, PR, RC, RR = -RNG.uniform(5, 30, size=(4, 64))


def log_sigma(x):
    return -math.log1p(math.exp(-x)) if x >= 0 else x - math.log1p(math.exp(x))


def test_policy_equal_reference_gives_ln2_for_sigmoid_and_robust():
    for loss_type in ("sigmoid", "robust"):
        for eps in (0.0, 0.1, 0.3):
            out = dpo_loss(PC, PR, PC, PR, beta=0.1, loss_type=loss_type, label_smoothing=eps)
            np.testing.assert_allclose(out, math.log(2), rtol=1e-14)


@pytest.mark.parametrize("beta", [0.05, 0.1, 0.5, 2.0])
def test_sigmoid_dpo_is_bradley_terry_on_the_implicit_rewards(beta):
    chosen = dpo_rewards(PC, RC, beta=beta)
    rejected = dpo_rewards(PR, RR, beta=beta)
    np.testing.assert_allclose(
        dpo_loss(PC, PR, RC, RR, beta=beta), bradley_terry_loss(chosen, rejected), rtol=1e-12
    )


def test_hand_values_for_each_loss_type():
    # h = (-9 - -13) - (-10 - -12) = 2, beta = 0.5, beta*h = 1
    args = (-9.0, -13.0, -10.0, -12.0)
    assert float(dpo_log_ratio(*args)) == 2.0
    eps = 0.1
    assert dpo_loss(*args, beta=0.5) == pytest.approx(-log_sigma(1.0), rel=1e-15)
    assert dpo_loss(*args, beta=0.5, label_smoothing=eps) == pytest.approx(
        -(1 - eps) * log_sigma(1.0) - eps * log_sigma(-1.0), rel=1e-15
    )
    assert dpo_loss(*args, beta=0.5, loss_type="robust", label_smoothing=eps) == pytest.approx(
        (-(1 - eps) * log_sigma(1.0) + eps * log_sigma(-1.0)) / (1 - 2 * eps), rel=1e-15
    )
    assert dpo_loss(*args, beta=0.25, loss_type="hinge") == pytest.approx(0.5)  # 1 - 0.25*2
    assert dpo_loss(*args, beta=1.0, loss_type="hinge") == 0.0  # beta*h = 2 >= 1: stops
    assert dpo_loss(*args, beta=0.5, loss_type="ipo") == pytest.approx(1.0)  # (2 - 1)^2
    assert dpo_loss(*args, beta=0.25, loss_type="ipo") == pytest.approx(0.0)  # target 1/(2β) = 2


def test_zero_smoothing_robust_and_cdpo_equal_dpo():
    base = dpo_loss(PC, PR, RC, RR, beta=0.2)
    np.testing.assert_allclose(
        dpo_loss(PC, PR, RC, RR, beta=0.2, loss_type="robust"), base, rtol=1e-14
    )
    np.testing.assert_allclose(dpo_loss(PC, PR, RC, RR, beta=0.2, label_smoothing=0.0), base)


def test_cdpo_is_the_label_flip_mixture():
    eps = 0.2
    forward = dpo_loss(PC, PR, RC, RR, beta=0.3)
    flipped = dpo_loss(PR, PC, RR, RC, beta=0.3)  # the pair with its labels swapped
    np.testing.assert_allclose(
        dpo_loss(PC, PR, RC, RR, beta=0.3, label_smoothing=eps),
        (1 - eps) * forward + eps * flipped,
        rtol=1e-12,
    )
    np.testing.assert_allclose(
        dpo_loss(PC, PR, RC, RR, beta=0.3, loss_type="robust", label_smoothing=eps),
        ((1 - eps) * forward - eps * flipped) / (1 - 2 * eps),
        rtol=1e-12,
    )


def numeric_slope(f, h, d=1e-6):
    return (f(h + d) - f(h - d)) / (2 * d)


def test_where_each_variant_stops_pushing():
    beta = 0.5
    h = np.linspace(-4, 12, 400)

    def loss(kind, eps=0.0):
        return lambda x: dpo_loss(x, 0.0, 0.0, 0.0, beta=beta, loss_type=kind, label_smoothing=eps)

    # DPO's slope is negative for every h: it never stops pushing
    assert np.all(numeric_slope(loss("sigmoid"), h) < 0)
    # cDPO's slope is zero where sigma(beta h) = 1 - eps
    eps = 0.1
    h_star = math.log((1 - eps) / eps) / beta
    assert numeric_slope(loss("sigmoid", eps), h_star) == pytest.approx(0.0, abs=1e-8)
    # hinge: flat (zero) once beta h >= 1
    assert np.all(loss("hinge")(h[h >= 1 / beta]) == 0.0)
    # IPO: minimum at h = 1 / (2 beta)
    assert numeric_slope(loss("ipo"), 1 / (2 * beta)) == pytest.approx(0.0, abs=1e-6)


def test_gradient_weight_is_minus_the_slope_over_beta():
    beta = 0.3
    h = np.linspace(-5, 5, 21)
    weights = dpo_gradient_weight(h, 0.0, 0.0, 0.0, beta=beta)
    slopes = numeric_slope(lambda x: dpo_loss(x, 0.0, 0.0, 0.0, beta=beta), h)
    np.testing.assert_allclose(weights, -slopes / beta, rtol=1e-6)
    assert float(dpo_gradient_weight(PC[0], PR[0], PC[0], PR[0])) == 0.5


def test_rewards_hand_values():
    np.testing.assert_allclose(dpo_rewards([-9.0, -13.0], [-10.0, -12.0], beta=0.1), [0.1, -0.1])


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"beta": 0.0}, "beta must be > 0, got 0"),
        ({"beta": -1.0}, "beta must be > 0, got -1"),
        (
            {"loss_type": "kto"},
            "loss_type must be one of 'sigmoid', 'robust', 'hinge', 'ipo', got 'kto'",
        ),
        ({"label_smoothing": 0.5}, r"label_smoothing must be in \[0, 0.5\), got 0.5"),
        ({"label_smoothing": -0.1}, r"label_smoothing must be in \[0, 0.5\)"),
        (
            {"loss_type": "ipo", "label_smoothing": 0.1},
            "applies only to loss_type 'sigmoid' and 'robust'",
        ),
    ],
)
def test_bad_arguments_raise_clear_errors(kwargs, message):
    with pytest.raises(ValueError, match=message):
        dpo_loss(-1.0, -2.0, -1.0, -2.0, **kwargs)


def test_non_broadcastable_shapes_name_the_arguments():
    with pytest.raises(
        ValueError, match=r"policy_chosen_logps \(3,\).*policy_rejected_logps \(4,\)"
    ):
        dpo_loss(np.zeros(3), np.zeros(4), 0.0, 0.0)


def test_all_loss_types_are_listed():
    assert set(DPO_LOSS_TYPES) == {"sigmoid", "robust", "hinge", "ipo"}
