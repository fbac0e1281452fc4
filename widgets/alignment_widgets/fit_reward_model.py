"""Fit a reward model: Bradley–Terry on simulated comparisons with a known true reward.

Chapter 2 (docs/chapters/02-preferences.md).  A hidden reward is linear in four features;
simulated labelers compare random pairs with noise τ (``simulate_preference_pairs``); a
linear Bradley–Terry model is fitted by Newton's method (``fit_bradley_terry``) and scored
on fresh pairs.  The ceiling is the agreement of the true ranking with a labeler,
E[max(p, 1 − p)]; the agreement of two labelers with each other, E[p² + (1 − p)²], is shown
beside it as the reference papers report, which a model can exceed.  Everything is seeded: the output is a deterministic function of the sliders.
"""

from __future__ import annotations

import numpy as np

from alignment_math import bradley_terry_probability, fit_bradley_terry, simulate_preference_pairs

from ._spec import Chart, Readout, Result, Series, Slider, widget

FEATURES = ("accuracy", "helpfulness", "length", "politeness")
# chart labels short enough not to collide on a 390 px phone ("accuracyhelpfulness" did)
FEATURE_LABELS = ("accuracy", "helpful", "length", "polite")
TRUE_WEIGHTS = np.array([2.0, 1.0, -0.5, 0.5])
N_TEST = 2000
TEST_SEED_OFFSET = 1000  # the held-out pairs never share a seed with a training set
MAX_STEPS = 25
SEPARABLE_LOSS = 1e-3  # mean training loss below this: every pair is fitted perfectly


def expected_agreement(
    weights: np.ndarray, chosen: np.ndarray, rejected: np.ndarray, noise: float
) -> float:
    """Mean probability that a labeler with noise τ agrees with the ranking by ``weights``.

    For each pair the labeler prefers the first response with probability σ(Δ*/τ), Δ* the
    true reward gap; a model ranking that response first agrees with exactly that
    probability, otherwise with σ(−Δ*/τ).  A tie counts as a coin flip.
    """
    true_gap = (chosen - rejected) @ TRUE_WEIGHTS / noise
    sign = np.sign((chosen - rejected) @ weights)
    agree = bradley_terry_probability(sign * true_gap, 0.0)
    return float(np.mean(np.where(sign == 0, 0.5, agree)))


def labeler_agreement(chosen: np.ndarray, rejected: np.ndarray, noise: float) -> float:
    """Mean probability that two independent labelers with noise τ pick the same response.

    With p = σ(Δ*/τ) for each pair they agree with probability p² + (1 − p)².  This is
    below the agreement of the true ranking with one labeler, max(p, 1 − p), for every
    p ≠ 1/2: inter-labeler agreement is a reference a reward model can exceed, not a ceiling.
    """
    p = bradley_terry_probability((chosen - rejected) @ TRUE_WEIGHTS / noise, 0.0)
    return float(np.mean(p**2 + (1.0 - p) ** 2))


@widget(
    "fit-reward-model",
    title="Fit a reward model to noisy comparisons",
    summary=(
        "A hidden reward is linear in four features of a response. Simulated labelers compare "
        "random pairs with noise τ; a Bradley–Terry reward model is fitted by Newton's method "
        "and scored on 2,000 fresh pairs, against the true reward's agreement (the ceiling) "
        "and two labelers' agreement with each other."
    ),
    controls=[
        Slider("noise", "Labeler noise τ", 0.25, 4.0, 0.25, 1.0, "reward units"),
        Slider("n_pairs", "Training comparisons", 10, 400, 10, 100, "pairs"),
        Slider("l2", "L2 penalty λ", 0.0, 0.5, 0.01, 0.01),
        Slider("seed", "Random seed (resample the data)", 0, 9, 1, 0),
    ],
    readouts=[
        Readout("heldout_accuracy", "Held-out agreement, learned reward", "%", 1),
        Readout("ceiling_accuracy", "Held-out agreement, true reward (the ceiling)", "%", 1),
        Readout("labeler_agreement", "Two labelers agreeing with each other (not a ceiling)", "%", 1),
        Readout("cosine", "cos(learned w, true w)", "", 3),
        Readout("scale", "‖learned w‖ / ‖true w / τ‖", "", 2),
        Readout("final_loss", "Final training loss", "nats", 4),
        Readout("steps", "Newton steps", "", 0),
    ],
)
def fit_reward_model(noise: float, n_pairs: int, l2: float, seed: int) -> Result:
    chosen, rejected = simulate_preference_pairs(TRUE_WEIGHTS, n_pairs, noise=noise, seed=seed)
    fit = fit_bradley_terry(chosen, rejected, l2=l2, steps=MAX_STEPS)
    test_c, test_r = simulate_preference_pairs(
        TRUE_WEIGHTS, N_TEST, noise=noise, seed=seed + TEST_SEED_OFFSET
    )
    identifiable = TRUE_WEIGHTS / noise
    learned = fit.weights
    norm = float(np.linalg.norm(learned))
    cosine = (
        float(learned @ identifiable) / (norm * float(np.linalg.norm(identifiable)))
        if norm
        else 0.0
    )
    weights_chart = Chart(
        title="Learned weights vs what Bradley–Terry can identify (true w / τ)",
        x=np.arange(len(FEATURES), dtype=float),
        categories=list(FEATURE_LABELS),
        x_label="feature",
        y_label="weight",
        series=[
            Series("true w / τ", identifiable, kind="bar", color="gray"),
            Series("learned w", learned, kind="bar", color="blue"),
        ],
    )
    loss_chart = Chart(
        title="Training loss after each Newton step",
        x=np.arange(len(fit.losses), dtype=float),
        x_label="Newton step",
        y_label="mean loss (nats)",
        series=[Series("training loss (incl. L2 term)", fit.losses, kind="line", color="blue")],
        y_min=0.0,
    )
    if float(fit.losses[-1]) < SEPARABLE_LOSS:
        note = (
            "The training pairs are perfectly separable: the loss can only approach 0 by "
            "growing the weights without bound, so Newton's method stopped once the gradient "
            "vanished, far from the true scale. Raise the L2 penalty or add pairs."
        )
    elif not fit.converged:
        note = f"Newton's method did not converge in {MAX_STEPS} steps."
    else:
        note = ""
    return Result(
        readouts={
            "heldout_accuracy": 100.0 * expected_agreement(learned, test_c, test_r, noise),
            "ceiling_accuracy": 100.0 * expected_agreement(TRUE_WEIGHTS, test_c, test_r, noise),
            "labeler_agreement": 100.0 * labeler_agreement(test_c, test_r, noise),
            "cosine": cosine,
            "scale": norm / float(np.linalg.norm(identifiable)),
            "final_loss": float(fit.losses[-1]),
            "steps": float(len(fit.losses) - 1),
        },
        charts=[weights_chart, loss_chart],
        note=note,
    )
