#!/usr/bin/env node
// Boot the self-hosted Pyodide built by scripts/build_pyodide.py in Node and run Python in it.
//
//   node scripts/pyodide_node.mjs --dir .cache/pyodide \
//        [--packages numpy,alignment-math,alignment-widgets] \
//        [--mount HOST_DIR:/guest/dir]... [--snapshot FILE] (--script FILE.py | --code 'print(1)')
//        [-- ARGS...]
//   node scripts/pyodide_node.mjs --dir .cache/pyodide --make-snapshot FILE [--code 'import json']
//
// --make-snapshot boots with Pyodide's (experimental, 0.27) `_makeSnapshot` option, loads --packages
// (numpy's compiled extensions included), runs --code, and writes the snapshot file of
// docs/widgets/snapshot.mjs (Pyodide's memory snapshot, the libraries' placement and the installed
// files) to FILE uncompressed; prints {"build_id", "size", "memory_size", "libs", "files"} as JSON.
// --snapshot FILE (FILE.gz is unzipped first) restores such a snapshot instead of a normal start;
// the packages it holds count as loaded.
//
// Checks every file of DIR/pyodide-lock.json against its sha256 (Node's loadPackage does not),
// loads the packages by name, fails if loadPackage reports any error or a package's import does
// not work afterwards (loadPackage itself only logs a missing package), then runs the Python as
// __main__ with sys.argv = [FILE, ...ARGS]. Exit status: the script's SystemExit code, 0 when it ends normally, 1 on an
// uncaught exception, 2 when Pyodide or a package cannot be loaded. Host folders given with
// --mount are visible to Python through NODEFS (read and write).
import { createHash } from "node:crypto";
import { existsSync, readFileSync } from "node:fs";
import { resolve } from "node:path";
import { pathToFileURL } from "node:url";

function usage(message) {
  console.error(`pyodide_node: ${message}`);
  console.error(
    "usage: node scripts/pyodide_node.mjs --dir DIR [--packages a,b] " +
      "[--mount HOST:GUEST]... (--script FILE.py | --code CODE) [-- ARGS...]",
  );
  process.exit(2);
}

const opts = { packages: [], mounts: [], args: [] };
const argv = process.argv.slice(2);
for (let i = 0; i < argv.length; i++) {
  const a = argv[i];
  const next = () => (i + 1 < argv.length ? argv[++i] : usage(`${a} needs a value`));
  if (a === "--dir") opts.dir = resolve(next());
  else if (a === "--packages") opts.packages.push(...next().split(",").filter(Boolean));
  else if (a === "--mount") {
    const v = next();
    const cut = v.lastIndexOf(":");
    if (cut <= 0) usage(`--mount wants HOST:GUEST, got ${v}`);
    opts.mounts.push([resolve(v.slice(0, cut)), v.slice(cut + 1)]);
  } else if (a === "--script") opts.script = next();
  else if (a === "--make-snapshot") opts.makeSnapshot = resolve(next());
  else if (a === "--snapshot") opts.snapshot = resolve(next());
  else if (a === "--code") opts.code = next();
  else if (a === "--") {
    opts.args = argv.slice(i + 1);
    break;
  } else usage(`unknown argument ${a}`);
}
if (!opts.dir) usage("--dir is required");
if (opts.makeSnapshot) {
  if (opts.script || opts.snapshot) usage("--make-snapshot takes only --dir, --packages and --code");
} else if (!opts.script === !opts.code) usage("give exactly one of --script and --code");
for (const f of ["pyodide.mjs", "pyodide-lock.json", "pyodide.asm.wasm"]) {
  if (!existsSync(resolve(opts.dir, f))) {
    console.error(`pyodide_node: ${opts.dir} has no ${f}; build it with ` +
      "`python scripts/build_pyodide.py --out DIR` (or `make pyodide`)");
    process.exit(2);
  }
}

