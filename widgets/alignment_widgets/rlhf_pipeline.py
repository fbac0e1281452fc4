"""The RLHF pipeline (chapter 3) as an accessible SVG: stages, data and models.

The diagram is declared here once.  ``static_html()`` renders the SVG plus a text panel for
every stage, so a reader without JavaScript sees the whole pipeline and every explanation;
``docs/widgets/pipeline.js`` adds click / focus / keyboard highlighting of a stage's inputs,
outputs and arrows, and shows that stage's panel.  No Python runs in the browser.
"""

from __future__ import annotations

from dataclasses import dataclass
from html import escape

from ._spec import script_widget


@dataclass(frozen=True)
class Box:
    """A rectangle of the diagram: a dataset, a model or a training stage."""

    id: str
    title: str
    subtitle: str
    kind: str  # "data", "model" or "stage"
    x: float
    y: float
    w: float = 200.0
    h: float = 62.0


@dataclass(frozen=True)
class Arrow:
    """A directed connection; ``label`` is drawn next to it when not empty."""

    id: str
    source: str
    target: str
    path: str  # SVG path data in viewBox units
    label: str = ""
    label_x: float = 0.0
    label_y: float = 0.0
    label_anchor: str = "middle"  # SVG text-anchor of the label


@dataclass(frozen=True)
class Stage:
    """What one stage consumes and produces, and what it is for."""

    id: str  # the id of its Box
    inputs: tuple[str, ...]
    outputs: tuple[str, ...]
    arrows: tuple[str, ...]
    consumes: str
    produces: str
    role: str


WIDTH, HEIGHT = 960, 470

BOXES: tuple[Box, ...] = (
    Box("pretrained", "Pretrained LM", "predicts likely text", "model", 20, 30, 180),
    Box("demos", "Demonstrations", "prompts + human-written answers", "data", 220, 30),
    Box("comparisons", "Comparisons", "y_w ≻ y_l, ranked by people", "data", 470, 30),
    Box("prompts", "Prompts", "no labels needed", "data", 740, 30, 180),
    Box("stage-sft", "1. Supervised fine-tuning", "next-token loss", "stage", 120, 190),
    Box("stage-rm", "2. Reward model", "Bradley–Terry loss", "stage", 420, 190),
    Box("stage-ppo", "3. RL with PPO", "maximise r_φ − β·KL", "stage", 720, 190),
    Box("sft-model", "SFT model", "also the frozen reference π_ref", "model", 120, 350),
    Box("reward-model", "Reward model r_φ", "one score per (x, y)", "model", 420, 350),
    Box("policy", "Policy π_θ", "the aligned assistant", "model", 720, 350),
)

ARROWS: tuple[Arrow, ...] = (
    Arrow("a-pretrained-sft", "pretrained", "stage-sft", "M110 92 L180 186"),
    Arrow("a-demos-sft", "demos", "stage-sft", "M320 92 L260 186"),
    Arrow("a-sft-out", "stage-sft", "sft-model", "M220 252 L220 346"),
    Arrow(
        "a-sft-rm",
        "sft-model",
        "stage-rm",
        "M320 381 C370 381 370 238 416 238",
        "init + samples to rank",
        362,
        300,
        "end",
    ),
    Arrow("a-comparisons-rm", "comparisons", "stage-rm", "M570 92 L520 186"),
    Arrow("a-rm-out", "stage-rm", "reward-model", "M520 252 L520 346"),
    Arrow(
        "a-rm-ppo",
        "reward-model",
        "stage-ppo",
        "M620 381 C670 381 670 238 716 238",
        "scores r_φ(x, y)",
        660,
        300,
        "end",
    ),
    Arrow(
        "a-sft-ppo",
        "sft-model",
        "stage-ppo",
        "M220 412 V446 H700 V300 H760 V256",
        "initial policy + frozen reference π_ref",
        460,
        440,
    ),
    Arrow("a-prompts-ppo", "prompts", "stage-ppo", "M830 92 L830 186"),
    Arrow("a-ppo-out", "stage-ppo", "policy", "M830 252 L830 346"),
)

