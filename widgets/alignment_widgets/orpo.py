"""ORPO: odds instead of probabilities, one loss instead of two stages (chapter 6).

Chapter 6 (docs/chapters/06-kto-orpo.md).  From the mean token log-probabilities of the
chosen and the rejected response: their odds (``orpo_log_odds``), the log odds ratio
(``orpo_log_odds_ratio``), L_OR = −log σ(log odds ratio), the NLL of the chosen response,
and the total L_SFT + λ·L_OR (``orpo_loss``).
"""

from __future__ import annotations

import math

import numpy as np

from alignment_math import bradley_terry_loss, orpo_log_odds, orpo_log_odds_ratio, orpo_loss

from ._spec import Chart, Marker, Readout, Result, Series, Slider, widget

LOGP_MIN, LOGP_MAX = -3.0, -0.05
_REJECTED = np.linspace(LOGP_MIN, LOGP_MAX, 119)


@widget(
    "orpo",
    title="ORPO: the odds-ratio loss",
    summary=(
        "Set the mean token log-probability of a chosen and a rejected response. ORPO turns "
        "each into odds p/(1 − p), penalises a small log odds ratio with "
        "L_OR = −log σ(log odds ratio), and adds λ·L_OR to the usual SFT loss."
    ),
    controls=[
        Slider("chosen_avg_logp", "Chosen: mean token log-prob", LOGP_MIN, LOGP_MAX, 0.05, -0.7),
        Slider(
            "rejected_avg_logp", "Rejected: mean token log-prob", LOGP_MIN, LOGP_MAX, 0.05, -1.2
        ),
        Slider("lam", "λ (weight of L_OR)", 0.0, 1.0, 0.05, 0.1),
    ],
    readouts=[
        Readout("odds_chosen", "odds(y_w) = p/(1 − p)"),
        Readout("odds_rejected", "odds(y_l)"),
        Readout("log_odds_ratio", "log odds ratio"),
        Readout("l_or", "L_OR = −log σ(log odds ratio)", "nats"),
        Readout("nll", "L_SFT (NLL of y_w, per token)", "nats"),
        Readout("total", "L_ORPO = L_SFT + λ·L_OR", "nats"),
    ],
)
def orpo(chosen_avg_logp: float, rejected_avg_logp: float, lam: float) -> Result:
    ratio = float(orpo_log_odds_ratio(chosen_avg_logp, rejected_avg_logp))
    nll = -chosen_avg_logp
    total = float(orpo_loss(nll, chosen_avg_logp, rejected_avg_logp, lam=lam))
    l_or = float(orpo_loss(0.0, chosen_avg_logp, rejected_avg_logp, lam=1.0))
    odds_curve = orpo_loss(0.0, chosen_avg_logp, _REJECTED, lam=1.0)
    prob_curve = bradley_terry_loss(chosen_avg_logp, _REJECTED)
    chart = Chart(
        title=f"L_OR as the rejected response varies (chosen fixed at {chosen_avg_logp:g})",
        x=_REJECTED,
        x_label="rejected: mean token log-prob",
        y_label="loss (nats)",
        series=[
            Series("L_OR: odds ratio (ORPO)", odds_curve, color="blue"),
            Series("same loss on the probability ratio", prob_curve, color="gray", dash=True),
        ],
        markers=[Marker(rejected_avg_logp, l_or, "current pair")],
        y_min=0.0,
    )
    return Result(
        readouts={
            "odds_chosen": math.exp(float(orpo_log_odds(chosen_avg_logp))),
            "odds_rejected": math.exp(float(orpo_log_odds(rejected_avg_logp))),
            "log_odds_ratio": ratio,
            "l_or": l_or,
            "nll": nll,
            "total": total,
        },
        charts=[chart],
    )
