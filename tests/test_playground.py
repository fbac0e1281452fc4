"""The playground's task and training steps: gradients, and convergence where theory says."""

from __future__ import annotations

import numpy as np
import pytest

from alignment_math import (
    DPO_LOSS_TYPES,
    TRUE_WEIGHTS,
    PlaygroundPairs,
    best_of_n_kl,
    best_of_n_policy,
    dpo_loss,
    dpo_step,
    fit_bradley_terry,
    kl_divergence,
    kto_loss,
    kto_step,
    log_softmax,
    make_playground_task,
    optimal_policy,
    policy_metrics,
    ppo_clip_objective,
    ppo_step,
    reward_model_step,
    sample_responses,
    simulate_annotators,
)


def softmax(theta: np.ndarray) -> np.ndarray:
    return np.exp(log_softmax(theta))


def numerical_gradient(f, theta: np.ndarray, h: float = 1e-6) -> np.ndarray:
    grad = np.zeros_like(theta)
    for index in np.ndindex(theta.shape):
        up, down = theta.copy(), theta.copy()
        up[index] += h
        down[index] -= h
        grad[index] = (f(up) - f(down)) / (2 * h)
    return grad


def all_pairs(task, utility: np.ndarray):
    """Every ordered comparison of every prompt, weighted by its probability under pi_ref and
    Bradley-Terry labels of ``utility``: a population-level batch."""
    ref = softmax(task.ref_logits)
    prompts, chosen, rejected, weights = [], [], [], []
    p, k = ref.shape
    for x in range(p):
        for i in range(k):
            for j in range(k):
                if i != j:
                    prob = 1.0 / (1.0 + np.exp(-(utility[x, i] - utility[x, j])))
                    prompts.append(x)
                    chosen.append(i)
                    rejected.append(j)
                    weights.append(ref[x, i] * ref[x, j] * prob)
    pairs = PlaygroundPairs(np.array(prompts), np.array(chosen), np.array(rejected))
    return pairs, np.array(weights)


# ------------------------------------------------------------------ task and annotators


def test_task_is_deterministic_and_true_reward_is_linear_in_features():
    a, b = make_playground_task(5, 3, seed=4), make_playground_task(5, 3, seed=4)
    assert all(np.array_equal(x, y) for x, y in zip(a, b, strict=True))
    assert np.allclose(a.true_rewards, a.features @ np.array(TRUE_WEIGHTS))
    assert not np.array_equal(a.features, make_playground_task(5, 3, seed=5).features)


@pytest.mark.parametrize("strength", [0.0, 0.5])
def test_length_biased_labels_are_bradley_terry_in_the_biased_utility(strength):
    task = make_playground_task(seed=0)
    pairs = simulate_annotators(task, 40_000, flaw="length", strength=strength, seed=1)
    fit = fit_bradley_terry(task.features[pairs.prompts, pairs.chosen],
                            task.features[pairs.prompts, pairs.rejected], l2=1e-6)
    expected = np.array(TRUE_WEIGHTS) + np.array([0.0, 2.0 * strength, 0.0, 0.0])
    assert np.allclose(fit.weights, expected, atol=0.12), fit.weights


def test_noise_and_position_flaws_shrink_agreement_with_the_truth():
    task = make_playground_task(seed=0)

    def agreement(flaw, strength):
        pairs = simulate_annotators(task, 20_000, flaw=flaw, strength=strength, seed=2)
        r = task.true_rewards
        return np.mean(r[pairs.prompts, pairs.chosen] > r[pairs.prompts, pairs.rejected])

    clean = agreement("noise", 0.0)
    assert agreement("noise", 1.0) < clean - 0.15
    assert agreement("position", 1.0) < clean - 0.1
    assert clean > 0.7


def test_pairs_are_two_distinct_responses_of_the_prompt():
    task = make_playground_task(4, 3, seed=0)
    pairs = simulate_annotators(task, 500, seed=0)
    assert np.all(pairs.chosen != pairs.rejected)
    assert pairs.prompts.max() < 4 and max(pairs.chosen.max(), pairs.rejected.max()) < 3


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"flaw": "typos"}, "flaw must be one of 'length', 'position', 'noise'"),
        ({"strength": 1.5}, "strength must be in [0, 1]"),
        ({"n_pairs": 0}, "n_pairs must be an integer >= 1"),
        ({"seed": -1}, "seed must be an integer >= 0"),
    ],
)
def test_annotator_errors_name_the_parameter(kwargs, message):
    args = {"n_pairs": 10, **kwargs}
    with pytest.raises(ValueError, match=message.replace("[", r"\[").replace("]", r"\]")):
        simulate_annotators(make_playground_task(), **args)


