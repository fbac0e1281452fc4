"""MkDocs hook: live widgets, rendered statically at build time, plus the site's vendored assets.

A chapter puts a widget in a page with one line of Markdown::

    [[widget bradley-terry]]

This hook replaces that line with the widget's HTML (the DOM contract the browser
runtime and the browser tests rely on):

* the root ``<div data-widget="NAME" data-state="static">``;
* one labelled ``<input>`` per control, whose ``name`` is the compute function's
  parameter (``type=range`` for a Slider, with its value shown in an ``<output>``;
  ``checkbox`` for a Toggle; ``radio`` inputs sharing the name for a Choice);
* one element per readout with ``data-readout="KEY"`` holding the text Python formats
  at the defaults (a ``kind="text"`` readout's box also has class ``am-readout--text``:
  a full-width passage whose line breaks the CSS keeps);
* each chart's static figure, rendered at the defaults by CPython + matplotlib as
  inline SVG with ``role="img"`` and the chart's text alternative,

so that the page is right before JavaScript runs and with JavaScript off.  An unknown
widget name fails the build (mkdocs-material's shortcodes hook does the same).

After the build it copies into the site what the browser runtime needs, all from this
machine (no CDN): the self-hosted Pyodide assembled by ``scripts/build_pyodide.py``
(``site/pyodide/``), uPlot and KaTeX from ``node_modules/`` (``site/assets/vendor/``),
and a version-keyed service worker (``site/sw.js``) so a repeat visit re-downloads no
Pyodide file.
"""

from __future__ import annotations

import hashlib
import html
import io
import itertools
import json
import logging
import mimetypes
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

from mkdocs.exceptions import PluginError

log = logging.getLogger("mkdocs.hooks.widgets")

ROOT = Path(__file__).resolve().parents[2]
#: where scripts/build_pyodide.py puts the self-hosted Pyodide (``make pyodide``).
PYODIDE_DIR = Path(os.environ.get("ALIGNMENT_PYODIDE_DIR", ROOT / ".cache" / "pyodide"))
NODE_MODULES = ROOT / "node_modules"
#: files copied from node_modules into site/assets/vendor/<package>/ (globs).
VENDOR = {
    "uplot": ["dist/uPlot.esm.js", "dist/uPlot.min.css", "LICENSE"],
    "katex": [
        "dist/katex.min.js",
        "dist/katex.min.css",
        "dist/contrib/auto-render.min.js",
        "dist/fonts/*.woff2",
        "LICENSE",
    ],
}
PYODIDE_FILES = ("pyodide.mjs", "pyodide.asm.js", "pyodide.asm.wasm", "python_stdlib.zip",
                 "pyodide-lock.json")

# .mjs must be served as JavaScript for the module worker (mkdocs serve uses mimetypes).
mimetypes.add_type("text/javascript", ".mjs")
mimetypes.add_type("application/wasm", ".wasm")

WIDGET_LINE = re.compile(r"^[ \t]*\[\[widget[ \t]+([^\]\s]*)[ \t]*\]\][ \t]*$")
FENCE = re.compile(r"^[ \t]*(`{3,}|~{3,})")
SLOT = re.compile(r'<div data-am-slot="([^"]+)"></div>|<p><div data-am-slot="([^"]+)"></div></p>')

#: the chart palette, shared with docs/widgets/loader.js (readable on light and dark).
PALETTE = {
    "blue": "#4e79a7",
    "orange": "#f28e2b",
    "red": "#e15759",
    "green": "#59a14f",
    "purple": "#b07aa1",
    "gray": "#8c8c8c",
}
#: figure "ink" (text, axes, ticks); replaced by currentColor so the SVG follows the theme.
INK = "#010101"
#: one shape per marker of a chart (diamond, square, triangle), hollow, in the ink colour;
#: loader.js draws the same shapes.
MARKER_SHAPES = ("D", "s", "^")


def is_integer_axis(x: Any) -> bool:
    """Whether an x axis counts things (whole numbers, at least one apart): integer ticks."""
    import numpy as np

    values = np.asarray(x, dtype=float)
    values = values[np.isfinite(values)]
    if values.size < 2 or not np.all(values == np.round(values)):
        return False
    return bool(np.min(np.diff(np.unique(values))) >= 1)


def shorten(label: str, chars: int) -> str:
    """``label`` cut to ``chars`` characters with an ellipsis (same rule as loader.js)."""
    return label if len(label) <= chars else label[: max(1, chars - 1)].rstrip() + "…"


