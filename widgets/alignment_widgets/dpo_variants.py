"""DPO variants side by side: sigmoid (DPO), conservative DPO, robust DPO, hinge, IPO.

Chapter 5 (docs/chapters/05-dpo.md).  Every loss is ``alignment_math.dpo_loss`` as a
function of the preference log-ratio h (``dpo_log_ratio``); the "push" chart is the slope
−dL/dh, by central differences of that same function, relative to its value at h = 0.
"""

from __future__ import annotations

import math

import numpy as np

from alignment_math import dpo_loss

from ._spec import Chart, Marker, Readout, Result, Series, Slider, widget

H_MIN, H_MAX = -10.0, 30.0
_H = np.linspace(H_MIN, H_MAX, 401)
_STEP = 1e-4  # central-difference step in h (every loss here is smooth but the hinge's kink)

# (key, label, colour, loss_type, uses label smoothing)
VARIANTS: tuple[tuple[str, str, str, str, bool], ...] = (
    ("dpo", "DPO (sigmoid)", "blue", "sigmoid", False),
    ("cdpo", "conservative DPO (ε)", "green", "sigmoid", True),
    ("robust", "robust DPO (ε)", "purple", "robust", True),
    ("hinge", "hinge (RSO)", "orange", "hinge", False),
    ("ipo", "IPO", "#9c755f", "ipo", False),  # not red: red is the marker's colour
)


def loss(h: np.ndarray | float, key: str, beta: float, eps: float) -> np.ndarray:
    """The variant ``key``'s loss at log-ratio(s) h, from ``alignment_math.dpo_loss``."""
    _, _, _, loss_type, smoothed = next(v for v in VARIANTS if v[0] == key)
    return dpo_loss(
        h, 0.0, 0.0, 0.0, beta=beta, loss_type=loss_type, label_smoothing=eps if smoothed else 0.0
    )


def push(h: np.ndarray | float, key: str, beta: float, eps: float) -> np.ndarray:
    """−dL/dh: how hard a gradient step raises h (negative: it pulls h back down)."""
    return -(loss(h + _STEP, key, beta, eps) - loss(h - _STEP, key, beta, eps)) / (2 * _STEP)


def stop_point(key: str, beta: float, eps: float) -> float:
    """The h where the push vanishes and changes sign; inf if it never does."""
    if key == "cdpo" and eps > 0:
        return math.log((1 - eps) / eps) / beta  # σ(βh) = 1 − ε
    if key == "hinge":
        return 1.0 / beta  # βh = 1
    if key == "ipo":
        return 1.0 / (2.0 * beta)  # h = 1/(2β)
    return math.inf  # DPO, cDPO with ε = 0, robust DPO: the push stays positive


@widget(
    "dpo-variants",
    title="DPO variants: where each loss keeps pushing and where it stops",
    summary=(
        "Five losses on the preference log-ratio h = log π(y_w)/π_ref(y_w) − "
        "log π(y_l)/π_ref(y_l): DPO, conservative and robust DPO with flip rate ε, the "
        "hinge and IPO. The second chart shows each loss's push −dL/dh relative to h = 0."
    ),
    controls=[
        Slider("beta", "β", 0.05, 1.0, 0.05, 0.1),
        Slider("label_smoothing", "Label flip rate ε (cDPO, robust)", 0.0, 0.45, 0.05, 0.1),
        Slider("h", "Current log-ratio h", H_MIN, H_MAX, 0.5, 2.0, "nats"),
    ],
    readouts=[
        Readout("loss_dpo", "DPO loss at h", "nats"),
        Readout("loss_cdpo", "cDPO loss at h", "nats"),
        Readout("loss_robust", "robust DPO loss at h", "nats"),
        Readout("loss_hinge", "hinge loss at h"),
        Readout("loss_ipo", "IPO loss at h"),
        Readout("stop_cdpo", "cDPO stops at h =", "nats", 2),
        Readout("stop_hinge", "hinge stops at h =", "nats", 2),
        Readout("stop_ipo", "IPO stops at h =", "nats", 2),
    ],
)
def dpo_variants(beta: float, label_smoothing: float, h: float) -> Result:
    eps = label_smoothing
    # One dpo_loss call per variant: the grid, the current h and h = 0, each at ±step.
    points = np.concatenate([_H, [h, 0.0]])
    losses, pushes, here = {}, {}, {}
    for key, *_ in VARIANTS:
        values = loss(np.stack([points, points + _STEP, points - _STEP]), key, beta, eps)
        slope = -(values[1] - values[2]) / (2 * _STEP)
        losses[key] = values[0, : _H.size]
        pushes[key] = slope[: _H.size] / slope[-1]
        here[key] = float(values[0, -2])
    loss_chart = Chart(
        title=f"Loss against the log-ratio h (β = {beta:g}, ε = {eps:g})",
        x=_H,
        x_label="h (nats)",
        y_label="loss",
        series=[Series(label, losses[key], color=color) for key, label, color, *_ in VARIANTS],
        markers=[Marker(h, here["dpo"], "current h (DPO)")],
        y_min=-1.0,
        y_max=4.0,
    )
    push_chart = Chart(
        title="Push −dL/dh, relative to its value at h = 0",
        x=_H,
        x_label="h (nats)",
        y_label="push ÷ push at h = 0",
        series=[Series(label, pushes[key], color=color) for key, label, color, *_ in VARIANTS],
        y_min=-2.0,
        y_max=2.5,
    )
    stops = {key: stop_point(key, beta, eps) for key in ("cdpo", "hinge", "ipo")}
    note = (
        "DPO and robust DPO never stop pushing h up: their optimum is at h = ∞. DPO's push "
        f"fades to 0; robust DPO's levels off at 2ε = {2 * eps:g} of its value at h = 0, "
        "so its loss falls without bound and it over-optimises certain-looking pairs harder "
        "than DPO. cDPO and IPO pull back past their stop points; the hinge simply goes flat."
        if eps > 0
        else "With ε = 0, cDPO is plain DPO and never stops pushing; only the hinge and IPO stop."
    )
    return Result(
        readouts={
            **{f"loss_{key}": value for key, value in here.items()},
            **{
                f"stop_{key}": value if math.isfinite(value) else "never (∞)"
                for key, value in stops.items()
            },
        },
        charts=[loss_chart, push_chart],
        note=note,
    )
