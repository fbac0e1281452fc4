"""The KL-regularised optimum, KL divergence and the implicit reward."""

import math

import numpy as np
import pytest

from alignment_math import implicit_reward, kl_divergence, optimal_policy

REF = np.array([0.5, 0.3, 0.15, 0.05])
REWARDS = np.array([0.0, 1.0, 2.0, -1.0])


def objective(pi, ref, r, beta):
    return float(pi @ r - beta * kl_divergence(pi, ref))


def test_optimal_policy_hand_value():
    # [0.5 e^1, 0.5 e^0] / Z
    expected = np.array([math.e, 1.0]) / (math.e + 1)
    np.testing.assert_allclose(
        optimal_policy([0.5, 0.5], [1.0, 0.0], beta=1.0), expected, rtol=1e-15
    )


def test_optimal_policy_limits():
    np.testing.assert_allclose(optimal_policy(REF, REWARDS, beta=1e9), REF, atol=1e-8)
    np.testing.assert_allclose(optimal_policy(REF, REWARDS, beta=1e-6), [0, 0, 1, 0], atol=1e-12)
    # a response the reference cannot produce stays impossible, however high its reward
    pi = optimal_policy([0.5, 0.5, 0.0], [0.0, 1.0, 100.0], beta=1e-3)
    np.testing.assert_allclose(pi, [0.0, 1.0, 0.0], atol=1e-12)


def test_no_brute_force_candidate_beats_the_optimum():
    rng = np.random.default_rng(0)
    for beta in (0.1, 1.0, 5.0):
        best = objective(optimal_policy(REF, REWARDS, beta), REF, REWARDS, beta)
        candidates = rng.dirichlet(np.ones(4), size=4000)
        values = candidates @ REWARDS - beta * kl_divergence(candidates, REF)
        assert values.max() <= best + 1e-12
        # and the optimum's value has the closed form beta * log Z
        assert best == pytest.approx(beta * math.log(REF @ np.exp(REWARDS / beta)), rel=1e-12)


def test_optimal_policy_sweeps_beta_by_broadcasting():
    betas = np.array([[0.1], [1.0], [10.0]])
    out = optimal_policy(REF, REWARDS, betas)
    assert out.shape == (3, 4)
    for row, beta in zip(out, betas.ravel(), strict=True):
        np.testing.assert_allclose(row, optimal_policy(REF, REWARDS, beta), rtol=1e-14)


def test_kl_hand_values():
    assert kl_divergence([0.5, 0.5], [0.9, 0.1]) == pytest.approx(
        0.5 * math.log(0.5 / 0.9) + 0.5 * math.log(0.5 / 0.1), rel=1e-15
    )
    assert kl_divergence(REF, REF) == 0.0
    assert kl_divergence([1.0, 0.0], [0.5, 0.5]) == pytest.approx(math.log(2))
    assert kl_divergence([0.5, 0.5], [1.0, 0.0]) == math.inf


def test_kl_is_nonnegative_and_asymmetric():
    rng = np.random.default_rng(2)
    p, q = rng.dirichlet(np.ones(5), size=(2, 200))
    assert np.all(kl_divergence(p, q) >= 0)
    assert not np.allclose(kl_divergence(p, q), kl_divergence(q, p))


def test_implicit_reward_ranks_like_the_true_reward():
    # the optimum's implicit reward equals r minus a constant (beta log Z)
    beta = 0.7
    pi = optimal_policy(REF, REWARDS, beta)
    implied = implicit_reward(np.log(pi), np.log(REF), beta=beta)
    np.testing.assert_allclose(implied - REWARDS, (implied - REWARDS)[0], atol=1e-12)
    assert implicit_reward(-10.0, -12.0, beta=0.1) == pytest.approx(0.2)


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: optimal_policy(REF, REWARDS, beta=0), "beta must be > 0, got 0"),
        (lambda: optimal_policy(REF, REWARDS, beta=-1), "beta must be > 0, got -1"),
        (
            lambda: optimal_policy([0.5, 0.6], [0, 0], 1.0),
            "ref_probs must be a probability vector summing to 1",
        ),
        (lambda: optimal_policy([1.2, -0.2], [0, 0], 1.0), "ref_probs .*>= 0"),
        (lambda: optimal_policy(REF, [0.0, 1.0], 1.0), "shapes do not broadcast"),
        (lambda: kl_divergence([0.5, 0.5], [0.2, 0.2]), "q must be a probability vector"),
        (lambda: implicit_reward(-1.0, -2.0, beta=0.0), "beta must be > 0"),
    ],
)
def test_bad_arguments_raise_clear_errors(call, message):
    with pytest.raises(ValueError, match=message):
        call()
