"""Chapter 9: an outcome reward model vs a process reward model on one worked word problem.

The chain is a real five-step solution of a short word problem.  The reader marks each
step right or wrong; a wrong step is a specific, written mistake (a percentage misread,
a double count, the wrong quantity, two arithmetic slips), and every later step is
recomputed from the numbers actually on the page, so the chain's text, its final answer
and whether that answer is right all follow from the arithmetic.  One pair of mistakes
cancels: the cost slip in step 4 (+$10) and the subtraction slip in step 5 (+$10) give
the right profit for the wrong reason.

A verifier of confidence ``c`` gives a step it judges correct the score ``c`` and an
incorrect one ``1 − c``; the PRM scores every step and aggregates with
:func:`alignment_math.aggregate_step_scores`, the ORM scores only the final answer
(``c`` when it is right, ``1 − c`` when it is wrong).  A chain score above 1/2 reads as
"accept".
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from alignment_math import aggregate_step_scores

from ._spec import Chart, Choice, Readout, Result, Series, Slider, Toggle, widget

PROBLEM = (
    "A bakery sells muffins for $3 each. It sold 40 on Monday and 25% more on Tuesday. "
    "Each muffin costs $1.20 to make. What was its profit over the two days?"
)
MONDAY, PRICE, COST = 40, 3.0, 1.2
N_STEPS = 5
_AGGREGATE_NAMES = {"min": "minimum", "prod": "product", "mean": "mean", "last": "last step"}
AGGREGATES = (
    ("min", "min: the weakest step"),
    ("prod", "product: P(every step right), as in Lightman et al."),
    ("mean", "mean of the steps"),
    ("last", "last step only"),
)


def _money(x: float) -> str:
    cents = round(x * 100)
    sign, cents = ("−" if cents < 0 else ""), abs(cents)
    return f"{sign}${cents // 100}" if cents % 100 == 0 else f"{sign}${cents / 100:.2f}"


def _count(x: float) -> str:
    return f"{round(x)}"


@dataclass(frozen=True)
class Step:
    """One step: what it computes (right and wrong), its text, what the mistake is."""

    topic: str
    output: str  # the value this step writes
    inputs: tuple[str, ...]  # the values it reads when done right
    right: Callable[[dict[str, float]], float]
    wrong: Callable[[dict[str, float]], float]
    text: Callable[[dict[str, float], bool], str]  # (values so far incl. output, is_right)
    mistake: Callable[[dict[str, float]], str]


STEPS = (
    Step(
        "Tuesday's sales", "T", (),
        lambda v: MONDAY * 1.25,
        lambda v: MONDAY + 25,
        lambda v, ok: (
            f"Tuesday's sales are 25% more than Monday's 40: "
            f"{'40 × 1.25' if ok else '40 + 25'} = {_count(v['T'])} muffins."
        ),
        lambda v: "25% of 40 is 10 muffins, not 25",
    ),
    Step(
        "muffins sold", "N", ("T",),
        lambda v: MONDAY + v["T"],
        lambda v: 2 * v["T"],
        lambda v, ok: (
            f"Muffins sold over the two days: "
            f"{'40 + ' if ok else '2 × '}{_count(v['T'])} = {_count(v['N'])}."
        ),
        lambda v: "it counts Tuesday's sales twice instead of adding Monday's 40",
    ),
    Step(
        "revenue", "R", ("N",),
        lambda v: PRICE * v["N"],
        lambda v: PRICE * MONDAY,
        lambda v, ok: (
            f"Revenue: {_count(v['N']) if ok else '40'} × $3 = {_money(v['R'])}."
        ),
        lambda v: f"it charges for Monday's 40 muffins only, not all {_count(v['N'])}",
    ),
    Step(
        "cost", "C", ("N",),
        lambda v: COST * v["N"],
        lambda v: COST * v["N"] + 10,
        lambda v, ok: f"Cost: {_count(v['N'])} × $1.20 = {_money(v['C'])}.",
        lambda v: f"an arithmetic slip: {_count(v['N'])} × $1.20 is {_money(COST * v['N'])}",
    ),
    Step(
        "profit", "P", ("R", "C"),
        lambda v: v["R"] - v["C"],
        lambda v: v["R"] - v["C"] + 10,
        lambda v, ok: f"Profit: {_money(v['R'])} − {_money(v['C'])} = {_money(v['P'])}.",
        lambda v: (
            f"an arithmetic slip: {_money(v['R'])} − {_money(v['C'])} is "
            f"{_money(v['R'] - v['C'])}"
        ),
    ),
)


def solve(ok: tuple[bool, ...]) -> tuple[dict[str, float], list[str]]:
    """The values the chain writes and its five lines of text, for steps marked ``ok``."""
    values: dict[str, float] = {}
    true_values: dict[str, float] = {}
    off: set[str] = set()  # values on the page that differ from the true ones
    lines = []
    for k, (step, right) in enumerate(zip(STEPS, ok, strict=True)):
        true_values[step.output] = step.right(true_values)
        values[step.output] = (step.right if right else step.wrong)(values)
        line = f"{k + 1}. {'✓' if right else '✗'} {step.text(values, right)}"
        if not right:
            line += f" Wrong: {step.mistake(values)}."
        else:
            carried = [x for x in step.inputs if x in off]
            if carried:
                line += " (Right arithmetic, on a number an earlier mistake got wrong.)"
        if abs(values[step.output] - true_values[step.output]) > 1e-9:
            off.add(step.output)
        lines.append(line)
    return values, lines


TRUE_ANSWER = solve((True,) * N_STEPS)[0]["P"]


@widget(
    "step-toggles",
    title="Process vs outcome reward on one worked word problem",
    summary=(
        "A five-step solution of a word problem. Mark steps right or wrong and read the "
        "chain: the PRM scores each step and aggregates them, the ORM scores only the "
        "final answer, which the chain's own arithmetic decides."
    ),
    controls=[
        *[Toggle(f"step{k + 1}", f"Step {k + 1} ({s.topic}) is right", True)
          for k, s in enumerate(STEPS)],
        Choice("aggregate", "PRM aggregation", AGGREGATES, "prod"),
        Slider("confidence", "Verifier confidence on a clear step", 0.55, 0.99, 0.01, 0.9),
    ],
    readouts=[
        Readout("prm", "PRM chain score", "", 3),
        Readout("orm", "ORM score", "", 3),
        Readout("first_error", "First wrong step"),
        Readout("answer", "Final answer"),
        Readout("verdict", "What the two reward models say"),
        Readout("chain", "The chain as written", kind="text"),
    ],
)
def step_toggles(
    step1: bool, step2: bool, step3: bool, step4: bool, step5: bool, aggregate: str,
    confidence: float,
) -> Result:
    ok = (step1, step2, step3, step4, step5)
    values, lines = solve(ok)
    answer = values["P"]
    answer_right = abs(answer - TRUE_ANSWER) < 1e-9
    wrong = [k + 1 for k, right in enumerate(ok) if not right]
    step_scores = np.where(np.array(ok), confidence, 1.0 - confidence)
    prm = float(aggregate_step_scores(step_scores, method=aggregate))
    orm = confidence if answer_right else 1.0 - confidence
    prm_ok = prm > 0.5  # the ORM accepts exactly when the answer is right (c > 1/2)
    how = _AGGREGATE_NAMES[aggregate]
    steps_named = (f"step {wrong[0]}" if len(wrong) == 1 else
                   "steps " + ", ".join(map(str, wrong[:-1])) + f" and {wrong[-1]}"
                   if wrong else "")

    if not wrong:
        verdict = "both accept a sound chain" if prm_ok else (
            f"ORM accepts; the PRM's {how} rejects a sound chain")
        ending = f"Answer: {_money(answer)}, right, and every step is right."
    elif answer_right:
        verdict = ("ORM accepts a flawed chain; PRM rejects it" if not prm_ok else
                   f"both accept a flawed chain: the {how} hides the wrong step")
        ending = (f"Answer: {_money(answer)}, right for the wrong reason: the mistakes in "
                  f"{steps_named} cancel.")
    else:
        verdict = ("both reject" if not prm_ok else
                   f"PRM accepts a flawed chain its {how} hides; ORM rejects the answer")
        ending = (f"Answer: {_money(answer)}, wrong (the right answer is "
                  f"{_money(TRUE_ANSWER)}); the chain breaks at step {wrong[0]}.")
    chain = "\n".join([f"Problem: {PROBLEM}", *lines, ending])
    note = (
        f"{N_STEPS - len(wrong)} of {N_STEPS} steps right; the answer is "
        f"{'right' if answer_right else 'wrong'}. PRM ({aggregate}) {prm:.2f}, ORM {orm:.2f}."
    )
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
        categories=[*[f"Step {k + 1}" for k in range(N_STEPS)], f"PRM ({aggregate})", "ORM"],
        y_min=0.0,
        y_max=1.0,
    )
    return Result(
        readouts={
            "prm": prm,
            "orm": orm,
            "first_error": f"step {wrong[0]}" if wrong else "none",
            "answer": f"{_money(answer)} ({'right' if answer_right else 'wrong'})",
            "verdict": verdict,
            "chain": chain,
        },
        charts=[chart],
        note=note,
    )
