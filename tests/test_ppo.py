"""PPO's clipped objective, GAE, KL-penalised rewards and the KL estimators."""

import math

import numpy as np
import pytest

from alignment_math import (
    gae,
    kl_divergence,
    kl_estimators,
    kl_penalized_rewards,
    ppo_clip_objective,
)


@pytest.mark.parametrize("eps", [0.1, 0.2, 0.3])
@pytest.mark.parametrize("adv", [-2.0, -0.5, 0.7, 3.0])
def test_clip_objective_equals_rA_inside_and_is_flat_outside_on_the_clipped_side(eps, adv):
    inside = np.linspace(1 - eps, 1 + eps, 11)
    np.testing.assert_allclose(
        ppo_clip_objective(inside, adv, clip_eps=eps), inside * adv, rtol=1e-14
    )
    above = np.linspace(1 + eps, 2.5, 11)
    below = np.linspace(0.0, 1 - eps, 11)
    if adv > 0:  # no gain from pushing a good action above 1+eps; below, the unclipped r*A stays
        np.testing.assert_allclose(ppo_clip_objective(above, adv, clip_eps=eps), (1 + eps) * adv)
        np.testing.assert_allclose(ppo_clip_objective(below, adv, clip_eps=eps), below * adv)
    else:  # no gain from pushing a bad action below 1-eps; above, the unclipped r*A stays
        np.testing.assert_allclose(ppo_clip_objective(below, adv, clip_eps=eps), (1 - eps) * adv)
        np.testing.assert_allclose(ppo_clip_objective(above, adv, clip_eps=eps), above * adv)


def test_clip_objective_is_a_lower_bound_of_rA():
    rng = np.random.default_rng(0)
    r, a = rng.uniform(0, 3, 500), rng.normal(size=500)
    assert np.all(ppo_clip_objective(r, a) <= r * a + 1e-15)


def reward_to_go(rewards):
    return np.cumsum(rewards[..., ::-1], axis=-1)[..., ::-1]


def test_gae_with_gamma_lambda_one_is_reward_to_go_minus_values():
    rng = np.random.default_rng(1)
    rewards, values = rng.normal(size=(2, 4, 9))
    adv, ret = gae(rewards, values, gamma=1.0, lam=1.0)
    np.testing.assert_allclose(adv, reward_to_go(rewards) - values, atol=1e-12)
    np.testing.assert_allclose(ret, reward_to_go(rewards), atol=1e-12)


def test_gae_with_lambda_zero_is_the_td_error():
    rng = np.random.default_rng(2)
    rewards, values = rng.normal(size=(2, 7))
    gamma = 0.9
    adv, _ = gae(rewards, values, gamma=gamma, lam=0.0)
    next_values = np.append(values[1:], 0.0)
    np.testing.assert_allclose(adv, rewards + gamma * next_values - values, atol=1e-14)


def test_gae_matches_the_explicit_sum():
    rng = np.random.default_rng(3)
    rewards, values = rng.normal(size=(2, 6))
    gamma, lam = 0.97, 0.9
    adv, ret = gae(rewards, values, gamma=gamma, lam=lam)
    v_next = np.append(values[1:], 0.0)
    delta = rewards + gamma * v_next - values
    expected = [sum((gamma * lam) ** k * delta[t + k] for k in range(6 - t)) for t in range(6)]
    np.testing.assert_allclose(adv, expected, rtol=1e-12)
    np.testing.assert_allclose(ret, adv + values, rtol=1e-15)


def test_gae_last_token_uses_zero_bootstrap():
    adv, _ = gae([0.0, 0.0, 1.0], [0.2, 0.4, 0.6], gamma=1.0, lam=0.95)
    assert adv[-1] == pytest.approx(1.0 - 0.6)  # not 1.0 + V_next - 0.6


def test_kl_penalized_rewards_hand_values_and_total():
    out = kl_penalized_rewards(1.0, [-1.0, -2.0], [-1.5, -1.5], kl_coef=0.1)
    np.testing.assert_allclose(out, [-0.05, 1.05], rtol=1e-14)
    rng = np.random.default_rng(4)
    lp, ref = -rng.uniform(0.1, 3, size=(2, 5, 8))
    scores = rng.normal(size=5)
    out = kl_penalized_rewards(scores, lp, ref, kl_coef=0.05)
    assert out.shape == (5, 8)
    np.testing.assert_allclose(out.sum(-1), scores - 0.05 * (lp - ref).sum(-1), rtol=1e-12)
    np.testing.assert_allclose(out[:, :-1], -0.05 * (lp - ref)[:, :-1], rtol=1e-14)


def test_kl_estimators_hand_values():
    k1, k2, k3 = kl_estimators(-1.0, -2.0)  # log rho = -1
    assert (float(k1), float(k2)) == (1.0, 0.5)
    assert float(k3) == pytest.approx(math.exp(-1) - 1 + 1, rel=1e-15)
    # k3 near rho = 1: (rho-1) - log rho ≈ x²/2; computed without cancellation
    _, _, k3_small = kl_estimators(0.0, 1e-8)
    assert float(k3_small) == pytest.approx(0.5e-16, rel=1e-6)


def test_mean_of_k1_and_k3_over_samples_approaches_the_exact_kl():
    # pi and pi_ref over 6 tokens; sample from pi (fixed seed) and average the estimators
    pi = np.array([0.3, 0.25, 0.2, 0.1, 0.1, 0.05])
    ref = np.array([0.1, 0.2, 0.3, 0.2, 0.1, 0.1])
    exact = float(kl_divergence(pi, ref))
    samples = np.random.default_rng(5).choice(6, size=200_000, p=pi)
    k1, k2, k3 = kl_estimators(np.log(pi[samples]), np.log(ref[samples]))
    assert k1.mean() == pytest.approx(exact, abs=0.005)  # std/sqrt(n) ≈ 0.0017
    assert k3.mean() == pytest.approx(exact, abs=0.005)
    assert np.all(k3 >= 0) and np.any(k1 < 0)  # k3 never negative; k1 can be
    assert k3.std() < k1.std()  # lower variance
    assert abs(k2.mean() - exact) > 0.01  # k2 is biased this far from pi_ref


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: ppo_clip_objective(1.0, 1.0, clip_eps=0.0), "clip_eps must be > 0, got 0"),
        (lambda: ppo_clip_objective(1.0, 1.0, clip_eps=-0.2), "clip_eps must be > 0"),
        (lambda: gae([1.0], [1.0], gamma=1.5), r"gamma must be in \[0, 1\], got 1.5"),
        (lambda: gae([1.0], [1.0], lam=-0.1), r"lam must be in \[0, 1\]"),
        (lambda: gae(np.zeros(3), np.zeros(4)), "shapes do not broadcast"),
        (lambda: gae(1.0, 1.0), "time axis"),
        (lambda: kl_penalized_rewards(1.0, [-1.0], [-1.0], kl_coef=-0.1), "kl_coef must be >= 0"),
        (
            lambda: kl_penalized_rewards(np.zeros(3), np.zeros((2, 4)), np.zeros((2, 4)), 0.1),
            "scores",
        ),
    ],
)
def test_bad_arguments_raise_clear_errors(call, message):
    with pytest.raises(ValueError, match=message):
        call()
