"""Chapter 9: an outcome reward model vs a process reward model on one 5-step chain.

The reader marks each step of a reasoning chain correct or incorrect.  The final answer
is right when every step is, or when the reader says the errors happened to cancel
("right for the wrong reason").  A verifier of confidence ``c`` gives a step it judges
correct the score ``c`` and an incorrect step ``1 − c``; the PRM scores every step and
aggregates with :func:`alignment_math.aggregate_step_scores`, the ORM scores only the
final answer.
"""

from __future__ import annotations

import numpy as np

from alignment_math import aggregate_step_scores

from ._spec import Chart, Choice, Readout, Result, Series, Slider, Toggle, widget

N_STEPS = 5
STEP_NAMES = [f"Step {i + 1}" for i in range(N_STEPS)]
AGGREGATES = (
    ("min", "min: the weakest step"),
    ("prod", "product: P(every step right), as in Lightman et al."),
    ("mean", "mean of the steps"),
    ("last", "last step only"),
)


@widget(
    "step-toggles",
    title="Process vs outcome reward on one reasoning chain",
    summary=(
        "Mark steps right or wrong: the PRM scores each step and aggregates them, the ORM "
        "scores only the final answer."
    ),
    controls=[
        *[Toggle(f"step{i + 1}", f"Step {i + 1} is correct", True) for i in range(N_STEPS)],
        Toggle("lucky", "The final answer comes out right anyway (errors cancel)", False),
        Choice("aggregate", "PRM aggregation", AGGREGATES, "min"),
        Slider("confidence", "Verifier confidence on a clear step", 0.55, 0.99, 0.01, 0.9),
    ],
    readouts=[
        Readout("prm", "PRM chain score", "", 3),
        Readout("orm", "ORM score", "", 3),
        Readout("first_error", "First wrong step"),
        Readout("answer", "Final answer"),
        Readout("verdict", "What the two reward models say"),
    ],
)
def step_toggles(
    step1: bool,
    step2: bool,
    step3: bool,
    step4: bool,
    step5: bool,
    lucky: bool,
    aggregate: str,
    confidence: float,
) -> Result:
    ok = np.array([step1, step2, step3, step4, step5], dtype=bool)
    step_scores = np.where(ok, confidence, 1.0 - confidence)
    prm = float(aggregate_step_scores(step_scores, method=aggregate))
    answer_right = bool(ok.all() or lucky)
    orm = confidence if answer_right else 1.0 - confidence
    wrong = np.flatnonzero(~ok)
    first_error = f"step {wrong[0] + 1}" if wrong.size else "none"
    # A score above 1/2 reads as "accept".
    prm_ok, orm_ok = prm > 0.5, orm > 0.5
    if prm_ok and orm_ok:
        verdict = "both accept"
    elif not prm_ok and not orm_ok:
        verdict = "both reject"
    elif orm_ok:
        verdict = "ORM accepts a flawed chain; PRM rejects it"
    else:
        verdict = "PRM accepts a chain with a flaw the aggregate hides; ORM rejects the answer"
    if wrong.size and answer_right:
        note = (
            f"Right for the wrong reason: the answer checks out, so the ORM gives {orm:.2f}, "
            f"but step {wrong[0] + 1} is wrong and the PRM ({aggregate}) gives {prm:.2f}."
        )
    elif wrong.size == 1:
        note = (
            f"One bad step: four steps score {confidence:.2f} and one {1 - confidence:.2f}; "
            f"the {aggregate} aggregate is {prm:.2f}."
        )
    else:
        note = f"{N_STEPS - wrong.size} of {N_STEPS} steps correct."
    chart = Chart(
        "PRM score of each step, and the two chain scores",
        np.arange(N_STEPS + 2, dtype=float),
        [
            Series("step score (PRM)", np.concatenate([step_scores, [np.nan, np.nan]]), "bar",
                   "blue"),
            Series("chain score", np.concatenate([np.full(N_STEPS, np.nan), [prm, orm]]), "bar",
                   "orange"),
        ],
        x_label="step / chain score",
        y_label="score (probability the verifier judges it right)",
        categories=[*STEP_NAMES, f"PRM ({aggregate})", "ORM"],
        y_min=0.0,
        y_max=1.0,
    )
    return Result(
        readouts={
            "prm": prm,
            "orm": orm,
            "first_error": first_error,
            "answer": "right" if answer_right else "wrong",
            "verdict": verdict,
        },
        charts=[chart],
        note=note,
    )
