// Render each page's math with the self-hosted KaTeX, on every page of Material's instant
// navigation.  pymdownx.arithmatex (generic mode) wraps TeX in .arithmatex as \( \) / \[ \];
// notebook pages (mkdocs-jupyter) keep the notebook's $ / $$ delimiters.
(() => {
  const tex = [
    { left: "\\(", right: "\\)", display: false },
    { left: "\\[", right: "\\]", display: true },
  ];
  const dollars = [
    { left: "$$", right: "$$", display: true },
    { left: "$", right: "$", display: false },
  ];
  document$.subscribe(({ body }) => {
    for (const el of body.querySelectorAll(".arithmatex")) {
      renderMathInElement(el, { delimiters: tex, throwOnError: false });
    }
    for (const el of body.querySelectorAll(".jp-RenderedMarkdown, .jp-MarkdownOutput")) {
      renderMathInElement(el, { delimiters: [...dollars, ...tex], throwOnError: false });
    }
  });
})();
