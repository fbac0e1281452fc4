"""MkDocs hook: every citation on the site comes from one BibTeX file, docs/references.bib.

A page cites with ``[@key]`` (or ``[@key, §3.6]``, or ``[@a; @b]``); this hook turns it into a
linked author–year citation, "(Gao et al. 2022, §3.6)". A chapter's ``## References`` list holds
one item per source, ``- [@key] what the chapter takes from it``, which is rendered as the full
entry (authors, year, title, arXiv link) followed by the chapter's note, with an anchor that
the in-text citations link to. A key cited in prose but missing from the page's own list links
to the site-wide bibliography page (``[[bibliography]]`` renders every entry). Chapter pages
end with a "Cite this page" block in BibTeX. An unknown key stops the build with the file and
line. Parsing is pybtex's (a well-kept BibTeX parser); the formatting is ours because the
site needs a short Markdown form, not a LaTeX style. tests/test_bibliography.py checks the file.
"""

from __future__ import annotations

import datetime
import re
from pathlib import Path
from typing import Any

from mkdocs.exceptions import PluginError

BIB_FILE = Path(__file__).resolve().parents[1] / "references.bib"
FENCE = re.compile(r"^\s*(`{3,}|~{3,})")
# [@key], [@key, §3.6], [@a; @b, Eq. 2]
CITE = re.compile(r"\[(@[A-Za-z0-9_:-]+(?:,[^\];]*)?(?:;\s*@[A-Za-z0-9_:-]+(?:,[^\];]*)?)*)\]")
ONE = re.compile(r"@([A-Za-z0-9_:-]+)(?:,\s*([^;]*))?")
REF_ITEM = re.compile(r"^(\s*)- \[@([A-Za-z0-9_:-]+)\]\s*(.*)$")
BIB_PAGE = "references.md"
ARXIV = re.compile(r"^(\d{4}\.\d{4,5}|[a-z-]+(\.[A-Z]{2})?/\d{7})(v\d+)?$")

_cache: dict[str, Any] = {}


def load(path: Path = BIB_FILE) -> dict[str, Any]:
    """The entries of the bibliography, by key (pybtex ``Entry`` objects)."""
    from pybtex.database import BibliographyDataError, parse_file
    from pybtex.scanner import PybtexSyntaxError

    mtime = path.stat().st_mtime
    if _cache.get("mtime") != mtime:
        try:
            data = parse_file(str(path), "bibtex")
        except (BibliographyDataError, PybtexSyntaxError) as error:
            raise PluginError(f"{path.name}: {error}") from error
        _cache.update(mtime=mtime, entries=dict(data.entries))
    entries: dict[str, Any] = _cache["entries"]
    return entries


def _surnames(entry: Any) -> tuple[list[str], bool]:
    people = entry.persons.get("author", [])
    names = [" ".join(p.last_names) for p in people if " ".join(p.last_names) != "others"]
    etal = any(" ".join(p.last_names) == "others" for p in people)
    return names, etal


def _clean(text: str) -> str:
    return text.replace("{", "").replace("}", "")


def short(entry: Any) -> str:
    """``Gao, Schulman & Hilton 2022``; ``Ouyang et al. 2022``; ``Mitchell 2023``."""
    names, etal = _surnames(entry)
    year = entry.fields.get("year", "n.d.")
    if etal or len(names) > 3:
        who = f"{names[0]} et al."
    elif len(names) == 1:
        who = names[0]
    else:
        who = ", ".join(names[:-1]) + " & " + names[-1]
    return _clean(f"{who} {year}")


def link(entry: Any) -> str | None:
    if entry.fields.get("archiveprefix", "").lower() == "arxiv" and entry.fields.get("eprint"):
        return f"https://arxiv.org/abs/{entry.fields['eprint']}"
    url = entry.fields.get("url")
    return str(url) if url else None


def full(entry: Any) -> str:
    """The entry as one Markdown sentence: who and when, title, where, link."""
    f = entry.fields
    parts = [short(entry) + ",", f"*{_clean(f['title'])}*"]
    if f.get("shorthand"):
        parts.append(f"({_clean(f['shorthand'])})")
    text = " ".join(parts)
    venue = f.get("journal") or f.get("booktitle") or f.get("howpublished") or f.get("note")
    if venue:
        text += f", {_clean(venue)}"
    if f.get("archiveprefix", "").lower() == "arxiv" and f.get("eprint"):
        text += f", [arXiv:{f['eprint']}](https://arxiv.org/abs/{f['eprint']})"
    elif f.get("url"):
        url = f["url"]
        shown = re.sub(r"^https?://(www\.)?", "", url).rstrip("/")
        text += f", [{shown}]({url})"
    return text + "."