def test_task_errors_name_the_parameter():
    with pytest.raises(ValueError, match="n_responses must be an integer >= 2"):
        make_playground_task(3, 1)


# ------------------------------------------------------------------ reward model


def test_reward_model_steps_reach_the_maximum_likelihood_fit():
    task = make_playground_task(seed=0)
    pairs = simulate_annotators(task, 400, flaw="length", strength=0.5, seed=3)
    chosen = task.features[pairs.prompts, pairs.chosen]
    rejected = task.features[pairs.prompts, pairs.rejected]
    mle = fit_bradley_terry(chosen, rejected, l2=0.01, steps=100)
    assert mle.converged
    w = np.zeros(4)
    losses = []
    for _ in range(3000):
        w, metrics = reward_model_step(w, chosen, rejected, lr=0.3, l2=0.01)
        losses.append(metrics["loss"])
    assert np.allclose(w, mle.weights, atol=1e-4), (w, mle.weights)
    assert losses[0] == pytest.approx(np.log(2)) and losses[-1] == pytest.approx(mle.losses[-1], abs=1e-8)
    assert metrics["accuracy"] > 0.6


# ------------------------------------------------------------------ DPO


@pytest.mark.parametrize("loss_type", DPO_LOSS_TYPES)
def test_dpo_step_follows_the_gradient_of_dpo_loss(loss_type):
    task = make_playground_task(3, 4, seed=1)
    pairs = simulate_annotators(task, 30, seed=1)
    rng = np.random.default_rng(0)
    theta = task.ref_logits + 0.3 * rng.standard_normal(task.ref_logits.shape)
    ref = task.ref_logits
    eps = 0.1 if loss_type in ("sigmoid", "robust") else 0.0
    weights = rng.random(30)
    x, yw, yl = pairs

    def loss(t):
        logp, ref_logp = log_softmax(t), log_softmax(ref)
        per_pair = dpo_loss(logp[x, yw], logp[x, yl], ref_logp[x, yw], ref_logp[x, yl],
                            beta=0.7, loss_type=loss_type, label_smoothing=eps)
        return float(weights @ per_pair / weights.sum())

    new, metrics = dpo_step(theta, ref, pairs, beta=0.7, lr=0.5, loss_type=loss_type,
                            label_smoothing=eps, weights=weights)
    assert metrics["loss"] == pytest.approx(loss(theta))
    assert np.allclose((theta - new) / 0.5, numerical_gradient(loss, theta), atol=1e-6)


@pytest.mark.parametrize("beta", [0.5, 2.0])
def test_population_dpo_converges_to_the_optimal_policy_of_the_labels_reward(beta):
    task = make_playground_task(3, 4, seed=2)
    utility = task.true_rewards + 1.0 * task.features[..., 1]  # length-biased annotators
    pairs, weights = all_pairs(task, utility)
    theta = task.ref_logits.copy()
    for _ in range(2_000):
        theta, _ = dpo_step(theta, task.ref_logits, pairs, beta=beta, lr=5.0 / beta**2,
                              weights=weights)
    target = optimal_policy(softmax(task.ref_logits), utility, beta=beta)
    assert np.max(np.abs(softmax(theta) - target)) < 1e-8


# ------------------------------------------------------------------ KTO


def test_kto_step_follows_the_gradient_of_kto_loss_at_a_fixed_reference_point():
    task = make_playground_task(3, 4, seed=3)
    pairs = simulate_annotators(task, 20, seed=3)
    theta = task.ref_logits + 0.4 * np.random.default_rng(1).standard_normal((3, 4))
    x = np.concatenate([pairs.prompts, pairs.prompts])
    y = np.concatenate([pairs.chosen, pairs.rejected])
    desirable = np.arange(40) < 20
    new, metrics = kto_step(theta, task.ref_logits, pairs, beta=0.8, lr=1.0,
                            desirable_weight=1.2, undesirable_weight=0.9)
    z0 = metrics["reference_point"]

    def loss(t):
        logp, ref_logp = log_softmax(t), log_softmax(task.ref_logits)
        return float(np.mean(kto_loss(logp[x, y], ref_logp[x, y], desirable, z0, beta=0.8,
                                      desirable_weight=1.2, undesirable_weight=0.9)))

    assert metrics["loss"] == pytest.approx(loss(theta))
    assert np.allclose(theta - new, numerical_gradient(loss, theta), atol=1e-6)


