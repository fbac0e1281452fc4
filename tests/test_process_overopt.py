"""Process rewards, best-of-N selection, over-optimisation forms, the proxy sweep, PGR."""

import math

import numpy as np
import pytest

from alignment_math import (
    aggregate_step_scores,
    best_of_n_kl,
    best_of_n_selection,
    gold_reward_best_of_n,
    gold_reward_rl,
    optimal_policy,
    performance_gap_recovered,
    proxy_true_sweep,
)


def test_aggregate_hand_values():
    s = np.array([[0.9, 0.95, 0.2, 0.9], [1.0, 1.0, 1.0, 0.5]])
    np.testing.assert_allclose(aggregate_step_scores(s, "min"), [0.2, 0.5])
    np.testing.assert_allclose(aggregate_step_scores(s, "prod"), [0.9 * 0.95 * 0.2 * 0.9, 0.5])
    np.testing.assert_allclose(aggregate_step_scores(s, "mean"), [2.95 / 4, 3.5 / 4])
    np.testing.assert_allclose(aggregate_step_scores(s, "last"), [0.9, 0.5])


def test_one_bad_step_sinks_min_and_prod_but_not_mean():
    clean = np.full(5, 0.95)
    one_bad = clean.copy()
    one_bad[2] = 0.05
    for method in ("min", "prod"):
        assert aggregate_step_scores(one_bad, method) < 0.1 < aggregate_step_scores(clean, method)
    assert aggregate_step_scores(one_bad, "mean") > 0.7
    assert aggregate_step_scores(one_bad, "last") == aggregate_step_scores(clean, "last")


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (
            lambda: aggregate_step_scores([0.5], "max"),
            "method must be one of 'min', 'prod', 'mean', 'last', got 'max'",
        ),
        (lambda: aggregate_step_scores([1.5, 0.2]), r"probabilities in \[0, 1\]"),
        (lambda: aggregate_step_scores(np.zeros((2, 0))), "at least one step"),
    ],
)
def test_aggregate_bad_arguments(call, message):
    with pytest.raises(ValueError, match=message):
        call()


def test_best_of_n_selection_is_consistent():
    ns = [1, 4, 16, 64]
    acc = best_of_n_selection(ns, n_problems=1500, seed=1)
    # N = 1: every selector takes the only sample, so all agree with the single-sample accuracy
    assert acc["orm"][0] == acc["prm"][0] == acc["majority"][0] == acc["oracle"][0]
    p_sound = 0.9**5
    expected_single = p_sound + (1 - p_sound) * 0.2
    assert acc["oracle"][0] == pytest.approx(expected_single, abs=0.03)
    # pass@N is the ceiling of every selector, and rises with N
    for key in ("orm", "prm", "majority"):
        assert np.all(acc[key] <= acc["oracle"] + 1e-12)
    assert np.all(np.diff(acc["oracle"]) >= 0)
    # with many samples, verifiers help: best-of-64 beats a single sample
    assert acc["prm"][-1] > acc["prm"][0] + 0.05 and acc["orm"][-1] > acc["orm"][0] + 0.05
    # the PRM picks sound chains (every step right) more often than the ORM
    assert acc["prm_sound"][-1] > acc["orm_sound"][-1]


def test_best_of_n_selection_noise_free_verifiers_are_oracles():
    acc = best_of_n_selection([8], n_problems=800, orm_noise=0.0, prm_noise=0.0, seed=2)
    assert (
        acc["orm"][0] == acc["oracle"][0]
    )  # a perfect ORM finds a right answer whenever one exists
    assert acc["prm_sound"][0] >= acc["orm_sound"][0]


def test_best_of_n_selection_each_selector_uses_its_own_verifier():
    # a perfect PRM and a useless (pure-noise) ORM: the PRM finds a sound chain whenever the
    # N samples hold one; the ORM does no better than a single sample
    acc = best_of_n_selection([1, 8], n_problems=1000, orm_noise=1e3, prm_noise=0.0, seed=3)
    p_any_sound = 1 - (1 - 0.9**5) ** 8
    assert acc["prm_sound"][1] == pytest.approx(p_any_sound, abs=0.03)
    assert acc["orm"][1] == pytest.approx(acc["orm"][0], abs=0.05)
    assert acc["prm"][1] > acc["orm"][1] + 0.2