def bibtex(key: str, entry: Any) -> str:
    """The entry written back as BibTeX (for the bibliography page)."""
    from pybtex.database import BibliographyData

    return str(BibliographyData({key: entry}).to_string("bibtex")).strip()


def _unknown(key: str, where: str, entries: dict[str, Any]) -> PluginError:
    close = [k for k in entries if k[:4] == key[:4]][:5]
    hint = f" Did you mean {', '.join(close)}?" if close else ""
    return PluginError(f"{where}: unknown citation key [@{key}]: add it to docs/references.bib.{hint}")


def prose_mask(lines: list[str]) -> list[bool]:
    """Per line: True where it is prose, False for code fences and what they hold."""
    mask, fence = [], None
    for line in lines:
        opened = FENCE.match(line)
        if opened:
            ticks = opened.group(1)
            if fence is None:
                fence = ticks
            elif ticks[0] == fence[0] and len(ticks) >= len(fence):
                fence = None
            mask.append(False)
        else:
            mask.append(fence is None)
    return mask


def render(markdown: str, src_uri: str, site_url: str = "", title: str = "") -> str:
    """Citations, reference lists, the bibliography page and "Cite this page" for one page."""
    entries = load()
    lines = markdown.split("\n")
    listed: set[str] = set()
    in_refs = False
    spans = prose_mask(lines)
    for number, line in enumerate(lines, start=1):
        if not spans[number - 1]:
            continue
        if line.startswith("#"):
            in_refs = line.strip().lower() in ("## references", "## further reading")
            continue
        item = REF_ITEM.match(line) if in_refs else None
        if item:
            indent, key, note = item.groups()
            if key not in entries:
                raise _unknown(key, f"{src_uri}:{number}", entries)
            listed.add(key)
            lines[number - 1] = f'{indent}- <a id="ref-{key}"></a>{full(entries[key])} {note}'.rstrip()
    here = src_uri.rsplit("/", 1)[0] + "/" if "/" in src_uri else ""
    to_bib = "../" * here.count("/") + BIB_PAGE

    def cite(match: re.Match[str], number: int) -> str:
        out = []
        for part in match.group(1).split(";"):
            one = ONE.match(part.strip())
            if not one:
                raise PluginError(f"{src_uri}:{number}: cannot read the citation {match.group(0)}")
            key, locator = one.group(1), (one.group(2) or "").strip()
            if key not in entries:
                raise _unknown(key, f"{src_uri}:{number}", entries)
            target = f"#ref-{key}" if key in listed else f"{to_bib}#ref-{key}"
            out.append(f"[{short(entries[key])}{', ' + locator if locator else ''}]({target})")
        return "(" + "; ".join(out) + ")"

    for number, line in enumerate(lines, start=1):
        if spans[number - 1] and "[@" in line:
            lines[number - 1] = CITE.sub(lambda m, n=number: cite(m, n), line)
        if spans[number - 1] and line.strip() == "[[bibliography]]":
            lines[number - 1] = bibliography_page(entries)
    text = "\n".join(lines)
    if src_uri.startswith("chapters/"):
        text += "\n\n" + cite_this_page(src_uri, site_url, title)
    return text


def bibliography_page(entries: dict[str, Any]) -> str:
    rows = []
    for key in sorted(entries, key=lambda k: (short(entries[k]).lower(), k)):
        code = "\n".join("        " + line for line in bibtex(key, entries[key]).split("\n"))
        rows.append(f'- <a id="ref-{key}"></a>{full(entries[key])}\n\n'
                    f'    ??? quote "BibTeX: {key}"\n\n        ```bibtex\n{code}\n        ```\n')
    return "\n".join(rows)


def cite_this_page(src_uri: str, site_url: str, title: str) -> str:
    slug = Path(src_uri).stem
    url = (site_url.rstrip("/") + "/" if site_url else "") + f"chapters/{slug}/"
    year = datetime.date.today().year
    safe_title = re.sub(r"^\d+\.\s*", "", title).replace("{", "").replace("}", "")
    body = "\n".join(f"    {line}" for line in [
        f"@misc{{alignment-math-{slug},",
        f"  title = {{{safe_title}}},",
        "  author = {{The alignment-math authors}},",
        "  howpublished = {Learn how language models are aligned},",
        f"  year = {{{year}}},",
        f"  url = {{{url}}}",
        "}",
    ])
    return f'??? quote "Cite this page"\n\n    ```bibtex\n{body}\n    ```\n'


def on_page_markdown(markdown: str, page: Any, config: Any, files: Any) -> str:
    return render(markdown, page.file.src_uri, str(config.get("site_url") or ""),
                  page.title or "")
