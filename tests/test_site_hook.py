"""The build-time steps of docs/hooks/widgets.py that issue 11 added, without a browser:
the deploy build's address check, KaTeX's @font-face rewrite, notebook figures (alt text,
width and height), the printed settings line, integer and category axes of the static
SVGs, and the minifier."""

from __future__ import annotations

import base64
import re
import shutil
import struct
import zlib
from importlib import util
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def hook() -> Any:
    spec = util.spec_from_file_location("am_widgets_hook_tests", ROOT / "docs" / "hooks" / "widgets.py")
    assert spec is not None and spec.loader is not None
    module = util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize(("env", "ok"), [
    ({}, True),                                                   # make serve, test builds
    ({"SITE_URL": "http://127.0.0.1:8000/"}, True),               # local, not a deploy
    ({"ALIGNMENT_DEPLOY": "1"}, False),                           # deploy without an address
    ({"GITHUB_WORKFLOW": "pages", "SITE_URL": ""}, False),
    ({"GITHUB_WORKFLOW": "pages", "SITE_URL": "http://127.0.0.1:8000/"}, False),
    ({"ALIGNMENT_DEPLOY": "1", "SITE_URL": "http://localhost/"}, False),
    ({"ALIGNMENT_DEPLOY": "1", "SITE_URL": "example.org"}, False),  # no scheme
    ({"GITHUB_WORKFLOW": "pages", "SITE_URL": "https://someone.github.io/alignment/"}, True),
    ({"GITHUB_WORKFLOW": "ci", "SITE_URL": ""}, True),             # the test workflow
])
def test_a_deploy_build_needs_a_public_address(hook: Any, env: dict[str, str], ok: bool) -> None:
    problem = hook.deploy_problem(env)
    assert (problem is None) is ok, problem


def test_katex_css_names_only_the_shipped_woff2(hook: Any, tmp_path: Path) -> None:
    src = ROOT / "node_modules" / "katex" / "dist"
    if not (src / "katex.min.css").is_file():
        pytest.skip("node_modules/katex is not installed (npm ci)")
    shutil.copy(src / "katex.min.css", tmp_path / "katex.min.css")
    (tmp_path / "fonts").mkdir()
    for font in (src / "fonts").glob("*.woff2"):
        shutil.copy(font, tmp_path / "fonts" / font.name)
    before = (tmp_path / "katex.min.css").read_text()
    assert ".ttf" in before and ".woff)" in before
    hook.rewrite_katex_css(tmp_path / "katex.min.css")
    css = (tmp_path / "katex.min.css").read_text()
    urls = re.findall(r"url\(([^)]+)\)", css)
    assert urls and all(u.endswith(".woff2") for u in urls)
    faces = re.findall(r"@font-face\{[^}]*\}", css)
    assert faces and all("font-display:swap" in f for f in faces)
    # a font that is not shipped fails the build instead of a silent 404
    (tmp_path / "fonts" / Path(urls[0]).name).unlink()
    shutil.copy(src / "katex.min.css", tmp_path / "katex.min.css")
    with pytest.raises(hook.PluginError, match="not shipped"):
        hook.rewrite_katex_css(tmp_path / "katex.min.css")


def _png(width: int, height: int) -> str:
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    raw = b"".join(b"\x00" + b"\x00" * width for _ in range(height))
    png = (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0))
           + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b""))
    return base64.b64encode(png).decode()


def test_notebook_figures_get_descriptions_and_sizes(hook: Any, monkeypatch: Any) -> None:
    monkeypatch.setitem(hook.NOTEBOOK_FIGURES, "notebooks/x.ipynb", ["First figure.", "Second."])
    img = '<img alt="No description has been provided for this image" class="" src="data:image/png;base64,{}"/>'
    page = img.format(_png(7, 3)) + "<p>text</p>" + img.format(_png(20, 11))
    out = hook.notebook_images(page, "notebooks/x.ipynb")
    assert 'alt="First figure." width="7" height="3"' in out
    assert 'alt="Second." width="20" height="11"' in out
    assert "No description" not in out
    with pytest.raises(hook.PluginError, match="describes 2"):
        hook.notebook_images(img.format(_png(5, 5)), "notebooks/x.ipynb")


def test_every_notebook_has_its_descriptions(hook: Any) -> None:
    notebooks = {f"notebooks/{p.name}" for p in (ROOT / "docs" / "notebooks").glob("*.ipynb")}
    assert notebooks == set(hook.NOTEBOOK_FIGURES)


def test_page_fixes(hook: Any) -> None:
    page = ('<div class="md-search" data-md-component="search" role="dialog"><table><tr><th></th>'
            '<th>a</th></tr></table><link rel="stylesheet" href="../assets/vendor/katex/katex.min.css">')
    out = hook.accessible_page(page, "chapters/x.md")
    assert 'role="dialog" aria-label="Search the site"' in out
    assert "<td></td><th>a</th>" in out
    assert 'rel="preload" href="../assets/vendor/katex/katex.min.css" as="style"' in out
    assert '<noscript><link rel="stylesheet" href="../assets/vendor/katex/katex.min.css"></noscript>' in out


