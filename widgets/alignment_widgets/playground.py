"""The playground: train a policy live with RLHF (PPO), DPO, KTO or best-of-n and watch it.

The task and every training step are ``alignment_math`` functions
(:func:`~alignment_math.make_playground_task`, :func:`~alignment_math.ppo_step`, …); this
module only holds a run's state between the browser's messages. ``docs/widgets/playground.js``
sends ``{op: "reset" | "step" | "set", ...}`` through the page's worker (message type
``live``, see ``docs/widgets/worker.js``) to :func:`live`, which answers with the metrics of
each step it ran. The same :class:`Run` in CPython gives the same numbers, so the browser
tests compare a streamed run with one computed here, and :func:`static_html` draws a
finished run at the defaults for readers without JavaScript.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from html import escape
from typing import Any

import numpy as np

from alignment_math import (
    ANNOTATOR_FLAWS,
    DPO_LOSS_TYPES,
    FEATURE_NAMES,
    best_of_n_policy,
    dpo_step,
    fit_bradley_terry,
    kto_step,
    log_softmax,
    make_playground_task,
    optimal_policy,
    policy_metrics,
    ppo_step,
    reward_model_step,
    sample_responses,
    simulate_annotators,
)

from ._spec import Choice, Slider, Widget, WidgetError, _register

N_PROMPTS = 12
N_RESPONSES = 8
N_PAIRS = 512
SAMPLES_PER_PROMPT = 16  # PPO's batch: 16 responses of each prompt per update
RM_STEPS = 40  # RLHF's first steps train the reward model (policy frozen)
RM_LR = 4.0  # on features divided by their spread over the pairs (a diagonal preconditioner)
MAX_STEPS_PER_MESSAGE = 50
SHOWN_PROMPT = 0

METHODS = (
    ("ppo", "RLHF (reward model, then PPO)"),
    ("dpo", "DPO"),
    ("kto", "KTO"),
    ("bon", "Best-of-n (no training)"),
)
METHOD_NAMES = tuple(m for m, _ in METHODS)
# the learning rate each method takes relative to the slider (one slider for all methods):
# DPO and KTO take full-batch steps on 512 pairs, whose per-logit gradient is much smaller
# than PPO's on its own samples
# (IPO's squared loss is far steeper than DPO's: its steps are scaled by IPO_LR_SCALE instead)
LR_SCALE = {"ppo": 0.15, "dpo": 20.0, "kto": 40.0, "bon": 1.0}
IPO_LR_SCALE = 0.5

CONTROLS = (
    Choice("method_a", "Method A", METHODS, "ppo"),
    Choice("method_b", "Method B", (*METHODS, ("none", "None")), "dpo"),
    Slider("beta", "β (KL strength)", 0.01, 1.0, 0.01, 0.05),
    Slider("lr", "Learning rate", 0.1, 3.0, 0.1, 1.0),
    Slider("clip_eps", "PPO clip ε", 0.05, 1.0, 0.05, 0.2),
    Choice("loss_type", "DPO loss", tuple((t, t) for t in DPO_LOSS_TYPES), "sigmoid"),
    Choice("flaw", "Annotator flaw", tuple((f, f) for f in ANNOTATOR_FLAWS), "length"),
    Slider("strength", "Flaw strength", 0.0, 1.0, 0.05, 0.75),
    Slider("seed", "Seed", 0, 9, 1, 0),
    Slider("speed", "Steps per update", 1, 10, 1, 1),
)
#: parameters that change the data or the methods: changing one resets the runs
RESET_PARAMS = ("method_a", "method_b", "flaw", "strength", "seed", "loss_type")


def _spec() -> Widget:
    return Widget(
        "playground",
        "Alignment playground",
        "Train a policy on a task with a known true reward and watch the proxy it "
        "optimises pull away from the truth.",
        controls=CONTROLS,
        script="playground",
        static_html=lambda: static_html(),
    )


@dataclass
class Data:
    """The task, the labelled pairs and the labels' maximum-likelihood reward model."""

    params: dict[str, Any]
    task: Any = None
    pairs: Any = None
    proxy: Any = None
    rm_weights: Any = None

    def __post_init__(self) -> None:
        p = self.params
        self.task = make_playground_task(N_PROMPTS, N_RESPONSES, seed=int(p["seed"]))
        self.pairs = simulate_annotators(
            self.task, N_PAIRS, flaw=p["flaw"], strength=float(p["strength"]), seed=int(p["seed"])
        )
        fit = fit_bradley_terry(self.chosen_features, self.rejected_features)
        self.rm_weights = fit.weights
        self.proxy = self.task.features @ fit.weights

    @property
    def feature_scale(self) -> Any:
        """Spread of each feature difference over the pairs (the RM trains on φ / scale)."""
        return np.std(self.chosen_features - self.rejected_features, axis=0) + 1e-12

    @property
    def chosen_features(self) -> Any:
        return self.task.features[self.pairs.prompts, self.pairs.chosen]

    @property
    def rejected_features(self) -> Any:
        return self.task.features[self.pairs.prompts, self.pairs.rejected]