def test_kto_moves_mass_towards_what_the_labels_call_desirable():
    task = make_playground_task(seed=0)
    pairs = simulate_annotators(task, 500, flaw="noise", strength=0.0, seed=0)
    theta = task.ref_logits.copy()
    proxy = task.true_rewards
    start = policy_metrics(theta, task.ref_logits, task.true_rewards, proxy)["true_reward"]
    for _ in range(300):
        theta, _ = kto_step(theta, task.ref_logits, pairs, beta=0.5, lr=2.0)
    end = policy_metrics(theta, task.ref_logits, task.true_rewards, proxy)
    assert end["true_reward"] > start + 0.2 and end["kl"] > 0.05


# ------------------------------------------------------------------ PPO


def test_ppo_with_one_epoch_is_the_policy_gradient_of_the_kl_regularised_objective():
    task = make_playground_task(2, 3, seed=5)
    reward = task.true_rewards
    theta = task.ref_logits + 0.5
    theta[0, 0] += 1.0
    prompts = np.repeat([0, 1], 3)
    responses = np.tile([0, 1, 2], 2)
    new, _ = ppo_step(theta, task.ref_logits, reward, prompts, responses, beta=0.3, lr=1.0,
                      epochs=1)
    # with every response once per prompt, the sample mean of A grad log pi is the exact
    # gradient of E_pi[r] - beta KL, weighted by 1/pi and divided by the batch size
    pi, ref = softmax(theta), softmax(task.ref_logits)

    def objective(t):
        p = softmax(t)
        return float(np.sum(p * reward) - 0.3 * np.sum(kl_divergence(p, ref)))

    grad = numerical_gradient(objective, theta)
    step = new - theta
    # each sample's weight in the step is 1/B; in the exact gradient it is pi(y)/P
    logp = log_softmax(theta)
    old = theta.copy()
    a = reward - 0.3 * (logp - np.log(ref))
    a = a - np.sum(pi * a, axis=1, keepdims=True)
    expected = np.zeros_like(old)
    for x, y in zip(prompts, responses, strict=True):
        expected[x] += a[x, y] * (np.eye(3)[y] - pi[x]) / 6
    assert np.allclose(step, expected, atol=1e-12)
    weighted = np.zeros_like(old)
    for x, y in zip(prompts, responses, strict=True):
        weighted[x] += pi[x, y] * a[x, y] * (np.eye(3)[y] - pi[x])
    assert np.allclose(weighted, grad, atol=1e-6)


def test_ppo_clip_stops_the_gradient_of_samples_past_the_clip():
    theta = np.array([[0.0, 0.0]])
    reward = np.array([[0.0, 1.0]])
    prompts, responses = np.array([0, 0]), np.array([0, 1])
    _, few = ppo_step(theta, theta, reward, prompts, responses, beta=0.1, lr=5.0, clip_eps=0.05,
                      epochs=4)
    new, many = ppo_step(theta, theta, reward, prompts, responses, beta=0.1, lr=5.0, clip_eps=10.0,
                         epochs=4)
    assert few["clipfrac"] == 1.0 and many["clipfrac"] == 0.0
    # the surrogate of the last epoch matches ppo_clip_objective at the final ratio
    assert np.isfinite(few["objective"]) and softmax(new)[0, 1] > 0.9


def test_ppo_with_kl_converges_to_the_optimal_policy_of_the_proxy():
    """Tolerance: max |pi - pi*| < 0.02 after 1,500 updates of 512 samples per prompt."""
    task = make_playground_task(4, 5, seed=6)
    proxy = task.true_rewards + 1.0 * task.features[..., 1]
    beta = 0.5
    rng = np.random.default_rng(0)
    theta = task.ref_logits.copy()
    for step in range(1500):
        prompts, responses = sample_responses(theta, 512, rng)
        lr = 2.0 if step < 1000 else 0.5
        theta, _ = ppo_step(theta, task.ref_logits, proxy, prompts, responses, beta=beta, lr=lr)
    target = optimal_policy(softmax(task.ref_logits), proxy, beta=beta)
    assert np.max(np.abs(softmax(theta) - target)) < 0.02


