"""Fail on Python code fences that Sybil would silently skip.

Sybil only collects fences whose info string is exactly ``python``.  A fence written
```` ```py ````, ```` ```python title="x.py" ```` or ```` ``` { .python } ```` would never run,
so it could rot unnoticed.  Usage: ``python scripts/lint_fences.py docs README.md``.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

FENCE = re.compile(r"^(?P<indent>\s*)(?P<ticks>`{3,}|~{3,})\s*(?P<info>.*)$")
PYTHONISH = re.compile(r"^(\{[^}]*\.?(py|python|python3|pycon)\b[^}]*\}|(py|python3|pycon)\b.*|python\S+.*|python\s+.+)$")


def bad_fences(text: str) -> list[tuple[int, str]]:
    """(line number, info string) of every fence that looks like Python but is not ``python``."""
    problems = []
    open_ticks: str | None = None
    for number, line in enumerate(text.splitlines(), start=1):
        match = FENCE.match(line)
        if not match:
            continue
        ticks, info = match["ticks"], match["info"].strip()
        if open_ticks is None:
            open_ticks = ticks
            if info != "python" and PYTHONISH.match(info):
                problems.append((number, info))
        elif ticks[0] == open_ticks[0] and len(ticks) >= len(open_ticks) and not info:
            open_ticks = None
    return problems


def main(argv: list[str]) -> int:
    paths: list[Path] = []
    for arg in argv or ["docs"]:
        path = Path(arg)
        paths.extend(sorted(path.rglob("*.md")) if path.is_dir() else [path])
    failed = 0
    for path in paths:
        for number, info in bad_fences(path.read_text(encoding="utf-8")):
            print(f"{path}:{number}: fence '{info}' is not run by Sybil; label it exactly 'python'")
            failed += 1
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