STAGES: tuple[Stage, ...] = (
    Stage(
        "stage-sft",
        inputs=("pretrained", "demos"),
        outputs=("sft-model",),
        arrows=("a-pretrained-sft", "a-demos-sft", "a-sft-out"),
        consumes="the pretrained model and demonstrations: prompts with answers written by people.",
        produces="the SFT model, which answers in the assistant format.",
        role=(
            "Imitation: fine-tune on the demonstrations with the ordinary next-token loss. "
            "The SFT model starts every later stage and is the reference that the KL "
            "penalty measures distance from."
        ),
    ),
    Stage(
        "stage-rm",
        inputs=("sft-model", "comparisons"),
        outputs=("reward-model",),
        arrows=("a-sft-rm", "a-comparisons-rm", "a-rm-out"),
        consumes=(
            "comparisons: several SFT samples per prompt, ranked by people; and a network "
            "to start from, here the SFT model (InstructGPT trained one 6B reward model "
            "and used it for policies of every size, §3.5 and App. C)."
        ),
        produces="the reward model r_φ(x, y), a network with a scalar head.",
        role=(
            "Judging is easier than demonstrating: learn from rankings a score that orders "
            "responses as people would, with the Bradley–Terry loss (chapter 2)."
        ),
    ),
    Stage(
        "stage-ppo",
        inputs=("sft-model", "reward-model", "prompts"),
        outputs=("policy",),
        arrows=("a-sft-ppo", "a-rm-ppo", "a-prompts-ppo", "a-ppo-out"),
        consumes=(
            "unlabelled prompts, the reward model, and the SFT model twice: as the starting "
            "policy and as the frozen reference π_ref."
        ),
        produces="the policy π_θ: the aligned assistant.",
        role=(
            "Generate answers, score them with r_φ, subtract β times the log-ratio to π_ref "
            "on every token, and update the policy with PPO (chapter 4). The KL penalty "
            "keeps it near the text the reward model was trained on."
        ),
    ),
)

_BOX = {b.id: b for b in BOXES}
_KIND_LABEL = {"data": "dataset", "model": "model", "stage": "training stage"}

_STYLE = """
.pl-figure{margin:0}
.pl-figure svg{width:100%;height:auto;color:var(--md-default-fg-color,#222);font-family:inherit}
.pl-box rect{fill:var(--md-default-bg-color,#fff);stroke:currentColor;stroke-width:1.5}
.pl-box[data-kind=data] rect{stroke-dasharray:6 3}
.pl-box[data-kind=stage] rect{stroke-width:2.5}
.pl-box[data-kind=stage]{cursor:pointer}
.pl-box[data-kind=stage]:focus{outline:none}
.pl-box[data-kind=stage]:focus-visible rect{stroke:var(--md-accent-fg-color,#e91e63);stroke-width:4}
.pl-arrow path{fill:none;stroke:currentColor;stroke-opacity:.6;stroke-width:1.6}
.pl-arrow text{fill:currentColor;font-size:12px}
.pl-title{font-size:15px;font-weight:700;fill:currentColor}
.pl-sub{font-size:12px;fill:currentColor;opacity:.8}
.pl-figure .is-dimmed{opacity:.25}
.pl-figure .is-input rect{stroke:#1e88e5;stroke-width:3.5}
.pl-figure .is-output rect{stroke:#43a047;stroke-width:3.5}
.pl-figure .is-selected rect{stroke:var(--md-accent-fg-color,#e91e63);stroke-width:4}
.pl-figure .pl-arrow.is-active path{stroke-opacity:1;stroke-width:3.2}
.pl-legend{font-size:.8em;margin:.3em 0;text-align:left}
.pl-panels{text-align:left}
.pl-panel h4{margin:.4em 0 .2em}
"""


