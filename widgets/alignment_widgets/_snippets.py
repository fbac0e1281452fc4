"""Run one of the site's Python code blocks, as the reader edited it, in the page's worker.

The same function runs in CPython (the tests) and in Pyodide (the "Run" button under each
```python block).  A block written as a doctest (``>>>`` prompts) runs example by example,
printing each expression's value as the interactive interpreter does, so the output matches
the block's own expected output; any other block runs as a script.  An exception ends the
run and its traceback (without this module's frames) is part of the output.
"""

from __future__ import annotations

import contextlib
import doctest
import io
import traceback
from typing import Any


def run(code: str, namespace: dict[str, Any]) -> tuple[bool, str]:
    """Execute ``code`` in ``namespace``; return (no exception raised, printed output)."""
    out = io.StringIO()
    ok = True
    doctest_style = any(line.lstrip().startswith(">>>") for line in code.splitlines())
    parts = (
        [(example.source, "single") for example in doctest.DocTestParser().get_examples(code)]
        if doctest_style
        else [(code, "exec")]
    )
    namespace.setdefault("__name__", "__main__")
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(out):
        for source, mode in parts:
            try:
                exec(compile(source, "<snippet>", mode), namespace)
            except BaseException as error:  # the reader's code: report anything, then stop
                ok = False
                frames = traceback.extract_tb(error.__traceback__)[1:]  # drop run()'s own frame
                out.write("Traceback (most recent call last):\n" if frames else "")
                out.write("".join(traceback.format_list(frames)))
                out.write("".join(traceback.format_exception_only(type(error), error)))
                break
    return ok, out.getvalue()
