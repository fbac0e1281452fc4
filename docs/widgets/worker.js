// The page's one Web Worker: boots the self-hosted Pyodide, loads numpy + alignment-math +
// alignment-widgets by name through the site's pyodide-lock.json (sha256-checked), and
// answers {id, widget, params} with alignment_widgets.compute(widget, params) as JSON.
// Also runs a code snippet ({id, code}) for the runnable code blocks, and passes a live
// widget's message ({id, live: name, message}) to alignment_widgets.<name>.live(message),
// which keeps that widget's state between messages (the playground's training runs).
//
// Start-up: when the build made a memory snapshot (scripts/build_pyodide.py --snapshot; off by
// default, it did not pay for itself), the interpreter is restored from it (snapshot.json names
// it with its sha256; fetched with Subresource Integrity, gunzipped, checked by Pyodide against
// its build id).  Anything wrong with it (missing, corrupted, from another build, fails to
// restore) falls back to a normal boot; how it went is kept in self.__amBoot.snapshot.
import { loadPyodide } from "../pyodide/pyodide.mjs";

const INDEX_URL = new URL("../pyodide/", import.meta.url).href;
const PACKAGES = ["numpy", "alignment-math", "alignment-widgets"];
// The build's digest of the Pyodide files (written in by docs/hooks/widgets.py): the site
// lock and the snapshot description are fetched with ?v=<digest>, so a new build never reads
// an old one from a cache (the wheels' and the snapshot's names carry content hashes already).
const VERSION = "__AM_CACHE_VERSION__";
const PYODIDE_VERSION = "0.27.7";

const PRELUDE = `
import io, json, sys, traceback
import numpy, alignment_math, alignment_widgets

def _am_short(error):
    return f"{type(error).__name__}: {error}"

def _am_compute(name, params_json):
    try:
        result = alignment_widgets.compute(name, json.loads(params_json))
        return json.dumps({"ok": True, "result": result}, allow_nan=False, default=float)
    except Exception as error:  # a bad parameter or a bug: reported, never fatal
        return json.dumps({"ok": False, "error": _am_short(error)})

def _am_params(name, raw_json):
    """Parameters read from a shared link, validated leniently (bad ones -> defaults)."""
    try:
        params = alignment_widgets.get(name).params(json.loads(raw_json), lenient=True)
        return json.dumps({"ok": True, "params": params}, allow_nan=False)
    except Exception as error:
        return json.dumps({"ok": False, "error": _am_short(error)})

def _am_live(name, message_json):
    try:
        import importlib
        module = importlib.import_module("alignment_widgets." + name.replace("-", "_"))
        return module.live(message_json)
    except Exception as error:
        return json.dumps({"ok": False, "error": _am_short(error)})

_am_snippet_globals = {}

def _am_snippet(code, key):
    from alignment_widgets._snippets import run
    ok, output = run(code, _am_snippet_globals.setdefault(key, {}))
    return json.dumps({"ok": ok, "output": output})
`;

// Pyodide 0.27 only logs a failed WebAssembly instantiation ("wasm instantiation failed!")
// and then never settles; turn that log line into a rejection so the page can say so.
const wasmFailed = new Promise((_, reject) => {
  const warn = console.warn.bind(console);
  console.warn = (...args) => {
    if (String(args[0]).includes("wasm instantiation failed")) {
      reject(new Error("its WebAssembly runtime (pyodide.asm.wasm) could not be loaded"));
    }
    warn(...args);
  };
});
wasmFailed.catch(() => {});

// A file Pyodide could not fetch also leaves a promise rejected inside Pyodide itself;
// report it through the boot attempt it belongs to, not as an uncaught error of the page.
let settled = false;
let rejectAttempt = null;
self.addEventListener("unhandledrejection", (event) => {
  event.preventDefault();
  if (!settled && rejectAttempt) rejectAttempt(new Error(String(event.reason && event.reason.message || event.reason)));
});

// Milestones of the boot (epoch ms), reported to the page (read by scripts/bench_site.py).
const timings = {};
// How this boot went (read by the browser tests and the benchmark in the worker's scope).
const bootInfo = (self.__amBoot = { snapshot: "not tried", timings });
const mark = (name) => { timings[name] ??= performance.timeOrigin + performance.now(); };
// "wasm": pyodide.asm.wasm compiled and instantiated (the first instantiation is Pyodide's own).
for (const name of ["instantiateStreaming", "instantiate"]) {
  const original = WebAssembly[name];
  WebAssembly[name] = function (...args) {
    mark("wasm_start");
    const result = original.apply(this, args);
    result.then(() => mark("wasm"), () => {});
    return result;
  };
}