def _box_svg(box: Box, stage: Stage | None) -> str:
    cx = box.x + box.w / 2
    attrs = f'class="pl-box" data-node="{box.id}" data-kind="{box.kind}"'
    label = f"{box.title} ({_KIND_LABEL[box.kind]}): {box.subtitle}"
    if stage is not None:
        attrs += (
            f' data-stage="{stage.id}" data-inputs="{" ".join(stage.inputs)}"'
            f' data-outputs="{" ".join(stage.outputs)}" data-arrows="{" ".join(stage.arrows)}"'
            f' aria-controls="pl-panel-{stage.id}"'
        )
    return (
        f'<g {attrs} aria-label="{escape(label)}">'
        f'<rect x="{box.x:g}" y="{box.y:g}" width="{box.w:g}" height="{box.h:g}" rx="8"/>'
        f'<text class="pl-title" x="{cx:g}" y="{box.y + 26:g}" text-anchor="middle">'
        f"{escape(box.title)}</text>"
        f'<text class="pl-sub" x="{cx:g}" y="{box.y + 46:g}" text-anchor="middle">'
        f"{escape(box.subtitle)}</text></g>"
    )


def _arrow_svg(arrow: Arrow) -> str:
    text = ""
    if arrow.label:
        text = (
            f'<text x="{arrow.label_x:g}" y="{arrow.label_y:g}" '
            f'text-anchor="{arrow.label_anchor}">'
            f"{escape(arrow.label)}</text>"
        )
    title = f"{_BOX[arrow.source].title} → {_BOX[arrow.target].title}"
    if arrow.label:
        title += f": {arrow.label}"
    return (
        f'<g class="pl-arrow" data-arrow="{arrow.id}" data-from="{arrow.source}" '
        f'data-to="{arrow.target}"><title>{escape(title)}</title>'
        f'<path d="{arrow.path}" marker-end="url(#pl-arrowhead)"/>{text}</g>'
    )


def _panel_html(stage: Stage) -> str:
    box = _BOX[stage.id]
    return (
        f'<section class="pl-panel" id="pl-panel-{stage.id}" data-panel="{stage.id}">'
        f"<h4>{escape(box.title)}</h4>"
        f"<p><strong>Consumes:</strong> {escape(stage.consumes)}<br>"
        f"<strong>Produces:</strong> {escape(stage.produces)}<br>"
        f"<strong>Role:</strong> {escape(stage.role)}</p></section>"
    )


def static_html() -> str:
    """The pipeline as an SVG diagram followed by one text panel per stage."""
    stages = {s.id: s for s in STAGES}
    parts = [
        f"<style>{_STYLE}</style>",
        '<figure class="pl-figure">',
        f'<svg viewBox="0 0 {WIDTH} {HEIGHT}" role="group" aria-labelledby="pl-title pl-desc" '
        'xmlns="http://www.w3.org/2000/svg">',
        '<title id="pl-title">The RLHF pipeline: SFT, reward model, PPO</title>',
        '<desc id="pl-desc">Top row: the inputs (pretrained model, demonstrations, '
        "comparisons, prompts). Middle row: the three training stages. Bottom row: the models "
        "they produce (SFT model, reward model, policy). Arrows show what each stage consumes "
        "and produces; the text below the diagram describes every stage.</desc>",
        '<defs><marker id="pl-arrowhead" viewBox="0 0 10 10" refX="9" refY="5" '
        'markerUnits="userSpaceOnUse" markerWidth="11" markerHeight="11" orient="auto">'
        '<path d="M0 0 L10 5 L0 10 z" fill="currentColor"/></marker></defs>',
        '<g class="pl-arrows">',
        *(_arrow_svg(a) for a in ARROWS),
        "</g>",
        '<g class="pl-boxes">',
        *(_box_svg(b, stages.get(b.id)) for b in BOXES),
        "</g></svg>",
        '<p class="pl-legend">Dashed boxes: data; thick boxes: training stages; the others: '
        "models. Select a stage (click, or Tab to it and press Enter) to highlight its "
        '<span style="color:#1e88e5">inputs</span> and '
        '<span style="color:#43a047">outputs</span>.</p>',
        '<div class="pl-panels" data-panels aria-live="polite">',
        *(_panel_html(s) for s in STAGES),
        "</div>",
        "<figcaption>The three stages of RLHF and the data that flows between them "
        "(after Ouyang et al. 2022, Fig. 2).</figcaption></figure>",
    ]
    return "".join(parts)


PIPELINE = script_widget(
    "rlhf-pipeline",
    title="The RLHF pipeline",
    summary=(
        "SFT, reward model and PPO with their data. Select a stage to highlight what it "
        "consumes and produces and to read its role."
    ),
    script="pipeline",
    static_html=static_html,
)