def test_best_of_n_selection_is_deterministic_and_validates():
    a = best_of_n_selection([2, 8], n_problems=300, seed=7)
    b = best_of_n_selection([2, 8], n_problems=300, seed=7)
    for key in a:
        np.testing.assert_array_equal(a[key], b[key])
    with pytest.raises(ValueError, match="ns must be whole numbers >= 1"):
        best_of_n_selection([0, 2])
    with pytest.raises(ValueError, match=r"step_error must be in \[0, 1\]"):
        best_of_n_selection([2], step_error=1.5)
    with pytest.raises(ValueError, match="aggregate must be one of"):
        best_of_n_selection([2], aggregate="max")


def test_best_of_n_kl_hand_values():
    assert best_of_n_kl(1) == 0.0
    assert best_of_n_kl(16) == pytest.approx(math.log(16) - 15 / 16)
    np.testing.assert_allclose(best_of_n_kl([2, 1000]), [math.log(2) - 0.5, math.log(1000) - 0.999])
    with pytest.raises(ValueError, match="n must be >= 1"):
        best_of_n_kl(0.5)


def test_best_of_n_kl_upper_bounds_the_exact_kl_on_a_discrete_example():
    # exact best-of-n over a discrete distribution with distinct rewards:
    # P(best = y_i) = F(i)^n - F(i-1)^n, with F the CDF in reward order
    p = np.array([0.4, 0.3, 0.2, 0.1])  # already in increasing reward order
    cdf = np.cumsum(p)
    for n in (2, 4, 16, 64):
        q = cdf**n - np.concatenate([[0.0], cdf[:-1]]) ** n
        exact = float(np.sum(q * np.log(q / p)))
        assert exact <= float(best_of_n_kl(n)) + 1e-12


def test_gold_reward_forms():
    alpha, beta = 1.0, 0.25
    d = np.array([0.0, 1.0, 2.0, 4.0])
    np.testing.assert_allclose(gold_reward_best_of_n(d, alpha, beta), d * (alpha - beta * d))
    # best-of-n peaks at d = alpha / (2 beta)
    grid = np.linspace(0, 6, 6001)
    assert grid[np.argmax(gold_reward_best_of_n(grid, alpha, beta))] == pytest.approx(2.0, abs=1e-3)
    # RL form: limit 0 at d = 0, peak at d = exp(alpha/beta - 1)
    assert gold_reward_rl(0.0, 1.0, 0.5) == 0.0
    grid = np.linspace(1e-6, 10, 100001)
    assert grid[np.argmax(gold_reward_rl(grid, 1.0, 0.5))] == pytest.approx(math.e, abs=1e-3)
    with pytest.raises(ValueError, match="d must be >= 0"):
        gold_reward_rl(-1.0, 1.0, 0.5)


def test_proxy_true_sweep_shows_goodhart():
    ref = np.array([0.4, 0.3, 0.2, 0.1])
    true = np.array([0.0, 1.0, 2.0, 0.0])
    proxy = true + np.array([0.0, 0.0, 0.0, 2.5])  # the last response games the proxy
    betas = np.geomspace(100, 0.01, 200)
    kl, p, t = proxy_true_sweep(ref, true, proxy, betas)
    assert np.all(np.diff(kl) > -1e-12) and np.all(np.diff(p) > -1e-12)  # monotone in pressure
    peak = int(np.argmax(t))
    assert 0 < peak < len(betas) - 1  # true reward rises, then falls
    assert t[peak] > t[0] + 0.2 and t[-1] < 0.05
    # each point is the exact optimum at its beta
    i = 57
    pi = optimal_policy(ref, proxy, betas[i])
    assert t[i] == pytest.approx(pi @ true) and p[i] == pytest.approx(pi @ proxy)
    # when proxy == true there is nothing to hack: the true reward only rises
    _, _, t_clean = proxy_true_sweep(ref, true, true, betas)
    assert np.all(np.diff(t_clean) > -1e-12)


def test_performance_gap_recovered():
    assert performance_gap_recovered(0.6, 0.75, 0.9) == pytest.approx(0.5)
    assert performance_gap_recovered(0.6, 0.6, 0.9) == 0.0
    assert performance_gap_recovered(0.6, 0.9, 0.9) == pytest.approx(1.0)
    np.testing.assert_allclose(
        performance_gap_recovered([0.5, 0.6], [0.55, 0.5], 0.7), [0.25, -1.0]
    )
    with pytest.raises(ValueError, match="strong_ceiling must differ from weak"):
        performance_gap_recovered(0.7, 0.8, 0.7)
