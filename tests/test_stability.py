"""Property tests: finite inputs up to ±1e6 give finite outputs and no warnings; NaN propagates."""

import warnings

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

import alignment_math as am

BIG = 1e6
finite = st.floats(-BIG, BIG, allow_nan=False)
negative = st.floats(-BIG, -1e-300, allow_nan=False)
vec = arrays(np.float64, st.integers(1, 6), elements=finite)
betas = st.floats(1e-3, 1e3)


def quiet(fn, *args, **kwargs):
    """Call fn with every warning, and every overflow / invalid / divide-by-zero, an error
    (underflow to 0 is not an error: it is NumPy's default and loses nothing we report)."""
    with warnings.catch_warnings(), np.errstate(over="raise", divide="raise", invalid="raise"):
        warnings.simplefilter("error")
        return fn(*args, **kwargs)


def all_finite(*outputs):
    return all(np.all(np.isfinite(np.asarray(o))) for o in outputs)


@settings(max_examples=60, deadline=None)
@given(finite, finite, finite)
def test_bradley_terry(c, r, m):
    assert all_finite(
        quiet(am.bradley_terry_probability, c, r), quiet(am.bradley_terry_loss, c, r, margin=m)
    )


@settings(max_examples=60, deadline=None)
@given(
    finite, finite, finite, finite, betas, st.sampled_from(am.DPO_LOSS_TYPES), st.floats(0, 0.49)
)
def test_dpo_family(pc, pr, rc, rr, beta, loss_type, eps):
    eps = eps if loss_type in ("sigmoid", "robust") else 0.0
    out = quiet(am.dpo_loss, pc, pr, rc, rr, beta=beta, loss_type=loss_type, label_smoothing=eps)
    assert all_finite(out, quiet(am.dpo_gradient_weight, pc, pr, rc, rr, beta=beta))
    assert all_finite(quiet(am.dpo_rewards, pc, rc, beta=beta))


@settings(max_examples=60, deadline=None)
@given(finite, finite, finite, betas, st.booleans(), st.floats(0, 10), st.floats(0, 10))
def test_kto(p, r, z0, beta, desirable, lam_d, lam_u):
    out = quiet(
        am.kto_loss,
        p,
        r,
        desirable,
        z0,
        beta=beta,
        desirable_weight=lam_d,
        undesirable_weight=lam_u,
    )
    assert all_finite(out, quiet(am.kto_reference_point, [p], [r]))


@settings(max_examples=60, deadline=None)
@given(finite, negative, negative, st.floats(0, 10))
def test_orpo(nll, c, r, lam):
    assert all_finite(quiet(am.orpo_loss, nll, c, r, lam=lam), quiet(am.orpo_log_odds_ratio, c, r))


@settings(max_examples=60, deadline=None)
@given(vec, st.floats(1e-3, 10), st.floats(0, 1), st.floats(0, 1))
def test_ppo_and_gae(x, eps, gamma, lam):
    ratio = np.abs(x)
    assert all_finite(quiet(am.ppo_clip_objective, ratio, x[::-1], clip_eps=eps))
    assert all_finite(*quiet(am.gae, x, x[::-1], gamma=gamma, lam=lam))
    assert all_finite(quiet(am.kl_penalized_rewards, x[0], x, x[::-1], kl_coef=eps))


@settings(max_examples=60, deadline=None)
@given(finite, finite)
def test_kl_estimators(lp, ref):
    k1, k2, k3 = quiet(am.kl_estimators, lp, ref)
    assert all_finite(k1, k2)
    # k3 = e^{log rho} - 1 - log rho is finite whenever e^{log rho} is representable
    if ref - lp < 709:
        assert all_finite(k3)
    assert float(k3) >= 0


@settings(max_examples=60, deadline=None)
@given(
    arrays(np.float64, 5, elements=st.floats(1e-6, 1)),
    arrays(np.float64, 5, elements=finite),
    betas,
)
def test_optimal_policy_and_kl(weights, rewards, beta):
    ref = weights / weights.sum()
    pi = quiet(am.optimal_policy, ref, rewards, beta)
    assert all_finite(pi) and np.isclose(pi.sum(), 1.0)
    assert all_finite(quiet(am.kl_divergence, pi, ref))
    assert all_finite(*quiet(am.proxy_true_sweep, ref, rewards, rewards[::-1], [beta]))


@settings(max_examples=40, deadline=None)
@given(
    arrays(np.float64, st.integers(1, 8), elements=st.floats(0, 1)),
    st.sampled_from(am.STEP_AGGREGATES),
)
def test_aggregate(scores, method):
    assert all_finite(quiet(am.aggregate_step_scores, scores, method))


@settings(max_examples=40, deadline=None)
@given(st.floats(0, BIG), st.floats(-BIG, BIG), st.floats(-BIG, BIG), st.floats(1, BIG))
def test_overoptimisation_forms(d, alpha, beta, n):
    assert all_finite(
        quiet(am.gold_reward_best_of_n, d, alpha, beta),
        quiet(am.gold_reward_rl, d, alpha, beta),
        quiet(am.best_of_n_kl, n),
    )


@pytest.mark.parametrize(
    "call",
    [
        lambda x: am.bradley_terry_loss(x, 0.0),
        lambda x: am.dpo_loss(x, 0.0, 0.0, 0.0),
        lambda x: am.kto_loss(x, 0.0, True, 0.0),
        lambda x: am.orpo_loss(x, -1.0, -2.0),
        lambda x: am.ppo_clip_objective(x, 1.0),
        lambda x: am.gae([0.0, x], [0.0, 0.0])[0],
    ],
)
def test_nan_in_data_propagates(call):
    assert np.isnan(np.asarray(call(np.nan))).any()
