"""Bradley–Terry: how a reward gap becomes a preference probability and a loss.

Chapter 2 (docs/chapters/02-preferences.md).  The reward model is trained on
pairs by minimising −log σ(r(y_w) − r(y_l) − m); this widget moves the gap
r(y_w) − r(y_l) (and an optional margin m) and shows where the pair sits on
the loss curve.
"""

from __future__ import annotations

import numpy as np

from alignment_math import bradley_terry_loss, bradley_terry_probability

from ._spec import Chart, Marker, Readout, Result, Series, Slider, widget

GAP_MIN, GAP_MAX = -6.0, 6.0
_GAPS = np.linspace(GAP_MIN, GAP_MAX, 241)


@widget(
    "bradley-terry",
    title="Bradley–Terry: from a reward gap to a preference",
    summary=(
        "Move the reward gap between the chosen and the rejected response and see the "
        "probability the model assigns to the human's choice, and the loss it pays."
    ),
    controls=[
        Slider("gap", "Reward gap r(chosen) − r(rejected)", GAP_MIN, GAP_MAX, 0.1, 1.0),
        Slider("margin", "Margin m", 0.0, 3.0, 0.1, 0.0),
    ],
    readouts=[
        Readout("prob", "P(chosen ≻ rejected)"),
        Readout("loss", "Loss −log σ(gap − m)", "nats"),
    ],
)
def bradley_terry(gap: float, margin: float) -> Result:
    prob = float(bradley_terry_probability(gap, 0.0))
    loss = float(bradley_terry_loss(gap, 0.0, margin=margin))
    curve = bradley_terry_loss(_GAPS, 0.0, margin=margin)
    probs = bradley_terry_probability(_GAPS, 0.0)
    chart = Chart(
        title="Reward-model loss over the reward gap",
        x=_GAPS,
        x_label="reward gap r(chosen) − r(rejected)",
        y_label="value",
        series=[
            Series("loss −log σ(gap − m)", curve, color="blue"),
            Series("P(chosen ≻ rejected)", probs, color="orange", dash=True),
        ],
        markers=[Marker(gap, loss, "current gap")],
        y_min=0.0,
    )
    return Result(readouts={"prob": prob, "loss": loss}, charts=[chart])
