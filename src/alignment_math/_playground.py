"""A task with a known true reward, small enough to train on in a browser, and one training
step per method for a tabular softmax policy (the playground).

The policy over the ``K`` candidate responses of each of ``P`` prompts is
:math:`\\pi_\\theta(y|x) = \\mathrm{softmax}(\\theta_x)_y` with a table of logits
:math:`\\theta \\in \\mathbb R^{P\\times K}`. Every step is a pure function: parameters, a
batch and hyper-parameters in, new parameters and a dict of metrics out. The losses
themselves come from the chapters' functions (:func:`dpo_loss`, :func:`kto_loss`,
:func:`ppo_clip_objective`, :func:`bradley_terry_loss`); the gradients are written out
because a table of logits makes them one line each.

Taught in ``docs/playground.md``.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
from numpy.typing import ArrayLike, NDArray

from ._dpo import DPO_LOSS_TYPES, dpo_log_ratio, dpo_loss
from ._kto import kto_loss, kto_reference_point
from ._ppo import kl_penalized_rewards, ppo_clip_objective
from ._preference import bradley_terry_loss
from ._stable import sigmoid
from ._validate import (
    FloatArray,
    as_float_array,
    check_choice,
    check_interval,
    check_nonnegative,
    check_positive,
)

__all__ = [
    "ANNOTATOR_FLAWS",
    "FEATURE_NAMES",
    "TRUE_WEIGHTS",
    "PlaygroundPairs",
    "PlaygroundTask",
    "best_of_n_policy",
    "dpo_step",
    "kto_step",
    "log_softmax",
    "make_playground_task",
    "policy_metrics",
    "ppo_step",
    "reward_model_step",
    "sample_responses",
    "simulate_annotators",
]

IntArray = NDArray[np.intp]  # the platform index type (int32 in Pyodide), as bincount wants

#: The annotators' possible flaws (see :func:`simulate_annotators`).
ANNOTATOR_FLAWS = ("length", "position", "noise")

#: The features of a response, in the order of ``PlaygroundTask.features``.
FEATURE_NAMES = ("quality", "length", "length²", "confidence")

#: The true reward is linear in the features with these weights: :math:`q + L - L^2/2`.
TRUE_WEIGHTS = (1.0, 1.0, -0.5, 0.0)


class PlaygroundTask(NamedTuple):
    """A contextual bandit with a known true reward (from :func:`make_playground_task`)."""

    features: FloatArray
    """(P, K, 4): quality, length, length² and confidence of each candidate response."""
    true_rewards: FloatArray
    """(P, K): the true reward :math:`r_{\\text{true}} = q + L - L^2/2`."""
    ref_logits: FloatArray
    """(P, K): logits of the reference policy :math:`\\pi_{ref}`."""


class PlaygroundPairs(NamedTuple):
    """Labelled comparisons (from :func:`simulate_annotators`); index arrays of shape (N,)."""

    prompts: IntArray
    chosen: IntArray
    rejected: IntArray


def _check_count(name: str, value: int, low: int) -> int:
    if isinstance(value, bool) or int(value) != value or value < low:
        raise ValueError(f"{name} must be an integer >= {low}, got {value!r}")
    return int(value)


def _check_logits(name: str, logits: ArrayLike) -> FloatArray:
    array = as_float_array(name, logits)
    if array.ndim != 2 or array.shape[1] < 2:
        raise ValueError(f"{name} must have shape (n_prompts, n_responses >= 2), got {array.shape}")
    return array


def log_softmax(logits: ArrayLike) -> FloatArray:
    r"""Log-probabilities of a softmax policy over the last axis, :math:`\theta_y - \log\sum_{y'} e^{\theta_{y'}}`.

    Examples
    --------
    >>> np.exp(log_softmax([[0.0, np.log(3.0)]])).round(4).tolist()
    [[0.25, 0.75]]
    """
    z = as_float_array("logits", logits)
    shifted = z - np.max(z, axis=-1, keepdims=True)
    return np.asarray(shifted - np.log(np.sum(np.exp(shifted), axis=-1, keepdims=True)))


def make_playground_task(
    n_prompts: int = 8, n_responses: int = 6, *, seed: int = 0
) -> PlaygroundTask:
    r"""Prompts with a few candidate responses each, visible features and a known true reward.

    Parameters
    ----------
    n_prompts : int, default 8
        :math:`P \ge 1` prompts.
    n_responses : int, default 6
        :math:`K \ge 2` candidate responses per prompt.
    seed : int, default 0
        The task is a deterministic function of the arguments.

    Returns
    -------
    PlaygroundTask
        ``(features, true_rewards, ref_logits)``.

    Notes
    -----
    Each response has a quality :math:`q\sim\mathcal N(0,1)`, a length
    :math:`L\sim U(0,3)` and a confidence :math:`c = 0.6q + 0.8\varepsilon` (correlated
    with quality, not rewarded by it). The true reward prefers good answers of about unit
    length, and padding hurts:

    .. math:: r_{\text{true}}(y) = q + L - \tfrac12L^2 = w^\star\cdot f(y),
              \qquad f = (q, L, L^2, c),\ w^\star = (1, 1, -\tfrac12, 0),

    so a linear reward model on :math:`f` can represent it exactly (``TRUE_WEIGHTS``).

    The reference policy writes short answers more often:
    :math:`\theta^{ref} = 0.5\,\varepsilon' - 0.5\,L`.

    Taught in ``docs/playground.md``.

    Examples
    --------
    >>> task = make_playground_task(3, 4, seed=1)
    >>> task.features.shape, task.true_rewards.shape, task.ref_logits.shape
    ((3, 4, 4), (3, 4), (3, 4))
    >>> q, l = task.features[..., 0], task.features[..., 1]
    >>> bool(np.allclose(task.true_rewards, q + l - 0.5 * l**2))
    True
    """
    p = _check_count("n_prompts", n_prompts, 1)
    k = _check_count("n_responses", n_responses, 2)
    rng = np.random.default_rng(_check_count("seed", seed, 0))
    quality = rng.standard_normal((p, k))
    length = rng.uniform(0.0, 3.0, (p, k))
    confidence = 0.6 * quality + 0.8 * rng.standard_normal((p, k))
    ref_logits = 0.5 * rng.standard_normal((p, k)) - 0.5 * length
    features = np.stack([quality, length, length**2, confidence], axis=-1)
    return PlaygroundTask(features, features @ np.asarray(TRUE_WEIGHTS), ref_logits)


def simulate_annotators(
    task: PlaygroundTask,
    n_pairs: int,
    *,
    flaw: str = "length",
    strength: float = 0.5,
    seed: int = 0,
) -> PlaygroundPairs:
    r"""Comparisons of two reference samples per prompt by annotators with one known flaw.

    Parameters
    ----------
    task : PlaygroundTask
        From :func:`make_playground_task`.
    n_pairs : int
        :math:`N \ge 1` comparisons; each picks a prompt uniformly and two distinct
        responses from :math:`\pi_{ref}` (the first drawn is shown first).
    flaw : {"length", "position", "noise"}, default "length"
        What is wrong with the annotators (see Notes).
    strength : float, default 0.5
        :math:`s \in [0, 1]`; 0 gives a flawless Bradley–Terry annotator of :math:`r_{\text{true}}`.
    seed : int, default 0

    Returns
    -------
    PlaygroundPairs
        ``(prompts, chosen, rejected)``, each of shape (N,).

    Notes
    -----
    With A shown first and B second, the annotator prefers A with probability

    .. math::
        P(A \succ B) = \sigma\bigl(u(A) - u(B) + b\bigr), \qquad
        u(y) = r_{\text{true}}(y) + \lambda\,L(y),

    then, with probability :math:`\epsilon`, writes the opposite label.
    ``"length"``: :math:`\lambda = 2s` (longer looks better), :math:`b = \epsilon = 0`;
    the labels are Bradley–Terry in :math:`u`, so a reward model fitted to them learns
    :math:`u`, not :math:`r_{\text{true}}`: a proxy that can be hacked by padding.
    ``"position"``: :math:`b = 4s` (the first shown wins more often); since the order is
    random, this only adds noise. ``"noise"``: :math:`\epsilon = 0.45s` flipped labels.
    :func:`alignment_math.simulate_preference_pairs` draws fresh Gaussian features for
    every pair; here the responses are a fixed set the policy chooses from, so the pairs
    are drawn from :math:`\pi_{ref}` instead, with the same labeler model.

    Taught in ``docs/playground.md``.

    Examples
    --------
    >>> task = make_playground_task(seed=0)
    >>> pairs = simulate_annotators(task, 2000, flaw="length", strength=1.0, seed=0)
    >>> longer = task.features[pairs.prompts, pairs.chosen, 1] > task.features[pairs.prompts, pairs.rejected, 1]
    >>> bool(longer.mean() > 0.7)   # length-biased annotators mostly pick the longer one
    True
    """
    n = _check_count("n_pairs", n_pairs, 1)
    check_choice("flaw", flaw, ANNOTATOR_FLAWS)
    s = check_interval("strength", strength, 0.0, 1.0)
    rng = np.random.default_rng(_check_count("seed", seed, 0))
    ref = np.exp(log_softmax(task.ref_logits))
    prompts = rng.integers(0, ref.shape[0], n)
    # two distinct draws from pi_ref: the second from pi_ref with the first removed
    first = _sample_rows(ref[prompts], rng)
    rest = ref[prompts].copy()
    rest[np.arange(n), first] = 0.0
    second = _sample_rows(rest / rest.sum(axis=1, keepdims=True), rng)
    lam = 2.0 * s if flaw == "length" else 0.0
    bias = 4.0 * s if flaw == "position" else 0.0
    flip = 0.45 * s if flaw == "noise" else 0.0
    utility = task.true_rewards + lam * task.features[..., 1]
    margin = utility[prompts, first] - utility[prompts, second] + bias
    first_wins = rng.random(n) < sigmoid(margin)
    first_wins ^= rng.random(n) < flip
    chosen = np.where(first_wins, first, second).astype(np.intp)
    rejected = np.where(first_wins, second, first).astype(np.intp)
    return PlaygroundPairs(prompts.astype(np.intp), chosen, rejected)


def _sample_rows(probs: FloatArray, rng: np.random.Generator) -> IntArray:
    """One index per row of ``probs`` by inverting the cumulative sum with one uniform."""
    cdf = np.cumsum(probs, axis=-1)
    u = rng.random(probs.shape[0]) * cdf[:, -1]
    index = np.minimum((cdf < u[:, None]).sum(axis=-1), probs.shape[1] - 1)
    return np.asarray(index, dtype=np.intp)


def sample_responses(
    logits: ArrayLike, n_per_prompt: int, rng: np.random.Generator
) -> tuple[IntArray, IntArray]:
    r"""Draw ``n_per_prompt`` responses per prompt from :math:`\pi_\theta = \mathrm{softmax}(\theta)`.

    Returns
    -------
    (prompts, responses) : tuple of numpy.ndarray, each (P·n,)
        Prompt-major order; consumes ``P·n`` uniforms of ``rng``.

    Examples
    --------
    >>> prompts, responses = sample_responses([[0.0, 50.0]], 3, np.random.default_rng(0))
    >>> prompts.tolist(), responses.tolist()
    ([0, 0, 0], [1, 1, 1])
    """
    theta = _check_logits("logits", logits)
    m = _check_count("n_per_prompt", n_per_prompt, 1)
    prompts = np.repeat(np.arange(theta.shape[0], dtype=np.intp), m)
    probs = np.exp(log_softmax(theta))[prompts]
    return prompts, _sample_rows(probs, rng)


def policy_metrics(
    logits: ArrayLike, ref_logits: ArrayLike, true_rewards: ArrayLike, proxy_rewards: ArrayLike
) -> dict[str, float]:
    r"""Exact expected rewards and KL of a tabular policy, averaged over prompts.

    Returns
    -------
    dict
        ``true_reward`` :math:`\frac1P\sum_x\mathbb E_{\pi}[r_{\text{true}}]`, ``proxy_reward`` the
        same for the proxy, ``kl`` :math:`\frac1P\sum_x\mathrm{KL}(\pi_x\|\pi^{ref}_x)` in nats.

    Examples
    --------
    >>> policy_metrics([[0.0, 0.0]], [[0.0, 0.0]], [[1.0, 0.0]], [[0.0, 2.0]])
    {'true_reward': 0.5, 'proxy_reward': 1.0, 'kl': 0.0}
    """
    logp = log_softmax(_check_logits("logits", logits))
    ref_logp = log_softmax(_check_logits("ref_logits", ref_logits))
    probs = np.exp(logp)
    return {
        "true_reward": float(np.mean(np.sum(probs * as_float_array("true_rewards", true_rewards), -1))),
        "proxy_reward": float(np.mean(np.sum(probs * as_float_array("proxy_rewards", proxy_rewards), -1))),
        # 0 log 0 = 0: a policy may put no mass on a response (best-of-n does)
        "kl": float(np.mean(np.sum(probs * np.where(probs > 0, logp - ref_logp, 0.0), -1))),
    }


def _weights(weights: ArrayLike | None, n: int) -> FloatArray:
    if weights is None:
        return np.full(n, 1.0 / n)
    w = check_nonnegative("weights", weights)
    if w.shape != (n,) or w.sum() <= 0:
        raise ValueError(f"weights must have shape ({n},) with a positive sum, got {w.shape}")
    return np.asarray(w / w.sum())


def reward_model_step(
    reward_weights: ArrayLike,
    features_chosen: ArrayLike,
    features_rejected: ArrayLike,
    *,
    lr: float,
    l2: float = 0.0,
) -> tuple[FloatArray, dict[str, float]]:
    r"""One gradient step of a linear Bradley–Terry reward model :math:`r_\phi(y) = w\cdot f(y)`.

    Parameters
    ----------
    reward_weights : array_like, shape (F,)
        Current :math:`w`.
    features_chosen, features_rejected : array_like, shape (N, F)
        :math:`f(y_w)`, :math:`f(y_l)` of the labelled pairs.
    lr : float
        Step size :math:`\eta > 0`.
    l2 : float, default 0.0
        Ridge penalty :math:`\tfrac\lambda2\lVert w\rVert^2`, as in :func:`fit_bradley_terry`.

    Returns
    -------
    (new_weights, metrics)
        ``metrics``: ``loss`` (mean :func:`bradley_terry_loss` at the old weights, plus the
        penalty) and ``accuracy`` (fraction of pairs with :math:`r_\phi(y_w) > r_\phi(y_l)`).

    Notes
    -----
    With :math:`d_i = f(y_w^i) - f(y_l^i)`,
    :math:`\nabla J = -\frac1N\sum_i\sigma(-w\cdot d_i)\,d_i + \lambda w` and
    :math:`w \leftarrow w - \eta\nabla J`; the loss is convex, so small enough steps reach
    the maximum-likelihood fit of :func:`fit_bradley_terry`.

    Examples
    --------
    >>> w, m = reward_model_step([0.0], [[1.0], [1.0]], [[0.0], [0.0]], lr=1.0)
    >>> w.tolist(), round(m["loss"], 4), m["accuracy"]
    ([0.5], 0.6931, 0.0)
    """
    w = as_float_array("reward_weights", reward_weights)
    d = as_float_array("features_chosen", features_chosen) - as_float_array(
        "features_rejected", features_rejected
    )
    eta = float(check_positive("lr", lr))
    lam = float(check_nonnegative("l2", l2))
    margin = d @ w
    loss = float(np.mean(bradley_terry_loss(margin, 0.0)) + 0.5 * lam * w @ w)
    grad = -(sigmoid(-margin) @ d) / d.shape[0] + lam * w
    return np.asarray(w - eta * grad), {"loss": loss, "accuracy": float(np.mean(margin > 0))}


def dpo_step(
    logits: ArrayLike,
    ref_logits: ArrayLike,
    pairs: PlaygroundPairs,
    *,
    beta: float,
    lr: float,
    loss_type: str = "sigmoid",
    label_smoothing: float = 0.0,
    weights: ArrayLike | None = None,
) -> tuple[FloatArray, dict[str, float]]:
    r"""One full-batch gradient step of DPO (or a variant) on offline pairs, for a tabular policy.

    Parameters
    ----------
    logits, ref_logits : array_like, shape (P, K)
        :math:`\theta` and :math:`\theta^{ref}`.
    pairs : PlaygroundPairs
        The labelled comparisons.
    beta, loss_type, label_smoothing
        As in :func:`dpo_loss`.
    lr : float
        Step size :math:`\eta > 0`.
    weights : array_like, shape (N,), optional
        Weight of each pair (normalised); uniform by default. The tests pass the exact
        probabilities of every comparison to take a population-level step.

    Returns
    -------
    (new_logits, metrics)
        ``loss`` (weighted mean :func:`dpo_loss` before the step), ``margin`` (mean
        :math:`\beta h`), ``accuracy`` (fraction with :math:`h > 0`).

    Notes
    -----
    With a table of logits, :math:`\log\pi_\theta(y_w) - \log\pi_\theta(y_l) =
    \theta_{x,y_w} - \theta_{x,y_l}` (the normaliser cancels), so
    :math:`\partial h/\partial\theta_{x,y_w} = 1 = -\partial h/\partial\theta_{x,y_l}` and the
    step is :math:`\theta \leftarrow \theta - \eta\sum_i w_i\,g'(h_i)\,(e_{y_w^i} - e_{y_l^i})`,
    with :math:`g'` the derivative of the chosen loss in :math:`h`, e.g.
    :math:`-\beta\sigma(-\beta h)` for DPO. At population level with Bradley–Terry labels of
    a reward :math:`r` the fixed point is :math:`\beta h = r(y_w) - r(y_l)` on every pair, i.e.
    :math:`\pi_\theta = \pi^*` of :func:`optimal_policy` (Rafailov et al. 2023, §4).

    Taught in ``docs/playground.md`` and ``docs/chapters/05-dpo.md``.

    Examples
    --------
    >>> pairs = PlaygroundPairs(np.array([0]), np.array([1]), np.array([0]))
    >>> theta, m = dpo_step([[0.0, 0.0]], [[0.0, 0.0]], pairs, beta=0.5, lr=1.0)
    >>> theta.tolist(), round(m["loss"], 4)   # sigma(0) = 1/2: each logit moves by 0.25
    ([[-0.25, 0.25]], 0.6931)
    """
    theta = _check_logits("logits", logits)
    ref = _check_logits("ref_logits", ref_logits)
    b = float(check_positive("beta", beta))
    eta = float(check_positive("lr", lr))
    check_choice("loss_type", loss_type, DPO_LOSS_TYPES)
    x, yw, yl = pairs
    w = _weights(weights, x.shape[0])
    h = dpo_log_ratio(theta[x, yw], theta[x, yl], ref[x, yw], ref[x, yl])
    losses = dpo_loss(h, 0.0, 0.0, 0.0, beta=b, loss_type=loss_type, label_smoothing=label_smoothing)
    eps = float(label_smoothing)
    if loss_type == "sigmoid":  # d/dh of -(1-eps) log s(bh) - eps log s(-bh)
        slope = -b * ((1 - eps) * sigmoid(-b * h) - eps * sigmoid(b * h))
    elif loss_type == "robust":  # d/dh of (-(1-eps) log s(bh) + eps log s(-bh)) / (1 - 2 eps)
        slope = -b * ((1 - eps) * sigmoid(-b * h) + eps * sigmoid(b * h)) / (1 - 2 * eps)
    elif loss_type == "hinge":
        slope = np.where(b * h < 1.0, -b, 0.0)
    else:  # ipo
        slope = 2.0 * (h - 1.0 / (2.0 * b))
    grad = np.zeros_like(theta)
    np.add.at(grad, (x, yw), w * slope)
    np.add.at(grad, (x, yl), -w * slope)
    metrics = {
        "loss": float(w @ losses),
        "margin": float(w @ (b * h)),
        "accuracy": float(w @ (h > 0)),
    }
    return np.asarray(theta - eta * grad), metrics


def kto_step(
    logits: ArrayLike,
    ref_logits: ArrayLike,
    pairs: PlaygroundPairs,
    *,
    beta: float,
    lr: float,
    desirable_weight: float = 1.0,
    undesirable_weight: float = 1.0,
) -> tuple[FloatArray, dict[str, float]]:
    r"""One full-batch gradient step of KTO on the pairs' responses as unpaired labels.

    Every chosen response becomes a desirable example and every rejected one an
    undesirable example, each with its own prompt: the same data as DPO, without the
    pairing.

    Returns
    -------
    (new_logits, metrics)
        ``loss`` (mean :func:`kto_loss` before the step), ``reference_point`` (:math:`z_0`)
        and ``margin`` (mean implicit reward of desirable minus undesirable examples).

    Notes
    -----
    With :math:`r_i = \log\pi_\theta(y_i|x_i) - \log\pi_{ref}(y_i|x_i)` and
    :math:`\nabla_{\theta_x} \log\pi_\theta(y|x) = e_y - \pi_\theta(\cdot|x)`, the step is
    :math:`\theta \leftarrow \theta - \eta\frac1{2N}\sum_i \partial\mathcal L_i/\partial r_i\,
    (e_{y_i} - \pi_\theta(\cdot|x_i))` with
    :math:`\partial\mathcal L/\partial r = -\lambda_D\beta\,\sigma(z)\sigma(-z)`,
    :math:`z = \beta(r - z_0)`, for desirable and :math:`+\lambda_U\beta\,\sigma(z)\sigma(-z)`,
    :math:`z = \beta(z_0 - r)`, for undesirable examples. :math:`z_0` comes from
    :func:`kto_reference_point` on mismatched pairs (each response scored under the next
    example's prompt) and is held fixed, as in Ethayarajh et al. (2024), §4.1.

    Taught in ``docs/playground.md`` and ``docs/chapters/06-kto-orpo.md``.

    Examples
    --------
    >>> pairs = PlaygroundPairs(np.array([0]), np.array([1]), np.array([0]))
    >>> theta, m = kto_step([[0.0, 0.0]], [[0.0, 0.0]], pairs, beta=1.0, lr=4.0)
    >>> theta.round(4).tolist(), m["loss"]   # chosen up, rejected down
    ([[-0.5, 0.5]], 0.5)
    """
    theta = _check_logits("logits", logits)
    ref = _check_logits("ref_logits", ref_logits)
    b = float(check_positive("beta", beta))
    eta = float(check_positive("lr", lr))
    lam_d = float(check_nonnegative("desirable_weight", desirable_weight))
    lam_u = float(check_nonnegative("undesirable_weight", undesirable_weight))
    x = np.concatenate([pairs.prompts, pairs.prompts])
    y = np.concatenate([pairs.chosen, pairs.rejected])
    desirable = np.arange(x.shape[0]) < pairs.prompts.shape[0]
    logp, ref_logp = log_softmax(theta), log_softmax(ref)
    r = logp[x, y] - ref_logp[x, y]
    mismatched = np.roll(x, 1)
    z0 = kto_reference_point(logp[mismatched, y], ref_logp[mismatched, y])
    losses = kto_loss(logp[x, y], ref_logp[x, y], desirable, z0, beta=b,
                      desirable_weight=lam_d, undesirable_weight=lam_u)
    z = np.where(desirable, b * (r - z0), b * (z0 - r))
    curvature = b * sigmoid(z) * sigmoid(-z)
    slope = np.where(desirable, -lam_d * curvature, lam_u * curvature) / x.shape[0]
    grad = np.zeros_like(theta)
    np.add.at(grad, (x, y), slope)
    np.add.at(grad, x, -slope[:, None] * np.exp(logp[x]))
    margin = float(np.mean(b * r[desirable]) - np.mean(b * r[~desirable]))
    metrics = {"loss": float(np.mean(losses)), "reference_point": z0, "margin": margin}
    return np.asarray(theta - eta * grad), metrics


def ppo_step(
    logits: ArrayLike,
    ref_logits: ArrayLike,
    reward_table: ArrayLike,
    prompts: ArrayLike,
    responses: ArrayLike,
    *,
    beta: float,
    lr: float,
    clip_eps: float = 0.2,
    epochs: int = 4,
) -> tuple[FloatArray, dict[str, float]]:
    r"""One PPO update (several epochs on one batch) with a KL penalty and an exact baseline.

    Parameters
    ----------
    logits, ref_logits : array_like, shape (P, K)
        :math:`\theta` (the policy that sampled the batch, :math:`\pi_{old}`) and
        :math:`\theta^{ref}`.
    reward_table : array_like, shape (P, K)
        The reward model's score :math:`r_\phi(x, y)` of every response.
    prompts, responses : array_like of int, shape (B,)
        The batch, sampled from :math:`\pi_{old}` (e.g. by :func:`sample_responses`).
    beta : float
        KL coefficient :math:`\beta > 0` of the per-sample penalty.
    lr : float
        Step size :math:`\eta > 0` of each epoch's gradient-ascent step.
    clip_eps : float, default 0.2
        :math:`\epsilon > 0` of :func:`ppo_clip_objective`.
    epochs : int, default 4
        Gradient steps on the batch; with 1 the ratio is 1 and this is REINFORCE with a
        baseline.

    Returns
    -------
    (new_logits, metrics)
        ``objective`` (mean clipped surrogate at the last epoch), ``clipfrac`` (fraction of
        samples whose gradient the clip removed at the last epoch), ``score`` (mean
        :math:`r_\phi` of the batch).

    Notes
    -----
    The reward of a sample is the score minus the sampled KL term, as
    :func:`kl_penalized_rewards` builds it for a one-token response:
    :math:`R = r_\phi - \beta(\log\pi_{old}(y) - \log\pi_{ref}(y))`. The baseline is exact:
    :math:`b(x) = \sum_y\pi_{old}(y|x)\,[r_\phi(x,y) - \beta\log\tfrac{\pi_{old}}{\pi_{ref}}(y|x)]`,
    so :math:`A = R - b(x)`. Each epoch ascends the mean of
    :math:`\min(\rho A, \mathrm{clip}(\rho, 1-\epsilon, 1+\epsilon)A)`,
    :math:`\rho = \pi_\theta(y)/\pi_{old}(y)`, whose gradient per sample is
    :math:`\rho A(e_y - \pi_\theta(\cdot|x))` where the unclipped term is the minimum and 0
    elsewhere. Since :math:`\mathbb E_\pi[A\nabla\log\pi] = \nabla(\mathbb E_\pi[r_\phi] -
    \beta\mathrm{KL}(\pi\|\pi_{ref}))`, the fixed point is :math:`\pi^*` of
    :func:`optimal_policy` for :math:`r_\phi` and :math:`\beta` (Schulman et al. 2017;
    Ziegler et al. 2019).

    Taught in ``docs/playground.md`` and ``docs/chapters/04-ppo.md``.

    Examples
    --------
    >>> theta, m = ppo_step([[0.0, 0.0]], [[0.0, 0.0]], [[0.0, 1.0]], [0, 0], [0, 1],
    ...                     beta=0.1, lr=1.0, epochs=1)
    >>> theta.round(4).tolist()   # A = -1/2 for response 0, +1/2 for response 1
    [[-0.25, 0.25]]
    """
    theta = _check_logits("logits", logits)
    ref_logp = log_softmax(_check_logits("ref_logits", ref_logits))
    table = as_float_array("reward_table", reward_table)
    b = float(check_positive("beta", beta))
    eta = float(check_positive("lr", lr))
    eps = float(check_positive("clip_eps", clip_eps))
    n_epochs = _check_count("epochs", epochs, 1)
    x = np.asarray(prompts, dtype=np.intp)
    y = np.asarray(responses, dtype=np.intp)
    old_logp = log_softmax(theta)
    old_probs = np.exp(old_logp)
    scores = table[x, y]
    shaped = kl_penalized_rewards(scores, old_logp[x, y][:, None], ref_logp[x, y][:, None], b)[:, 0]
    baseline = np.sum(old_probs * (table - b * (old_logp - ref_logp)), axis=-1)
    advantages = shaped - baseline[x]
    new = theta.copy()
    for _ in range(n_epochs):
        logp = log_softmax(new)
        ratio = np.exp(logp[x, y] - old_logp[x, y])
        surrogate = ppo_clip_objective(ratio, advantages, clip_eps=eps)
        active = ratio * advantages <= surrogate
        coef = np.where(active, ratio * advantages, 0.0) / x.shape[0]
        grad = np.zeros_like(new)
        np.add.at(grad, (x, y), coef)
        np.add.at(grad, x, -coef[:, None] * np.exp(logp[x]))
        new = new + eta * grad
    metrics = {
        "objective": float(np.mean(surrogate)),
        "clipfrac": float(np.mean(~active)),
        "score": float(np.mean(scores)),
    }
    return np.asarray(new), metrics


def best_of_n_policy(ref_probs: ArrayLike, rewards: ArrayLike, n: int) -> FloatArray:
    r"""The exact distribution of the best of ``n`` independent samples of :math:`\pi_{ref}`.

    Parameters
    ----------
    ref_probs : array_like, shape (..., K)
        :math:`\pi_{ref}` over the last axis.
    rewards : array_like, shape (..., K)
        The score used to pick the best; ties go to the later index.
    n : int
        :math:`n \ge 1` samples.

    Returns
    -------
    numpy.ndarray
        Same shape: :math:`P(y) = F(y)^n - F(y^-)^n`, with :math:`F(y)` the reference
        probability of scoring at most :math:`r(y)` (in score order) and :math:`F(y^-)`
        the same for responses ranked below :math:`y`.

    Notes
    -----
    No training: the policy is the reference, filtered at sampling time. Its KL to the
    reference is at most :func:`best_of_n_kl` :math:`= \log n - (n-1)/n` (Beirami et al.
    2024 show it is an upper bound); Gao et al. (2022) use that formula as the KL of
    best-of-n. Taught in ``docs/playground.md`` and ``docs/chapters/10-reward-hacking.md``.

    Examples
    --------
    >>> best_of_n_policy([0.5, 0.5], [0.0, 1.0], 2).tolist()   # 1 - (1/2)^2 for the better
    [0.25, 0.75]
    """
    ref = as_float_array("ref_probs", ref_probs)
    r = np.broadcast_to(as_float_array("rewards", rewards), ref.shape)
    m = _check_count("n", n, 1)
    order = np.argsort(r, axis=-1, kind="stable")
    sorted_ref = np.take_along_axis(ref, order, axis=-1)
    upper = np.cumsum(sorted_ref, axis=-1)
    lower = upper - sorted_ref
    sorted_probs = np.clip(upper, 0.0, 1.0) ** m - np.clip(lower, 0.0, 1.0) ** m
    out = np.empty_like(sorted_probs)
    np.put_along_axis(out, order, sorted_probs, axis=-1)
    return np.asarray(out)
