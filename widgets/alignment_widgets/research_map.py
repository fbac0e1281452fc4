"""Chapter 11: a map of open research directions, drawn in JavaScript over static SVG.

The graph (nodes, summaries, connections) is declared here once.  ``static_html()``
renders it as an accessible SVG plus a definition list, so a reader without JavaScript
gets every summary and every connection; ``docs/widgets/research_map.js`` adds hover,
focus and keyboard navigation on top of that markup.
"""

from __future__ import annotations

from html import escape

from ._spec import script_widget

# id, label, one-sentence summary, where to read more
NODES: tuple[tuple[str, str, str, str], ...] = (
    (
        "oversight",
        "Scalable oversight",
        "How to give a reliable training signal on tasks people can no longer check "
        "unaided: every idea around this hub is one answer.",
        "Bowman et al. 2022",
    ),
    (
        "rrm",
        "Recursive reward modelling",
        "Learn a reward from people, then use agents trained that way to help people "
        "evaluate harder tasks, and repeat.",
        "Leike et al. 2018",
    ),
    (
        "debate",
        "Debate",
        "Two models argue opposite answers and a weaker judge picks a winner; in theory "
        "a poly-time judge of an optimal debate can decide far harder questions than it "
        "could check directly.",
        "Irving, Christiano & Amodei 2018",
    ),
    (
        "sandwich",
        "Sandwiching",
        "Measure oversight methods where non-experts supervise a model that knows more "
        "than they do, with experts holding the ground truth.",
        "Cotra 2021; Bowman et al. 2022",
    ),
    (
        "markets",
        "Market making",
        "One model predicts what a person will finally believe; an adversary is paid for "
        "arguments that move the person away from that prediction, so at equilibrium the "
        "prediction is one no argument can shift. A proposal, not yet tested at scale.",
        "Hubinger 2020",
    ),
    (
        "w2s",
        "Weak-to-strong generalisation",
        "Train a strong model on a weak supervisor's labels and measure how much of the "
        "gap to the strong model's ceiling it recovers.",
        "Burns et al. 2023",
    ),
    (
        "process",
        "Process supervision",
        "Check each step of a reasoning chain rather than only the answer: smaller "
        "judgements are easier to get right.",
        "Lightman et al. 2023 (chapter 9)",
    ),
    (
        "interp",
        "Interpretability",
        "Read what the model computes, not only what it outputs: sparse autoencoders found "
        "millions of features in a production model, some safety-relevant and able to "
        "steer it when clamped; the feature set is still incomplete.",
        "Bricken et al. 2023; Templeton et al. 2024",
    ),
    (
        "cot",
        "CoT faithfulness",
        "A stated chain of thought need not be why the model answered; monitoring it "
        "catches reward hacking, but training against the monitor teaches the model to "
        "hide its intent.",
        "Lanham et al. 2023; Turpin et al. 2023; Baker et al. 2025",
    ),
    (
        "faking",
        "Alignment faking",
        "Models that comply selectively when they believe they are being trained, or that "
        "scheme in pursuit of a goal given in context and keep up the deception when "
        "questioned.",
        "Greenblatt et al. 2024; Meinke et al. 2024",
    ),
    (
        "deception",
        "Hidden behaviours",
        "A trained-in backdoor survived supervised, RL and adversarial safety training, "
        "most of all in the largest models.",
        "Hubinger et al. 2024",
    ),
    (
        "robust",
        "Robustness under shift",
        "Reward models and policies meet inputs unlike their training data; accuracy on "
        "held-out labelers already drops.",
        "Ouyang et al. 2022",
    ),
    (
        "jailbreak",
        "Jailbreaks",
        "Prompts that get a safety-trained model to do what it was trained to refuse, "
        "written by hand or found automatically, and transferring between models.",
        "Wei et al. 2023; Zou et al. 2023",
    ),
    (
        "goalmis",
        "Goal misgeneralisation",
        "A capable agent pursues the wrong goal off its training distribution, even when "
        "its reward was specified correctly.",
        "Langosco et al. 2022; Shah et al. 2022",
    ),
    (
        "overopt",
        "Reward over-optimisation",
        "Optimising a learned reward hard enough lowers the true reward; the gap grows "
        "with the KL distance travelled.",
        "Gao, Schulman & Hilton 2022 (chapter 10)",
    ),
    (
        "multi",
        "Multi-agent alignment",
        "Many models interacting with each other and with people: whose preferences "
        "count, and what emerges when aligned agents compete.",
        "no reference experiment yet",
    ),
)

EDGES: tuple[tuple[str, str, str], ...] = (
    ("oversight", "rrm", "builds on"),
    ("oversight", "debate", "builds on"),
    ("oversight", "sandwich", "is measured by"),
    ("oversight", "markets", "builds on"),
    ("oversight", "w2s", "is studied through"),
    ("oversight", "process", "builds on"),
    ("sandwich", "w2s", "both test supervision across a capability gap"),
    ("debate", "markets", "market making is a variant of debate"),
    ("debate", "multi", "a debate is a two-agent game"),
    ("markets", "multi", "needs several agents"),
    ("w2s", "interp", "both try to elicit what a model knows"),
    ("interp", "deception", "could reveal"),
    ("interp", "faking", "could reveal"),
    ("interp", "cot", "both look for the reasoning behind an answer"),
    ("process", "cot", "both read the steps, not only the answer"),
    ("cot", "faking", "a monitor of the reasoning can catch stated scheming"),
    ("faking", "deception", "arising in context or in training, not planted"),
    ("deception", "robust", "a trigger is a distribution shift"),
    ("jailbreak", "robust", "an attack is a designed distribution shift"),
    ("jailbreak", "overopt", "adversarial search finds errors as optimisation does"),
    ("goalmis", "robust", "a shift reveals which goal was learned"),
    ("goalmis", "overopt", "a wrong goal despite a right reward, versus a wrong reward"),
    ("robust", "overopt", "optimisation moves the policy off the reward model's data"),
    ("rrm", "overopt", "learned rewards can be gamed"),
    ("process", "overopt", "denser checks leave less to exploit"),
)