def _untangle_categories(fig: Any, ax: Any, categories: list[str], salt: str) -> None:
    """Category labels that would overlap are rotated, and if still too long, shortened
    (the full label stays in the SVG as a tooltip <title> and in the text alternative)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    renderer = FigureCanvasAgg(fig).get_renderer()

    def overlapping() -> bool:
        boxes = [t.get_window_extent(renderer) for t in ax.get_xticklabels() if t.get_text()]
        return any(a.x1 + 2 > b.x0 for a, b in itertools.pairwise(boxes))

    if not overlapping():
        return
    for text in ax.get_xticklabels():
        text.set_rotation(30)
        text.set_horizontalalignment("right")
        text.set_rotation_mode("anchor")
    if overlapping():
        ax.set_xticks(ax.get_xticks(), [shorten(c, 12) for c in categories])
        for k, text in enumerate(ax.get_xticklabels()):
            text.set_rotation(30)
            text.set_horizontalalignment("right")
            text.set_rotation_mode("anchor")
            if text.get_text() != categories[k]:
                text.set_gid(f"{salt}-cat-{k}")  # render_svg adds the full label as a tooltip


def _esc(text: object) -> str:
    return html.escape(str(text), quote=True)


# --------------------------------------------------------------------------- static SVG


def _color(name: str, index: int) -> str:
    if name.startswith("#"):
        return name
    if name:
        return PALETTE.get(name, name)
    return list(PALETTE.values())[index % len(PALETTE)]


def render_svg(chart: Any, salt: str) -> str:
    """The chart as inline SVG (matplotlib, Agg-free SVG backend), themed by currentColor."""
    import matplotlib

    matplotlib.use("Agg")
    import numpy as np
    from matplotlib.figure import Figure
    from matplotlib.ticker import MaxNLocator

    rc = {
        "svg.fonttype": "none",
        "svg.hashsalt": salt,
        "font.size": 10,
        "text.color": INK,
        "axes.edgecolor": INK,
        "axes.labelcolor": INK,
        "xtick.color": INK,
        "ytick.color": INK,
        "axes.spines.top": False,
        "axes.spines.right": False,
        "legend.frameon": False,
    }
    with matplotlib.rc_context(rc):
        fig = Figure(figsize=(6.4, 3.4))
        ax = fig.add_subplot()
        x = np.asarray(chart.x, dtype=float)
        categories = list(chart.categories) if chart.categories is not None else None
        positions = np.arange(len(x)) if categories is not None else x
        bars = [s for s in chart.series if s.kind == "bar"]
        width = 0.8 / max(len(bars), 1)
        for band in chart.bands:
            ax.axvspan(band.x0, band.x1, color=PALETTE["gray"], alpha=0.18, lw=0,
                       label=band.label or None)
        points = [s for s in chart.series if s.kind == "points"]
        for i, s in enumerate(chart.series):
            y = np.asarray(s.y, dtype=float)
            color = _color(s.color, i)
            style = "--" if s.dash else "-"
            if s.kind == "bar":
                k = bars.index(s)
                offset = (k - (len(bars) - 1) / 2) * width if categories is not None else 0.0
                ax.bar(positions + offset, y, width=width if categories is not None else
                       (0.8 * float(np.min(np.diff(x))) if len(x) > 1 else 0.8),
                       color=color, label=s.label)
            elif s.kind == "points":
                # points of several series that share a position: concentric, the earlier
                # series drawn larger, so every one stays visible
                k = points.index(s)
                later = [np.asarray(t.y, dtype=float) for t in points[k + 1:]]
                sharing = max((int(np.sum([np.isclose(t[j], y[j]) for t in later]))
                               for j in range(len(y)) if np.isfinite(y[j])), default=0)
                size = 4 + 2.5 * sharing
                ax.plot(positions, y, "o", color=color, ms=size, mec="white", mew=0.6,
                        label=s.label, zorder=3 + k)
            elif s.kind == "step":
                ax.step(positions, y, where="mid", color=color, ls=style, lw=2, label=s.label)
            else:
                ax.plot(positions, y, color=color, ls=style, lw=2, label=s.label)
        for k, m in enumerate(chart.markers):
            mx = m.x
            if categories is not None:
                mx = float(np.argmin(np.abs(x - m.x)))
            # a marker is drawn in the figure's ink (never a series colour), one shape each
            # hollow, so a point under it still shows
            ax.plot([mx], [m.y], MARKER_SHAPES[k % len(MARKER_SHAPES)], ms=11, mfc="none",
                    mec=INK, mew=2, label=m.label or None, zorder=6, gid=f"{salt}-marker-{k}")
        if categories is not None:
            ax.set_xticks(positions, categories)
        elif is_integer_axis(x):
            ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        if chart.y_min is not None or chart.y_max is not None:
            ax.set_ylim(bottom=chart.y_min, top=chart.y_max)
        ax.set_xlabel(chart.x_label, wrap=True)
        ax.set_ylabel(chart.y_label, wrap=True)
        ax.set_title(chart.title, fontsize=11, wrap=True)
        ax.grid(True, color=INK, alpha=0.12, lw=0.6)
        _, labels = ax.get_legend_handles_labels()
        if len(labels) > 1:
            ax.legend(fontsize=8.5, loc="best")
        if categories is not None:
            _untangle_categories(fig, ax, categories, salt)
        buffer = io.StringIO()
        fig.savefig(buffer, format="svg", bbox_inches="tight", transparent=True,
                    metadata={"Date": None, "Creator": None})
    svg = buffer.getvalue()
    svg = svg[svg.index("<svg"):]
    svg = re.sub(r"<metadata>.*?</metadata>", "", svg, flags=re.S)
    svg = re.sub(INK, "currentColor", svg, flags=re.I)
    # size by CSS; keep the viewBox; expose the text alternative to assistive technology.
    svg = re.sub(r'\s(width|height)="[^"]*"', "", svg.split(">", 1)[0], count=2) + ">" + \
        svg.split(">", 1)[1]
    if categories is not None:
        for k, label in enumerate(categories):
            svg = svg.replace(f'<g id="{salt}-cat-{k}">',
                              f'<g id="{salt}-cat-{k}"><title>{html.escape(label)}</title>', 1)
    alt = chart.alt_text()
    svg = svg.replace(
        "<svg", f'<svg class="am-svg" role="img" aria-label="{_esc(alt)}"', 1
    ).replace(">", f"><title>{html.escape(alt)}</title>", 1)
    return "\n".join(line for line in svg.splitlines() if line.strip())


# --------------------------------------------------------------------------- widget HTML


def _decimals(step: float) -> int:
    text = repr(float(step))
    if "e-" in text:
        return int(text.split("e-")[1])
    return 0 if float(step).is_integer() else len(text.split(".")[1])


def format_value(value: float, step: float, unit: str = "") -> str:
    """A slider's value as shown beside it (same rule as loader.js: the step's decimals)."""
    text = f"{float(value):.{_decimals(step)}f}"
    if float(text) == 0:
        text = text.lstrip("-")
    return f"{text} {unit}".rstrip()


def _control_html(control: Any, uid: str) -> str:
    cid = f"{uid}-{control.name}"
    if control.kind == "slider":
        value = format_value(control.default, control.step, control.unit)
        return (
            '<div class="am-control am-control--slider">'
            f'<label for="{cid}">{_esc(control.label)}</label>'
            f'<input type="range" id="{cid}" name="{_esc(control.name)}" '
            f'min="{control.min}" max="{control.max}" step="{control.step}" '
            f'value="{control.default}" data-decimals="{_decimals(control.step)}" '
            f'data-unit="{_esc(control.unit)}" aria-valuetext="{_esc(value)}" disabled>'
            f'<output for="{cid}" data-value-for="{_esc(control.name)}">{_esc(value)}</output>'
            "</div>"
        )
    if control.kind == "toggle":
        checked = " checked" if control.default else ""
        return (
            '<div class="am-control am-control--toggle">'
            f'<input type="checkbox" id="{cid}" name="{_esc(control.name)}"{checked} disabled>'
            f'<label for="{cid}">{_esc(control.label)}</label>'
            "</div>"
        )
    if control.kind == "choice":
        options = []
        for k, (value, label) in enumerate(control.options):
            checked = " checked" if value == control.default else ""
            options.append(
                f'<span class="am-option"><input type="radio" id="{cid}-{k}" '
                f'name="{_esc(control.name)}" value="{_esc(value)}"{checked} disabled>'
                f'<label for="{cid}-{k}">{_esc(label)}</label></span>'
            )
        return (
            '<fieldset class="am-control am-control--choice">'
            f"<legend>{_esc(control.label)}</legend>{''.join(options)}</fieldset>"
        )
    raise PluginError(f"control {control.name!r}: unknown kind {control.kind!r}")


def settings_text(controls: Any, params: dict[str, Any]) -> str:
    """The controls' values as one line (printed instead of the controls; loader.js keeps
    it current with the same rule)."""
    parts = []
    for c in controls:
        value = params.get(c.name, c.default)
        if c.kind == "slider":
            parts.append(f"{c.label}: {format_value(value, c.step, c.unit)}")
        elif c.kind == "toggle":
            parts.append(f"{c.label}: {'on' if value else 'off'}")
        elif c.kind == "choice":
            parts.append(f"{c.label}: {dict(c.options).get(value, value)}")
    return "Settings — " + "; ".join(parts) + "." if parts else ""


def render_widget(w: Any, uid: str) -> str:
    """The full no-JavaScript HTML of one widget (see the module docstring)."""
    head = (
        f'<div class="am-widget" data-widget="{_esc(w.name)}" data-state="static" id="{uid}"'
        + (f' data-script="{_esc(w.script)}"' if w.compute is None else "")
        + ">"
        f'<p class="am-widget__title">{_esc(w.title)}</p>'
        f'<p class="am-widget__summary">{_esc(w.summary)}</p>'
    )
    status = '<p class="am-widget__status" role="status" aria-live="polite"></p>'
    if w.compute is None:
        if w.static_html is None:
            raise PluginError(f"script widget {w.name!r} has no static_html")
        return head + f'<div class="am-widget__static">{w.static_html()}</div>' + status + "</div>"
    from alignment_widgets import WidgetError

    try:
        result = w.run({})
    except (WidgetError, ValueError, TypeError) as error:
        raise PluginError(f"widget {w.name!r} fails at its defaults: {error}") from error
    controls = "".join(_control_html(c, uid) for c in w.controls)
    readouts = "".join(
        f'<div class="am-readout{" am-readout--text" if r.kind == "text" else ""}">'
        f'<dt>{_esc(r.label)}</dt>'
        f'<dd data-readout="{_esc(r.key)}">{_esc(result["readouts"][r.key]["text"])}</dd></div>'
        for r in w.readouts
    )
    compute_result = w.compute(**w.defaults())
    charts = "".join(
        f'<figure class="am-chart" data-chart="{i}">'
        f'<div class="am-chart__static">{render_svg(chart, f"{w.name}-{i}")}</div>'
        '<div class="am-chart__live" role="img" hidden></div>'
        "</figure>"
        for i, chart in enumerate(compute_result.charts)
    )
    note = result["note"]
    return (
        head
        + f'<form class="am-controls" autocomplete="off">{controls}</form>'
        + f'<p class="am-widget__settings">{_esc(settings_text(w.controls, result["params"]))}</p>'
        + f'<dl class="am-readouts">{readouts}</dl>'
        + f'<div class="am-charts">{charts}</div>'
        + f'<p class="am-widget__note"{"" if note else " hidden"}>{_esc(note)}</p>'
        + status
        + "</div>"
    )


# --------------------------------------------------------------------------- MkDocs events

_cache: dict[str, str] = {}


def _registry() -> dict[str, Any]:
    try:
        import alignment_widgets
    except ImportError as error:  # pragma: no cover - environment problem
        raise PluginError(
            f"cannot import alignment_widgets ({error}); install it: pip install -e ./widgets"
        ) from error
    try:
        return alignment_widgets.registry()
    except Exception as error:
        raise PluginError(f"a widget module failed to import: {error!r}") from error


def on_startup(command: str, dirty: bool) -> None:
    _cache.clear()


def on_pre_build(config: Any) -> None:
    _cache.clear()


def on_page_markdown(markdown: str, page: Any, config: Any, files: Any) -> str:
    """Replace each ``[[widget NAME]]`` line (outside code fences) with a slot."""
    lines = markdown.split("\n")
    fence: str | None = None
    widgets = None
    for number, line in enumerate(lines, start=1):
        opened = FENCE.match(line)
        if opened:
            ticks = opened.group(1)
            if fence is None:
                fence = ticks
            elif ticks[0] == fence[0] and len(ticks) >= len(fence):
                fence = None
            continue
        if fence is not None:
            continue
        match = WIDGET_LINE.match(line)
        if not match:
            continue
        widgets = widgets if widgets is not None else _registry()
        name = match.group(1)
        where = f"{page.file.src_uri}:{number}"
        if name not in widgets:
            known = ", ".join(sorted(widgets)) or "(none)"
            raise PluginError(
                f"{where}: unknown widget {name!r} in '{line.strip()}'. Known widgets: {known}. "
                "A widget is a module in widgets/alignment_widgets/ declaring it with @widget."
            )
        w = widgets[name]
        if w.compute is None and not (ROOT / "docs" / "widgets" / f"{w.script}.js").is_file():
            raise PluginError(f"{where}: script widget {name!r} needs docs/widgets/{w.script}.js")
        indent = line[: len(line) - len(line.lstrip())]  # keeps a widget inside an admonition
        lines[number - 1] = f'\n{indent}<div data-am-slot="{name}"></div>\n'
    return "\n".join(lines)


def on_page_content(html_text: str, page: Any, config: Any, files: Any) -> str:
    """Swap each slot for the widget's rendered HTML (ids unique within the page)."""
    counter: dict[str, int] = {}

    def replace(match: re.Match[str]) -> str:
        name = match.group(1) or match.group(2)
        counter[name] = counter.get(name, 0) + 1
        uid = f"w-{name}" + (f"-{counter[name]}" if counter[name] > 1 else "")
        key = f"{name}#{uid}"
        if key not in _cache:
            _cache[key] = render_widget(_registry()[name], uid)
        return _cache[key]

    return render_math(SLOT.sub(replace, html_text), page.file.src_uri)


