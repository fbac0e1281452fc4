"""Direct Preference Optimization and its variants (cDPO, robust DPO, the RSO hinge, IPO).

Taught in ``docs/chapters/05-dpo.md``.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike

from ._kl import implicit_reward
from ._stable import log_sigmoid, sigmoid
from ._validate import FloatArray, broadcast, check_choice, check_interval, check_positive

__all__ = ["DPO_LOSS_TYPES", "dpo_gradient_weight", "dpo_log_ratio", "dpo_loss", "dpo_rewards"]

DPO_LOSS_TYPES = ("sigmoid", "robust", "hinge", "ipo")


def dpo_log_ratio(
    policy_chosen_logps: ArrayLike,
    policy_rejected_logps: ArrayLike,
    ref_chosen_logps: ArrayLike,
    ref_rejected_logps: ArrayLike,
) -> FloatArray:
    r"""The preference log-ratio :math:`h = \log\frac{\pi(y_w)}{\pi(y_l)} - \log\frac{\pi_{ref}(y_w)}{\pi_{ref}(y_l)}`.

    Every DPO-family loss is a function of :math:`\beta h`. :math:`h > 0` means the
    policy has moved probability from the rejected towards the chosen response, relative
    to the reference.

    Examples
    --------
    >>> float(dpo_log_ratio(-10.0, -12.0, -11.0, -11.0))
    2.0
    """
    pc, pr, rc, rr = broadcast(
        policy_chosen_logps=policy_chosen_logps,
        policy_rejected_logps=policy_rejected_logps,
        ref_chosen_logps=ref_chosen_logps,
        ref_rejected_logps=ref_rejected_logps,
    )
    return np.asarray((pc - pr) - (rc - rr))


def dpo_loss(
    policy_chosen_logps: ArrayLike,
    policy_rejected_logps: ArrayLike,
    ref_chosen_logps: ArrayLike,
    ref_rejected_logps: ArrayLike,
    beta: float = 0.1,
    loss_type: str = "sigmoid",
    label_smoothing: float = 0.0,
) -> FloatArray:
    r"""The DPO loss and its variants, per preference pair.

    Parameters
    ----------
    policy_chosen_logps, policy_rejected_logps : array_like
        :math:`\log\pi_\theta(y_w|x)`, :math:`\log\pi_\theta(y_l|x)`: summed token
        log-probabilities of the chosen and rejected responses under the policy.
    ref_chosen_logps, ref_rejected_logps : array_like
        The same under the frozen reference model :math:`\pi_{ref}`.
    beta : float, default 0.1
        :math:`\beta > 0`: the strength of the implicit KL regularisation (for IPO, the
        :math:`\tau` of Azar et al.).
    loss_type : {"sigmoid", "robust", "hinge", "ipo"}, default "sigmoid"
        Which member of the family (see Notes).
    label_smoothing : float, default 0.0
        :math:`\epsilon\in[0, 0.5)`: the assumed probability that a label is flipped.
        Used by ``"sigmoid"`` (conservative DPO) and ``"robust"``; must be 0 otherwise.

    Returns
    -------
    numpy.ndarray
        Per-pair loss, broadcast shape, not reduced.

    Notes
    -----
    With :math:`h` from :func:`dpo_log_ratio`:

    - ``"sigmoid"`` (DPO; cDPO when :math:`\epsilon>0`):
      :math:`-(1-\epsilon)\log\sigma(\beta h) - \epsilon\log\sigma(-\beta h)`.
      With :math:`\epsilon = 0` this is the Bradley–Terry loss on the implicit rewards
      :math:`\beta\log\pi/\pi_{ref}`; with :math:`\epsilon>0` the gradient vanishes at
      :math:`\sigma(\beta h) = 1-\epsilon` instead of never.
    - ``"robust"`` (Chowdhury et al.):
      :math:`\bigl(-(1-\epsilon)\log\sigma(\beta h) + \epsilon\log\sigma(-\beta h)\bigr)/(1-2\epsilon)`,
      an unbiased estimate of the clean-label loss under flip rate :math:`\epsilon`.
    - ``"hinge"`` (RSO, after SLiC): :math:`\max(0,\ 1 - \beta h)`: stops pushing once
      :math:`\beta h \ge 1`.
    - ``"ipo"`` (Azar et al.): :math:`(h - \tfrac{1}{2\beta})^2`: pulls :math:`h` to a
      finite target instead of to infinity.

    The formulas are the same whatever log-probabilities you pass. DPO uses sums over
    tokens, and so do Azar et al., who define IPO's :math:`h` on whole-sequence
    probabilities; TRL's IPO feeds per-token *average* log-probabilities instead, which
    changes the scale of :math:`h` and so the meaning of :math:`\beta`.

    ``"robust"`` is not a bounded-push variant: as :math:`h \to \infty` its slope
    tends to :math:`-\epsilon\beta/(1-2\epsilon)` and the loss falls without bound, so
    on pairs that look certain it keeps pushing harder than DPO (whose slope tends to 0).
    ``"hinge"`` is the reference-normalised hinge of RSO (Liu et al. 2023,
    arXiv:2309.06657); SLiC's own calibration hinge has no reference model.

    References
    ----------
    Rafailov et al. (2023), arXiv:2305.18290, Eq. 7; Mitchell (2023), *A note on DPO with
    noisy preferences* (cDPO); Chowdhury, Kini & Natarajan (2024), arXiv:2403.00409;
    Zhao et al. (2023), SLiC-HF, arXiv:2305.10425; Liu et al. (2023), RSO, arXiv:2309.06657;
    Azar et al. (2023), arXiv:2310.12036,
    Eq. 17. Taught in ``docs/chapters/05-dpo.md``.

    Examples
    --------
    >>> round(float(dpo_loss(-10.0, -12.0, -10.0, -12.0)), 4)   # policy = reference: ln 2
    0.6931
    >>> round(float(dpo_loss(-9.0, -13.0, -10.0, -12.0, beta=0.5)), 4)   # h = 2
    0.3133
    >>> round(float(dpo_loss(-9.0, -13.0, -10.0, -12.0, beta=0.5, loss_type="ipo")), 4)
    1.0
    """
    b = float(check_positive("beta", beta))
    check_choice("loss_type", loss_type, DPO_LOSS_TYPES)
    eps = check_interval("label_smoothing", label_smoothing, 0.0, 0.5, closed_high=False)
    if eps and loss_type in ("hinge", "ipo"):
        raise ValueError(
            f"label_smoothing applies only to loss_type 'sigmoid' and 'robust', "
            f"got label_smoothing={eps:g} with loss_type={loss_type!r}"
        )
    h = dpo_log_ratio(
        policy_chosen_logps, policy_rejected_logps, ref_chosen_logps, ref_rejected_logps
    )
    if loss_type == "sigmoid":
        return np.asarray(-(1 - eps) * log_sigmoid(b * h) - eps * log_sigmoid(-b * h))
    if loss_type == "robust":
        return np.asarray(
            (-(1 - eps) * log_sigmoid(b * h) + eps * log_sigmoid(-b * h)) / (1 - 2 * eps)
        )
    if loss_type == "hinge":
        return np.asarray(np.maximum(0.0, 1.0 - b * h))
    return np.asarray((h - 1.0 / (2.0 * b)) ** 2)


def dpo_rewards(policy_logps: ArrayLike, ref_logps: ArrayLike, beta: float = 0.1) -> FloatArray:
    r"""DPO's implicit rewards :math:`\hat r(y) = \beta(\log\pi_\theta(y) - \log\pi_{ref}(y))`.

    The quantity DPO trainers log as ``rewards/chosen`` and ``rewards/rejected``; their
    difference is the reward margin :math:`\beta h`. Same as :func:`implicit_reward`.

    References
    ----------
    Rafailov et al. (2023), arXiv:2305.18290, §5. Taught in ``docs/chapters/05-dpo.md``.

    Examples
    --------
    >>> dpo_rewards([-9.0, -13.0], [-10.0, -12.0], beta=0.1).round(4).tolist()
    [0.1, -0.1]
    """
    return implicit_reward(policy_logps, ref_logps, beta)


def dpo_gradient_weight(
    policy_chosen_logps: ArrayLike,
    policy_rejected_logps: ArrayLike,
    ref_chosen_logps: ArrayLike,
    ref_rejected_logps: ArrayLike,
    beta: float = 0.1,
) -> FloatArray:
    r"""How strongly DPO pushes a pair: :math:`\sigma(-\beta h) = \sigma(\hat r(y_l) - \hat r(y_w))`.

    Notes
    -----
    .. math:: \nabla_\theta\mathcal L_{DPO} = -\beta\,\sigma(-\beta h)
              \bigl[\nabla_\theta\log\pi_\theta(y_w) - \nabla_\theta\log\pi_\theta(y_l)\bigr]

    Pairs the implicit reward orders wrongly (:math:`h < 0`) get a weight near 1; pairs
    it already orders confidently get a weight near 0.

    References
    ----------
    Rafailov et al. (2023), arXiv:2305.18290, §4. Taught in ``docs/chapters/05-dpo.md``.

    Examples
    --------
    >>> round(float(dpo_gradient_weight(-10.0, -12.0, -10.0, -12.0)), 4)
    0.5
    """
    b = float(check_positive("beta", beta))
    h = dpo_log_ratio(
        policy_chosen_logps, policy_rejected_logps, ref_chosen_logps, ref_rejected_logps
    )
    return sigmoid(-b * h)
