"""The site's interactive widgets, declared once in Python.

Every module in this package that does not start with ``_`` is imported on
first use of :func:`registry`; each module declares its widgets with
:func:`alignment_widgets.widget`.  The same code runs at build time in CPython
(static figures, the controls' HTML) and in the browser in Pyodide (live
recomputation on every slider move).

Usage in a chapter (one line of Markdown)::

    [[widget bradley-terry]]
"""

from __future__ import annotations

import importlib
import pkgutil

from ._spec import (
    Band,
    Chart,
    Choice,
    Control,
    Marker,
    Readout,
    Result,
    Series,
    Slider,
    Toggle,
    Widget,
    WidgetError,
    script_widget,
    widget,
)

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
    "compute",
    "get",
    "registry",
    "script_widget",
    "widget",
]

_loaded = False


def registry() -> dict[str, Widget]:
    """All widgets, by name (imports every public module of this package once)."""
    global _loaded
    if not _loaded:
        for info in pkgutil.iter_modules(__path__):
            if not info.name.startswith("_"):
                importlib.import_module(f"{__name__}.{info.name}")
        _loaded = True
    from ._spec import _REGISTRY

    return dict(_REGISTRY)


def get(name: str) -> Widget:
    """The widget called ``name``; a clear error listing the known names otherwise."""
    widgets = registry()
    if name not in widgets:
        known = ", ".join(sorted(widgets))
        raise WidgetError(f"unknown widget {name!r}; known widgets: {known}")
    return widgets[name]


def compute(name: str, params: dict[str, object] | None = None) -> dict[str, object]:
    """Entry point used by the browser worker: ``{widget, params} -> JSON-able result``."""
    return get(name).run(params or {})
