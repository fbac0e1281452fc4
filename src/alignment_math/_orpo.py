"""ORPO: Odds Ratio Preference Optimization, one stage and no reference model.

Taught in ``docs/chapters/06-kto-orpo.md``.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike

from ._stable import log1mexp, log_sigmoid
from ._validate import FloatArray, as_float_array, broadcast, check_nonnegative

__all__ = ["orpo_log_odds", "orpo_log_odds_ratio", "orpo_loss"]


def orpo_log_odds(avg_logps: ArrayLike) -> FloatArray:
    r"""Log-odds of a response, :math:`\log\frac{p}{1-p}` with :math:`p = e^{\bar\ell}` the mean-token probability.

    Computed as :math:`\bar\ell - \log(1 - e^{\bar\ell})`, the second term via
    ``log1mexp`` so it is exact both for :math:`\bar\ell` near 0 and very negative.
    ``avg_logps`` must be < 0 (a probability of 1 has infinite odds).

    Examples
    --------
    >>> round(float(orpo_log_odds(np.log(0.5))), 4)   # odds 1
    0.0
    """
    ell = as_float_array("avg_logps", avg_logps)
    if np.any(ell >= 0):
        raise ValueError("avg logps must be < 0 (mean token log-probabilities of a response)")
    return np.asarray(ell - log1mexp(ell))


def orpo_log_odds_ratio(chosen_avg_logps: ArrayLike, rejected_avg_logps: ArrayLike) -> FloatArray:
    r"""ORPO's log odds ratio :math:`\log\frac{\mathrm{odds}(y_w)}{\mathrm{odds}(y_l)}`.

    Parameters
    ----------
    chosen_avg_logps, rejected_avg_logps : array_like
        Mean per-token log-probabilities :math:`\bar\ell = \frac1{|y|}\log P_\theta(y|x) < 0`
        of the chosen and rejected responses.

    Returns
    -------
    numpy.ndarray
        Broadcast shape, not reduced. Antisymmetric: swapping the arguments flips its sign.

    Notes
    -----
    .. math:: \mathrm{odds}_\theta(y|x) = \frac{P_\theta(y|x)}{1 - P_\theta(y|x)},\quad
              P_\theta(y|x) = \exp\Bigl(\frac1{|y|}\sum_t \log P_\theta(y_t|x,y_{<t})\Bigr)

    References
    ----------
    Hong, Lee & Thorne (2024), *ORPO*, arXiv:2403.07691, Eqs. 3–5 (mean-token probability, odds,
    odds ratio).
    Taught in ``docs/chapters/06-kto-orpo.md``.

    Examples
    --------
    >>> round(float(orpo_log_odds_ratio(np.log(0.5), np.log(0.2))), 4)   # log(1 / 0.25)
    1.3863
    """
    chosen, rejected = broadcast(
        chosen_avg_logps=chosen_avg_logps, rejected_avg_logps=rejected_avg_logps
    )
    return np.asarray(orpo_log_odds(chosen) - orpo_log_odds(rejected))


def orpo_loss(
    chosen_nll: ArrayLike,
    chosen_avg_logps: ArrayLike,
    rejected_avg_logps: ArrayLike,
    lam: float = 0.1,
) -> FloatArray:
    r"""The ORPO loss :math:`\mathcal L_{SFT} + \lambda\,\mathcal L_{OR}` per pair.

    Parameters
    ----------
    chosen_nll : array_like
        The supervised (negative log-likelihood) loss on the chosen response.
    chosen_avg_logps, rejected_avg_logps : array_like
        Mean per-token log-probabilities of the two responses (< 0).
    lam : float, default 0.1
        :math:`\lambda \ge 0`, the weight of the odds-ratio term (the paper uses 0.1–0.25).

    Returns
    -------
    numpy.ndarray
        Per-pair loss, broadcast shape, not reduced.

    Notes
    -----
    .. math:: \mathcal L_{ORPO} = \mathcal L_{SFT} + \lambda\cdot\Bigl(-\log\sigma\Bigl(
              \log\frac{\mathrm{odds}_\theta(y_w|x)}{\mathrm{odds}_\theta(y_l|x)}\Bigr)\Bigr)

    The NLL term teaches the format of good answers; the odds-ratio term, a weak penalty,
    pushes down the rejected style. No reference model and no separate SFT stage.

    References
    ----------
    Hong, Lee & Thorne (2024), arXiv:2403.07691, Eqs. 6–7.
    Taught in ``docs/chapters/06-kto-orpo.md``.

    Examples
    --------
    >>> round(float(orpo_loss(1.2, np.log(0.5), np.log(0.5), lam=0.1)), 4)   # 1.2 + 0.1 ln 2
    1.2693
    """
    lam_ = float(check_nonnegative("lam", lam))
    nll, chosen, rejected = broadcast(
        chosen_nll=chosen_nll,
        chosen_avg_logps=chosen_avg_logps,
        rejected_avg_logps=rejected_avg_logps,
    )
    return np.asarray(nll - lam_ * log_sigmoid(orpo_log_odds_ratio(chosen, rejected)))
