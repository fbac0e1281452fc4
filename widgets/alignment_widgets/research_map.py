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
        "Bowman et al. 2022",
    ),
    (
        "markets",
        "Market-style schemes",
        "Many agents stake claims or predictions and are paid when the few checked ones "
        "turn out right; still mostly proposals, with little evidence at LLM scale.",
        "no single reference paper",
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
        "Read what the model computes, not only what it outputs, so that a hidden "
        "objective or a backdoor can be seen rather than inferred.",
        "open field",
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
        "open field",
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
    ("debate", "multi", "a debate is a two-agent game"),
    ("markets", "multi", "needs many agents"),
    ("w2s", "interp", "both try to elicit what a model knows"),
    ("interp", "deception", "could reveal"),
    ("deception", "robust", "a trigger is a distribution shift"),
    ("robust", "overopt", "optimisation moves the policy off the reward model's data"),
    ("rrm", "overopt", "learned rewards can be gamed"),
    ("process", "overopt", "denser checks leave less to exploit"),
)

_WIDTH, _HEIGHT = 880, 480
_LABELS = {node_id: label for node_id, label, _, _ in NODES}
# Hand-placed centres: multi-agent ideas on the left, what a model knows on the right,
# optimisation pressure along the bottom, the hub in the middle.
_POSITIONS = {
    "oversight": (440, 235),
    "rrm": (200, 90),
    "sandwich": (440, 60),
    "w2s": (700, 60),
    "debate": (110, 200),
    "markets": (110, 320),
    "multi": (110, 430),
    "process": (330, 430),
    "overopt": (560, 430),
    "interp": (760, 160),
    "deception": (760, 260),
    "robust": (760, 360),
}


def positions() -> dict[str, tuple[float, float]]:
    """Node centres in SVG user units (the viewBox is 880 × 480)."""
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
