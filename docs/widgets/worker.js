// The page's one Web Worker: boots the self-hosted Pyodide, loads numpy + alignment-math +
// alignment-widgets by name through the site's pyodide-lock.json (sha256-checked), and
// answers {id, widget, params} with alignment_widgets.compute(widget, params) as JSON.
// Also runs a code snippet ({id, code}) for the runnable code blocks.
import { loadPyodide } from "../pyodide/pyodide.mjs";

const INDEX_URL = new URL("../pyodide/", import.meta.url).href;
const PACKAGES = ["numpy", "alignment-math", "alignment-widgets"];

const PRELUDE = `
import io, json, sys, traceback
import numpy, alignment_math, alignment_widgets
alignment_widgets.registry()

def _am_short(error):
    return f"{type(error).__name__}: {error}"

def _am_compute(name, params_json):
    try:
        result = alignment_widgets.compute(name, json.loads(params_json))
        return json.dumps({"ok": True, "result": result}, allow_nan=False, default=float)
    except Exception as error:  # a bad parameter or a bug: reported, never fatal
        return json.dumps({"ok": False, "error": _am_short(error)})

_am_snippet_globals = {}

def _am_snippet(code, key):
    scope = _am_snippet_globals.setdefault(key, {"__name__": "__main__"})
    out = io.StringIO()
    old = sys.stdout, sys.stderr
    sys.stdout = sys.stderr = out
    ok = True
    try:
        exec(compile(code, "<snippet>", "exec"), scope)
    except BaseException:
        ok = False
        etype, value, tb = sys.exc_info()
        traceback.print_exception(etype, value, tb.tb_next, file=out)
    finally:
        sys.stdout, sys.stderr = old
    return json.dumps({"ok": ok, "output": out.getvalue()})
`;

async function boot() {
  const failures = [];
  const pyodide = await loadPyodide({
    indexURL: INDEX_URL,
    lockFileURL: INDEX_URL + "pyodide-lock.json",
    stdout: () => {},
    stderr: (line) => failures.push(line),
  });
  await pyodide.loadPackage(PACKAGES, {
    messageCallback: () => {},
    errorCallback: (message) => failures.push(message),
    checkIntegrity: true,
  });
  try {
    pyodide.runPython(PRELUDE);
  } catch (error) {
    // loadPackage only logs a package it could not load: the import is the real check.
    const why = failures.length ? failures.join("; ") : String(error.message).trim().split("\n").pop();
    throw new Error(`the Python packages did not load (${why})`);
  }
  return {
    compute: pyodide.globals.get("_am_compute"),
    snippet: pyodide.globals.get("_am_snippet"),
  };
}

const booted = boot();
booted.then(
  () => postMessage({ type: "boot", ok: true }),
  (error) => postMessage({ type: "boot", ok: false, error: String(error && error.message || error) }),
);

self.onmessage = async ({ data }) => {
  let py;
  try {
    py = await booted;
  } catch (error) {
    postMessage({ id: data.id, json: JSON.stringify({ ok: false, error: "Python did not start" }) });
    return;
  }
  if (data.code !== undefined) {
    postMessage({ id: data.id, json: py.snippet(data.code, data.key || "") });
  } else {
    postMessage({ id: data.id, json: py.compute(data.widget, JSON.stringify(data.params)) });
  }
};
