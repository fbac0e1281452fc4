"""Chapter 7: which preference-tuning method fits the data you have and the complexity
you can afford.

Each method is described by facts that can be checked in its paper or in chapters 3–6:
the data it learns from, how many training stages it runs after pretraining, how many
policy-sized models it holds in memory while training (with the reference model's
log-probabilities cached before training where the method allows it), whether it runs a
sampling loop, whether its optimum stays finite when every pair was labelled once, and
what a step costs.  Its complexity is one number on the reader's scale:

    complexity = stages + models in memory + 1 if it samples from the policy in a loop

The reader chooses their data and the complexity they can afford.  A method is usable
when it learns from that data (or from what the data contains: a pair holds one
desirable and one undesirable response, and a desirable response is a demonstration)
and its complexity fits.  Among the usable methods the recommendation follows the
chapter's order, stated in ``RULE`` and in the note under the chart.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ._spec import Band, Chart, Choice, Marker, Readout, Result, Series, Slider, Toggle, widget

#: the data kinds, in the order of the chart's x axis: (key, short label, long label)
DATA: tuple[tuple[str, str, str], ...] = (
    ("demos", "demos", "Demonstrations only (prompt, good response)"),
    ("thumbs", "thumbs", "Thumbs up / down on single responses"),
    ("pairs", "pairs", "Ranked pairs (chosen vs rejected)"),
    ("rm", "RM", "A reward model (or judge) and prompts"),
)
DATA_KEYS = [key for key, *_ in DATA]

#: which columns a reader's data reaches: a pair contains one desirable and one
#: undesirable response (KTO §4.1, "Data"), a desirable response is a demonstration.
USABLE: dict[str, frozenset[str]] = {
    "demos": frozenset({"demos"}),
    "thumbs": frozenset({"demos", "thumbs"}),
    "pairs": frozenset({"demos", "thumbs", "pairs"}),
    "rm": frozenset({"rm"}),
}

#: how a method in column ``used`` takes a reader's data ``have``
HOW = {
    ("demos", "demos"): "the demonstrations as they are",
    ("thumbs", "demos"): "the thumbs-up responses as demonstrations",
    ("pairs", "demos"): "the chosen responses as demonstrations",
    ("thumbs", "thumbs"): "the labelled responses as they are",
    ("pairs", "thumbs"): "each pair split into one desirable and one undesirable response",
    ("pairs", "pairs"): "the pairs as they are",
    ("rm", "rm"): "the prompts, scored by the reward model",
}

# The recommendation's order among usable methods (lower first), from chapters 5–7:
ONLINE_RL = 0  # the highest ceiling when it can be afforded (Xu et al. 2024; Ivison et al. 2024)
SAMPLING = 1  # best-of-n: uses the reward model without an RL loop
OFFLINE = 2  # offline with a reference model, on the data it was designed for
REFERENCE_FREE = 3  # no reference model: nothing anchors the policy (ORPO, SimPO)
FALLBACK = 4  # SFT only: uses the good responses, ignores the contrast


@dataclass(frozen=True)
class Method:
    name: str
    data: str  # the column it learns from (a key of DATA)
    stages: int  # training stages after pretraining, SFT included
    models: int  # policy-sized models in memory while training (reference cached if allowed)
    models_uncached: int  # the same when the reference model runs alongside the policy
    loop: bool  # samples from the policy in a loop (RL rollouts; best-of-n per query)
    finite: bool | None  # finite optimum when every pair was labelled once; None: no pairs
    group: int  # the recommendation's order (ONLINE_RL ... FALLBACK)
    optimum: str  # where its loss is minimised when every example was labelled once
    needs: str  # the stages and models, in words
    cost: str  # what a step (or a query) costs
    color: str

    def models_held(self, cache_reference: bool) -> int:
        return self.models if cache_reference else self.models_uncached

    def complexity(self, cache_reference: bool) -> int:
        return self.stages + self.models_held(cache_reference) + int(self.loop)


# Facts per method; the chapter's table (docs/chapters/07-choosing.md) gives the papers.
METHODS: tuple[Method, ...] = (
    Method("SFT only", "demos", 1, 1, 1, False, None, FALLBACK,
           "n/a: it learns no preference",
           "SFT; policy", "1 forward + 1 backward per example", "blue"),
    Method("KTO", "thumbs", 2, 1, 2, False, False, OFFLINE,
           "none: loss bounded in [0, λ], minimum at r → ±∞",
           "SFT → KTO; policy (+ reference, or its log-probs cached)",
           "2 forward (policy on matched and mismatched pairs) + 1 backward", "orange"),
    Method("BCO", "thumbs", 2, 1, 2, False, False, OFFLINE,
           "none: as KTO, minimum at r → ±∞",
           "SFT → BCO; policy (+ reference, or its log-probs cached)",
           "1 forward + 1 backward, plus a running mean of the rewards", "orange"),
    Method("RM + PPO (pointwise)", "thumbs", 3, 4, 4, True, True, ONLINE_RL,
           "finite while the fitted RM's rewards are finite",
           "SFT → classifier RM → PPO; policy, reference, RM, value",
           "generation + 4 forward + 2 backward per batch", "green"),
    Method("RLHF (PPO)", "pairs", 3, 4, 4, True, True, ONLINE_RL,
           "finite: the fitted RM is underfit (Azar et al. §4.2)",
           "SFT → Bradley–Terry RM → PPO; policy, reference, RM, value",
           "generation + 4 forward + 2 backward per batch", "green"),
    Method("DPO", "pairs", 2, 1, 2, False, False, OFFLINE,
           "none: the loss keeps falling as h → ∞",
           "SFT → DPO; policy (+ reference, or its log-probs cached)",
           "2 forward (chosen, rejected) + 1 backward per pair", "purple"),
    Method("cDPO", "pairs", 2, 1, 2, False, True, OFFLINE,
           "finite: σ(βh) = 1 − ε",
           "SFT → cDPO; as DPO", "2 forward (chosen, rejected) + 1 backward per pair", "purple"),
    Method("IPO", "pairs", 2, 1, 2, False, True, OFFLINE,
           "finite: h = 1/(2β) (the loss is unbounded)",
           "SFT → IPO; as DPO", "2 forward (chosen, rejected) + 1 backward per pair", "purple"),
    Method("SimPO", "pairs", 2, 1, 1, False, False, REFERENCE_FREE,
           "none: the loss keeps falling as the margin grows",
           "SFT → SimPO; policy only (no reference)",
           "2 forward + 1 backward per pair", "#76b7b2"),
    Method("ORPO", "pairs", 1, 1, 1, False, False, REFERENCE_FREE,
           "none: the odds-ratio term keeps falling",
           "one stage from the pretrained model; policy only",
           "2 forward + 1 backward per pair", "#edc948"),
    Method("best-of-n", "rm", 1, 2, 2, True, True, SAMPLING,
           "finite: KL ≤ log n − (n−1)/n",
           "SFT; policy + reward model at inference",
           "n samples and n reward scores per query, at inference", "#2f4b7c"),
    Method("PPO on the RM", "rm", 2, 4, 4, True, True, ONLINE_RL,
           "finite: the RM's rewards are finite",
           "SFT → PPO; policy, reference, RM, value",
           "generation + 4 forward + 2 backward per batch", "green"),
)

NAMES = [m.name for m in METHODS]
BUDGET_MIN = min(m.complexity(True) for m in METHODS)
BUDGET_MAX = max(m.complexity(False) for m in METHODS)

RULE = (
    "Order among usable methods: online RL (PPO, the one for your data first) → best-of-n "
    "→ offline with a reference, on their own data (DPO, cDPO, IPO; KTO, BCO; finite "
    "optimum first if pairs were labelled once) → SimPO, ORPO → KTO, BCO on split pairs "
    "→ SFT."
)


def family(m: Method) -> str:
    """The name a method shows in the chart's legend (the three PPO rows share one)."""
    return "PPO" if "PPO" in m.name else m.name


