// Memory snapshots of Pyodide 0.27.7 taken *after* packages with compiled extensions (numpy)
// are loaded and imported, and their restore.  Used by the page's worker (worker.js) to start
// Python in a fraction of a normal boot, and by scripts/pyodide_node.mjs, which makes the
// build's snapshot in Node and restores it in the tests.
//
// Pyodide 0.27's own snapshot (`_makeSnapshot` / `_loadSnapshot`) saves the wasm memory only.
// It cannot restore one taken after a package with shared libraries was loaded: the memory then
// holds pointers into those libraries' data and into wasm-table slots that a new instance does
// not have ("table index is out of bounds").  So this module records, while the snapshot is
// made, where each library was placed (its memory base and table base: Emscripten writes them
// into a handle we pass to loadDynamicLibrary), and at restore loads the same libraries again at
// the same places, in the same order, before Pyodide copies the memory back; Emscripten's own
// "already placed" path (the one it uses for pthreads) takes the recorded bases from the handle.
// The installed files (site-packages) live in Emscripten's in-memory file system, which is
// JavaScript state and not part of the memory: they travel in the snapshot file too.
//
// Snapshot file layout (one file, gzip-compressed by the build):
//   [Pyodide's memory snapshot: manifest.memory_size bytes]
//   [each file's bytes, in manifest.files order]
//   [manifest: UTF-8 JSON][u32 LE: manifest length][u32 LE: MAGIC]
// Restoring checks every recorded fact it can (the table before and after the libraries, the
// sizes) and throws on any difference; worker.js then boots normally.

const MAGIC = 0x4e534d41; // "AMSN"
const FORMAT = 1;
export const SITE_PACKAGES = "/lib/python3.12/site-packages";

/** The sha256 of `data` (an ArrayBuffer or a view of one) as hex: how worker.js and
 * snapshot_reader.js check a kept snapshot against snapshot.json. */
export async function sha256Hex(data) {
  const digest = new Uint8Array(await crypto.subtle.digest("SHA-256", data));
  return Array.from(digest, (b) => b.toString(16).padStart(2, "0")).join("");
}

/** Every file and folder under `root` in Emscripten's FS: [[path, Uint8Array | null]]. */
function walk(FS, root, out = []) {
  for (const name of FS.readdir(root)) {
    if (name === "." || name === "..") continue;
    const path = `${root}/${name}`;
    const { mode } = FS.lstat(path);
    if (FS.isLink(mode)) throw new Error(`${path} is a symbolic link; the snapshot keeps files only`);
    if (FS.isDir(mode)) {
      out.push([path, null]);
      walk(FS, path, out);
    } else {
      out.push([path, FS.readFile(path)]);
    }
  }
  return out;
}

/**
 * Load `packages`, run `code`, and return the snapshot file's bytes (uncompressed).
 * `pyodide` must come from `loadPyodide({ _makeSnapshot: true })` and have loaded nothing yet.
 */
