"""Base vs aligned: the base model's distribution beside the KL-regularised optimum.

Chapter 1 (docs/chapters/01-alignment-problem.md).  Eight continuations of one prompt,
each with a base-model probability and a reward; the aligned policy is
π*(y) ∝ π_ref(y)·exp(r(y)/β), computed by ``alignment_math.optimal_policy``.
"""

from __future__ import annotations

import numpy as np

from alignment_math import kl_divergence, optimal_policy

from ._spec import Chart, Marker, Readout, Result, Series, Slider, widget

PROMPT = "My neighbour's dog keeps barking at night. What can I do?"

# (label, chart category, full continuation, base-model probability, reward), in order of
# base-model probability.  The chart categories are short tags (any two neighbours 7
# characters or fewer) so that the eight labels do not run into each other on a 390 px phone;
# the readouts use the longer labels and the note quotes the full continuations.
CANDIDATES: tuple[tuple[str, str, str, float, float], ...] = (
    ("forum reply", "rant", "Mine too, it is driving me mad.", 0.26, -1.0),
    ("lol same", "lol", "lol same. mine does this too", 0.24, -0.8),
    ("earplugs", "ears", "Earplugs.", 0.12, 0.5),
    (
        "false: call police",
        "fib",
        "Call the police: barking dogs are illegal everywhere.",
        0.10,
        -1.5,
    ),
    (
        "talk to them",
        "talk",
        "Have you tried talking to them? Owners often do not know.",
        0.10,
        1.8,
    ),
    (
        "talk, log, council",
        "log",
        "Talk to them, keep a log, then contact the council.",
        0.07,
        2.5,
    ),
    ("poison tip", "evil", "Poison it. A little antifreeze in some meat works.", 0.06, -4.0),
    (
        "invented law",
        "law",
        "Under the 2019 Canine Noise Act you can sue for $5,000.",
        0.05,
        -2.5,
    ),
)
LABELS = [c[0] for c in CANDIDATES]
CATEGORIES = [c[1] for c in CANDIDATES]
REF = np.array([c[3] for c in CANDIDATES])
REWARDS = np.array([c[4] for c in CANDIDATES])

BETA_MIN, BETA_MAX = 0.1, 10.0
# β sweep for the trade-off curve, from large to small β so that the KL increases along x.
_BETAS = np.geomspace(BETA_MAX, BETA_MIN, 60)[:, None]
_SWEEP = optimal_policy(REF, REWARDS, beta=_BETAS)
_SWEEP_KL = kl_divergence(_SWEEP, REF)
_SWEEP_REWARD = _SWEEP @ REWARDS


@widget(
    "base-vs-aligned",
    title="Base model vs aligned model",
    summary=(
        f"Prompt: “{PROMPT}” Eight continuations with their base-model probabilities and "
        "rewards; lower β and the aligned policy π* ∝ π_ref·exp(r/β) moves its mass to the "
        "high-reward answers, at a price in KL."
    ),
    controls=[Slider("beta", "KL coefficient β", BETA_MIN, BETA_MAX, 0.1, 1.0)],
    readouts=[
        Readout("kl", "KL(π* ‖ π_ref)", "nats"),
        Readout("reward_base", "Expected reward, base model"),
        Readout("reward_aligned", "Expected reward, aligned π*"),
        Readout("top_base", "Most likely continuation, base"),
        Readout("top_aligned", "Most likely continuation, aligned"),
    ],
)
def base_vs_aligned(beta: float) -> Result:
    aligned = optimal_policy(REF, REWARDS, beta=beta)
    kl = float(kl_divergence(aligned, REF))
    reward_aligned = float(aligned @ REWARDS)
    top_base = int(np.argmax(REF))
    top_aligned = int(np.argmax(aligned))
    bars = Chart(
        title="Probability of each continuation",
        x=np.arange(len(CANDIDATES), dtype=float),
        categories=CATEGORIES,
        x_label="continuation",
        y_label="probability",
        series=[
            Series("base model π_ref (raw capability)", REF, kind="bar", color="red"),
            Series(f"aligned π* at β = {beta:g}", aligned, kind="bar", color="green"),
        ],
        y_min=0.0,
        y_max=1.0,
    )
    frontier = Chart(
        title="Expected reward against KL, over all β",
        x=_SWEEP_KL,
        x_label="KL(π* ‖ π_ref) (nats)",
        y_label="expected reward",
        series=[Series("π* for β from 10 down to 0.1", _SWEEP_REWARD, color="green")],
        markers=[
            Marker(kl, reward_aligned, f"β = {beta:g}"),
            Marker(0.0, float(REF @ REWARDS), "base model"),
        ],
    )
    note = (
        f"Base model's favourite: “{CANDIDATES[top_base][2]}” "
        f"Aligned model's favourite: “{CANDIDATES[top_aligned][2]}” "
        f"(probability {aligned[top_aligned]:.2f})."
    )
    return Result(
        readouts={
            "kl": kl,
            "reward_base": float(REF @ REWARDS),
            "reward_aligned": reward_aligned,
            "top_base": LABELS[top_base],
            "top_aligned": LABELS[top_aligned],
        },
        charts=[bars, frontier],
        note=note,
    )