/** The build's snapshot description (``{"file": null}``: the build made none). */
async function snapshotInfo() {
  const described = await fetch(`${INDEX_URL}snapshot.json?v=${VERSION}`);
  if (!described.ok) throw new Error(`no snapshot description (HTTP ${described.status})`);
  const info = await described.json();
  if (!info.file) return null;
  if (info.pyodide_version !== PYODIDE_VERSION) {
    throw new Error(`the snapshot is for Pyodide ${info.pyodide_version}`);
  }
  return info;
}

/** The snapshot's bytes, verified against its sha256 (SRI) and size. */
async function snapshotBytes(info) {
  const url = new URL(info.file, INDEX_URL).href;
  let response;
  try {
    response = await fetch(url, { integrity: info.integrity });
  } catch (error) {
    forget(url);  // a cached copy that fails its check must not be served again
    throw new Error(`the snapshot failed its sha256 check or could not be fetched (${error.message})`);
  }
  if (!response.ok) throw new Error(`the snapshot could not be fetched (HTTP ${response.status})`);
  const body = response.body.pipeThrough(new DecompressionStream("gzip"));
  const bytes = new Uint8Array(await new Response(body).arrayBuffer());
  if (bytes.length !== info.raw_size) throw new Error("the snapshot has the wrong size");
  mark("snapshot_fetched");
  return bytes;
}

/** Drop ``url`` from the service worker's caches (best effort). */
async function forget(url) {
  try {
    for (const key of await caches.keys()) {
      if (key.startsWith("alignment-math-")) await (await caches.open(key)).delete(url, { ignoreSearch: false });
    }
  } catch (error) {
    // no CacheStorage here: nothing was cached
  }
}

async function start(failures, snapshot) {
  const attempt = new Promise((_, reject) => { rejectAttempt = reject; });
  attempt.catch(() => {});
  return Promise.race([
    loadPyodide({
      indexURL: INDEX_URL,
      lockFileURL: `${INDEX_URL}pyodide-lock.json?v=${VERSION}`,
      stdout: () => {},
      stderr: (line) => failures.push(line),
      ...(snapshot ? { _loadSnapshot: snapshot } : {}),
    }),
    wasmFailed,
    attempt,
  ]);
}

async function boot() {
  mark("worker");
  let failures = [];
  let pyodide = null;
  let info = null;
  try {
    info = await snapshotInfo();
  } catch (error) {
    bootInfo.snapshot = `not used: ${error.message}`;
  }
  if (info) {
    try {
      const bytes = snapshotBytes(info);
      bytes.catch(() => {});  // its failure is the attempt's (loadPyodide awaits it)
      pyodide = await start(failures, bytes);
      bootInfo.snapshot = "restored";
    } catch (error) {
      const reason = String(error && error.message || error).trim().split("\n")[0];
      if (/WebAssembly runtime/.test(reason)) throw error;
      // any failure to restore: boot normally (the wasm is compiled again, from the cache)
      bootInfo.snapshot = `not used: ${reason}`;
      failures = [];
      delete timings.wasm;
    }
  } else if (bootInfo.snapshot === "not tried") {
    bootInfo.snapshot = "none in this build";
  }
  if (!pyodide) pyodide = await start(failures, null);
  mark("pyodide");
  await pyodide.loadPackage(PACKAGES, {
    messageCallback: () => {},
    errorCallback: (message) => failures.push(message),
    checkIntegrity: true,
  });
  try {
    mark("packages");
    pyodide.runPython(PRELUDE);
    mark("imported");
  } catch (error) {
    // loadPackage only logs a package it could not load: the import is the real check.
    const why = failures.length ? failures.join("; ") : String(error.message).trim().split("\n").pop();
    throw new Error(`the Python packages did not load (${why})`);
  }
  return {
    compute: pyodide.globals.get("_am_compute"),
    params: pyodide.globals.get("_am_params"),
    snippet: pyodide.globals.get("_am_snippet"),
    live: pyodide.globals.get("_am_live"),
  };
}

const booted = boot();
booted.finally(() => { settled = true; }).catch(() => {});
booted.then(
  () => postMessage({ type: "boot", ok: true, timings }),
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
  if (data.validate !== undefined) {
    postMessage({ id: data.id, json: py.params(data.validate, JSON.stringify(data.raw)) });
  } else if (data.live !== undefined) {
    postMessage({ id: data.id, json: py.live(data.live, data.message) });
  } else if (data.code !== undefined) {
    postMessage({ id: data.id, json: py.snippet(data.code, data.key || "") });
  } else {
    postMessage({ id: data.id, json: py.compute(data.widget, JSON.stringify(data.params)) });
  }
};
