// Build-time math: reads JSON lines {"tex": "...", "display": bool} on stdin and writes
// one JSON line per request, {"html": "..."} or {"error": "..."}, rendered by the KaTeX of
// node_modules (the same version whose CSS and fonts the site serves).  Used by
// docs/hooks/widgets.py so the pages carry rendered math and no KaTeX JavaScript.
const path = require("path");
const readline = require("readline");
const katex = require(path.join(__dirname, "..", "..", "node_modules", "katex"));

const rl = readline.createInterface({ input: process.stdin, terminal: false });
rl.on("line", (line) => {
  let reply;
  try {
    const { tex, display } = JSON.parse(line);
    reply = { html: katex.renderToString(tex, { displayMode: display, throwOnError: true, output: "htmlAndMathml" }) };
  } catch (error) {
    reply = { error: String(error.message || error) };
  }
  process.stdout.write(JSON.stringify(reply) + "\n");
});
