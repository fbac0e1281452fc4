"""How a widget is declared: its controls, its readouts and its compute function, once.

A widget module looks like this::

    from alignment_math import bradley_terry_loss, bradley_terry_probability
    from alignment_widgets import Chart, Readout, Result, Series, Slider, Marker, widget

    @widget(
        "bradley-terry",
        title="Bradley–Terry: from a reward gap to a preference",
        summary="How the reward gap sets P(chosen ≻ rejected) and the reward-model loss.",
        controls=[Slider("gap", "Reward gap r(chosen) − r(rejected)", -6, 6, 0.1, 1.0)],
        readouts=[Readout("prob", "P(chosen ≻ rejected)"), Readout("loss", "Loss", "nats")],
    )
    def bradley_terry(gap: float) -> Result:
        ...
        return Result(readouts={"prob": p, "loss": l}, charts=[Chart(...)])

The compute function's parameter names are the controls' names (the browser's
``<input name=...>``), and the keys of ``Result.readouts`` are the declared readouts'
keys (the browser's ``data-readout=...``).  :meth:`Widget.run` checks both, so a typo
fails the build, not the reader.

Everything here is pure Python + NumPy: it runs unchanged in CPython at build time
and in Pyodide in the reader's browser.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np

__all__ = [
    "Band",
    "Chart",
    "Choice",
    "Control",
    "Marker",
    "Readout",
    "Result",
    "Series",
    "Slider",
    "Toggle",
    "Widget",
    "WidgetError",
    "widget",
]


class WidgetError(ValueError):
    """A widget was declared or called wrongly; the message says how."""


# --------------------------------------------------------------------------- controls


@dataclass(frozen=True)
class Slider:
    """A numeric range input.  Integer-valued when min, max, step and default are ints."""

    name: str
    label: str
    min: float
    max: float
    step: float
    default: float
    unit: str = ""
    kind: Literal["slider"] = "slider"

    def __post_init__(self) -> None:
        if not self.min < self.max:
            raise WidgetError(f"slider {self.name!r}: min must be < max")
        if self.step <= 0:
            raise WidgetError(f"slider {self.name!r}: step must be > 0")
        if not self.min <= self.default <= self.max:
            raise WidgetError(f"slider {self.name!r}: default must lie in [min, max]")

    @property
    def integer(self) -> bool:
        return all(isinstance(v, int) for v in (self.min, self.max, self.step, self.default))

    def coerce(self, value: object) -> float | int:
        """The value as a number in [min, max]; :class:`WidgetError` otherwise."""
        try:
            number = float(value)  # type: ignore[arg-type]
        except (TypeError, ValueError):
            raise WidgetError(f"{self.name} must be a number, got {value!r}") from None
        if not math.isfinite(number) or not self.min <= number <= self.max:
            raise WidgetError(f"{self.name} must be in [{self.min}, {self.max}], got {value!r}")
        if self.integer:
            if number != int(number):
                raise WidgetError(f"{self.name} must be a whole number, got {value!r}")
            return int(number)
        return number


@dataclass(frozen=True)
class Toggle:
    """An on/off input (a checkbox)."""

    name: str
    label: str
    default: bool = False
    kind: Literal["toggle"] = "toggle"

    def coerce(self, value: object) -> bool:
        if isinstance(value, bool):
            return value
        if value in (0, 1):
            return bool(value)
        if isinstance(value, str) and value.lower() in ("true", "false", "1", "0", "on", "off"):
            return value.lower() in ("true", "1", "on")
        raise WidgetError(f"{self.name} must be true or false, got {value!r}")


@dataclass(frozen=True)
class Choice:
    """One of a few named options (radio inputs sharing ``name``)."""

    name: str
    label: str
    options: tuple[tuple[str, str], ...]  # (value, label) pairs
    default: str = ""
    kind: Literal["choice"] = "choice"

    def __post_init__(self) -> None:
        values = [value for value, _ in self.options]
        if not values:
            raise WidgetError(f"choice {self.name!r}: needs at least one option")
        if not self.default:
            object.__setattr__(self, "default", values[0])
        elif self.default not in values:
            raise WidgetError(f"choice {self.name!r}: default must be one of {values}")

    def coerce(self, value: object) -> str:
        values = [v for v, _ in self.options]
        if value not in values:
            raise WidgetError(f"{self.name} must be one of {', '.join(values)}, got {value!r}")
        return str(value)


Control = Slider | Toggle | Choice


# --------------------------------------------------------------------------- results


@dataclass(frozen=True)
class Readout:
    """A number (or short text) shown with its label and unit, in ``data-readout=key``.

    ``kind="text"`` is for a passage of text (e.g. a response a widget rewrites): the page
    shows it as a full-width block that keeps the text's line breaks.
    """

    key: str
    label: str
    unit: str = ""
    digits: int = 3
    kind: Literal["value", "text"] = "value"

    def __post_init__(self) -> None:
        if self.kind not in ("value", "text"):
            raise WidgetError(f"readout {self.key!r}: kind must be 'value' or 'text'")

    def format(self, value: float | str) -> str:
        """The text shown to the reader; computed in Python so every platform agrees."""
        if isinstance(value, str):
            return value
        number = float(value)
        if math.isnan(number):
            text = "—"
        elif math.isinf(number):
            text = "∞" if number > 0 else "−∞"
        else:
            text = f"{number:.{self.digits}f}"
            if float(text) == 0.0:
                text = text.lstrip("-")
        return f"{text} {self.unit}".rstrip() if self.unit and text != "—" else text


@dataclass(frozen=True)
class Series:
    """One line (or set of bars / points) of a chart; ``y`` has one value per x."""

    label: str
    y: Sequence[float] | np.ndarray
    kind: Literal["line", "bar", "points", "step"] = "line"
    color: str = ""  # a palette name (blue, red, green, orange, purple, gray) or #rrggbb
    dash: bool = False


@dataclass(frozen=True)
class Marker:
    """A highlighted point (e.g. the current slider value on a curve)."""

    x: float
    y: float
    label: str = ""


@dataclass(frozen=True)
class Band:
    """A shaded x-interval (e.g. the PPO clip range)."""

    x0: float
    x1: float
    label: str = ""


@dataclass(frozen=True)
class Chart:
    """An x–y chart.  With ``categories``, x is categorical (bars labelled by category)."""

    title: str
    x: Sequence[float] | np.ndarray
    series: Sequence[Series]
    x_label: str = ""
    y_label: str = ""
    categories: Sequence[str] | None = None
    markers: Sequence[Marker] = ()
    bands: Sequence[Band] = ()
    y_min: float | None = None
    y_max: float | None = None

    def alt_text(self) -> str:
        """A text alternative: what is plotted and the range of each series."""
        parts = [f"{self.title}: {self.y_label or 'y'} against {self.x_label or 'x'}."]
        for s in self.series:
            y = np.asarray(s.y, dtype=float)
            finite = y[np.isfinite(y)]
            if finite.size:
                parts.append(f"{s.label}: from {finite.min():.3g} to {finite.max():.3g}.")
        for m in self.markers:
            parts.append(f"Marked: {m.label or 'point'} at ({m.x:.3g}, {m.y:.3g}).")
        return " ".join(parts)


@dataclass(frozen=True)
class Result:
    """What a compute function returns."""

    readouts: Mapping[str, float | str]
    charts: Sequence[Chart] = ()
    note: str = ""  # an optional sentence shown under the chart (e.g. a recommendation)


def _floats(values: Sequence[float] | np.ndarray) -> list[float | None]:
    return [float(v) if math.isfinite(v) else None for v in np.asarray(values, float).ravel()]


def _chart_json(chart: Chart) -> dict[str, Any]:
    n = len(np.asarray(chart.x))
    for s in chart.series:
        if len(np.asarray(s.y)) != n:
            raise WidgetError(f"chart {chart.title!r}: series {s.label!r} has {len(s.y)} values, x has {n}")
    return {
        "title": chart.title,
        "x": _floats(chart.x),
        "x_label": chart.x_label,
        "y_label": chart.y_label,
        "categories": list(chart.categories) if chart.categories is not None else None,
        "series": [
            {"label": s.label, "y": _floats(s.y), "kind": s.kind, "color": s.color, "dash": s.dash}
            for s in chart.series
        ],
        "markers": [{"x": float(m.x), "y": float(m.y), "label": m.label} for m in chart.markers],
        "bands": [{"x0": float(b.x0), "x1": float(b.x1), "label": b.label} for b in chart.bands],
        "y_min": chart.y_min,
        "y_max": chart.y_max,
        "alt": chart.alt_text(),
    }


# --------------------------------------------------------------------------- widget


@dataclass(frozen=True)
class Widget:
    """A declared widget.  ``compute`` is None for widgets drawn wholly in JavaScript
    (``script`` then names ``docs/widgets/<script>.js`` and ``static_html`` gives the
    no-JavaScript rendering)."""

    name: str
    title: str
    summary: str
    controls: tuple[Control, ...] = ()
    readouts: tuple[Readout, ...] = ()
    compute: Callable[..., Result] | None = None
    script: str | None = None
    static_html: Callable[[], str] | None = None

    def defaults(self) -> dict[str, Any]:
        return {c.name: c.default for c in self.controls}

    def params(self, raw: Mapping[str, object], *, lenient: bool = False) -> dict[str, Any]:
        """Validate raw parameters (strings from a URL, numbers from JS).

        Strict (the default) raises :class:`WidgetError` for an unknown name or a bad
        value; ``lenient=True`` (for state read from a shared link) drops unknown names
        and replaces bad values by the defaults.
        """
        controls = {c.name: c for c in self.controls}
        unknown = sorted(set(raw) - set(controls))
        if unknown and not lenient:
            raise WidgetError(
                f"widget {self.name!r} has no parameter {unknown[0]!r}; "
                f"its parameters are: {', '.join(controls) or '(none)'}"
            )
        values = self.defaults()
        for name, control in controls.items():
            if name in raw:
                try:
                    values[name] = control.coerce(raw[name])
                except WidgetError:
                    if not lenient:
                        raise
        return values

    def run(self, raw: Mapping[str, object] | None = None) -> dict[str, Any]:
        """Compute at the given parameters and return a JSON-able dict for the page."""
        if self.compute is None:
            raise WidgetError(f"widget {self.name!r} is drawn in JavaScript and has no compute")
        params = self.params(raw or {})
        result = self.compute(**params)
        declared = {r.key: r for r in self.readouts}
        if set(result.readouts) != set(declared):
            raise WidgetError(
                f"widget {self.name!r}: compute returned readouts {sorted(result.readouts)}, "
                f"declared {sorted(declared)}"
            )
        readouts = {}
        for key, value in result.readouts.items():
            if declared[key].kind == "text" and not isinstance(value, str):
                raise WidgetError(f"widget {self.name!r}: text readout {key!r} must be a string")
            number = None if isinstance(value, str) else float(value)
            readouts[key] = {
                "value": number if number is None or math.isfinite(number) else None,
                "text": declared[key].format(value),
            }
        return {
            "widget": self.name,
            "params": params,
            "readouts": readouts,
            "charts": [_chart_json(c) for c in result.charts],
            "note": result.note,
        }


_REGISTRY: dict[str, Widget] = {}


def _register(w: Widget) -> Widget:
    if w.name in _REGISTRY:
        raise WidgetError(f"widget {w.name!r} is declared twice")
    names = [c.name for c in w.controls]
    if len(set(names)) != len(names):
        raise WidgetError(f"widget {w.name!r}: two controls share a name")
    _REGISTRY[w.name] = w
    return w


def widget(
    name: str,
    *,
    title: str,
    summary: str,
    controls: Sequence[Control] = (),
    readouts: Sequence[Readout] = (),
) -> Callable[[Callable[..., Result]], Callable[..., Result]]:
    """Declare a widget whose numbers are computed by the decorated function."""

    def register(fn: Callable[..., Result]) -> Callable[..., Result]:
        _register(Widget(name, title, summary, tuple(controls), tuple(readouts), compute=fn))
        return fn

    return register


def script_widget(
    name: str, *, title: str, summary: str, script: str, static_html: Callable[[], str]
) -> Widget:
    """Declare a widget drawn wholly in JavaScript (``docs/widgets/<script>.js``)."""
    return _register(Widget(name, title, summary, script=script, static_html=static_html))