# --------------------------------------------------------------------------- math at build time

ARITHMATEX = re.compile(
    r'<(span|div) class="arithmatex">(.*?)</\1>', re.S
)
_katex: dict[str, Any] = {"proc": None, "cache": {}}


def _katex_render(tex: str, display: bool, where: str) -> str:
    """TeX -> HTML with the KaTeX of node_modules, in one long-lived node process."""
    key = f"{int(display)}{tex}"
    cache = _katex["cache"]
    if key in cache:
        return cache[key]
    proc = _katex["proc"]
    if proc is None or proc.poll() is not None:
        node = shutil.which("node")
        if node is None:
            raise PluginError("node is needed to render the math at build time (apt-get install nodejs)")
        proc = subprocess.Popen(
            [node, str(Path(__file__).with_name("katex_render.cjs"))],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, encoding="utf-8",
        )
        _katex["proc"] = proc
    assert proc.stdin is not None and proc.stdout is not None
    proc.stdin.write(json.dumps({"tex": tex, "display": display}) + "\n")
    proc.stdin.flush()
    reply = json.loads(proc.stdout.readline() or '{"error": "the KaTeX process stopped"}')
    if "error" in reply:
        raise PluginError(f"{where}: KaTeX cannot render {tex!r}: {reply['error']}")
    cache[key] = reply["html"]
    return cache[key]


