"""Chapter 10: Gao, Schulman & Hilton's functional forms for the gold reward.

With d = √KL(π‖π_init), best-of-n follows R_bon(d) = d(α_bon − β_bon·d) and RL follows
R_RL(d) = d(α_RL − β_RL·log d).  Best-of-n reaches KL = log n − (n−1)/n (exact for a
continuous reward distribution, an upper bound in general: Beirami et al. 2024).  The α, β defaults here are illustrative, not the paper's fits.
"""

from __future__ import annotations

import math

import numpy as np

from alignment_math import best_of_n_kl, gold_reward_best_of_n, gold_reward_rl

from ._spec import Chart, Marker, Readout, Result, Series, Slider, widget

D = np.linspace(0.02, 10.0, 250)


def n_for_kl(kl: float) -> float:
    """The n whose best-of-n KL, log n − (n−1)/n, equals ``kl``.

    With L = log n the formula is L − 1 + e^(−L), increasing in L ≥ 0; Newton's method on
    L from L = kl + 1 (where it overshoots by e^(−L) only) converges in a few steps.
    """
    if kl <= 0.0:
        return 1.0
    log_n = kl + 1.0
    for _ in range(50):
        excess = log_n - 1.0 + math.exp(-log_n) - kl
        log_n -= excess / (1.0 - math.exp(-log_n))
        if abs(excess) < 1e-13:
            break
    return math.exp(log_n)


def _count(n: float) -> str:
    """A sample count for reading: 147, 12,345, or ≈ 10^23 when it is astronomically large."""
    return f"{n:,.0f}" if n < 1e9 else f"≈ 10^{math.log10(n):.0f}"


@widget(
    "overopt-scaling",
    title="Over-optimisation scaling laws: best-of-n and RL",
    summary=(
        "Gold reward against d = √KL for best-of-n and RL in Gao, Schulman & Hilton's "
        "functional forms; move α, β and n to see where each peaks."
    ),
    controls=[
        Slider("alpha_bon", "α (best-of-n)", 0.2, 2.0, 0.05, 1.0),
        Slider("beta_bon", "β (best-of-n)", 0.1, 1.0, 0.01, 0.25),
        Slider("alpha_rl", "α (RL)", 0.2, 1.5, 0.05, 0.8),
        Slider("beta_rl", "β (RL)", 0.2, 1.0, 0.01, 0.3),
        Slider("log2_n", "Best-of-n: samples n (log₂)", 0, 16, 1, 6),
    ],
    readouts=[
        Readout("n", "Samples n", "", 0),
        Readout("kl_n", "KL of best-of-n", "nats", 2),
        Readout("gold_n", "Gold reward of best-of-n", "", 3),
        Readout("bon_peak_d", "Best-of-n peak at d", "√nats", 2),
        Readout("bon_peak_n", "Samples n at the best-of-n peak"),
        Readout("rl_peak_d", "RL peak at d", "√nats", 2),
        Readout("rl_peak_gold", "RL peak gold reward", "", 3),
    ],
)
def overopt_scaling(
    alpha_bon: float, beta_bon: float, alpha_rl: float, beta_rl: float, log2_n: int
) -> Result:
    n = 2.0**log2_n
    kl_n = float(best_of_n_kl(n))
    d_n = math.sqrt(kl_n)
    gold_n = float(gold_reward_best_of_n(d_n, alpha_bon, beta_bon))
    # dR/dd = α − 2βd = 0 for best-of-n; α − β(log d + 1) = 0 for RL.
    bon_peak_d = alpha_bon / (2.0 * beta_bon)
    rl_peak_d = math.exp(alpha_rl / beta_rl - 1.0)
    rl_peak_gold = float(gold_reward_rl(rl_peak_d, alpha_rl, beta_rl))
    bon = gold_reward_best_of_n(D, alpha_bon, beta_bon)
    rl = gold_reward_rl(D, alpha_rl, beta_rl)
    markers = [Marker(d_n, gold_n, f"best-of-{n:.0f}")]
    if bon_peak_d <= D[-1]:
        markers.append(Marker(bon_peak_d, alpha_bon**2 / (4 * beta_bon), "best-of-n peak"))
    if rl_peak_d <= D[-1]:
        markers.append(Marker(rl_peak_d, rl_peak_gold, "RL peak"))
    chart = Chart(
        "Gold reward against distance from the initial policy",
        D,
        [
            Series("best-of-n: d(α − βd)", bon, "line", "blue"),
            Series("RL: d(α − β log d)", rl, "line", "orange"),
        ],
        x_label="d = √KL(π ‖ π_init) (√nats)",
        y_label="gold reward (relative to the initial policy)",
        markers=markers,
    )
    note = (
        f"Best-of-{n:.0f} moves the policy KL ≤ {kl_n:.2f} nats (d = {d_n:.2f}). "
        f"Best-of-n peaks at d = {bon_peak_d:.2f}, which takes {_count(n_for_kl(bon_peak_d**2))} samples; "
        f"RL peaks at d = {rl_peak_d:.3g}"
        + ("" if rl_peak_d <= D[-1] else ", beyond the chart")
        + ". The RL form is not meant for d near 0."
    )
    return Result(
        readouts={
            "n": n,
            "kl_n": kl_n,
            "gold_n": gold_n,
            "bon_peak_d": bon_peak_d,
            "bon_peak_n": _count(n_for_kl(bon_peak_d**2)),
            "rl_peak_d": rl_peak_d,
            "rl_peak_gold": rl_peak_gold,
        },
        charts=[chart],
        note=note,
    )
