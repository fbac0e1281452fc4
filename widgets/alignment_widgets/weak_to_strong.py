"""Chapter 11: a toy weak-to-strong experiment with logistic models.

Examples have 4 "strong" features s (what a capable student represents well) and a
nuisance variable u the task does not depend on; the truth is y = [a·s > 0].
The weak supervisor labels by the sign of cos θ·z + sin θ·u, z = a·s/|a|: it mixes in
the nuisance, and with θ = π(1 − accuracy) it is right on the requested fraction of
Gaussian examples.  The strong student is a logistic regression on s plus a noisy
view m = ρ·u + √(1−ρ²)·ε of the nuisance: ρ sets how easily the student can
*imitate* the supervisor's mistakes.  It is trained once on the weak labels
(weak-to-strong) and once on the true labels (the strong ceiling); the performance gap
recovered is (weak-to-strong − weak)/(ceiling − weak) (Burns et al. 2023).

Logistic regression is fitted with :func:`alignment_math.fit_bradley_terry`: a
logistic model P(y = 1 | x) = σ(w·x) is a Bradley–Terry model in which each example
is "chosen" over a zero-reward alternative (label 1) or "rejected" against it (label 0).
"""

from __future__ import annotations

import math
from functools import lru_cache

import numpy as np

from alignment_math import fit_bradley_terry, performance_gap_recovered

from ._spec import Chart, Readout, Result, Series, Slider, widget

A = np.array([1.0, 0.7, -0.5, 0.4])
N_TRAIN_MAX, N_TEST = 1000, 2000
_rng = np.random.default_rng(2312)
S_TRAIN, S_TEST = _rng.standard_normal((N_TRAIN_MAX, 4)), _rng.standard_normal((N_TEST, 4))
U_TRAIN, U_TEST = _rng.standard_normal(N_TRAIN_MAX), _rng.standard_normal(N_TEST)
E_TRAIN, E_TEST = _rng.standard_normal(N_TRAIN_MAX), _rng.standard_normal(N_TEST)
Z_TRAIN, Z_TEST = S_TRAIN @ A / np.linalg.norm(A), S_TEST @ A / np.linalg.norm(A)
Y_TRAIN, Y_TEST = Z_TRAIN > 0, Z_TEST > 0
RHOS = np.linspace(0.0, 1.0, 5)
L2 = 1e-3


def weak_labels(z: np.ndarray, u: np.ndarray, accuracy: float) -> np.ndarray:
    """The weak supervisor's labels: sign of cos θ·z + sin θ·u, θ = π(1 − accuracy)."""
    theta = math.pi * (1.0 - accuracy)
    return math.cos(theta) * z + math.sin(theta) * u > 0


def student_features(s: np.ndarray, u: np.ndarray, e: np.ndarray, rho: float) -> np.ndarray:
    """[s, m, 1]: the strong features, a view of the nuisance with correlation ρ, a bias."""
    m = rho * u + math.sqrt(max(0.0, 1.0 - rho * rho)) * e
    return np.column_stack([s, m, np.ones(len(s))])


def fit_logistic(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Logistic-regression weights, as a Bradley–Terry fit against a zero alternative."""
    signed = np.where(y[:, None], x, -x)
    return fit_bradley_terry(signed, np.zeros_like(signed), l2=L2, steps=25, tol=1e-6).weights


def _features(rho: float, n_train: int) -> tuple[np.ndarray, np.ndarray]:
    x_train = student_features(S_TRAIN[:n_train], U_TRAIN[:n_train], E_TRAIN[:n_train], rho)
    return x_train, student_features(S_TEST, U_TEST, E_TEST, rho)


# Results are pure functions of the controls, so repeated values are served from a cache
# (the ceiling does not depend on the supervisor at all): a slider move costs 2-7 fits.
@lru_cache(maxsize=512)
def _ceiling(rho: float, n_train: int) -> float:
    x_train, x_test = _features(rho, n_train)
    return float(np.mean((x_test @ fit_logistic(x_train, Y_TRAIN[:n_train]) > 0) == Y_TEST))


@lru_cache(maxsize=512)
def accuracies(weak_accuracy: float, rho: float, n_train: int) -> tuple[float, float, float]:
    """(weak supervisor, weak-to-strong student, strong ceiling) accuracy on the test set."""
    x_train, x_test = _features(rho, n_train)
    weak_train = weak_labels(Z_TRAIN[:n_train], U_TRAIN[:n_train], weak_accuracy)
    weak = float(np.mean(weak_labels(Z_TEST, U_TEST, weak_accuracy) == Y_TEST))
    w2s = float(np.mean((x_test @ fit_logistic(x_train, weak_train) > 0) == Y_TEST))
    return weak, w2s, _ceiling(rho, n_train)


@widget(
    "weak-to-strong",
    title="Weak-to-strong generalisation in a toy",
    summary=(
        "A strong logistic student learns from a weak supervisor's labels; how much of the "
        "gap to the strong ceiling it recovers depends on how easily it can copy the "
        "supervisor's mistakes."
    ),
    controls=[
        Slider("weak_accuracy", "Weak supervisor's accuracy", 0.55, 0.95, 0.01, 0.7),
        Slider("imitation", "How well the student can see what misleads the supervisor (ρ)",
               0.0, 1.0, 0.05, 0.3),
        Slider("n_train", "Training examples", 100, 1000, 50, 400, "examples"),
    ],
    readouts=[
        Readout("weak", "Weak supervisor accuracy", "%", 1),
        Readout("w2s", "Strong student trained on weak labels", "%", 1),
        Readout("ceiling", "Strong student trained on true labels", "%", 1),
        Readout("pgr", "Performance gap recovered", "", 2),
    ],
)
def weak_to_strong(weak_accuracy: float, imitation: float, n_train: int) -> Result:
    weak, w2s, ceiling = accuracies(weak_accuracy, imitation, n_train)
    pgr = float(performance_gap_recovered(weak, w2s, ceiling))
    sweep = np.array([accuracies(weak_accuracy, float(rho), n_train) for rho in RHOS])
    pgr_sweep = performance_gap_recovered(sweep[:, 0], sweep[:, 1], sweep[:, 2])
    bars = Chart(
        "Test accuracy",
        np.arange(3, dtype=float),
        [Series("accuracy (%)", [100 * weak, 100 * w2s, 100 * ceiling], "bar", "blue")],
        x_label="model",
        y_label="accuracy on held-out examples (%)",
        categories=["weak supervisor", "weak-to-strong", "strong ceiling"],
        y_min=50.0,
        y_max=100.0,
    )
    curve = Chart(
        "Gap recovered vs how visible the supervisor's mistakes are",
        RHOS,
        [Series("PGR", pgr_sweep, "line", "purple")],
        x_label="ρ: the student's view of what misleads the supervisor",
        y_label="performance gap recovered",
        y_min=-0.2,
        y_max=1.1,
    )
    note = (
        f"The student recovers {pgr:.0%} of the gap between its supervisor "
        f"({weak:.1%}) and its ceiling ({ceiling:.1%}). "
        + (
            "It cannot see what misleads the supervisor, so those mistakes look like noise "
            "and mostly average out."
            if imitation == 0
            else "It sees little of what misleads the supervisor: most of those mistakes look "
            "like noise and average out, but the part it can see, it learns to copy."
            if imitation < 0.5
            else "It can see what misleads the supervisor, so it learns to copy the mistakes."
        )
    )
    return Result(
        readouts={"weak": 100 * weak, "w2s": 100 * w2s, "ceiling": 100 * ceiling, "pgr": pgr},
        charts=[bars, curve],
        note=note,
    )
