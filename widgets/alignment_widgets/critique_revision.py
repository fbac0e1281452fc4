"""Chapter 8: the critique → revision loop of Constitutional AI's supervised phase, in miniature.

A response is reduced to four measurable attributes in [0, 1]: harmful content,
unsupported claims, helpfulness and evasiveness.  The constitution is four principles,
each a scoring rule over those attributes (1 = fully satisfied).  Each round a principle
is chosen (the worst-scoring one, or one drawn at random as Bai et al. 2022 do), the
response is "critiqued" against it and "revised": the attribute the principle cares
about moves a fraction ``strength`` of the way to its ideal, and the edit has side
effects on the other attributes (cutting harmful detail also cuts some help and adds
some hedging; adding help can add unsupported claims).  The side-effect coefficients
below are the model's assumptions, stated once; everything shown follows from them.

The reader also sees the response itself: the starting response, and for each round the
principle applied, the critique and the revised response, as text.  Those texts are
written for the widget (:mod:`alignment_widgets._texts`, one sentence per attribute,
chosen by its level), not produced by a model; the mechanics above decide which ones show.
"""

from __future__ import annotations

import numpy as np

from ._spec import Chart, Choice, Readout, Result, Series, Slider, widget
from ._texts import PROMPT, critique_text, level, response_text

ATTRIBUTES = ("harm", "unsupported", "helpful", "evasive")
# Starting responses: (harm, unsupported claims, helpfulness, evasiveness).
STARTS = {
    "harmful": np.array([0.8, 0.3, 0.7, 0.0]),
    "overconfident": np.array([0.1, 0.8, 0.6, 0.1]),
    "evasive": np.array([0.0, 0.05, 0.15, 0.9]),
}
# principle: (name, attribute it targets, +1 if more is better / -1 if less is better)
PRINCIPLES = (
    ("Avoid harm", 0, -1),
    ("Support every claim", 1, -1),
    ("Be helpful", 2, +1),
    ("Don't evade: explain any refusal", 3, -1),
)
# SIDE[p][a]: change of attribute a per unit of improvement made on principle p's target.
SIDE = np.array(
    [
        # harm  unsupp  helpful evasive
        [0.0, 0.0, -0.4, +0.5],  # removing harmful detail costs help, adds hedging
        [0.0, 0.0, -0.1, +0.1],  # qualifying claims costs a little help
        [+0.15, +0.25, 0.0, -0.3],  # adding help adds claims and a little risk
        [+0.1, +0.05, +0.5, 0.0],  # answering instead of evading adds help, some risk
    ]
)
_RANDOM_ORDER = np.random.default_rng(2022).integers(0, len(PRINCIPLES), size=64)


def principle_scores(attrs: np.ndarray) -> np.ndarray:
    """Each principle's score in [0, 1] (1 = satisfied) for attributes ``attrs``."""
    out = np.empty(len(PRINCIPLES))
    for p, (_, a, sign) in enumerate(PRINCIPLES):
        out[p] = attrs[a] if sign > 0 else 1.0 - attrs[a]
    return out


def revise(attrs: np.ndarray, p: int, strength: float) -> np.ndarray:
    """One revision against principle ``p``: its target moves ``strength`` of the way."""
    _, a, sign = PRINCIPLES[p]
    ideal = 1.0 if sign > 0 else 0.0
    improvement = strength * abs(ideal - attrs[a])
    new = attrs + SIDE[p] * improvement
    new[a] = attrs[a] + sign * improvement
    return np.clip(new, 0.0, 1.0)


def run_rounds(
    start: str, rounds: int, strength: float, selection: str
) -> tuple[np.ndarray, list[int], list[np.ndarray]]:
    """Scores per round (rounds + 1, principles), the principle applied each round, and
    the attributes after each round (rounds + 1 of them, the start first)."""
    attrs = STARTS[start].copy()
    states = [attrs]
    history = [principle_scores(attrs)]
    applied = []
    for r in range(rounds):
        p = int(np.argmin(history[-1])) if selection == "worst" else int(_RANDOM_ORDER[r])
        attrs = revise(attrs, p, strength)
        applied.append(p)
        states.append(attrs)
        history.append(principle_scores(attrs))
    return np.array(history), applied, states