_WIDTH, _HEIGHT = 880, 520
_LABELS = {node_id: label for node_id, label, _, _ in NODES}
# Hand-placed centres: multi-agent ideas on the left, what a model knows and hides on the
# right, optimisation pressure and distribution shift along the bottom, the hub in the
# middle.  tests/test_widgets_ch10_11_content.py checks that no two labels overlap.
_POSITIONS = {
    "oversight": (440, 260),
    "rrm": (200, 90),
    "sandwich": (440, 60),
    "w2s": (700, 60),
    "debate": (110, 200),
    "markets": (110, 320),
    "multi": (110, 430),
    "process": (250, 470),
    "cot": (560, 150),
    "interp": (760, 150),
    "faking": (760, 230),
    "deception": (760, 310),
    "robust": (765, 390),
    "jailbreak": (760, 470),
    "goalmis": (530, 390),
    "overopt": (560, 470),
}


def node_box(node_id: str) -> tuple[float, float, float, float]:
    """(left, top, right, bottom) of a node's rounded rectangle, in SVG user units."""
    x, y = _POSITIONS[node_id]
    half = (9 * len(_LABELS[node_id]) + 24) / 2
    return x - half, y - 16, x + half, y + 16


def positions() -> dict[str, tuple[float, float]]:
    """Node centres in SVG user units (the viewBox is 880 × 520)."""
    return {k: (float(x), float(y)) for k, (x, y) in _POSITIONS.items()}


def neighbours(node_id: str) -> list[str]:
    """Ids connected to ``node_id``, in the order the edges are listed."""
    out = []
    for a, b, _ in EDGES:
        if a == node_id:
            out.append(b)
        elif b == node_id:
            out.append(a)
    return out


def static_html() -> str:
    """The map as an SVG graph plus a list of every summary and connection."""
    pos = positions()
    parts = [
        '<figure class="research-map">',
        f'<svg viewBox="0 0 {_WIDTH} {_HEIGHT}" role="group" '
        'aria-labelledby="rm-title rm-desc" xmlns="http://www.w3.org/2000/svg">',
        '<title id="rm-title">Map of open problems in alignment research</title>',
        '<desc id="rm-desc">Scalable oversight sits at the centre; lines join related '
        "directions. The list below the map gives each direction's summary and "
        "connections.</desc>",
        '<g class="rm-edges" stroke="currentColor" stroke-opacity="0.35" stroke-width="1.5">',
    ]
    for a, b, relation in EDGES:
        (x1, y1), (x2, y2) = pos[a], pos[b]
        parts.append(
            f'<line data-edge="{a} {b}" x1="{x1:.1f}" y1="{y1:.1f}" x2="{x2:.1f}" '
            f'y2="{y2:.1f}"><title>{escape(_LABELS[a])} – {escape(_LABELS[b])}: '
            f"{escape(relation)}</title></line>"
        )
    parts.append("</g>")
    for node_id, label, summary, _source in NODES:
        x, y = pos[node_id]
        width = 9 * len(label) + 24
        parts.append(
            f'<g class="rm-node" data-node="{node_id}" data-neighbours="'
            f'{" ".join(neighbours(node_id))}" aria-label="{escape(label)}: {escape(summary)}">'
            f'<rect x="{x - width / 2:.1f}" y="{y - 16:.1f}" width="{width}" height="32" rx="16" '
            'fill="var(--md-default-bg-color, #fff)" stroke="currentColor" stroke-width="1.5"/>'
            f'<text x="{x:.1f}" y="{y + 5:.1f}" text-anchor="middle" font-size="14" '
            f'fill="currentColor">{escape(label)}</text></g>'
        )
    parts.append("</svg>")
    parts.append(
        '<p class="rm-summary" data-summary="" aria-live="polite">'
        "Hover over or focus a direction to read its summary here.</p>"
    )
    parts.append("<figcaption>Open research directions and how they connect.</figcaption>")
    parts.append(
        '<details class="rm-details" style="text-align: left">'
        "<summary>Every direction as text: summary, source and connections</summary>"
        '<dl class="rm-list">'
    )
    for node_id, label, summary, source in NODES:
        linked = ", ".join(_LABELS[n] for n in neighbours(node_id))
        parts.append(
            f'<dt id="rm-{node_id}"><strong>{escape(label)}</strong></dt>'
            f"<dd>{escape(summary)} <em>({escape(source)})</em> "
            f"Connects to: {escape(linked)}.</dd>"
        )
    parts.append("</dl></details></figure>")
    return "".join(parts)


RESEARCH_MAP = script_widget(
    "research-map",
    title="A map of open problems",
    summary="The open research directions of alignment as a graph: hover or focus a node "
    "to read its summary and see what it connects to.",
    script="research_map",
    static_html=static_html,
)
