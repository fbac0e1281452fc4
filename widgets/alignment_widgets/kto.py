"""KTO: the value of one response with binary feedback, and the loss it pays (chapter 6).

Chapter 6 (docs/chapters/06-kto-orpo.md).  With r = log π(y|x) − log π_ref(y|x) and the
reference point z₀, a desirable response is worth λ_D·σ(β(r − z₀)) and an undesirable one
λ_U·σ(β(z₀ − r)); the loss is λ minus that value (``alignment_math.kto_loss``).  The second
chart is the Kahneman–Tversky value function KTO is modelled on (``prospect_value``).
"""

from __future__ import annotations

import numpy as np

from alignment_math import kto_loss, prospect_value

from ._spec import Chart, Marker, Readout, Result, Series, Slider, widget

R_MIN, R_MAX = -30.0, 30.0
_R = np.linspace(R_MIN, R_MAX, 241)
_Z = np.linspace(-5.0, 5.0, 201)
_KT_VALUE = prospect_value(_Z)  # median parameters α = 0.88, λ = 2.25


def losses(
    r: np.ndarray | float, z0: float, beta: float, lam_d: float, lam_u: float
) -> tuple[np.ndarray, np.ndarray]:
    """KTO loss of response(s) with log-ratio r, if labelled desirable and if undesirable."""
    r = np.asarray(r, dtype=float)
    both = np.stack([r, r])
    flags = np.array([True, False]).reshape((2,) + (1,) * r.ndim)
    out = kto_loss(
        both,
        np.zeros_like(both),
        flags,
        z0,
        beta=beta,
        desirable_weight=lam_d,
        undesirable_weight=lam_u,
    )
    return out[0], out[1]


@widget(
    "kto",
    title="KTO: value and loss of a desirable or an undesirable response",
    summary=(
        "A response with log-ratio r = log π/π_ref, judged against the reference point z₀. "
        "A desirable response gains value as r rises above z₀, an undesirable one as r falls "
        "below it; both saturate, and λ_D, λ_U weigh the two kinds of feedback."
    ),
    controls=[
        Slider("beta", "β", 0.02, 1.0, 0.02, 0.1),
        Slider("z0", "Reference point z₀ (clamped mean log-ratio, mismatched pairs)", 0.0, 10.0, 0.5, 2.0, "nats"),
        Slider("lam_d", "Desirable weight λ_D", 0.1, 3.0, 0.05, 1.0),
        Slider("lam_u", "Undesirable weight λ_U", 0.1, 3.0, 0.05, 1.0),
        Slider("log_ratio", "Log-ratio r of this response", R_MIN, R_MAX, 0.5, 5.0, "nats"),
    ],
    readouts=[
        Readout("loss_desirable", "Loss if labelled desirable"),
        Readout("loss_undesirable", "Loss if labelled undesirable"),
        Readout("value_desirable", "Value if desirable, λ_D·σ(β(r − z₀))"),
        Readout("value_undesirable", "Value if undesirable, λ_U·σ(β(z₀ − r))"),
        Readout("margin", "Implied reward β(r − z₀)"),
    ],
)
def kto(beta: float, z0: float, lam_d: float, lam_u: float, log_ratio: float) -> Result:
    curve_d, curve_u = losses(_R, z0, beta, lam_d, lam_u)
    loss_d, loss_u = (float(x) for x in losses(log_ratio, z0, beta, lam_d, lam_u))
    value_d, value_u = lam_d - curve_d, lam_u - curve_u
    here_d, here_u = lam_d - loss_d, lam_u - loss_u
    value_chart = Chart(
        title=f"KTO value against the log-ratio r (β = {beta:g}, z₀ = {z0:g} nats)",
        x=_R,
        x_label="r = log π/π_ref (nats)",
        y_label="value",
        series=[
            Series("desirable: λ_D·σ(β(r − z₀))", value_d, color="green"),
            Series("undesirable: λ_U·σ(β(z₀ − r))", value_u, color="orange"),
        ],
        markers=[
            Marker(log_ratio, here_d, "this response, if desirable"),
            Marker(log_ratio, here_u, "this response, if undesirable"),
        ],
        y_min=0.0,
    )
    kt_chart = Chart(
        title="The inspiration: Kahneman–Tversky value (α = 0.88, λ = 2.25)",
        x=_Z,
        x_label="outcome − reference point",
        y_label="subjective value",
        series=[Series("v(z): gains concave, losses 2.25× steeper", _KT_VALUE, color="purple")],
    )
    return Result(
        readouts={
            "loss_desirable": loss_d,
            "loss_undesirable": loss_u,
            "value_desirable": here_d,
            "value_undesirable": here_u,
            "margin": beta * (log_ratio - z0),
        },
        charts=[value_chart, kt_chart],
    )
