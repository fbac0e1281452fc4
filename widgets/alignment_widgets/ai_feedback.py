"""Chapter 8: reward models fitted on AI labels vs on noisy human labels.

Each response is a feature vector φ ∈ R⁵ (feature 0 plays "length"); the true
(consensus human) preference between two responses is the sign of w*·(φ_a − φ_b).
Three labelers label the same training pairs:

* an AI labeler that agrees with the true preference at a rate the reader sets, either
  through *random* slips or through a *systematic* lean towards length: it ranks by a
  direction v tilted from w* by θ = π(1 − agreement) towards the length axis, which
  agrees with w* on a fraction 1 − θ/π of pairs because the feature differences are
  isotropic Gaussian, N(0, 2·I) (the formula needs that isotropy);
  optionally it also has a *position bias*: on a fraction of pairs it just picks the
  response shown first (shown order random);
* single human labelers, each label flipped with a given probability;
* perfect labels, the ceiling.

A Bradley–Terry reward model is fitted on each label set with
:func:`alignment_math.fit_bradley_terry`; its held-out accuracy is measured against the
true preference on 2,000 fresh pairs.  All random draws are made once, at import.
"""

from __future__ import annotations

import math
from functools import lru_cache

import numpy as np

from alignment_math import fit_bradley_terry

from ._spec import Chart, Choice, Readout, Result, Series, Slider, widget

N_FEATURES = 5
N_TRAIN_MAX = 2000
TRUE_W = np.array([0.3, 1.0, -0.8, 0.6, 0.4])
_rng = np.random.default_rng(8)
TRAIN_A, TRAIN_B = _rng.standard_normal((2, N_TRAIN_MAX, N_FEATURES))
TEST_DIFF = _rng.standard_normal((2000, N_FEATURES)) - _rng.standard_normal((2000, N_FEATURES))
U_AI, U_HUMAN, U_POSITION, U_FIRST = _rng.random((4, N_TRAIN_MAX))
TEST_TRUTH = TEST_DIFF @ TRUE_W > 0

# The length direction, made orthogonal to w*, for the systematic labeler.
_W_HAT = TRUE_W / np.linalg.norm(TRUE_W)
_LENGTH = np.eye(N_FEATURES)[0] - _W_HAT[0] * _W_HAT
_LENGTH_HAT = _LENGTH / np.linalg.norm(_LENGTH)
L2 = 1e-3


def ai_direction(agreement: float) -> np.ndarray:
    """The systematic labeler's scoring direction: w* tilted by θ = π(1 − agreement)."""
    theta = math.pi * (1.0 - agreement)
    return math.cos(theta) * _W_HAT + math.sin(theta) * _LENGTH_HAT


def labels(
    n_pairs: int, agreement: float, errors: str, position_bias: float, human_noise: float
) -> dict[str, np.ndarray]:
    """Whether response a is labelled preferred, per pair, for each labeler."""
    diff = TRAIN_A[:n_pairs] - TRAIN_B[:n_pairs]
    truth = diff @ TRUE_W > 0
    if errors == "random":
        ai = np.where(U_AI[:n_pairs] < agreement, truth, ~truth)
    else:
        ai = diff @ ai_direction(agreement) > 0
    # Position bias: on these pairs the labeler picks whichever response it saw first.
    biased = U_POSITION[:n_pairs] < position_bias
    ai = np.where(biased, U_FIRST[:n_pairs] < 0.5, ai)
    human = np.where(U_HUMAN[:n_pairs] < human_noise, ~truth, truth)
    return {"ai": ai, "human": human, "perfect": truth}


def held_out_accuracy(prefer_a: np.ndarray) -> float:
    """Fit a Bradley–Terry model on labels ``prefer_a``; accuracy on the test pairs."""
    n = prefer_a.shape[0]
    a, b = TRAIN_A[:n], TRAIN_B[:n]
    chosen = np.where(prefer_a[:, None], a, b)
    rejected = np.where(prefer_a[:, None], b, a)
    weights = fit_bradley_terry(chosen, rejected, l2=L2, steps=25).weights
    return float(np.mean((TEST_DIFF @ weights > 0) == TEST_TRUTH))