export async function makeSnapshot(pyodide, { packages = [], code = "", loadOptions = {} } = {}) {
  const M = pyodide._module;
  // At start-up Pyodide puts a helper of CPython's call trampolines into the wasm table where the
  // engine has wasm GC (Chromium, Firefox, Safari 18.2+, Node >= 22), and stores its slot in the
  // memory; Node 20 has no wasm GC.  Made without it, the snapshot reserves that slot, so the
  // libraries get the slots they have in a browser; finishRestore switches the helper back on.
  const reserved = M._PyEM_CountArgsPtr ? 0 : 1;
  if (reserved) M.wasmTable.grow(reserved);
  const libs = [];
  const load = M.loadDynamicLibrary;
  // Pyodide loads a package's libraries without a handle; give each one, so Emscripten records
  // the memory and table bases it chose (handle + 12 / + 20), in load order.
  M.loadDynamicLibrary = function (name, flags, localScope, handle) {
    if (handle === undefined) {
      handle = M._calloc(40, 1);
      libs.push({ name, global: !!(flags && flags.global), handle, table_before: M.wasmTable.length });
    }
    return load.call(this, name, flags, localScope, handle);
  };
  try {
    await pyodide.loadPackage(packages, { messageCallback: () => {}, ...loadOptions });
  } finally {
    M.loadDynamicLibrary = load;
  }
  const tableAfterLibs = M.wasmTable.length;
  if (code) pyodide.runPython(code);
  if (M.wasmTable.length !== tableAfterLibs) {
    throw new Error("the snapshot's code added functions to the wasm table, which a restored " +
      "instance could not have; import less before the snapshot");
  }
  for (const lib of libs) {
    const h = lib.handle;
    lib.memory_base = M.HEAPU32[(h + 12) >>> 2];
    lib.memory_size = M.HEAP32[(h + 16) >>> 2];
    lib.table_base = M.HEAPU32[(h + 20) >>> 2];
    lib.table_size = M.HEAP32[(h + 24) >>> 2];
    delete lib.handle;
  }
  const byHandle = Object.entries(M.LDSO.loadedLibsByHandle).map(([h, dso]) => [Number(h), dso.name]);
  const aliases = Object.entries(M.LDSO.loadedLibsByName)
    .filter(([name, dso]) => name !== dso.name).map(([name, dso]) => [name, dso.name]);
  const found = M.FS.analyzePath(SITE_PACKAGES).exists ? walk(M.FS, SITE_PACKAGES) : [];
  // the libraries first, in load order: one range of the file, which a restore can read, check
  // and compile before the rest (build_pyodide.py describes it in snapshot.json)
  const order = new Map(libs.map((lib, i) => [lib.name, i]));
  const files = [...found.filter(([path]) => order.has(path)).sort(([a], [b]) => order.get(a) - order.get(b)),
    ...found.filter(([path]) => !order.has(path))];
  // Pyodide checks that the JS objects Python refers to are the ones a fresh start has; the
  // record of loaded packages is one of them and must look as it did at start-up.
  const loaded = { ...pyodide.loadedPackages };
  for (const key of Object.keys(loaded)) delete pyodide.loadedPackages[key];
  let memory;
  try {
    memory = pyodide.makeMemorySnapshot();
  } finally {
    Object.assign(pyodide.loadedPackages, loaded);
  }
  const manifest = {
    format: FORMAT,
    memory_size: memory.length,
    libs,
    by_handle: byHandle,
    aliases,
    table_after_libs: tableAfterLibs,
    reserved_slots: reserved,
    loaded_packages: loaded,
    files: files.map(([path, data]) => [path, data ? data.length : -1]),
  };
  const json = new TextEncoder().encode(JSON.stringify(manifest));
  const fileBytes = files.reduce((n, [, data]) => n + (data ? data.length : 0), 0);
  const out = new Uint8Array(memory.length + fileBytes + json.length + 8);
  out.set(memory, 0);
  let at = memory.length;
  for (const [, data] of files) {
    if (data) {
      out.set(data, at);
      at += data.length;
    }
  }
  out.set(json, at);
  const tail = new DataView(out.buffer, at + json.length, 8);
  tail.setUint32(0, json.length, true);
  tail.setUint32(4, MAGIC, true);
  return out;
}

/** Split a snapshot file into {manifest, memory, files: Map(path -> bytes | null)}; throws if malformed. */
export function parseSnapshot(bytes) {
  if (bytes.length < 8) throw new Error("the snapshot is truncated");
  const tail = new DataView(bytes.buffer, bytes.byteOffset + bytes.length - 8, 8);
  if (tail.getUint32(4, true) !== MAGIC) throw new Error("the snapshot has no manifest (not made by snapshot.mjs)");
  const length = tail.getUint32(0, true);
  const start = bytes.length - 8 - length;
  if (start < 0) throw new Error("the snapshot's manifest is truncated");
  let manifest;
  try {
    manifest = JSON.parse(new TextDecoder().decode(bytes.subarray(start, start + length)));
  } catch (error) {
    throw new Error("the snapshot's manifest is not valid JSON");
  }
  if (manifest.format !== FORMAT) throw new Error(`the snapshot has format ${manifest.format}, not ${FORMAT}`);
  const files = new Map();
  let at = manifest.memory_size;
  for (const [path, size] of manifest.files) {
    if (size < 0) {
      files.set(path, null);
      continue;
    }
    files.set(path, bytes.subarray(at, at + size));
    at += size;
  }
  if (at !== start) throw new Error("the snapshot's files do not add up to its manifest");
  return { manifest, memory: bytes.subarray(0, manifest.memory_size), files };
}

// Pyodide creates its Emscripten module with globalThis._createPyodideModule (defined by
// pyodide.asm.js, which pyodide.mjs loads only when that name is not a function yet); wrapping
// it is the one place where the new instance exists before Pyodide copies the memory back.
let create = null;
let pending = null;
function wrapper(config) {
  const job = pending;
  pending = null;
  if (!job) return create(config);
  const mark = job.mark || (() => {});
  // the libraries compile in the background while the main module instantiates: from the
  // caller's early read of them (`compiled`: [[name, Promise<WebAssembly.Module>]] in load
  // order), else as soon as the snapshot is there
  const ready = Promise.all([job.parsed, job.compiled]).then(([parsed, early]) => {
    const names = parsed.manifest.libs.map((lib) => lib.name);
    const same = early && early.length === names.length && early.every(([name], i) => name === names[i]);
    const compiling = same ? early.map(([, module]) => module) : names.map((name) => {
      const bytes = parsed.files.get(name);
      return bytes ? WebAssembly.compile(bytes) : Promise.reject(new Error(`the snapshot lacks the library ${name}`));
    });
    compiling.forEach((p) => p.catch(() => {}));
    return { parsed, compiling };
  });
  ready.catch(() => {});
  return create(config).then(async (M) => {
    mark("instance");
    const { parsed, compiling } = await ready;
    if (parsed.memory.length !== config.INITIAL_MEMORY) {
      throw new Error(`the snapshot's memory has ${parsed.memory.length} bytes, the instance ${config.INITIAL_MEMORY}`);
    }
    await reload(M, parsed, compiling);
    mark("libraries");
    // Pyodide restores the memory it was given as _loadSnapshot, which only had to be as long as
    // the snapshot's (so the instance could be made before the snapshot was read): give it that
    const restoreSnapshot = config.API.restoreSnapshot;
    config.API.restoreSnapshot = () => restoreSnapshot(parsed.memory);
    return M;
  });
}
function hook() {
  const descriptor = Object.getOwnPropertyDescriptor(globalThis, "_createPyodideModule");
  if (descriptor && descriptor.get && descriptor.get.isSnapshotHook) return;
  if (descriptor && typeof descriptor.value === "function") create = descriptor.value;
  const get = () => (create ? wrapper : undefined);
  get.isSnapshotHook = true;
  Object.defineProperty(globalThis, "_createPyodideModule", {
    configurable: true,
    get,
    set: (value) => { create = value; },
  });
}