def render_math(html_text: str, where: str) -> str:
    """Replace pymdownx.arithmatex's TeX (generic mode) by KaTeX HTML + MathML."""

    def replace(match: re.Match[str]) -> str:
        tag, body = match.group(1), html.unescape(match.group(2)).strip()
        display = tag == "div"
        if body.startswith("\\(") and body.endswith("\\)"):
            body, display = body[2:-2], False
        elif body.startswith("\\[") and body.endswith("\\]"):
            body, display = body[2:-2], True
        rendered = _katex_render(body.strip(), display, where)
        if display:
            # a display equation wider than the column scrolls: it must take keyboard focus
            # (docs/javascripts/a11y.js drops the focus stop where it fits)
            return (f'<{tag} class="arithmatex" tabindex="0" role="group" '
                    f'aria-label="Equation (scrolls sideways when wide)">{rendered}</{tag}>')
        return f'<{tag} class="arithmatex">{rendered}</{tag}>'

    return ARITHMATEX.sub(replace, html_text)


def on_shutdown() -> None:
    proc = _katex["proc"]
    if proc is not None and proc.poll() is None:
        proc.stdin.close()
        proc.wait(timeout=10)
    _katex["proc"] = None


def on_post_page(output: str, page: Any, config: Any) -> str:
    """Build-time fixes to the page's HTML (accessibility, no layout shift, non-blocking
    KaTeX CSS); on pages with computed widgets, start the Python worker from the top of
    <head> (docs/widgets/early.js, inlined) so Pyodide boots while the rest loads."""
    output = accessible_page(output, page.file.src_uri)
    if not re.search(r'<div class="am-widget" data-widget="[^"]+" data-state="static" id="[^"]+">',
                     output):
        return output
    output = widgets_first(output)
    script = (ROOT / "docs" / "widgets" / "early.js").read_text(encoding="utf-8")
    script = "\n".join(line for line in script.splitlines() if not line.lstrip().startswith("//"))
    early = (
        "<script>" + script.replace("__AM_WIDGETS__", _relative(page, "widgets/")) + "</script>"
        f'<link rel="modulepreload" href="{_relative(page, "widgets/loader.js")}">'
    )
    charset = re.search(r"<meta charset=[^>]*>", output)
    at = charset.end() if charset else output.index("</head>")
    return output[:at] + early + output[at:]


