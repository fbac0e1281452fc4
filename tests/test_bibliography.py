"""The site's one bibliography (docs/references.bib) and the hook that renders citations."""

from __future__ import annotations

import re
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "docs" / "hooks"))
pytest.importorskip("pybtex")
import bibliography as bib  # noqa: E402
from mkdocs.exceptions import PluginError  # noqa: E402

PAGES = sorted(p for p in (ROOT / "docs").rglob("*.md"))


def prose(path: Path) -> list[tuple[int, str]]:
    """(line number, line) outside code fences."""
    lines = path.read_text(encoding="utf-8").split("\n")
    mask = bib.prose_mask(lines)
    return [(n, line) for n, line in enumerate(lines, start=1) if mask[n - 1]]


def cited(path: Path) -> set[str]:
    keys: set[str] = set()
    for _, line in prose(path):
        for match in bib.CITE.finditer(line):
            keys.update(m.group(1) for m in re.finditer(r"@([A-Za-z0-9_:-]+)", match.group(1)))
    return keys


def test_every_cited_key_exists() -> None:
    entries = bib.load()
    missing = {f"{p.relative_to(ROOT)}: {k}" for p in PAGES for k in cited(p) if k not in entries}
    assert not missing, f"cited but not in docs/references.bib: {sorted(missing)}"


def test_no_entry_is_unused() -> None:
    used = set().union(*(cited(p) for p in PAGES))
    unused = sorted(set(bib.load()) - used)
    assert not unused, f"entries no page cites (remove them or cite them): {unused}"


def test_entries_are_complete_and_arxiv_ids_well_formed() -> None:
    for key, entry in bib.load().items():
        f = entry.fields
        assert entry.persons.get("author"), f"{key}: no author"
        assert f.get("title"), f"{key}: no title"
        assert re.fullmatch(r"(19|20)\d\d", f.get("year", "")), f"{key}: year {f.get('year')!r}"
        assert bib.link(entry) or f.get("journal") or f.get("booktitle"), f"{key}: nowhere to find it"
        assert re.fullmatch(r"[a-z]+\d{4}[a-z0-9]+", key), f"{key}: key is not surname+year+word"
        if f.get("archiveprefix", "").lower() == "arxiv":
            eprint = f.get("eprint", "")
            assert bib.ARXIV.fullmatch(eprint), f"{key}: arXiv id {eprint!r} is not well formed"
            if "." in eprint:  # new-style ids: YYMM.NNNNN, month 01-12, not after the year cited
                yymm = eprint.split(".")[0]
                assert 1 <= int(yymm[2:]) <= 12, f"{key}: arXiv id {eprint} has month {yymm[2:]}"
                assert 2000 + int(yymm[:2]) <= int(f["year"]) <= 2000 + int(yymm[:2]) + 2, \
                    f"{key}: year {f['year']} does not fit arXiv id {eprint}"


def test_each_chapter_lists_what_it_cites() -> None:
    for page in (ROOT / "docs" / "chapters").glob("*.md"):
        text = page.read_text(encoding="utf-8")
        if "## References" not in text:
            continue
        listed = set(re.findall(r"^\s*- \[@([A-Za-z0-9_:-]+)\]", text.split("## References")[1], re.M))
        assert listed, f"{page.name}: its References list cites no key"
        prose_keys = cited(page) - listed
        assert not prose_keys, f"{page.name}: cites {sorted(prose_keys)} but does not list them"


def test_render_links_citations_and_expands_the_reference_list() -> None:
    entries = bib.load()
    key = next(iter(entries))
    md = f"As shown [@{key}, §2].\n\n## References\n\n- [@{key}] What we take from it.\n"
    out = bib.render(md, "chapters/99-test.md", "https://example.org/", "99. Test")
    assert f"([{bib.short(entries[key])}, §2](#ref-{key}))" in out
    assert f'<a id="ref-{key}"></a>{bib.full(entries[key])} What we take from it.' in out
    assert "Cite this page" in out and "url = {https://example.org/chapters/99-test/}" in out
    # a key not in the page's own list links to the bibliography page
    out = bib.render(f"See [@{key}].", "training.md")
    assert f"(references.md#ref-{key})" in out
    # code is left alone
    assert bib.render("```text\n[@nokey]\n```", "x.md") == "```text\n[@nokey]\n```"


def test_unknown_key_stops_the_build_with_file_and_line() -> None:
    with pytest.raises(PluginError, match=r"chapters/x\.md:3: unknown citation key \[@nokey2020x\]"):
        bib.render("a\n\nb [@nokey2020x]", "chapters/x.md")


def test_short_forms() -> None:
    from pybtex.database import parse_string

    data = parse_string("""
    @misc{a2020x, author = {One, A.}, title = {T}, year = {2020}}
    @misc{b2020x, author = {One, A. and Two, B.}, title = {T}, year = {2020}}
    @misc{c2020x, author = {One, A. and Two, B. and Three, C.}, title = {T}, year = {2020}}
    @misc{d2020x, author = {One, A. and others}, title = {T}, year = {2020}}
    """, "bibtex")
    got = [bib.short(data.entries[k]) for k in ("a2020x", "b2020x", "c2020x", "d2020x")]
    assert got == ["One 2020", "One & Two 2020", "One, Two & Three 2020", "One et al. 2020"]