def test_display_math_is_a_focusable_region(hook: Any) -> None:
    if shutil.which("node") is None or not (ROOT / "node_modules" / "katex").is_dir():
        pytest.skip("node and node_modules/katex are needed")
    out = hook.render_math('<div class="arithmatex">\\[x^2\\]</div><span class="arithmatex">\\(y\\)</span>', "t")
    assert re.search(r'<div class="arithmatex" tabindex="0" role="group" aria-label="[^"]+">', out)
    assert '<span class="arithmatex"><span class="katex">' in out
    hook.on_shutdown()


def test_settings_line_names_every_control(hook: Any) -> None:
    import alignment_widgets

    for name, w in alignment_widgets.registry().items():
        if w.compute is None or not w.controls:
            continue
        text = hook.settings_text(w.controls, w.run({})["params"])
        assert text.startswith("Settings — ") and text.endswith(".")
        for c in w.controls:
            assert f"{c.label}: " in text, (name, c.name)


def test_static_axes(hook: Any) -> None:
    from alignment_widgets import Chart, Series

    assert hook.is_integer_axis([1, 2, 3, 4]) and not hook.is_integer_axis([0, 0.5, 1])
    counted = Chart("rounds", [0, 1, 2, 3], [Series("s", [1.0, 2.0, 1.5, 3.0])], x_label="round")
    svg = hook.render_svg(counted, "t-int")
    ticks = re.findall(r'<g id="xtick_\d+">.*?<text[^>]*>([^<]*)</text>', svg, re.S)
    assert ticks and all(float(t.replace("\u2212", "-")) == int(float(t.replace("\u2212", "-"))) for t in ticks)
    names = [f"a rather long category name {k}" for k in range(6)]
    crowded = Chart("bars", list(range(6)), [Series("s", [1.0] * 6, "bar")], categories=names)
    svg = hook.render_svg(crowded, "t-cat")
    assert "rotate(-30" in svg                                    # rotated, then shortened
    assert all(f"<title>{n}</title>" in svg for n in names)       # the full label as a tooltip


def test_minify_keeps_imports_and_exports(hook: Any, tmp_path: Path) -> None:
    if not (ROOT / "node_modules" / ".bin" / "esbuild").is_file():
        pytest.skip("node_modules/.bin/esbuild is not installed (npm ci)")
    site = tmp_path / "site"
    (site / "widgets").mkdir(parents=True)
    source = 'import x from "./y.js";\n// a comment\nexport function longName(value) {\n  return x(value) + 1;\n}\n'
    (site / "widgets" / "loader.js").write_text(source)
    (site / "widgets" / "widgets.css").write_text(".a {\n  color: red;\n}\n")
    hook.minify(site)
    js = (site / "widgets" / "loader.js").read_text()
    assert len(js) < len(source) and "comment" not in js
    assert 'from"./y.js"' in js.replace(" ", "") and "export" in js
    assert (site / "widgets" / "widgets.css").read_text().strip() == ".a{color:red}"


MATERIAL_TAIL = """<script id="__config" type="application/json">{}</script>
      <script src="../../assets/javascripts/bundle.a5f9d56c.min.js"></script>
        <script src="../../javascripts/katex-init.js"></script>
        <script src="../../widgets/loader.js" type="module"></script>
  </body>
</html>"""


def test_widgets_first_runs_the_loader_before_materials_bundle(hook: Any) -> None:
    """On a page with widgets loader.js comes first and the classic scripts are deferred, so all
    three run after the parse, in the order loader.js, bundle, katex-init.js."""
    out = hook.widgets_first("<html><body><p>text</p>" + MATERIAL_TAIL)
    tags = re.findall(r"<script[^>]*>", out)
    assert tags == ['<script id="__config" type="application/json">',
                    '<script src="../../widgets/loader.js" type="module">',
                    '<script src="../../assets/javascripts/bundle.a5f9d56c.min.js" defer>',
                    '<script src="../../javascripts/katex-init.js" defer>']
    assert out.count("</script>") == 4 and out.rstrip().endswith("</body>\n</html>")
    assert "<p>text</p>" in out


@pytest.mark.parametrize("html", [
    "<html><body></body></html>",                                         # no scripts at all
    MATERIAL_TAIL.replace("bundle.a5f9d56c.min.js", "other.js"),         # no Material bundle
    MATERIAL_TAIL.replace('        <script src="../../widgets/loader.js" type="module"></script>\n', ""),
])
def test_widgets_first_refuses_a_page_it_does_not_know(hook: Any, html: str) -> None:
    with pytest.raises(hook.PluginError, match=r"Material's bundle, then loader\.js"):
        hook.widgets_first(html)