# The human and perfect-label fits do not depend on the AI labeler's controls: cache them,
# so moving an AI slider costs one fit.
@lru_cache(maxsize=256)
def _human_rm(n_pairs: int, human_noise: float) -> float:
    return 100.0 * held_out_accuracy(labels(n_pairs, 1.0, "random", 0.0, human_noise)["human"])


@lru_cache(maxsize=64)
def _perfect_rm(n_pairs: int) -> float:
    return 100.0 * held_out_accuracy(labels(n_pairs, 1.0, "random", 0.0, 0.0)["perfect"])


@widget(
    "ai-feedback",
    title="AI feedback vs human feedback for a reward model",
    summary=(
        "Label preference pairs with an AI labeler (random or systematic errors, optional "
        "position bias) or with noisy humans, fit a Bradley–Terry reward model on each, "
        "and measure it against the true preferences."
    ),
    controls=[
        Slider("agreement", "AI labeler's agreement with the true preference", 0.5, 1.0, 0.01,
               0.8),
        Choice(
            "errors",
            "Kind of AI error",
            (("random", "Random slips"), ("systematic", "Systematic: leans towards length")),
            "random",
        ),
        Slider("position_bias", "AI picks the first-shown response on this share of pairs",
               0.0, 0.5, 0.01, 0.0),
        Slider("human_noise", "Human labels flipped", 0.0, 0.45, 0.01, 0.25),
        Slider("n_pairs", "Training pairs", 100, 2000, 100, 500, "pairs"),
    ],
    readouts=[
        Readout("ai_label_acc", "AI labels agreeing with the truth", "%", 1),
        Readout("human_label_acc", "Human labels agreeing with the truth", "%", 1),
        Readout("rm_ai", "Reward model on AI labels: held-out accuracy", "%", 1),
        Readout("rm_human", "Reward model on human labels: held-out accuracy", "%", 1),
        Readout("rm_perfect", "Reward model on perfect labels: held-out accuracy", "%", 1),
    ],
)
def ai_feedback(
    agreement: float, errors: str, position_bias: float, human_noise: float, n_pairs: int
) -> Result:
    sets = labels(n_pairs, agreement, errors, position_bias, human_noise)
    truth = sets["perfect"]
    label_acc = {k: 100.0 * float(np.mean(v == truth)) for k, v in sets.items()}
    rm = {
        "ai": 100.0 * held_out_accuracy(sets["ai"]),
        "human": _human_rm(n_pairs, human_noise),
        "perfect": _perfect_rm(n_pairs),
    }
    chart = Chart(
        "Label quality and the reward model it produces",
        np.arange(3, dtype=float),
        [
            Series("labels agreeing with the truth (%)", [label_acc[k] for k in sets], "bar",
                   "gray"),
            Series("reward model held-out accuracy (%)", [rm[k] for k in sets], "bar", "blue"),
        ],
        x_label="labeler",
        y_label="%",
        categories=["AI labeler", "Human labelers", "Perfect labels"],
        y_min=50.0,
        y_max=100.0,
    )
    gain_ai = rm["ai"] - label_acc["ai"]
    note = (
        f"The reward model trained on AI labels is right on {rm['ai']:.1f}% of new pairs, "
        f"{abs(gain_ai):.1f} points {'above' if gain_ai >= 0 else 'below'} its labels' "
        f"{label_acc['ai']:.1f}%: "
        + (
            "random slips average out over many pairs, systematic ones are learned."
            if errors == "random"
            else "a systematic lean is learned as if it were the preference."
        )
    )
    return Result(
        readouts={
            "ai_label_acc": label_acc["ai"],
            "human_label_acc": label_acc["human"],
            "rm_ai": rm["ai"],
            "rm_human": rm["human"],
            "rm_perfect": rm["perfect"],
        },
        charts=[chart],
        note=note,
    )
