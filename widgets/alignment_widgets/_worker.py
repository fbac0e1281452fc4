"""What the page's Web Worker (``docs/widgets/worker.js``) calls in Pyodide, as JSON in and out.

Every entry point answers with a JSON string and never raises: a bad parameter or a bug
comes back as ``{"ok": false, "error": "..."}`` and the page shows it next to the widget.

The worker imports this module once Python is up.  The build's memory snapshot
(``scripts/build_pyodide.py``) is taken after :func:`warm` has run, so a restored worker
finds this module, numpy, alignment_math and every widget module already imported.
"""

from __future__ import annotations

import importlib
import json
import sys
from typing import Any

import alignment_widgets

__all__ = ["compute", "live", "params", "reseed", "snippet", "warm"]


def _short(error: BaseException) -> str:
    return f"{type(error).__name__}: {error}"


def compute(name: str, params_json: str) -> str:
    """``alignment_widgets.compute(name, params)`` as JSON."""
    try:
        result = alignment_widgets.compute(name, json.loads(params_json))
        return json.dumps({"ok": True, "result": result}, allow_nan=False, default=float)
    except Exception as error:  # a bad parameter or a bug: reported, never fatal
        return json.dumps({"ok": False, "error": _short(error)})


def params(name: str, raw_json: str) -> str:
    """Parameters read from a shared link, validated leniently (bad ones -> defaults)."""
    try:
        checked = alignment_widgets.get(name).params(json.loads(raw_json), lenient=True)
        return json.dumps({"ok": True, "params": checked}, allow_nan=False)
    except Exception as error:
        return json.dumps({"ok": False, "error": _short(error)})


def live(name: str, message_json: str) -> str:
    """One message to a live widget's module (``alignment_widgets.<name>.live``)."""
    try:
        module = importlib.import_module("alignment_widgets." + name.replace("-", "_"))
        return str(module.live(message_json))
    except Exception as error:
        return json.dumps({"ok": False, "error": _short(error)})


_snippet_globals: dict[str, dict[str, Any]] = {}


def snippet(code: str, key: str) -> str:
    """Run a page's code block; each ``key`` (a block) keeps its own namespace."""
    from alignment_widgets._snippets import run

    ok, output = run(code, _snippet_globals.setdefault(key, {}))
    return json.dumps({"ok": ok, "output": output})


def warm() -> int:
    """Import every widget module (what the memory snapshot should hold); how many widgets."""
    return len(alignment_widgets.registry())


def reseed() -> None:
    """New entropy for the random generators seeded at import time.

    A worker restored from the memory snapshot starts with the generator states the build
    had; every reader would draw the same "random" numbers from ``random`` and numpy's
    legacy global generator.  ``numpy.random.default_rng()`` draws fresh entropy anyway.
    """
    if "random" in sys.modules:
        sys.modules["random"].seed()
    legacy = sys.modules.get("numpy.random")
    if legacy is not None:
        legacy.seed()
