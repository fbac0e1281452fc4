"""Chapter 7: which preference-tuning method fits your situation.

Each method is described by a few facts that can be checked in its paper (how many
policy-sized models it holds in memory while training, how many training stages
follow pretraining, what labels it needs, whether it samples from the policy during
training, whether a reference model anchors it, whether its loss stays bounded when
preferences look deterministic).  The reader's controls weight those facts; the
recommendation is the feasible method with the highest weighted score, and the note
says which terms decided it and what was ruled out.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ._spec import Chart, Choice, Marker, Readout, Result, Series, Slider, Toggle, widget


@dataclass(frozen=True)
class Method:
    name: str
    models: int  # policy-sized models in memory during the preference stage
    stages: int  # training stages after pretraining
    labels: str  # "pairs" or "binary"
    online: bool  # samples from the current policy while training
    anchored: bool  # a reference model keeps the policy close (KL or log-ratio)
    bounded: bool  # loss keeps a finite optimum when a preference is observed as certain
    source: str


# Facts per method (see docs/chapters/07-choosing.md for the papers behind each row).
METHODS: tuple[Method, ...] = (
    # policy, frozen reference, reward model, value model; SFT -> RM -> RL
    Method("RLHF (PPO)", 4, 3, "pairs", True, True, False, "Ouyang et al. 2022"),
    # policy + frozen reference; SFT -> DPO
    Method("DPO", 2, 2, "pairs", False, True, False, "Rafailov et al. 2023"),
    # as DPO, but a squared loss with a finite target gap
    Method("IPO", 2, 2, "pairs", False, True, True, "Azar et al. 2023"),
    # policy + reference; desirable / undesirable labels, no pairs needed
    Method("KTO", 2, 2, "binary", False, True, False, "Ethayarajh et al. 2024"),
    # reference-free, length-normalised; SFT -> SimPO
    Method("SimPO", 1, 2, "pairs", False, False, False, "Meng et al. 2024"),
    # reference-free and no separate SFT stage: one stage, one model
    Method("ORPO", 1, 1, "pairs", False, False, False, "Hong et al. 2024"),
)

NAMES = [m.name for m in METHODS]
# Complexity on one scale: models held at once + stages run.  ORPO (1 + 1) is the
# simplest possible, RLHF (4 + 3) the most involved.
COMPLEXITY = np.array([m.models + m.stages for m in METHODS], dtype=float)
SIMPLICITY = 1.0 - (COMPLEXITY - COMPLEXITY.min()) / (COMPLEXITY.max() - COMPLEXITY.min())
# Data requirement: 1 = one binary label per response, 2 = ranked pairs,
# 3 = ranked pairs for a reward model plus fresh prompts to sample during RL.
DATA_NEED = np.array(
    [1.0 if m.labels == "binary" else (3.0 if m.online else 2.0) for m in METHODS]
)
ONLINE = np.array([float(m.online) for m in METHODS])
ANCHORED = np.array([float(m.anchored) for m in METHODS])
BOUNDED = np.array([float(m.bounded) for m in METHODS])
MODELS = np.array([m.models for m in METHODS])
NEEDS_PAIRS = np.array([m.labels == "pairs" for m in METHODS])
# The scatter's x axis: the distinct complexity values, ascending.
_X = np.unique(COMPLEXITY)
_COLORS = ("red", "blue", "purple", "green", "orange", "gray")


def scores(
    memory: int, data: str, simplicity: float, online: float, anchor: float, certain_labels: bool
) -> tuple[np.ndarray, np.ndarray]:
    """(weighted score per method, feasible mask); infeasible methods score NaN."""
    feasible = MODELS <= memory
    if data == "binary":
        feasible &= ~NEEDS_PAIRS
    total = simplicity * SIMPLICITY + online * ONLINE + anchor * ANCHORED
    if certain_labels:
        # Azar et al. 2023: with p = 1 the Bradley–Terry optimum needs an infinite
        # reward gap, so DPO-style losses stop regularising; IPO's target stays finite.
        total = total + 0.5 * BOUNDED
    return np.where(feasible, total, np.nan), feasible


def _why(i: int, simplicity: float, online: float, anchor: float, certain: bool) -> str:
    parts = [f"simplicity {simplicity:.2f} × {SIMPLICITY[i]:.2f}"]
    if ONLINE[i]:
        parts.append(f"online sampling {online:.2f} × 1")
    if ANCHORED[i]:
        parts.append(f"reference anchor {anchor:.2f} × 1")
    if certain and BOUNDED[i]:
        parts.append("bounded loss under certain labels 0.5")
    return " + ".join(parts)


@widget(
    "method-tradeoffs",
    title="Choosing a preference-tuning method",
    summary=(
        "Weight simplicity, online sampling and a reference anchor, state your memory and "
        "your labels; the feasible method with the highest weighted score is recommended."
    ),
    controls=[
        Slider("memory", "Policy-sized models that fit in memory at once", 1, 4, 1, 2, "models"),
        Choice(
            "data",
            "The feedback you have",
            (("pairs", "Ranked pairs (chosen vs rejected)"), ("binary", "Thumbs up / down only")),
            "pairs",
        ),
        Slider("simplicity", "Weight on a simple pipeline", 0.0, 1.0, 0.05, 0.6),
        Slider("online", "Weight on sampling from the policy while training", 0.0, 1.0, 0.05, 0.2),
        Slider("anchor", "Weight on a reference model anchoring the policy", 0.0, 1.0, 0.05, 0.3),
        Toggle("certain_labels", "Most pairs were labelled once (preferences look certain)"),
    ],
    readouts=[
        Readout("best", "Recommended"),
        Readout("best_score", "Its weighted score", "pts", 2),
        Readout("runner_up", "Runner-up"),
        Readout("n_feasible", "Methods that fit your constraints", "of 6", 0),
    ],
)
def method_tradeoffs(
    memory: int, data: str, simplicity: float, online: float, anchor: float, certain_labels: bool
) -> Result:
    total, feasible = scores(memory, data, simplicity, online, anchor, certain_labels)
    order = [int(i) for i in np.argsort(-np.nan_to_num(total, nan=-np.inf), kind="stable")]
    ranked = [i for i in order if feasible[i]]
    ruled_out = []
    for m in METHODS:
        if m.models > memory:
            ruled_out.append(f"{m.name} (needs {m.models} models in memory)")
        elif data == "binary" and m.labels == "pairs":
            ruled_out.append(f"{m.name} (needs ranked pairs)")
    if ranked:
        best = ranked[0]
        note = (
            f"{NAMES[best]} scores {total[best]:.2f} = "
            f"{_why(best, simplicity, online, anchor, certain_labels)}."
        )
        tied = [NAMES[i] for i in ranked[1:] if np.isclose(total[i], total[best])]
        if tied:
            note += (
                f" Tied with {' and '.join(tied)}: these weights do not separate them,"
                " so the table's order (the more widely used method first) decides."
            )
    else:
        best = -1
        note = "No method fits these constraints."
    if ruled_out:
        note += " Ruled out: " + "; ".join(ruled_out) + "."

    points = []
    for i, m in enumerate(METHODS):
        y = np.full(_X.shape, np.nan)
        y[np.searchsorted(_X, COMPLEXITY[i])] = DATA_NEED[i]
        points.append(Series(m.name, y, "points", _COLORS[i]))
    markers = [Marker(COMPLEXITY[best], DATA_NEED[best], "recommended")] if best >= 0 else []
    placement = Chart(
        "Where each method sits",
        _X,
        points,
        x_label="complexity: models in memory + training stages",
        y_label="data needed (1 binary labels, 2 pairs, 3 pairs + fresh prompts)",
        markers=markers,
        y_min=0.5,
        y_max=3.5,
    )
    bars = Chart(
        "Weighted score (blank = ruled out)",
        np.arange(len(METHODS), dtype=float),
        [Series("score", total, "bar", "blue")],
        x_label="method",
        y_label="score (pts)",
        categories=NAMES,
        y_min=0.0,
    )
    return Result(
        readouts={
            "best": NAMES[best] if best >= 0 else "none",
            "best_score": float(total[best]) if best >= 0 else float("nan"),
            "runner_up": NAMES[ranked[1]] if len(ranked) > 1 else "none",
            "n_feasible": float(len(ranked)),
        },
        charts=[placement, bars],
        note=note,
    )
