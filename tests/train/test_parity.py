"""Every torch loss equals its alignment_math twin on the same random float64 inputs."""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")
am = pytest.importorskip("alignment_math")

from alignment_train import dpo, kto, orpo, ppo, reward_model  # noqa: E402

RTOL = 1e-6


def rand(rng: np.random.Generator, *shape: int, scale: float = 5.0) -> np.ndarray:
    return rng.normal(scale=scale, size=shape)


def t(x: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(np.asarray(x, dtype=np.float64))


@pytest.mark.parametrize("loss_type", ["sigmoid", "robust", "hinge", "ipo"])
@pytest.mark.parametrize("beta", [0.05, 0.1, 1.0])
def test_dpo_loss(loss_type: str, beta: float) -> None:
    rng = np.random.default_rng(0)
    x = [rand(rng, 64) - 30 for _ in range(4)]
    for eps in [0.0, 0.2] if loss_type in ("sigmoid", "robust") else [0.0]:
        want = am.dpo_loss(*x, beta=beta, loss_type=loss_type, label_smoothing=eps)
        got = dpo.dpo_loss(*map(t, x), beta=beta, loss_type=loss_type, label_smoothing=eps)
        np.testing.assert_allclose(got.numpy(), want, rtol=RTOL)


def test_dpo_first_step_is_ln2_and_rewards() -> None:
    rng = np.random.default_rng(1)
    c, r = rand(rng, 8), rand(rng, 8)
    loss = dpo.dpo_loss(t(c), t(r), t(c), t(r), beta=0.1)  # policy = reference
    np.testing.assert_allclose(loss.numpy(), np.log(2), rtol=RTOL)
    np.testing.assert_allclose(dpo.dpo_rewards(t(c), t(r), beta=0.3).numpy(),
                               am.dpo_rewards(c, r, beta=0.3), rtol=RTOL)


def test_dpo_bad_parameters_raise_like_numpy() -> None:
    z = torch.zeros(2)
    for kw in [{"beta": -1.0}, {"loss_type": "nope"}, {"label_smoothing": 0.5},
               {"loss_type": "ipo", "label_smoothing": 0.1}]:
        with pytest.raises(ValueError):
            am.dpo_loss(0.0, 0.0, 0.0, 0.0, **kw)
        with pytest.raises(ValueError):
            dpo.dpo_loss(z, z, z, z, **kw)


@pytest.mark.parametrize("margin", [0.0, 0.7])
def test_bradley_terry(margin: float) -> None:
    rng = np.random.default_rng(2)
    c, r = rand(rng, 50), rand(rng, 50)
    np.testing.assert_allclose(reward_model.bradley_terry_loss(t(c), t(r), margin=margin).numpy(),
                               am.bradley_terry_loss(c, r, margin=margin), rtol=RTOL)
    np.testing.assert_allclose(reward_model.bradley_terry_probability(t(c), t(r)).numpy(),
                               am.bradley_terry_probability(c, r), rtol=RTOL)


@pytest.mark.parametrize("clip_eps", [0.1, 0.2, 0.3])
def test_ppo_clip_objective(clip_eps: float) -> None:
    rng = np.random.default_rng(3)
    ratio, adv = np.exp(rand(rng, 200, scale=0.3)), rand(rng, 200, scale=1.0)
    np.testing.assert_allclose(ppo.ppo_clip_objective(t(ratio), t(adv), clip_eps=clip_eps).numpy(),
                               am.ppo_clip_objective(ratio, adv, clip_eps=clip_eps), rtol=RTOL)


@pytest.mark.parametrize(("gamma", "lam"), [(1.0, 0.95), (0.9, 0.5), (1.0, 1.0), (0.99, 0.0)])
def test_gae(gamma: float, lam: float) -> None:
    rng = np.random.default_rng(4)
    rewards, values = rand(rng, 6, 11, scale=1.0), rand(rng, 6, 11, scale=1.0)
    adv, ret = ppo.gae(t(rewards), t(values), gamma=gamma, lam=lam)
    want_adv, want_ret = am.gae(rewards, values, gamma=gamma, lam=lam)
    np.testing.assert_allclose(adv.numpy(), want_adv, rtol=RTOL, atol=1e-12)
    np.testing.assert_allclose(ret.numpy(), want_ret, rtol=RTOL, atol=1e-12)


def test_kl_penalized_rewards_and_masked_form() -> None:
    rng = np.random.default_rng(5)
    scores, lp, ref = rand(rng, 4, scale=1.0), rand(rng, 4, 9, scale=1.0), rand(rng, 4, 9, scale=1.0)
    got = ppo.kl_penalized_rewards(t(scores), t(lp), t(ref), kl_coef=0.07)
    np.testing.assert_allclose(got.numpy(), am.kl_penalized_rewards(scores, lp, ref, kl_coef=0.07),
                               rtol=RTOL)
    # ragged rows: the masked form equals the twin applied to each row's real tokens
    mask = np.zeros((4, 9))
    lengths = [9, 3, 5, 1]
    for i, n in enumerate(lengths):
        mask[i, 2 : 2 + n] = 1 if n < 9 else 0
    mask[0, :] = 1
    got = ppo.kl_penalized_rewards(t(scores), t(lp), t(ref), kl_coef=0.07, mask=t(mask)).numpy()
    for i in range(4):
        on = mask[i] > 0
        np.testing.assert_allclose(got[i, on], am.kl_penalized_rewards(scores[i], lp[i, on], ref[i, on],
                                                                         kl_coef=0.07), rtol=RTOL)
        assert np.all(got[i, ~on] == 0)


def test_kl_estimators() -> None:
    rng = np.random.default_rng(6)
    lp, ref = rand(rng, 100, scale=2.0), rand(rng, 100, scale=2.0)
    for got, want in zip(ppo.kl_estimators(t(lp), t(ref)), am.kl_estimators(lp, ref), strict=True):
        np.testing.assert_allclose(got.numpy(), want, rtol=RTOL)


@pytest.mark.parametrize("weights", [(1.0, 1.0), (1.33, 1.0), (1.0, 3.0)])
def test_kto(weights: tuple[float, float]) -> None:
    rng = np.random.default_rng(7)
    pol, ref = rand(rng, 40) - 20, rand(rng, 40) - 20
    desirable = rng.random(40) < 0.5
    z0 = am.kto_reference_point(pol[:10], ref[:10])
    z0_t = kto.kto_reference_point(t(pol[:10]), t(ref[:10]))
    np.testing.assert_allclose(float(z0_t), z0, rtol=RTOL)
    for beta in (0.1, 0.5):
        want = am.kto_loss(pol, ref, desirable, z0, beta=beta, desirable_weight=weights[0],
                           undesirable_weight=weights[1])
        got = kto.kto_loss(t(pol), t(ref), torch.from_numpy(desirable), z0_t, beta=beta,
                           desirable_weight=weights[0], undesirable_weight=weights[1])
        np.testing.assert_allclose(got.numpy(), want, rtol=RTOL)


@pytest.mark.parametrize("lam", [0.0, 0.1, 1.0])
def test_orpo(lam: float) -> None:
    rng = np.random.default_rng(8)
    chosen = -np.abs(rand(rng, 30, scale=2.0)) - 1e-3  # avg log-probs are < 0
    rejected = -np.abs(rand(rng, 30, scale=2.0)) - 1e-3
    nll = np.abs(rand(rng, 30, scale=1.0))
    np.testing.assert_allclose(orpo.orpo_log_odds_ratio(t(chosen), t(rejected)).numpy(),
                               am.orpo_log_odds_ratio(chosen, rejected), rtol=RTOL)
    np.testing.assert_allclose(orpo.orpo_loss(t(nll), t(chosen), t(rejected), lam=lam).numpy(),
                               am.orpo_loss(nll, chosen, rejected, lam=lam), rtol=RTOL)


def test_twins_are_differentiable() -> None:
    x = [torch.randn(5, dtype=torch.float64, requires_grad=True) for _ in range(4)]
    torch.autograd.gradcheck(lambda *a: dpo.dpo_loss(*a, beta=0.5), x)