@dataclass
class Run:
    """One method's training run: its parameters and its step counter, nothing else."""

    method: str
    data: Data
    hyper: dict[str, Any]
    step: int = 0
    theta: Any = None
    rm: Any = None
    rng: Any = None
    last: dict[str, float] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.theta = self.data.task.ref_logits.copy()
        self.rm = np.zeros(self.data.task.features.shape[-1])
        # the method's own stream of random numbers, from the seed (PPO's samples only)
        self.rng = np.random.default_rng([int(self.data.params["seed"]), METHOD_NAMES.index(self.method)])
        self.last = {"loss": float("nan"), "accuracy": self._rm_accuracy(self.rm)}

    # ---- one training step
    def advance(self) -> None:
        h = self.hyper
        ipo = self.method == "dpo" and h["loss_type"] == "ipo"
        beta = float(h["beta"])
        lr = float(h["lr"]) * (IPO_LR_SCALE if ipo else LR_SCALE[self.method])
        task, pairs = self.data.task, self.data.pairs
        if self.method == "ppo":
            if self.step < RM_STEPS:  # stage 2: the reward model learns from the labels
                scale = self.data.feature_scale
                scaled, m = reward_model_step(
                    self.rm * scale, self.data.chosen_features / scale,
                    self.data.rejected_features / scale, lr=RM_LR,
                )
                self.rm = scaled / scale
                self.last = {"loss": m["loss"], "accuracy": self._rm_accuracy(self.rm)}
            else:  # stage 3: PPO against the frozen reward model, KL-penalised
                prompts, responses = sample_responses(self.theta, SAMPLES_PER_PROMPT, self.rng)
                self.theta, m = ppo_step(
                    self.theta, task.ref_logits, task.features @ self.rm, prompts, responses,
                    beta=beta, lr=lr, clip_eps=float(h["clip_eps"]),
                )
                self.last = {"loss": -m["objective"], "accuracy": self._rm_accuracy(self.rm)}
        elif self.method == "dpo":
            eps = 0.1 if h["loss_type"] == "robust" else 0.0
            self.theta, m = dpo_step(
                self.theta, task.ref_logits, pairs, beta=beta, lr=lr,
                loss_type=h["loss_type"], label_smoothing=eps,
            )
            self.last = {"loss": m["loss"], "accuracy": m["accuracy"]}
        elif self.method == "kto":
            self.theta, m = kto_step(self.theta, task.ref_logits, pairs, beta=beta, lr=lr)
            self.last = {"loss": m["loss"], "accuracy": self._implicit_accuracy()}
        else:  # best-of-n: step t shows n = t + 1 draws under the labels' reward model
            probs = best_of_n_policy(np.exp(log_softmax(task.ref_logits)), self.data.proxy, self.step + 2)
            with np.errstate(divide="ignore"):
                self.theta = np.log(probs)
            self.last = {"loss": float("nan"), "accuracy": self._rm_accuracy(self.data.rm_weights)}
        self.step += 1

    def _rm_accuracy(self, weights: Any) -> float:
        margin = (self.data.chosen_features - self.data.rejected_features) @ weights
        return float(np.mean(margin > 0))

    def _implicit_accuracy(self) -> float:
        x, yw, yl = self.data.pairs
        log_ratio = self.theta - self.data.task.ref_logits
        return float(np.mean(log_ratio[x, yw] - log_ratio[x, yl] > 0))

    # ---- what the page plots
    def row(self) -> dict[str, Any]:
        task = self.data.task
        m = policy_metrics(self.theta, task.ref_logits, task.true_rewards, self.data.proxy)
        probs = np.exp(log_softmax(self.theta))[SHOWN_PROMPT]
        return {
            "step": self.step,
            "proxy": m["proxy_reward"],
            "true": m["true_reward"],
            "kl": m["kl"],
            "loss": _finite(self.last["loss"]),
            "accuracy": self.last["accuracy"],
            "policy": [float(v) for v in probs],
        }