#: Material's bundle and the other classic scripts MkDocs puts at the end of <body>
_END_SCRIPT = re.compile(r'<script src="([^"]+\.js)"></script>')
_LOADER_SCRIPT = re.compile(r'\s*<script src="[^"]*widgets/loader\.js" type="module"></script>')


def widgets_first(output: str) -> str:
    """On a page with widgets, loader.js runs before Material's bundle: the classic scripts at the
    end of <body> (the bundle, katex-init.js) become ``defer`` and loader.js (a module: deferred
    too) moves in front of them, so the deferred scripts run in the order loader.js, bundle,
    katex-init.js once the page is parsed, before DOMContentLoaded, as the bundle did (it reads
    the parsed page).  The widgets then ask the worker for their numbers about a quarter of a
    second sooner on a small machine (the bundle's start-up, 0.15 s, and its DOMContentLoaded
    work, 0.1 s, no longer come first); loader.js waits for DOMContentLoaded to subscribe to
    Material's ``document$``."""
    loader = _LOADER_SCRIPT.search(output)
    bundle = next((m for m in _END_SCRIPT.finditer(output)
                   if re.search(r"(^|/)assets/javascripts/bundle\.[0-9a-f]+\.min\.js$", m.group(1))),
                  None)
    if loader is None or bundle is None or loader.start() < bundle.start():
        raise PluginError("expected Material's bundle, then loader.js, at the end of <body>")
    output = output[:loader.start()] + output[loader.end():]
    body_end = output.rindex("</body>")
    tail = _END_SCRIPT.sub(lambda m: f'<script src="{m.group(1)}" defer></script>',
                           output[bundle.start():body_end])
    return output[:bundle.start()] + loader.group(0).strip() + "\n" + tail + output[body_end:]


def on_post_template(output: str, template_name: str, config: Any) -> str:
    """The same HTML fixes on the pages MkDocs renders from a template alone (404.html)."""
    return accessible_page(output, template_name) if template_name.endswith(".html") else output


# --------------------------------------------------------------------------- page HTML fixes

