"""Sybil: every ```python block and doctest in the Markdown docs and README, and every
docstring example in src/, runs as a pytest test."""

from __future__ import annotations

import doctest

from sybil import Sybil
from sybil.parsers.markdown import ClearNamespaceParser, PythonCodeBlockParser, SkipParser
from sybil.parsers.rest import DocTestParser

OPTIONS = doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE

markdown = Sybil(
    parsers=[PythonCodeBlockParser(doctest_optionflags=OPTIONS), SkipParser(), ClearNamespaceParser()],
    patterns=["*.md"],
    excludes=["node_modules/*", "site/*", ".venv/*"],
)
docstrings = Sybil(parsers=[DocTestParser(optionflags=OPTIONS)], patterns=["*.py"], path="src")

pytest_collect_file = (markdown + docstrings).pytest()