const lock = JSON.parse(readFileSync(resolve(opts.dir, "pyodide-lock.json"), "utf8"));
const { loadPyodide } = await import(pathToFileURL(resolve(opts.dir, "pyodide.mjs")).href);
const t0 = performance.now();
const snapshots = await import(new URL("../docs/widgets/snapshot.mjs", import.meta.url).href);
if (opts.makeSnapshot) {
  const { writeFileSync } = await import("node:fs");
  try {
    const py = await loadPyodide({ indexURL: opts.dir + "/", _makeSnapshot: true });
    const errors = [];
    const bytes = await snapshots.makeSnapshot(py, {
      packages: opts.packages, code: opts.code,
      loadOptions: { errorCallback: (msg) => errors.push(msg) },
    });
    if (errors.length) throw new Error(errors.join("; "));
    const { manifest } = snapshots.parseSnapshot(bytes);
    writeFileSync(opts.makeSnapshot, bytes);
    console.log(JSON.stringify({
      build_id: py._api.config.BUILD_ID, size: bytes.length, memory_size: manifest.memory_size,
      libs: manifest.libs.length, files: manifest.files.length,
    }));
  } catch (err) {
    console.error(`pyodide_node: cannot make a snapshot: ${String(err.message ?? err).trim()}`);
    process.exit(2);
  }
  process.exit(0);
}
let restored = null;
if (opts.snapshot) {
  let bytes = readFileSync(opts.snapshot);
  if (opts.snapshot.endsWith(".gz")) bytes = (await import("node:zlib")).gunzipSync(bytes);
  try {
    restored = snapshots.parseSnapshot(new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.length));
  } catch (err) {
    console.error(`pyodide_node: Pyodide did not start: ${err.message}`);
    process.exit(2);
  }
  snapshots.armRestore(restored);
}
let pyodide;
try {
  pyodide = await loadPyodide({ indexURL: opts.dir + "/", ...(restored ? { _loadSnapshot: restored.memory } : {}) });
  if (restored) snapshots.finishRestore(pyodide, restored);
} catch (err) {
  console.error(`pyodide_node: Pyodide did not start: ${String(err.message ?? err).trim()}`);
  process.exit(2);
}
const tBoot = performance.now();

const unknown = opts.packages.filter((name) => !lock.packages[name]);
if (unknown.length) {
  console.error(`pyodide_node: not in ${opts.dir}/pyodide-lock.json: ${unknown.join(", ")}`);
  process.exit(2);
}
// In Node, loadPackage reads wheels from disk without the integrity check a browser's fetch
// does: check every file of the lock against its sha256 here.
for (const [name, pkg] of Object.entries(lock.packages)) {
  const file = resolve(opts.dir, pkg.file_name);
  const got = existsSync(file)
    ? createHash("sha256").update(readFileSync(file)).digest("hex")
    : "(file missing)";
  if (got !== pkg.sha256) {
    console.error(`pyodide_node: sha256 mismatch for ${pkg.file_name} (${name}): ` +
      `lock ${pkg.sha256}, file ${got}`);
    process.exit(2);
  }
}
const loadErrors = [];
if (opts.packages.length) {
  try {
    await pyodide.loadPackage(opts.packages, {
      messageCallback: () => {},
      errorCallback: (msg) => loadErrors.push(msg),
    });
  } catch (err) {
    loadErrors.push(String(err.message ?? err));
  }
}
// loadPackage resolves even when a package is missing: prove each one imports.
const imports = opts.packages.flatMap((name) => lock.packages[name].imports ?? []);
for (const mod of imports) {
  try {
    pyodide.pyimport(mod);
  } catch (err) {
    loadErrors.push(`import ${mod} failed: ${String(err.message ?? err).trim().split("\n").pop()}`);
  }
}
if (loadErrors.length) {
  console.error("pyodide_node: cannot load packages:\n  " + loadErrors.join("\n  "));
  process.exit(2);
}
const tLoad = performance.now();
if (process.env.PYODIDE_NODE_TIMING) {
  console.error(`pyodide_node: boot ${(tBoot - t0).toFixed(0)} ms, ` +
    `packages ${(tLoad - tBoot).toFixed(0)} ms`);
}

for (const [host, guest] of opts.mounts) {
  pyodide.FS.mkdirTree(guest);
  pyodide.FS.mount(pyodide.FS.filesystems.NODEFS, { root: host }, guest);
}

let path = opts.script;
if (opts.code) {
  path = "/tmp/__pyodide_node_main__.py";
  pyodide.FS.writeFile(path, opts.code);
} else if (!opts.mounts.some(([, g]) => path.startsWith(g + "/"))) {
  // a host file outside the mounts: copy it in
  const guest = "/tmp/" + path.split("/").pop();
  pyodide.FS.writeFile(guest, readFileSync(resolve(path)));
  path = guest;
}

const runner = pyodide.runPython(`
def _run(path, args):
    import runpy, sys
    sys.argv = [path, *args]
    try:
        runpy.run_path(path, run_name="__main__")
    except SystemExit as exc:
        if exc.code is None:
            return 0
        if isinstance(exc.code, int):
            return exc.code
        print(exc.code, file=sys.stderr)
        return 1
    return 0
_run
`);
let status;
try {
  status = runner(path, pyodide.toPy(opts.args));
} catch (err) {
  console.error(String(err.message ?? err));
  status = 1;
}
// let Python's buffered output reach the terminal before exiting
pyodide.runPython("import sys; sys.stdout.flush(); sys.stderr.flush()");
process.exit(status);