#: a short description of each figure a notebook draws, in the order the page shows them
#: (mkdocs-jupyter writes "No description has been provided for this image" otherwise).
NOTEBOOK_FIGURES = {
    "notebooks/01-bradley-terry.ipynb": [
        "Line chart: the mean training loss in nats at each Newton step of the Bradley–Terry "
        "fit, with ln 2 (the loss of a reward model that knows nothing) as a dashed line.",
        "Line chart on a logarithmic x axis: the fitted reward model's expected agreement with "
        "held-out comparisons against the number of training comparisons, with the agreement of "
        "the true reward (the ceiling) as a dashed line.",
    ],
    "notebooks/02-dpo-bandit.ipynb": [
        "Line chart on a logarithmic y axis: KL(π* ‖ π_θ) against the gradient step, as "
        "population DPO converges to the closed-form optimal policy.",
        "Grouped bar chart over the six responses: each response's probability under the "
        "reference policy, under the closed-form optimum π*, and under DPO fitted to sampled "
        "preference pairs.",
    ],
    "notebooks/03-overoptimisation.ipynb": [
        "Line chart: true reward (solid) and proxy reward (dashed) against KL from the reference "
        "policy, for length bonuses 0, 0.25, 0.5 and 1; a dot marks each true-reward peak.",
        "Line chart: the covariance of the true and proxy rewards under π_β against KL from the "
        "reference policy, with zero as a grey line and the true-reward peak as a dashed "
        "vertical line.",
        "Two line charts: left, the KL of best-of-n sampling against n on a logarithmic axis, "
        "exact and the bound log n − (n−1)/n; right, the true reward of best-of-n against "
        "d = √KL.",
    ],
}
NO_ALT = "No description has been provided for this image"
IMG = re.compile(r'<img alt="([^"]*)"([^>]*?)src="data:image/png;base64,([A-Za-z0-9+/=]+)"')


def _png_size(data: str) -> tuple[int, int] | None:
    import base64
    import struct

    head = base64.b64decode(data[:44])
    if head[:8] != b"\x89PNG\r\n\x1a\n" or head[12:16] != b"IHDR":
        return None
    width, height = struct.unpack(">II", head[16:24])
    return width, height


def notebook_images(output: str, src_uri: str) -> str:
    """Each inline PNG gets its width and height (no layout shift) and real alt text."""
    captions = list(NOTEBOOK_FIGURES.get(src_uri, []))
    count = len(IMG.findall(output))
    if src_uri in NOTEBOOK_FIGURES and count != len(captions):
        raise PluginError(
            f"{src_uri} shows {count} figures but NOTEBOOK_FIGURES in docs/hooks/widgets.py "
            f"describes {len(captions)}: update the descriptions with the notebook."
        )

    def replace(match: re.Match[str]) -> str:
        alt, rest, data = match.groups()
        if alt in ("", NO_ALT):
            if not captions:
                raise PluginError(f"{src_uri}: a figure has no description (NOTEBOOK_FIGURES)")
            alt = captions.pop(0)
        size = _png_size(data)
        dims = f' width="{size[0]}" height="{size[1]}"' if size and "width=" not in rest else ""
        return f'<img alt="{_esc(alt)}"{dims}{rest}src="data:image/png;base64,{data}"'

    return IMG.sub(replace, output)


KATEX_CSS = re.compile(r'<link rel="stylesheet" href="([^"]*assets/vendor/katex/katex\.min\.css)">')


def accessible_page(output: str, src_uri: str) -> str:
    """Fixes to Material's and mkdocs-jupyter's markup that axe and Lighthouse name."""
    # the search overlay is a dialog: it needs a name
    output = output.replace('<div class="md-search" data-md-component="search" role="dialog">',
                            '<div class="md-search" data-md-component="search" role="dialog" '
                            'aria-label="Search the site">', 1)
    # an empty header cell (a table's corner) is a data cell, not a header without a name
    output = re.sub(r"<th>\s*</th>", "<td></td>", output)
    output = re.sub(r'<th( style="[^"]*")?>\s*</th>', r"<td\1></td>", output)
    if src_uri.endswith(".ipynb"):
        output = notebook_images(output, src_uri)
    # KaTeX's stylesheet does not block the first paint: preloaded, applied when loaded
    output = KATEX_CSS.sub(
        lambda m: f'<link rel="preload" href="{m.group(1)}" as="style" '
                  "onload=\"this.onload=null;this.rel='stylesheet'\">"
                  f'<noscript><link rel="stylesheet" href="{m.group(1)}"></noscript>',
        output, count=1)
    return output


def _relative(page: Any, path: str) -> str:
    depth = page.url.count("/") if page.url else 0
    return "../" * depth + path


def _copy(src: Path, dest: Path) -> None:
    if dest.is_file() and dest.stat().st_size == src.stat().st_size and \
            dest.stat().st_mtime >= src.stat().st_mtime:
        return
    dest.parent.mkdir(parents=True, exist_ok=True)
    shutil.copy2(src, dest)