def rank_key(i: int, have: str, labelled_once: bool) -> tuple[float, int, int, int]:
    """Sort key of method ``i`` for a reader with data ``have`` (lower = preferred)."""
    m = METHODS[i]
    group: float = m.group
    if m.data == "thumbs" and have == "pairs" and group == OFFLINE:
        group = REFERENCE_FREE + 0.5  # KTO, BCO on split pairs: the pairing is thrown away
    converted = int(m.data != have)  # in a group, the method made for your data first
    finite_last = int(labelled_once and have == "pairs" and m.finite is False)
    return (group, converted, finite_last, i)


def choose(
    data: str, budget: int, cache_reference: bool, labelled_once: bool
) -> tuple[list[int], np.ndarray]:
    """(usable methods, best first; complexity per method)."""
    complexity = np.array([m.complexity(cache_reference) for m in METHODS], dtype=float)
    usable = [
        i
        for i, m in enumerate(METHODS)
        if m.data in USABLE[data] and complexity[i] <= budget
    ]
    usable.sort(key=lambda i: rank_key(i, data, labelled_once))
    return usable, complexity


@widget(
    "method-tradeoffs",
    title="Choosing a method: your data and the complexity you can afford",
    summary=(
        "Each method sits at the data it learns from and its complexity (training stages "
        "+ policy-sized models in memory + 1 for a sampling loop). Choose your data and "
        "your budget; the usable methods lie in the shaded columns on or below the dashed "
        "line, and the recommended one is marked."
    ),
    controls=[
        Choice("data", "The feedback you have", tuple((k, long) for k, _, long in DATA), "pairs"),
        Slider(
            "budget",
            "Complexity you can afford (stages + models in memory + sampling loop)",
            BUDGET_MIN,
            BUDGET_MAX,
            1,
            3,
        ),
        Toggle(
            "cache_reference",
            "Compute the reference model's log-probabilities once, before training",
            True,
        ),
        Toggle("labelled_once", "Each pair was labelled once (preferences look certain)"),
    ],
    readouts=[
        Readout("best", "Recommended"),
        Readout("uses", "It uses", kind="text"),
        Readout("needs", "Stages; models in memory", kind="text"),
        Readout("complexity", "Its complexity", "", 0),
        Readout("cost", "Cost", kind="text"),
        Readout("optimum", "Its optimum if each example was labelled once", kind="text"),
        Readout("runner_up", "Runner-up"),
        Readout("n_usable", "Methods usable", f"of {len(METHODS)}", 0),
    ],
)
def method_tradeoffs(data: str, budget: int, cache_reference: bool, labelled_once: bool) -> Result:
    usable, complexity = choose(data, budget, cache_reference, labelled_once)
    reachable = USABLE[data]
    too_complex = [
        f"{m.name} ({int(complexity[i])})"
        for i, m in enumerate(METHODS)
        if m.data in reachable and complexity[i] > budget
    ]
    if usable:
        best = METHODS[usable[0]]
        needs = best.needs
        if best.models_uncached != best.models:
            held = best.models_held(cache_reference)
            needs += f" — {held} model{'s' if held > 1 else ''} in memory now"
        readouts: dict[str, float | str] = {
            "best": best.name,
            "uses": HOW[(data, best.data)],
            "needs": needs,
            "complexity": float(complexity[usable[0]]),
            "cost": best.cost,
            "optimum": best.optimum,
        }
        note = (
            f"{best.name}: complexity {best.stages} stage{'s' if best.stages > 1 else ''} "
            f"+ {best.models_held(cache_reference)} model"
            f"{'s' if best.models_held(cache_reference) > 1 else ''}"
            f"{' + 1 sampling loop' if best.loop else ''} = {int(complexity[usable[0]])}."
        )
    else:
        readouts = {
            "best": "none",
            "uses": "—",
            "needs": "—",
            "complexity": float("nan"),
            "cost": "—",
            "optimum": "—",
        }
        note = "No method fits: raise the budget."
    readouts["runner_up"] = METHODS[usable[1]].name if len(usable) > 1 else "none"
    readouts["n_usable"] = float(len(usable))
    if too_complex:
        note += " Over your budget: " + ", ".join(too_complex) + "."
    note += " Shaded: the columns your data feeds. " + RULE

    # Methods that share a point are one series, named together; a method family that
    # sits in several columns (PPO with the reward model each kind of data gives) is one
    # series with a point in each.
    x = np.arange(len(DATA), dtype=float)
    points: dict[tuple[str, float], list[int]] = {}
    for i, m in enumerate(METHODS):
        points.setdefault((m.data, float(complexity[i])), []).append(i)
    by_label: dict[str, tuple[np.ndarray, str]] = {}
    for (column, c), members in points.items():
        label = " · ".join(dict.fromkeys(family(METHODS[i]) for i in members))
        y, _ = by_label.setdefault(
            label, (np.full(x.shape, np.nan), METHODS[members[0]].color)
        )
        y[DATA_KEYS.index(column)] = c
    series = [Series(label, y, "points", color) for label, (y, color) in by_label.items()]
    series.append(Series("your budget", np.full(x.shape, float(budget)), "line", "gray", True))
    columns = sorted(DATA_KEYS.index(k) for k in reachable)
    bands = [Band(columns[0] - 0.5, columns[-1] + 0.5)]  # shaded: usable with your data
    markers = (
        [Marker(float(DATA_KEYS.index(METHODS[usable[0]].data)), complexity[usable[0]],
                "recommended")]
        if usable
        else []
    )
    chart = Chart(
        "Where each method sits",
        x,
        series,
        x_label="data it learns from",
        y_label="complexity",
        categories=[short for _, short, _ in DATA],
        markers=markers,
        bands=bands,
        y_min=0.0,
        y_max=float(BUDGET_MAX + 1),
    )
    return Result(readouts=readouts, charts=[chart], note=note)
