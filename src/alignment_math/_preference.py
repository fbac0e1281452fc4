"""Preferences and reward models: the Bradley–Terry model.

Taught in ``docs/chapters/02-preferences.md``.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
from numpy.typing import ArrayLike

from ._stable import log_sigmoid, sigmoid
from ._validate import FloatArray, as_float_array, broadcast, check_nonnegative

__all__ = [
    "BradleyTerryFit",
    "bradley_terry_loss",
    "bradley_terry_probability",
    "fit_bradley_terry",
]


def bradley_terry_probability(chosen_rewards: ArrayLike, rejected_rewards: ArrayLike) -> FloatArray:
    r"""Probability that the chosen response is preferred: :math:`\sigma(r_c - r_r)`.

    Parameters
    ----------
    chosen_rewards, rejected_rewards : array_like
        Scalar rewards :math:`r(x, y_w)` and :math:`r(x, y_l)`; any broadcastable shapes.

    Returns
    -------
    numpy.ndarray
        :math:`P(y_w \succ y_l)`, broadcast shape, not reduced.

    Notes
    -----
    The Bradley–Terry model says a judge prefers :math:`y_w` over :math:`y_l` with
    probability

    .. math:: P(y_w \succ y_l \mid x) = \sigma\bigl(r(x, y_w) - r(x, y_l)\bigr)
              = \frac{e^{r(x,y_w)}}{e^{r(x,y_w)} + e^{r(x,y_l)}}.

    Only reward *differences* matter: adding a constant to every reward changes nothing.

    References
    ----------
    Bradley & Terry (1952), *Rank analysis of incomplete block designs*; used for reward
    models by Ouyang et al. (2022), arXiv:2203.02155, §3.5, Eq. 1.
    Taught in ``docs/chapters/02-preferences.md``.

    Examples
    --------
    >>> round(float(bradley_terry_probability(1.0, 0.0)), 4)   # σ(1)
    0.7311
    >>> bradley_terry_probability([2.0, 0.0], 0.0).round(4).tolist()
    [0.8808, 0.5]
    """
    chosen, rejected = broadcast(chosen_rewards=chosen_rewards, rejected_rewards=rejected_rewards)
    return sigmoid(chosen - rejected)


def bradley_terry_loss(
    chosen_rewards: ArrayLike, rejected_rewards: ArrayLike, margin: ArrayLike = 0.0
) -> FloatArray:
    r"""Reward-model loss: :math:`-\log\sigma(r_c - r_r - m)`.

    Parameters
    ----------
    chosen_rewards, rejected_rewards : array_like
        Rewards of the preferred and the rejected response.
    margin : array_like, default 0.0
        Optional margin :math:`m` the chosen reward should exceed the rejected one by
        (Llama 2 uses a margin that grows with the annotators' confidence).

    Returns
    -------
    numpy.ndarray
        Per-pair loss in nats, broadcast shape, not reduced (take ``.mean()``).

    Notes
    -----
    .. math:: \mathcal{L}_{RM} = -\log\sigma\bigl(r(x,y_w) - r(x,y_l) - m\bigr)

    computed as ``logaddexp(0, -(r_c - r_r - m))`` so that a gap of any finite size is
    safe. Its gradient in the gap is :math:`-\sigma(-(r_c - r_r - m))`: pairs the model
    already orders confidently contribute almost nothing.

    References
    ----------
    Ouyang et al. (2022), arXiv:2203.02155, §3.5, Eq. 1; Stiennon et al. (2020),
    arXiv:2009.01325. Taught in ``docs/chapters/02-preferences.md``.

    Examples
    --------
    >>> round(float(bradley_terry_loss(0.0, 0.0)), 4)   # ln 2: the model is indifferent
    0.6931
    >>> round(float(bradley_terry_loss(1.0, 0.0, margin=1.0)), 4)
    0.6931
    """
    chosen, rejected, m = broadcast(
        chosen_rewards=chosen_rewards, rejected_rewards=rejected_rewards, margin=margin
    )
    return -log_sigmoid(chosen - rejected - m)


class BradleyTerryFit(NamedTuple):
    """Result of :func:`fit_bradley_terry`."""

    weights: FloatArray
    """Fitted weights :math:`w` of the linear reward :math:`r(y) = w \\cdot f(y)` of features :math:`f(y)`."""
    losses: FloatArray
    """Mean training loss (incl. the L2 term) before the first step and after each step."""
    converged: bool
    """Whether the gradient norm fell below the tolerance within ``steps``."""


def _objective(weights: FloatArray, diffs: FloatArray, l2: float) -> float:
    return float(np.mean(-log_sigmoid(diffs @ weights)) + 0.5 * l2 * weights @ weights)


def _newton_terms(
    weights: FloatArray, diffs: FloatArray, l2: float
) -> tuple[FloatArray, FloatArray]:
    """Gradient and Hessian of :func:`_objective` (see the Notes of fit_bradley_terry)."""
    n, k = diffs.shape
    margin = diffs @ weights
    grad = -(sigmoid(-margin) @ diffs) / n + l2 * weights
    curvature = sigmoid(margin) * sigmoid(-margin)
    hessian = (diffs.T * curvature) @ diffs / n + (l2 + 1e-12) * np.eye(k)
    return grad, hessian


def fit_bradley_terry(
    features_chosen: ArrayLike,
    features_rejected: ArrayLike,
    l2: float = 0.0,
    steps: int = 50,
    *,
    tol: float = 1e-8,
) -> BradleyTerryFit:
    r"""Fit a linear Bradley–Terry reward model :math:`r(y) = w\cdot f(y)` by Newton's method.

    Parameters
    ----------
    features_chosen, features_rejected : array_like, shape (n_pairs, n_features)
        Features :math:`f(y)` of the preferred and of the rejected response of each pair.
    l2 : float, default 0.0
        L2 penalty :math:`\tfrac{\lambda}{2}\lVert w\rVert^2`; keeps the weights finite
        when the data are separable.
    steps : int, default 50
        Maximum number of Newton steps.
    tol : float, default 1e-8
        Stop when the gradient norm is below this.

    Returns
    -------
    BradleyTerryFit
        ``(weights, losses, converged)``.

    Notes
    -----
    With :math:`d_i = f(y_w^i) - f(y_l^i)` the objective is the logistic loss

    .. math:: J(w) = \frac1n\sum_i -\log\sigma(w\cdot d_i) + \frac{\lambda}{2}\lVert w\rVert^2,

    with gradient :math:`-\frac1n\sum_i \sigma(-w\cdot d_i)\,d_i + \lambda w` and Hessian
    :math:`\frac1n\sum_i \sigma(w\cdot d_i)\sigma(-w\cdot d_i)\,d_i d_i^\top + \lambda I`.
    Each Newton step is damped by a backtracking line search, so the loss never rises.

    References
    ----------
    Bradley & Terry (1952); Ouyang et al. (2022), arXiv:2203.02155, §3.5.
    Taught in ``docs/chapters/02-preferences.md``.

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> true_w = np.array([2.0, -1.0])
    >>> a, b = rng.normal(size=(2, 2000, 2))
    >>> prefer_a = rng.random(2000) < bradley_terry_probability(a @ true_w, b @ true_w)
    >>> chosen = np.where(prefer_a[:, None], a, b)
    >>> rejected = np.where(prefer_a[:, None], b, a)
    >>> fit = fit_bradley_terry(chosen, rejected)
    >>> fit.converged, np.round(fit.weights, 1).tolist()
    (True, [2.2, -1.0])
    """
    chosen = as_float_array("features_chosen", features_chosen)
    rejected = as_float_array("features_rejected", features_rejected)
    if chosen.ndim != 2 or chosen.shape != rejected.shape or chosen.shape[0] == 0:
        raise ValueError(
            "features_chosen and features_rejected must both have shape (n_pairs, n_features) "
            f"with n_pairs >= 1, got {chosen.shape} and {rejected.shape}"
        )
    l2 = float(check_nonnegative("l2", l2))
    if int(steps) != steps or steps < 1:
        raise ValueError(f"steps must be an integer >= 1, got {steps!r}")
    diffs = chosen - rejected
    weights = np.zeros(diffs.shape[1])
    losses = [_objective(weights, diffs, l2)]
    for _ in range(int(steps)):
        grad, hessian = _newton_terms(weights, diffs, l2)
        if float(np.linalg.norm(grad)) < tol:
            break
        direction = -np.linalg.lstsq(hessian, grad, rcond=None)[0]
        step = 1.0
        while step > 1e-10:  # backtracking (Armijo) line search: the loss never rises
            candidate = weights + step * direction
            loss = _objective(candidate, diffs, l2)
            if loss <= losses[-1] + 1e-4 * step * float(grad @ direction):
                break
            step *= 0.5
        else:
            break  # no decrease possible: optimal to machine precision
        weights = candidate
        losses.append(loss)
    converged = float(np.linalg.norm(_newton_terms(weights, diffs, l2)[0])) < tol
    return BradleyTerryFit(weights, np.asarray(losses), converged)