def _pyodide_problem() -> str | None:
    """Why PYODIDE_DIR cannot serve this working tree (None when it can)."""
    import zipfile

    missing = [f for f in PYODIDE_FILES if not (PYODIDE_DIR / f).is_file()]
    if missing:
        return f"the self-hosted Pyodide is missing from {PYODIDE_DIR} ({', '.join(missing)})"
    lock = json.loads((PYODIDE_DIR / "pyodide-lock.json").read_text())
    absent = [p["file_name"] for p in lock["packages"].values()
              if not (PYODIDE_DIR / p["file_name"]).is_file()]
    if absent:
        return f"{PYODIDE_DIR}/pyodide-lock.json lists wheels that are absent: {absent}"
    for name, source in OWN_WHEELS.items():
        entry = lock["packages"].get(name)
        if entry is None:
            return f"{PYODIDE_DIR}/pyodide-lock.json has no package {name!r}"
        with zipfile.ZipFile(PYODIDE_DIR / entry["file_name"]) as wheel:
            packed = {n: wheel.read(n) for n in wheel.namelist() if n.endswith(".py")}
        for path in sorted(source.rglob("*.py")):
            if any(part.startswith(".") or part == "__pycache__"
                   for part in path.relative_to(source).parts):
                continue  # build_pyodide.py leaves these out too
            rel = f"{source.name}/{path.relative_to(source).as_posix()}"
            if packed.get(rel) != path.read_bytes():
                # the browser would run old code
                return f"the Pyodide wheel {entry['file_name']} is older than {rel}"
    return None


def _ensure_pyodide() -> None:
    """Build (or refresh) PYODIDE_DIR with scripts/build_pyodide.py when it does not match the
    working tree; fail the build with the reason if that does not help."""
    problem = _pyodide_problem()
    if problem is None:
        return
    log.info("%s: running scripts/build_pyodide.py --out %s", problem, PYODIDE_DIR)
    done = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "build_pyodide.py"), "--out", str(PYODIDE_DIR)],
        capture_output=True, text=True, check=False,
    )
    problem = _pyodide_problem()
    if problem is not None or done.returncode != 0:
        why = (done.stderr or done.stdout).strip().splitlines()[-3:]
        raise PluginError(
            f"{problem or 'scripts/build_pyodide.py failed'}; building it failed: {' '.join(why)}. "
            "Run `make pyodide` (or point ALIGNMENT_PYODIDE_DIR at a built folder)."
        )


def _pyodide_files() -> list[Path]:
    lock = json.loads((PYODIDE_DIR / "pyodide-lock.json").read_text())
    wheels = [PYODIDE_DIR / p["file_name"] for p in lock["packages"].values()]
    # the memory snapshot worker.js restores, when build_pyodide.py made one
    info = PYODIDE_DIR / "snapshot.json"
    snapshot = [info] if info.is_file() else []
    if snapshot and json.loads(info.read_text()).get("file"):  # {"file": null}: none made
        snapshot.append(PYODIDE_DIR / json.loads(info.read_text())["file"])
    return [PYODIDE_DIR / f for f in PYODIDE_FILES] + wheels + snapshot


