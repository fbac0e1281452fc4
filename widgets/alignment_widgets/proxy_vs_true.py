"""Chapter 10: Goodhart's law, computed exactly on a discrete set of responses.

The response set is 16 answers of evenly spaced quality q ∈ [−2, 2], each available at
5 padding levels p = 0…4 (the same answer with filler added).  The true reward is
q − 0.3·p (padding wastes the reader's time); the proxy reward model rewards length,
q + bonus·p.  The reference policy rarely pads: π_ref ∝ e^{−2p}.  For each KL
coefficient β the policy is the exact optimum π_β ∝ π_ref·e^{proxy/β}
(:func:`alignment_math.proxy_true_sweep`), so every curve is computed, not drawn.

The true reward's peak is where d/dλ E[true] = Cov_π(true, proxy) crosses zero (λ = 1/β):
the grid brackets it and :func:`true_reward_peak` finds it by bisection in log β, so the
peak readouts are exact, not the nearest grid point.
"""

from __future__ import annotations

import math

import numpy as np

from alignment_math import optimal_policy, proxy_true_sweep

from ._spec import Chart, Marker, Readout, Result, Series, Slider, widget

QUALITY = np.repeat(np.linspace(-2.0, 2.0, 16), 5)
PADDING = np.tile(np.arange(5, dtype=float), 16)
PADDING_COST = 0.3  # true reward lost per padding level
REF = np.exp(-2.0 * PADDING) / np.exp(-2.0 * PADDING).sum()
TRUE = QUALITY - PADDING_COST * PADDING
BETAS = np.logspace(2.0, -2.5, 160)  # large β (little pressure) to small β (much)


def responses(bonus: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(reference probabilities, true rewards, proxy rewards) of the 80 responses."""
    return REF, TRUE, QUALITY + bonus * PADDING


def covariance(beta: float, bonus: float) -> float:
    """Cov under π_β of the true and proxy rewards: the slope of E[true] in λ = 1/β."""
    ref, true, proxy = responses(bonus)
    pi = optimal_policy(ref, proxy, beta)
    return float(pi @ (true * proxy) - (pi @ true) * (pi @ proxy))


def true_reward_peak(bonus: float, beta_hi: float, beta_lo: float) -> float:
    """The β in [beta_lo, beta_hi] where the covariance crosses from + (large β) to −.

    Bisection in log β; 50 halvings of a bracket one grid step wide leave it far below
    float resolution of the readouts.
    """
    hi, lo = math.log(beta_hi), math.log(beta_lo)
    for _ in range(50):
        mid = 0.5 * (hi + lo)
        if covariance(math.exp(mid), bonus) > 0.0:
            hi = mid
        else:
            lo = mid
    return math.exp(0.5 * (hi + lo))


@widget(
    "proxy-vs-true",
    title="Proxy reward vs true reward as optimisation pressure grows",
    summary=(
        "The exact KL-regularised optimum of a length-biased proxy reward, for every KL "
        "coefficient: the proxy keeps climbing while the true reward, whenever the proxy "
        "pays for padding, peaks and falls."
    ),
    controls=[
        Slider("bonus", "Proxy's bonus per padding level (the misspecification)", 0.0, 1.0,
               0.05, 0.5),
        Slider("log_beta", "KL coefficient β (log₁₀ scale)", -2.5, 2.0, 0.05, -0.5),
    ],
    readouts=[
        Readout("beta", "KL coefficient β", "", 3),
        Readout("kl", "KL(π_β ‖ π_ref) reached", "nats", 2),
        Readout("proxy", "Proxy reward at β", "", 3),
        Readout("true", "True reward at β", "", 3),
        Readout("peak_true", "Best true reward along the sweep", "", 3),
        Readout("peak_kl", "KL where the true reward peaks", "nats", 2),
    ],
)
def proxy_vs_true(bonus: float, log_beta: float) -> Result:
    ref, true, proxy = responses(bonus)
    kl, proxy_r, true_r = proxy_true_sweep(ref, true, proxy, BETAS)
    beta = 10.0**log_beta
    (kl_b,), (proxy_b,), (true_b,) = proxy_true_sweep(ref, true, proxy, [beta])
    peak = int(np.argmax(true_r))
    peak_kl, peak_true = float(kl[peak]), float(true_r[peak])
    if 0 < peak < len(BETAS) - 1:
        # The grid's best point brackets the covariance's zero: refine it exactly.
        lo, hi = (BETAS[peak + 1], BETAS[peak - 1])
        if covariance(hi, bonus) > 0.0 > covariance(lo, bonus):
            beta_star = true_reward_peak(bonus, hi, lo)
            (peak_kl,), _, (peak_true,) = proxy_true_sweep(ref, true, proxy, [beta_star])
            peak_kl, peak_true = float(peak_kl), float(peak_true)
    # Keep a strictly increasing x axis (KL saturates once π_β is a point mass).
    keep = np.concatenate([[True], np.diff(kl) > 1e-9])
    chart = Chart(
        "Expected reward of the optimal policy at each KL",
        kl[keep],
        [
            Series("proxy reward (optimised)", proxy_r[keep], "line", "orange"),
            Series("true reward", true_r[keep], "line", "blue"),
        ],
        x_label="KL(π_β ‖ π_ref) (nats)",
        y_label="expected reward",
        markers=[
            Marker(float(kl_b), float(true_b), f"β = {beta:.3g}"),
            Marker(peak_kl, peak_true, "true-reward peak"),
        ],
    )
    if true_r[-1] >= peak_true - 1e-3:
        note = (
            f"At β = {beta:.3g} the policy stops at KL {kl_b:.2f} nats. The true reward never "
            "turns down here: the proxy pays nothing for padding, so the optimum never trades "
            "quality for it (the pair is still hackable: other policies rank the other way)."
        )
    elif kl_b > peak_kl + 1e-6 and true_b < peak_true - 1e-3:
        note = (
            f"Over-optimised: at β = {beta:.3g} the policy has gone {kl_b - peak_kl:.2f} nats "
            f"past the peak and lost {peak_true - true_b:.2f} of true reward; a larger β "
            "stops earlier."
        )
    else:
        note = (
            f"At β = {beta:.3g} the policy stops at KL {kl_b:.2f} nats, before the true reward "
            f"turns down (peak at {peak_kl:.2f} nats)."
        )
    return Result(
        readouts={
            "beta": beta,
            "kl": float(kl_b),
            "proxy": float(proxy_b),
            "true": float(true_b),
            "peak_true": peak_true,
            "peak_kl": peak_kl,
        },
        charts=[chart],
        note=note,
    )
