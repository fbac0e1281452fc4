// Math on Markdown pages is rendered at build time (docs/hooks/widgets.py), so it reads
// the same with JavaScript off.  Notebook pages (mkdocs-jupyter) keep the notebook's TeX
// ($ … $, $$ … $$): on those pages only, load the self-hosted KaTeX and render it.
(() => {
  const base = new URL("../assets/vendor/katex/", document.currentScript.src);
  let katex = null;

  function load(src) {
    return new Promise((resolve, reject) => {
      const script = Object.assign(document.createElement("script"), { src, onload: resolve, onerror: reject });
      document.head.append(script);
    });
  }

  function loadKatex() {
    katex ??= load(new URL("katex.min.js", base).href)
      .then(() => load(new URL("contrib/auto-render.min.js", base).href));
    return katex;
  }

  const delimiters = [
    { left: "$$", right: "$$", display: true },
    { left: "$", right: "$", display: false },
    { left: "\\(", right: "\\)", display: false },
    { left: "\\[", right: "\\]", display: true },
  ];

  document$.subscribe(({ body }) => {
    const cells = [...body.querySelectorAll(".jp-RenderedMarkdown, .jp-MarkdownOutput")]
      .filter((el) => /\$|\\\(|\\\[/.test(el.textContent));
    if (!cells.length) return;
    loadKatex().then(() => {
      for (const el of cells) renderMathInElement(el, { delimiters, throwOnError: false });
    }, () => {});
  });
})();
