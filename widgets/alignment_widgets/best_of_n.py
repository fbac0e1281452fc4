"""Chapter 9: best-of-N selection with an ORM, a PRM and majority voting.

Every point comes from :func:`alignment_math.best_of_n_selection`: simulated reasoning
chains whose steps fail independently, two noisy verifiers, and a fixed seed, so the
curves are a deterministic function of the controls (and moving one slider re-uses the
same random draws: common random numbers).
"""

from __future__ import annotations

import numpy as np

from alignment_math import best_of_n_selection

from ._spec import Chart, Choice, Readout, Result, Series, Slider, widget

# Kept small so one call stays a few milliseconds: the widget recomputes on every move.
NS = np.array([1, 2, 4, 8, 16, 32])
N_PROBLEMS = 200
_X = np.log2(NS).astype(float)


@widget(
    "best-of-n",
    title="Best-of-N: outcome RM vs process RM vs majority vote",
    summary=(
        "Sample N reasoning chains per problem and keep the one a verifier likes best; "
        "compare how often the pick is right, and how often its reasoning is sound."
    ),
    controls=[
        Slider("step_error", "Chance that a step is wrong", 0.05, 0.5, 0.01, 0.3),
        Slider("lucky_guess", "Chance a flawed chain still ends at the right answer", 0.0, 0.5,
               0.05, 0.2),
        Slider("orm_noise", "ORM noise (std of its logit)", 0.0, 4.0, 0.1, 1.5),
        Slider("prm_noise", "PRM noise per step (std of its logit)", 0.0, 4.0, 0.1, 1.5),
        Choice("aggregate", "PRM aggregation", (("min", "min"), ("prod", "product"),
                                                ("mean", "mean"), ("last", "last step")), "min"),
    ],
    readouts=[
        Readout("orm", "ORM pick right at N = 32", "%", 1),
        Readout("prm", "PRM pick right at N = 32", "%", 1),
        Readout("majority", "Majority vote right at N = 32", "%", 1),
        Readout("oracle", "Some chain right at N = 32 (ceiling)", "%", 1),
        Readout("prm_sound", "PRM pick fully sound at N = 32", "%", 1),
        Readout("orm_sound", "ORM pick fully sound at N = 32", "%", 1),
    ],
)
def best_of_n(
    step_error: float, lucky_guess: float, orm_noise: float, prm_noise: float, aggregate: str
) -> Result:
    acc = best_of_n_selection(
        NS,
        n_problems=N_PROBLEMS,
        step_error=step_error,
        lucky_guess=lucky_guess,
        orm_noise=orm_noise,
        prm_noise=prm_noise,
        aggregate=aggregate,
        seed=0,
    )
    pct = {k: 100.0 * v for k, v in acc.items()}
    accuracy = Chart(
        "Final answer right",
        _X,
        [
            Series("ceiling: some chain right", pct["oracle"], "line", "gray", dash=True),
            Series("PRM best-of-N", pct["prm"], "line", "blue"),
            Series("ORM best-of-N", pct["orm"], "line", "orange"),
            Series("majority vote", pct["majority"], "line", "green"),
        ],
        x_label="log₂ N (0 = one sample, 5 = 32 samples)",
        y_label="problems solved (%)",
        y_min=0.0,
        y_max=100.0,
    )
    sound = Chart(
        "Selected chain has every step right",
        _X,
        [
            Series("PRM pick", pct["prm_sound"], "line", "blue"),
            Series("ORM pick", pct["orm_sound"], "line", "orange"),
        ],
        x_label="log₂ N (0 = one sample, 5 = 32 samples)",
        y_label="selected chains fully sound (%)",
        y_min=0.0,
        y_max=100.0,
    )
    gap = pct["prm"][-1] - pct["orm"][-1]
    note = (
        f"At N = 32 the PRM's pick is right {abs(gap):.1f} points "
        f"{'more' if gap >= 0 else 'less'} often than the ORM's, and fully sound "
        f"{pct['prm_sound'][-1]:.0f}% vs {pct['orm_sound'][-1]:.0f}% of the time "
        f"({N_PROBLEMS} simulated problems)."
    )
    return Result(
        readouts={k: float(pct[k][-1]) for k in
                  ("orm", "prm", "majority", "oracle", "prm_sound", "orm_sound")},
        charts=[accuracy, sound],
        note=note,
    )