def _finite(value: float) -> float | None:
    return float(value) if np.isfinite(value) else None


class Session:
    """The runs of one playground on a page (methods A and B on the same data)."""

    def __init__(self, params: dict[str, Any]) -> None:
        self.params: dict[str, Any] = {}
        self.reset(params)

    def reset(self, params: dict[str, Any]) -> None:
        """Back to step 0: the same parameters give exactly the same start."""
        self.params = dict(params)
        self.data = Data(self.params)
        self.runs = [Run(m, self.data, self.params) for m in self.methods()]

    def methods(self) -> list[str]:
        b = self.params["method_b"]
        return [self.params["method_a"]] + ([] if b == "none" else [b])

    def set(self, params: dict[str, Any]) -> bool:
        """New hyper-parameters; True if they needed a reset (data or methods changed)."""
        if any(params[k] != self.params[k] for k in RESET_PARAMS):
            self.reset(params)
            return True
        self.params.update(params)
        for run in self.runs:
            run.hyper = self.params
        return False

    def advance(self, steps: int) -> list[list[dict[str, Any]]]:
        rows: list[list[dict[str, Any]]] = [[] for _ in self.runs]
        for _ in range(steps):
            for i, run in enumerate(self.runs):
                run.advance()
                rows[i].append(run.row())
        return rows

    def describe(self) -> dict[str, Any]:
        """What does not change during a run: labels, the shown prompt, targets."""
        task, data = self.data.task, self.data
        ref = np.exp(log_softmax(task.ref_logits))
        target = optimal_policy(ref, data.proxy, float(self.params["beta"]))
        features = task.features[SHOWN_PROMPT]
        return {
            "methods": self.methods(),
            "labels": {m: label for m, label in METHODS},
            "responses": [
                f"q {f[0]:+.1f}, ℓ {f[1]:.1f}" for f in features
            ],
            "true_rewards": [float(v) for v in task.true_rewards[SHOWN_PROMPT]],
            "reference": [float(v) for v in ref[SHOWN_PROMPT]],
            "target": [float(v) for v in target[SHOWN_PROMPT]],
            "rm_weights": [float(v) for v in data.rm_weights],
            "features": list(FEATURE_NAMES),
            "rm_steps": RM_STEPS,
            "reset_params": list(RESET_PARAMS),
            "start": [run.row() for run in self.runs],
        }


_SESSIONS: dict[str, Session] = {}


def live(message_json: str) -> str:
    """The worker's entry point: one JSON message in, one JSON answer out (never raises).

    ``{"key", "op": "reset", "params"}`` starts over; ``{"key", "op": "set", "params"}``
    changes hyper-parameters (β, learning rate, clip ε, speed apply mid-run; the others
    reset); ``{"key", "op": "step", "steps"}`` runs that many steps of every method.
    """
    try:
        message = json.loads(message_json)
        answer = handle(message)
        return json.dumps({"ok": True, **answer}, allow_nan=False)
    except Exception as error:  # a bad message is reported to the page, never fatal
        return json.dumps({"ok": False, "error": f"{type(error).__name__}: {error}"})


def handle(message: dict[str, Any]) -> dict[str, Any]:
    """:func:`live` without the JSON (used by the tests and the benchmark)."""
    key = str(message.get("key", ""))
    op = message.get("op")
    if op in ("reset", "set"):
        params = PLAYGROUND.params(message.get("params") or {})
        session = _SESSIONS.get(key)
        if op == "reset" or session is None:
            _SESSIONS[key] = Session(params)
            return {"reset": True, "describe": _SESSIONS[key].describe()}
        reset = session.set(params)
        return {"reset": reset, "describe": session.describe()}
    if op == "step":
        if key not in _SESSIONS:
            raise WidgetError("no run to step: send a reset first")
        steps = message.get("steps", 1)
        if not isinstance(steps, int) or not 1 <= steps <= MAX_STEPS_PER_MESSAGE:
            raise WidgetError(f"steps must be a whole number in [1, {MAX_STEPS_PER_MESSAGE}]")
        return {"rows": _SESSIONS[key].advance(steps)}
    raise WidgetError(f"op must be one of 'reset', 'set', 'step', got {op!r}")