/** Make the next loadPyodide() restore `parsed` (from parseSnapshot, or a promise of it: the
 * instance is then made while the snapshot is still being read).  Call this before loadPyodide,
 * and give loadPyodide a `_loadSnapshot` as long as the snapshot's memory (`parsed.memory`, or
 * any Uint8Array of its length: Pyodide only sizes the instance by it, and this module hands it
 * the snapshot's memory).  `mark(name)`, if given, is called when the instance exists
 * ("instance") and when the libraries are loaded again ("libraries"); `compiled`, if given, is
 * a promise of the libraries already being compiled ([[name, Promise<WebAssembly.Module>]] in
 * load order, or null), used when it names the snapshot's libraries in its order. */
export function armRestore(parsed, { mark, compiled = null } = {}) {
  hook();
  pending = { parsed, mark, compiled };
}

/** Forget an armed restore that will not happen (its loadPyodide failed early). */
export function disarmRestore() {
  pending = null;
}

async function reload(M, { manifest, files }, compiling) {
  // the folders first: the libraries come first among the files
  for (const [path, data] of files) if (data === null) M.FS.mkdirTree(path);
  for (const [path, data] of files) if (data !== null) M.FS.writeFile(path, data);
  const { libs } = manifest;
  // the new instance may lack the slots the snapshot reserved (see makeSnapshot), nothing else
  const missing = (libs.length ? libs[0].table_before : manifest.table_after_libs) - M.wasmTable.length;
  if (missing < 0 || missing > manifest.reserved_slots) {
    throw new Error(`the new instance's wasm table has ${M.wasmTable.length} slots before the ` +
      `libraries, the snapshot's had ${M.wasmTable.length + missing}`);
  }
  if (missing) M.wasmTable.grow(missing);
  const modules = await Promise.all(compiling);
  libs.forEach((lib, i) => {
    if (lib.global) throw new Error(`${lib.name} was loaded globally; restoring that is not supported`);
    const h = M._calloc(40, 1); // scratch: the memory is overwritten by the snapshot next
    M.HEAP8[h + 8] = 1; // "already placed": take the bases below
    M.HEAPU32[(h + 12) >>> 2] = lib.memory_base;
    M.HEAP32[(h + 16) >>> 2] = lib.memory_size;
    M.HEAPU32[(h + 20) >>> 2] = lib.table_base;
    M.HEAP32[(h + 24) >>> 2] = lib.table_size;
    const flags = { loadAsync: false, nodelete: true, allowUndefined: true, global: false };
    const exports = M.loadWebAssemblyModule(modules[i], flags, lib.name, {}, h);
    M.newDSO(lib.name, undefined, exports).global = false;
  });
  if (M.wasmTable.length !== manifest.table_after_libs) {
    throw new Error(`the libraries left the wasm table at ${M.wasmTable.length} slots, ` +
      `the snapshot's at ${manifest.table_after_libs}`);
  }
  for (const [alias, name] of manifest.aliases) M.LDSO.loadedLibsByName[alias] = M.LDSO.loadedLibsByName[name];
  for (const [handle, name] of manifest.by_handle) M.LDSO.loadedLibsByHandle[handle] = M.LDSO.loadedLibsByName[name];
}

/** After a restored loadPyodide(): give back Pyodide's record of the loaded packages. */
export function finishRestore(pyodide, { manifest }) {
  Object.assign(pyodide.loadedPackages, manifest.loaded_packages);
  // the trampoline helper's slot, as Pyodide's start-up stores it (0 in a snapshot made without it)
  const M = pyodide._module;
  if (M._PyEM_CountArgsPtr) {
    const offset = M.HEAP32[M.__PyEM_EMSCRIPTEN_COUNT_ARGS_OFFSET >>> 2];
    M.HEAP32[(M.__PyRuntime + offset) >>> 2] = M._PyEM_CountArgsPtr;
  }
}
