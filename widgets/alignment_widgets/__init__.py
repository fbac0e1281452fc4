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
    """The widget called ``name``; a clear error listing the known names otherwise.

    Fast path (the browser's first computation): the module named after the widget
    (``bradley-terry`` -> ``bradley_terry``) is imported alone; every module is imported
    only when that does not find it.
    """
    from ._spec import _REGISTRY

    module = name.replace("-", "_")
    if name not in _REGISTRY and not _loaded and module.isidentifier() and module[0] != "_":
        try:
            importlib.import_module(f"{__name__}.{module}")
        except ModuleNotFoundError as error:
            if error.name != f"{__name__}.{module}":
                raise
    if name in _REGISTRY:
        return _REGISTRY[name]
    widgets = registry()
    if name not in widgets:
        known = ", ".join(sorted(widgets))
        raise WidgetError(f"unknown widget {name!r}; known widgets: {known}")
    return widgets[name]


def compute(name: str, params: dict[str, object] | None = None) -> dict[str, object]:
    """Entry point used by the browser worker: ``{widget, params} -> JSON-able result``."""
    return get(name).run(params or {})
