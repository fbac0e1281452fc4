"""No dead control: for every registered widget, each control moved from its default to
either end of its range (every other option, for a choice or a toggle) changes at least
one readout or one chart series (issue 11).

A control that changes nothing a reader can see is a bug: either the widget does not use
it, or its default sits where the control has no effect.  Titles and notes are not
counted; only the numbers and texts in the readouts and the data of the charts.
"""

from __future__ import annotations

import math
from typing import Any

import pytest
from alignment_widgets import Choice, Slider, Toggle, registry

# Widgets with a control known to change nothing at one end, each owned by another change:
# (widget, control, end or option) -> reason.  strict=True: once the widget is fixed, its
# xfail fails, and its entry here must go.  Empty: every widget passes (the ch. 9
# step-toggles controls that failed here were fixed in its rebuild).
KNOWN_DEAD: dict[tuple[str, str, str], str] = {}


def _moves() -> list[Any]:
    cases = []
    for name, w in sorted(registry().items()):
        if w.compute is None:
            continue
        for control in w.controls:
            if isinstance(control, Slider):
                ends = [("min", control.min), ("max", control.max)]
                targets = [(label, v) for label, v in ends if v != control.default]
            elif isinstance(control, Choice):
                targets = [(v, v) for v, _ in control.options if v != control.default]
            elif isinstance(control, Toggle):
                targets = [(str(not control.default), not control.default)]
            else:  # pragma: no cover - a new control kind must be added here
                raise AssertionError(f"unknown control kind {control!r}")
            for label, target in targets:
                key = (name, control.name, label)
                marks = []
                if key in KNOWN_DEAD:
                    marks = [pytest.mark.xfail(strict=True, reason=KNOWN_DEAD[key])]
                cases.append(
                    pytest.param(name, control.name, target, id=f"{name}-{control.name}-{label}",
                                 marks=marks)
                )
    return cases


def _visible(result: dict[str, Any]) -> tuple[Any, ...]:
    """What the reader sees as data: every readout's text and value, every series."""

    def number(v: float | None) -> float | None:
        return None if v is None or not math.isfinite(v) else round(v, 9)

    readouts = tuple(
        (key, r["text"], number(r["value"])) for key, r in sorted(result["readouts"].items())
    )
    series = tuple(
        (i, s["label"], tuple(number(v) for v in s["y"]))
        for i, chart in enumerate(result["charts"])
        for s in chart["series"]
    )
    x = tuple(tuple(number(v) for v in chart["x"]) for chart in result["charts"])
    markers = tuple(
        (m["x"], m["y"]) for chart in result["charts"] for m in chart["markers"]
    )
    return readouts, series, x, markers


def test_known_dead_entries_name_real_controls() -> None:
    ids = {p.id for p in _moves()}
    stale = [key for key in KNOWN_DEAD if "-".join(key) not in ids]
    assert not stale, f"KNOWN_DEAD names controls that no longer exist: {stale}"


def test_every_computed_widget_is_covered() -> None:
    names = {p.values[0] for p in _moves()}
    computed = {n for n, w in registry().items() if w.compute is not None and w.controls}
    assert names == computed


@pytest.mark.parametrize("name, control, target", _moves())
def test_moving_a_control_to_an_end_changes_what_the_reader_sees(
    name: str, control: str, target: object
) -> None:
    w = registry()[name]
    before = _visible(w.run({}))
    after = _visible(w.run({control: target}))
    assert after != before, (
        f"widget {name!r}: moving {control!r} from its default to {target!r} changes no "
        "readout and no chart series"
    )