def run_offline(params: dict[str, Any] | None = None, steps: int = 200) -> tuple[Session, list[list[dict[str, Any]]]]:
    """A whole run in CPython: the session and every row (start row included) per method."""
    session = Session(PLAYGROUND.params(params or {}))
    rows = [[r] for r in session.describe()["start"]]
    for i, new in enumerate(session.advance(steps)):
        rows[i].extend(new)
    return session, rows


# ------------------------------------------------------------------ the static figure

_COLORS = ("#4e79a7", "#e15759", "#59a14f", "#f28e2b")
STATIC_STEPS = 400


def _polyline(xs: list[float], ys: list[float], box: tuple[float, float, float, float],
              ranges: tuple[float, float, float, float], color: str, dash: bool) -> str:
    x0, y0, w, h = box
    xmin, xmax, ymin, ymax = ranges
    pts = " ".join(
        f"{x0 + (x - xmin) / (xmax - xmin) * w:.1f},{y0 + h - (y - ymin) / (ymax - ymin) * h:.1f}"
        for x, y in zip(xs, ys, strict=True)
    )
    style = ' stroke-dasharray="6 4"' if dash else ""
    return f'<polyline fill="none" stroke="{color}" stroke-width="2"{style} points="{pts}"/>'


def _panel(title: str, x_label: str, y_label: str, lines: list[tuple[str, list[float], list[float], str, bool]],
           offset: float) -> str:
    box = (offset + 50, 30, 300, 190)
    xs = [x for _, lx, _, _, _ in lines for x in lx]
    ys = [y for _, _, ly, _, _ in lines for y in ly]
    pad = 0.05 * (max(ys) - min(ys) or 1)
    ranges = (min(xs), max(xs) if max(xs) > min(xs) else min(xs) + 1, min(ys) - pad, max(ys) + pad)
    x0, y0, w, h = box
    parts = [
        f'<text x="{x0 + w / 2:.0f}" y="18" text-anchor="middle" font-size="13" fill="currentColor">{escape(title)}</text>',
        f'<rect x="{x0}" y="{y0}" width="{w}" height="{h}" fill="none" stroke="currentColor" stroke-opacity="0.4"/>',
        f'<text x="{x0 + w / 2:.0f}" y="{y0 + h + 32:.0f}" text-anchor="middle" font-size="12" fill="currentColor">{escape(x_label)}</text>',
        f'<text x="{x0 - 36:.0f}" y="{y0 + h / 2:.0f}" text-anchor="middle" font-size="12" fill="currentColor" '
        f'transform="rotate(-90 {x0 - 36:.0f} {y0 + h / 2:.0f})">{escape(y_label)}</text>',
    ]
    for value, anchor, xx, yy in ((ranges[0], "start", x0, y0 + h + 14), (ranges[1], "end", x0 + w, y0 + h + 14)):
        parts.append(f'<text x="{xx}" y="{yy}" text-anchor="{anchor}" font-size="11" fill="currentColor">{value:.3g}</text>')
    for value, yy in ((ranges[2], y0 + h), (ranges[3], y0 + 10)):
        parts.append(f'<text x="{x0 - 4}" y="{yy}" text-anchor="end" font-size="11" fill="currentColor">{value:.2f}</text>')
    for _label, lx, ly, color, dash in lines:
        parts.append(_polyline(lx, ly, box, ranges, color, dash))
    legend_y = y0 + 14
    for label, _, _, color, dash in lines:
        style = ' stroke-dasharray="6 4"' if dash else ""
        parts.append(f'<line x1="{x0 + 8}" x2="{x0 + 28}" y1="{legend_y - 4}" y2="{legend_y - 4}" stroke="{color}" stroke-width="2"{style}/>'
                     f'<text x="{x0 + 32}" y="{legend_y}" font-size="11" fill="currentColor">{escape(label)}</text>')
        legend_y += 14
    return "".join(parts)