def site_digest(site: Path) -> str:
    """A digest of the site's own files (pages, CSS, JS, fonts; not Pyodide or sw.js): the
    service worker's page cache is named by it, so a new build replaces the pages it kept."""
    digest = hashlib.sha256()
    for path in sorted(site.rglob("*")):
        rel = path.relative_to(site).as_posix()
        if path.is_file() and rel != "sw.js" and not rel.startswith("pyodide/"):
            digest.update(rel.encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()[:16]


#: our wheels and the source folders they are built from
OWN_WHEELS = {"alignment-math": ROOT / "src" / "alignment_math",
              "alignment-widgets": ROOT / "widgets" / "alignment_widgets"}


LOCAL_HOSTS = {"127.0.0.1", "localhost", "0.0.0.0", "::1", "[::1]"}


def is_deploy_build(environ: Any = os.environ) -> bool:
    return environ.get("ALIGNMENT_DEPLOY") == "1" or environ.get("GITHUB_WORKFLOW") == "pages"


def deploy_problem(environ: Any = os.environ) -> str | None:
    """Why this deploy build would publish local addresses (None when it would not).

    A deploy build is one run with ``ALIGNMENT_DEPLOY=1`` or by the Pages workflow
    (GitHub sets ``GITHUB_WORKFLOW`` to the workflow's name, ``pages``); it needs a public
    ``SITE_URL`` for sitemap.xml and the canonical links.  ``make serve`` and the test
    builds are not deploy builds and stay on 127.0.0.1."""
    from urllib.parse import urlsplit

    if not is_deploy_build(environ):
        return None
    url = environ.get("SITE_URL", "").strip()
    if not url:
        return "SITE_URL is unset"
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return f"SITE_URL {url!r} is not an http(s) address"
    if parts.hostname in LOCAL_HOSTS or parts.hostname.endswith(".localhost"):
        return f"SITE_URL {url!r} is a local address"
    return None


def on_config(config: Any) -> Any:
    problem = deploy_problem()
    if problem is not None:
        raise PluginError(
            f"a deploy build needs the public address: {problem}, so sitemap.xml and the canonical "
            "links would point at this machine. Set SITE_URL=https://…/ (the Pages workflow "
            "passes configure-pages' base_url)."
        )
    _ensure_pyodide()  # the browser must run the same Python as this working tree
    for package in VENDOR:
        if not (NODE_MODULES / package / "package.json").is_file():
            raise PluginError(
                f"node_modules/{package} is missing; run `npm ci --no-audit --no-fund` "
                "(the site vendors uPlot, KaTeX and Pyodide from npm, never from a CDN)."
            )
    return config


def on_post_build(config: Any) -> None:
    site = Path(config["site_dir"])
    _ensure_pyodide()
    files = _pyodide_files()
    digest = hashlib.sha256()
    for f in sorted(files):
        _copy(f, site / "pyodide" / f.name)
        digest.update(f.name.encode())
    digest.update((PYODIDE_DIR / "pyodide-lock.json").read_bytes())
    if (PYODIDE_DIR / "manifest.json").is_file():  # every file's sha256 (the stdlib's too)
        digest.update((PYODIDE_DIR / "manifest.json").read_bytes())
    for package, patterns in VENDOR.items():
        base = NODE_MODULES / package
        version = json.loads((base / "package.json").read_text())["version"]
        digest.update(f"{package}@{version}".encode())
        for pattern in patterns:
            matches = sorted(base.glob(pattern))
            if not matches:
                raise PluginError(f"node_modules/{package}/{pattern} not found; run `npm ci`")
            for src in matches:
                rel = src.relative_to(base)
                rel = Path(*rel.parts[1:]) if rel.parts[0] == "dist" else rel
                _copy(src, site / "assets" / "vendor" / package / rel)
    rewrite_katex_css(site / "assets" / "vendor" / "katex" / "katex.min.css")
    if is_deploy_build():
        local_url = r"https?://(?:127\.0\.0\.1|localhost)[:/]"
        checks = {"sitemap.xml": rf"<loc>{local_url}",
                  "index.html": rf'<link rel="canonical" href="{local_url}'}
        local = [name for name, pattern in checks.items() if (site / name).is_file() and
                 re.search(pattern, (site / name).read_text(encoding="utf-8"))]
        if local:
            raise PluginError(f"a deploy build names a local address in {', '.join(local)}")
    # The service worker: cache-first for the vendored, versioned files; keyed by a digest
    # of their names and the site lock (whose wheel names carry content hashes).
    template = (ROOT / "docs" / "widgets" / "sw.js").read_text()
    version = digest.hexdigest()[:16]
    precache = [f"pyodide/{f.name}" for f in files if f.name != "pyodide-lock.json"]
    precache.append(f"pyodide/pyodide-lock.json?v={version}")  # the URL worker.js asks for
    if "pyodide/snapshot.json" in precache:  # worker.js asks for it with ?v= too
        precache[precache.index("pyodide/snapshot.json")] = f"pyodide/snapshot.json?v={version}"
    (site / "sw.js").write_text(
        template.replace("__AM_CACHE_VERSION__", version)
        .replace("__AM_SITE_VERSION__", site_digest(site))
        .replace("/*__AM_PRECACHE__*/ []", json.dumps(sorted(precache)))
    )
    (site / "widgets" / "version.json").write_text(json.dumps({"cache": version}))
    worker = (ROOT / "docs" / "widgets" / "worker.js").read_text(encoding="utf-8")
    (site / "widgets" / "worker.js").write_text(worker.replace("__AM_CACHE_VERSION__", version),
                                               encoding="utf-8")
    minify(site)


def rewrite_katex_css(path: Path) -> None:
    """Keep only the .woff2 font sources (the only ones shipped; every browser that runs
    the widgets reads woff2) and let text show in a fallback font while a font loads."""
    css = path.read_text(encoding="utf-8")
    css = re.sub(r',url\([^)]*\.(?:woff|ttf)\) format\("(?:woff|truetype)"\)', "", css)
    css = css.replace("font-display:block", "font-display:swap")
    css = re.sub(r"@font-face\{(?![^}]*font-display)", "@font-face{font-display:swap;", css)
    missing = [f for f in re.findall(r"url\(([^)]+)\)", css) if not (path.parent / f).is_file()]
    if missing:
        raise PluginError(f"katex.min.css still names fonts that are not shipped: {missing[:3]}")
    path.write_text(css, encoding="utf-8")


#: our own scripts and stylesheets, and uPlot, minified in site/ after the build
MINIFIED = ("widgets/*.js", "javascripts/*.js", "assets/vendor/uplot/uPlot.esm.js",
            "widgets/*.css", "stylesheets/*.css")


def minify(site: Path) -> None:
    """Minify in place with esbuild from node_modules (no bundling: each file keeps its
    imports and exports).  ALIGNMENT_MINIFY=0 leaves them readable (debugging)."""
    if os.environ.get("ALIGNMENT_MINIFY", "1") == "0":
        return
    esbuild = NODE_MODULES / ".bin" / "esbuild"
    if not esbuild.is_file():
        raise PluginError("node_modules/.bin/esbuild is missing; run `npm ci --no-audit --no-fund`")
    files = sorted({str(f) for pattern in MINIFIED for f in site.glob(pattern)})
    done = subprocess.run(
        [str(esbuild), *files, "--minify", "--allow-overwrite", "--log-level=warning",
         "--legal-comments=eof", f"--outdir={site}", f"--outbase={site}"],
        capture_output=True, text=True, check=False,
    )
    if done.returncode != 0:
        raise PluginError(f"esbuild could not minify the site's scripts: {done.stderr.strip()[-500:]}")


__all__ = ["format_value", "on_page_content", "on_page_markdown", "render_svg", "render_widget"]