def test_ppo_errors_name_the_parameter():
    with pytest.raises(ValueError, match="clip_eps must be > 0"):
        ppo_step([[0.0, 0.0]], [[0.0, 0.0]], [[0.0, 1.0]], [0], [1], beta=0.1, lr=1.0, clip_eps=0)
    with pytest.raises(ValueError, match="logits must have shape"):
        ppo_step([0.0, 0.0], [[0.0, 0.0]], [[0.0, 1.0]], [0], [1], beta=0.1, lr=1.0)


# ------------------------------------------------------------------ sampling, best-of-n


def test_sample_responses_follows_the_policy():
    theta = np.log(np.array([[0.2, 0.3, 0.5], [0.7, 0.2, 0.1]]))
    prompts, responses = sample_responses(theta, 40_000, np.random.default_rng(0))
    for x in range(2):
        counts = np.bincount(responses[prompts == x], minlength=3) / 40_000
        assert np.allclose(counts, np.exp(theta[x]), atol=0.01)


@pytest.mark.parametrize("n", [1, 2, 5])
def test_best_of_n_policy_matches_monte_carlo_and_the_kl_bound(n):
    ref = np.array([0.1, 0.4, 0.2, 0.3])
    rewards = np.array([3.0, 0.0, 1.0, 2.0])
    probs = best_of_n_policy(ref, rewards, n)
    rng = np.random.default_rng(0)
    draws = rng.choice(4, size=(100_000, n), p=ref)
    best = draws[np.arange(100_000), np.argmax(rewards[draws], axis=1)]
    assert np.allclose(probs, np.bincount(best.astype(np.intp), minlength=4) / 100_000, atol=0.006)
    assert probs.sum() == pytest.approx(1.0)
    assert float(kl_divergence(probs, ref)) <= best_of_n_kl(n) + 1e-12
    if n == 1:
        assert np.allclose(probs, ref)


def test_policy_metrics_are_exact_expectations():
    theta = np.log(np.array([[0.25, 0.75]]))
    m = policy_metrics(theta, [[0.0, 0.0]], [[1.0, 3.0]], [[2.0, 0.0]])
    assert m["true_reward"] == pytest.approx(2.5)
    assert m["proxy_reward"] == pytest.approx(0.5)
    assert m["kl"] == pytest.approx(0.25 * np.log(0.5) + 0.75 * np.log(1.5))


def test_surrogate_metric_is_ppo_clip_objective():
    theta = np.array([[0.0, 0.0]])
    _, m = ppo_step(theta, theta, [[0.0, 1.0]], [0, 0], [0, 1], beta=0.1, lr=1e-9, epochs=1)
    assert m["objective"] == pytest.approx(float(np.mean(ppo_clip_objective([1.0, 1.0], [-0.5, 0.5]))))


def test_noise_flips_a_fraction_0_45_s_of_the_labels():
    task = make_playground_task(seed=0)
    clean = simulate_annotators(task, 20_000, flaw="noise", strength=0.0, seed=7)
    noisy = simulate_annotators(task, 20_000, flaw="noise", strength=1.0, seed=7)
    assert np.array_equal(clean.prompts, noisy.prompts)  # same draws, only the flips differ
    flipped = np.mean(clean.chosen != noisy.chosen)
    assert flipped == pytest.approx(0.45, abs=0.015)


def test_position_bias_favours_the_response_drawn_first():
    task = make_playground_task(seed=0)
    clean = simulate_annotators(task, 20_000, flaw="position", strength=0.0, seed=8)
    biased = simulate_annotators(task, 20_000, flaw="position", strength=1.0, seed=8)
    # the same pairs; a label can only change towards the first-drawn response
    changed = clean.chosen != biased.chosen
    assert 0.1 < changed.mean() < 0.5
    assert np.array_equal(biased.rejected[changed], clean.chosen[changed])
