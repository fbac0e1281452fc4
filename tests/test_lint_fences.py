"""The fence lint catches Python fences that Sybil would silently skip."""

import importlib.util
from pathlib import Path

SCRIPT = Path(__file__).resolve().parents[1] / "scripts" / "lint_fences.py"
spec = importlib.util.spec_from_file_location("lint_fences", SCRIPT)
assert spec and spec.loader
lint_fences = importlib.util.module_from_spec(spec)
spec.loader.exec_module(lint_fences)


def test_flags_fences_sybil_would_skip():
    text = "\n".join(
        [
            "```py", "1/0", "```",
            '```python title="x.py"', "1/0", "```",
            "``` { .python }", "1/0", "```",
            "```pycon", ">>> 1/0", "```",
        ]
    )
    assert [line for line, _ in lint_fences.bad_fences(text)] == [1, 4, 7, 10]


def test_accepts_python_and_other_languages():
    text = "\n".join(["```python", "x = 1", "```", "```bash", "make test", "```", "````text", "```py", "````"])
    assert lint_fences.bad_fences(text) == []


def test_main_reports_file_and_line(tmp_path, capsys):
    page = tmp_path / "page.md"
    page.write_text("# t\n\n```py\nprint(1)\n```\n", encoding="utf-8")
    assert lint_fences.main([str(tmp_path)]) == 1
    assert "page.md:3: fence 'py' is not run by Sybil" in capsys.readouterr().out
