"""PPO's clipped surrogate: min(ρ·Â, clip(ρ, 1−ε, 1+ε)·Â) over the probability ratio ρ.

Chapter 4 (docs/chapters/04-ppo.md).  The reader sets the advantage Â and the
clip range ε, and reads both objectives at a chosen ratio ρ; the chart shows
the clipped objective beside the unclipped ρ·Â over ρ ∈ [0, 2] with the clip
region [1 − ε, 1 + ε] shaded.  (ρ, not r, as in chapter 4: r is a reward.)
"""

from __future__ import annotations

import numpy as np

from alignment_math import ppo_clip_objective

from ._spec import Band, Chart, Marker, Readout, Result, Series, Slider, widget

_RATIOS = np.linspace(0.0, 2.0, 201)


@widget(
    "ppo-clip",
    title="PPO: the clipped surrogate objective",
    summary=(
        "Set the advantage Â and the clip range ε. The objective follows ρ·Â until the "
        "ratio ρ leaves [1 − ε, 1 + ε] in the direction Â favours, then stays flat; a ratio "
        "that moved the wrong way is never clipped."
    ),
    controls=[
        Slider("advantage", "Advantage Â", -2.0, 2.0, 0.1, 1.0),
        Slider("clip_eps", "Clip range ε", 0.05, 0.5, 0.01, 0.2),
        Slider("ratio", "Probability ratio ρ = π_θ / π_old", 0.0, 2.0, 0.01, 1.5),
    ],
    readouts=[
        Readout("clipped", "Clipped objective min(ρ·Â, clip(ρ)·Â)"),
        Readout("unclipped", "Unclipped ρ·Â"),
    ],
)
def ppo_clip(advantage: float, clip_eps: float, ratio: float) -> Result:
    clipped = float(ppo_clip_objective(ratio, advantage, clip_eps=clip_eps))
    unclipped = ratio * advantage
    chart = Chart(
        title="PPO objective over the probability ratio",
        x=_RATIOS,
        x_label="probability ratio ρ",
        y_label="objective",
        series=[
            Series("clipped objective", ppo_clip_objective(_RATIOS, advantage, clip_eps=clip_eps),
                   color="blue"),
            Series("unclipped ρ·Â", _RATIOS * advantage, color="gray", dash=True),
        ],
        markers=[Marker(ratio, clipped, "chosen ratio")],
        bands=[Band(1.0 - clip_eps, 1.0 + clip_eps, "clip region [1 − ε, 1 + ε]")],
    )
    return Result(readouts={"clipped": clipped, "unclipped": unclipped}, charts=[chart])