def static_figure(steps: int = STATIC_STEPS) -> tuple[str, str]:
    """An SVG of a finished run at the defaults and its text alternative."""
    session, rows = run_offline(steps=steps)
    names = dict(METHODS)
    over_time, frontier, alt = [], [], []
    for i, (method, run_rows) in enumerate(zip(session.methods(), rows, strict=True)):
        color = _COLORS[i]
        step = [float(r["step"]) for r in run_rows]
        proxy = [r["proxy"] for r in run_rows]
        true = [r["true"] for r in run_rows]
        kl = [r["kl"] for r in run_rows]
        short = names[method].split(" (")[0]
        over_time += [(f"{short}: proxy", step, proxy, color, True), (f"{short}: true", step, true, color, False)]
        frontier.append((short, kl, true, color, False))
        peak = int(np.argmax(true))
        alt.append(
            f"{names[method]}: after {steps} steps the proxy reward is {proxy[-1]:.2f} and the "
            f"true reward {true[-1]:.2f} at KL {kl[-1]:.2f} nats; the true reward peaked at "
            f"{true[peak]:.2f} (step {peak}, KL {kl[peak]:.2f})."
        )
    svg = (
        '<svg viewBox="0 0 800 260" role="img" aria-labelledby="pg-title pg-desc" '
        'xmlns="http://www.w3.org/2000/svg" style="width:100%;height:auto;color:var(--md-default-fg-color,#222)">'
        '<title id="pg-title">A finished playground run at the default settings</title>'
        f'<desc id="pg-desc">{escape(" ".join(alt))}</desc>'
        + _panel("Reward over training", "step", "expected reward", over_time, 0)
        + _panel("True reward against KL", "KL to the reference (nats)", "true reward", frontier, 400)
        + "</svg>"
    )
    return svg, " ".join(alt)


def _control_html(control: Any) -> str:
    name = escape(control.name)
    if isinstance(control, Slider):
        return (
            f'<label class="am-pg__control">{escape(control.label)} '
            f'<input type="range" name="{name}" min="{control.min}" max="{control.max}" '
            f'step="{control.step}" value="{control.default}" disabled>'
            f'<output data-value-for="{name}">{control.default}</output></label>'
        )
    options = "".join(
        f'<option value="{escape(v)}"{" selected" if v == control.default else ""}>{escape(label)}</option>'
        for v, label in control.options
    )
    return (
        f'<label class="am-pg__control">{escape(control.label)} '
        f'<select name="{name}" disabled>{options}</select></label>'
    )


_STYLE = (
    ".am-pg__grid{display:grid;gap:.4rem 1rem;grid-template-columns:repeat(auto-fit,minmax(13rem,1fr));"
    "margin:.5rem 0;text-align:left}"
    ".am-pg__control{display:flex;flex-direction:column;font-size:.75rem;gap:.1rem}"
    ".am-pg__control output{font-variant-numeric:tabular-nums}"
    ".am-pg__buttons{display:flex;flex-wrap:wrap;gap:.4rem;align-items:center}"
    ".am-pg__buttons .md-button{margin:0;padding:.3em 1.2em}"
    ".am-pg__step{font-variant-numeric:tabular-nums;margin-left:.5rem}"
    ".am-pg__live{display:grid;gap:.5rem 1rem;grid-template-columns:repeat(auto-fit,minmax(15rem,1fr))}"
    ".am-pg__live[hidden],.am-pg__controls[hidden]{display:none}"
    ".am-pg__chart{margin:0;min-width:0}"
    ".am-pg__chart p{margin:.2rem 0;font-size:.7rem;text-align:center}"
    ".am-pg__readout{font-size:.75rem;font-variant-numeric:tabular-nums}"
)


def static_html() -> str:
    """Controls (enabled by playground.js), the finished run's figure and its numbers."""
    svg, alt = static_figure()
    controls = "".join(_control_html(c) for c in CONTROLS)
    buttons = "".join(
        f'<button type="button" class="md-button" data-action="{a}" disabled>{label}</button>'
        for a, label in (("play", "Play"), ("step", "Step"), ("reset", "Reset"))
    )
    return (
        f"<style>{_STYLE}</style>"
        '<form class="am-pg__controls" autocomplete="off" hidden>'
        f'<div class="am-pg__buttons">{buttons}<span class="am-pg__step" data-pg-step="">step 0</span></div>'
        f'<div class="am-pg__grid">{controls}</div></form>'
        f'<figure class="am-pg__static">{svg}<figcaption>{escape(alt)} Turn on JavaScript to train '
        "live in your browser.</figcaption></figure>"
        '<div class="am-pg__live" hidden></div>'
    )


PLAYGROUND = _register(_spec())