def transcript(applied: list[int], states: list[np.ndarray]) -> str:
    """Each round as text: the principle, the critique, the revised response."""
    if not applied:
        return "No round yet: move “Critique–revision rounds” above 0."
    blocks = []
    for r, p in enumerate(applied):
        before, after = states[r], states[r + 1]
        revised = response_text(after)
        _, a, sign = PRINCIPLES[p]
        satisfied = level(float(before[a])) == ("high" if sign > 0 else "low")
        if revised == response_text(before):
            revised += (
                " (No change: the principle was already satisfied.)"
                if satisfied
                else " (Wording unchanged: this edit was too small to change a sentence.)"
            )
        elif satisfied:
            revised += (
                " (The principle was already satisfied; the edit's side effects still "
                "changed the wording.)"
            )
        blocks.append(
            f"Round {r + 1}, principle “{PRINCIPLES[p][0]}”\n"
            f"Critique: {critique_text(p, float(before[PRINCIPLES[p][1]]))}\n"
            f"Revision: {revised}"
        )
    return "\n\n".join(blocks)


@widget(
    "critique-revision",
    title="Critique and revision against a small constitution",
    summary=(
        "Each round picks a principle, critiques the response against it and revises; "
        "the per-principle scores show what each revision fixes and what it costs, and "
        "the texts show the response itself change. The texts are illustrative, written "
        "for this widget; they are not model outputs."
    ),
    controls=[
        Choice(
            "start",
            "Starting response",
            (
                ("harmful", "Helpful but harmful"),
                ("overconfident", "Confident, unsupported claims"),
                ("evasive", "Evasive refusal"),
            ),
            "harmful",
        ),
        Slider("rounds", "Critique–revision rounds", 0, 8, 1, 4, "rounds"),
        Slider("strength", "How much one revision fixes", 0.1, 0.9, 0.05, 0.5),
        Choice(
            "selection",
            "Which principle each round",
            (("worst", "The worst-scoring one"), ("random", "Drawn at random (as in the paper)")),
            "worst",
        ),
    ],
    readouts=[
        Readout("worst_start", "Worst principle score at the start", "", 2),
        Readout("worst_end", "Worst principle score at the end", "", 2),
        Readout("harm_end", "Harmful content at the end", "", 2),
        Readout("helpful_end", "Helpfulness at the end", "", 2),
        Readout("applied", "Principles applied, in order"),
        Readout("start_text", "The prompt and the starting response", kind="text"),
        Readout(
            "rounds_text",
            "Each round: principle, critique, revised response (illustrative texts written "
            "for this widget, not model outputs)",
            kind="text",
        ),
    ],
)
def critique_revision(start: str, rounds: int, strength: float, selection: str) -> Result:
    history, applied, states = run_rounds(start, rounds, strength, selection)
    attrs = states[-1]
    names = [PRINCIPLES[p][0] for p in applied]
    x = np.arange(rounds + 1, dtype=float)
    colors = ("red", "orange", "green", "purple")
    chart = Chart(
        "Principle scores after each revision",
        x,
        [Series(PRINCIPLES[p][0], history[:, p], "line", colors[p]) for p in range(len(PRINCIPLES))],
        x_label="round",
        y_label="score (1 = principle satisfied)",
        y_min=0.0,
        y_max=1.0,
    )
    note = (
        " → ".join(f"round {i + 1}: {n}" for i, n in enumerate(names))
        if names
        else "No revision yet: the scores are the starting response's."
    )
    return Result(
        readouts={
            "worst_start": float(history[0].min()),
            "worst_end": float(history[-1].min()),
            "harm_end": float(attrs[0]),
            "helpful_end": float(attrs[2]),
            "applied": ", ".join(names) if names else "none",
            "start_text": f"User: {PROMPT}\nResponse: {response_text(states[0])}",
            "rounds_text": transcript(applied, states),
        },
        charts=[chart],
        note=note,
    )
