// The page's one Web Worker: boots the self-hosted Pyodide, loads numpy + alignment-math +
// alignment-widgets by name through the site's pyodide-lock.json (sha256-checked), and
// answers {id, widget, params} with alignment_widgets.compute(widget, params) as JSON.
// Also runs a code snippet ({id, code}) for the runnable code blocks, and passes a live
// widget's message ({id, live: name, message}) to alignment_widgets.<name>.live(message),
// which keeps that widget's state between messages (the playground's training runs).
//
// Start-up: the build's memory snapshot (scripts/build_pyodide.py; snapshot.json names it with its
// sha256) holds Python with numpy, alignment-math and alignment-widgets loaded and imported; once
// the service worker keeps it (it asks for it after a first visit's normal boot), a later page
// restores it (snapshot.mjs) instead of booting and loading packages.  It is read from a copy in
// the origin-private file system or from the service worker's cache, checked against its sha256,
// by Pyodide (build id) and by snapshot.mjs (the libraries' placement).  Anything wrong with it
// (missing, corrupted, from another build, fails to restore) falls back to a normal boot; how it
// went is kept in self.__amBoot.snapshot.
import { loadPyodide } from "../pyodide/pyodide.mjs";
import { armRestore, disarmRestore, finishRestore, parseSnapshot, sha256Hex } from "./snapshot.mjs";

const INDEX_URL = new URL("../pyodide/", import.meta.url).href;
const PACKAGES = ["numpy", "alignment-math", "alignment-widgets"];
// The build's digest of the Pyodide files (written in by docs/hooks/widgets.py): the site
// lock and the snapshot description are fetched with ?v=<digest>, so a new build never reads
// an old one from a cache (the wheels' and the snapshot's names carry content hashes already).
const VERSION = "__AM_CACHE_VERSION__";
const PYODIDE_VERSION = "0.27.7";

// What the worker calls in Python (alignment_widgets/_worker.py): imported by a normal boot, and
// already imported in the memory snapshot.
const ENTRY = "alignment_widgets._worker";

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

/** ``url`` as the service worker's cache keeps it, or null (read directly: no round trip
 * through the service worker, which may have to start first). */
async function cached(url) {
  try {
    return (await caches.match(url)) || null;
  } catch (error) {
    return null;  // no CacheStorage here
  }
}

/** The build's snapshot description (``{"file": null}``: the build made none). */
async function snapshotInfo() {
  const url = `${INDEX_URL}snapshot.json?v=${VERSION}`;
  const described = (await cached(url)) || (await fetch(url));
  if (!described.ok) throw new Error(`no snapshot description (HTTP ${described.status})`);
  const info = await described.json();
  if (!info.file) return null;
  if (info.pyodide_version !== PYODIDE_VERSION) {
    throw new Error(`the snapshot is for Pyodide ${info.pyodide_version}`);
  }
  return info;
}

/** The snapshot file as kept and its sha256 ({buffer, sha256}): read and hashed by
 * snapshot_reader.js on a thread of its own (the digest holds the thread that calls it, and this
 * one is busy meanwhile starting Pyodide), or here where that helper cannot start.  With the
 * helper, the `first` range is read and hashed ahead of the rest and given to onFirst(buffer,
 * sha256). */
async function readKept(source, first, onFirst) {
  let reader = null;
  try {
    reader = new Worker(new URL("./snapshot_reader.js", import.meta.url), { type: "module", name: "snapshot-reader" });
  } catch (error) {
    // no nested workers here
  }
  if (reader) {
    const answer = await new Promise((resolve) => {
      reader.onmessage = ({ data }) => {
        if (data.first) onFirst(data.first, data.sha256);
        else resolve(data);
      };
      reader.onerror = (event) => { event.preventDefault(); resolve(null); };
      reader.postMessage({ source, first });
    });
    reader.terminate();
    if (answer && answer.error) throw new Error(`the snapshot could not be read (${answer.error})`);
    if (answer) return answer;
  }
  const buffer = await source.arrayBuffer();
  return { buffer, sha256: await sha256Hex(buffer) };
}

/** The snapshot's bytes: a copy in the origin-private file system, else the service worker's
 * cache, which keeps it gunzipped (a copy fetched through it on a miss is still gzip: gunzipped
 * here).  Checked against its sha256 and size before anything is made of it.  numpy's libraries
 * (info.libraries: one range of an uncompressed snapshot) are read and checked first and given
 * to onLibraries(buffer) when they pass. */
async function snapshotBytes(info, found, onLibraries) {
  const url = new URL(info.file, INDEX_URL).href;
  if (found.response && !found.response.ok) {
    throw new Error(`the snapshot could not be read (HTTP ${found.response.status})`);
  }
  const first = info.libraries ? { offset: info.libraries.offset, size: info.libraries.size } : null;
  const { buffer, sha256 } = await readKept(found.file || (await found.response.blob()), first,
    (part, digest) => { if (digest === info.libraries.sha256) onLibraries(part); });
  mark("snapshot_read");
  const gzip = buffer.byteLength >= 2 && new Uint8Array(buffer, 0, 2).every((b, i) => b === [0x1f, 0x8b][i]);
  if (sha256 !== (gzip ? info.sha256 : info.raw_sha256)) {
    forget(url, info);  // a kept copy that fails its check must not be used again
    throw new Error("the snapshot failed its sha256 check");
  }
  mark("snapshot_checked");
  const bytes = new Uint8Array(gzip
    ? await new Response(new Blob([buffer]).stream().pipeThrough(new DecompressionStream("gzip"))).arrayBuffer()
    : buffer);
  if (bytes.length !== info.raw_size) throw new Error("the snapshot has the wrong size");
  return bytes;
}

/** Compile numpy's libraries from their checked range (snapshotBytes): [[name, Promise]]. */
function compileLibraries(info, buffer) {
  let at = 0;
  return info.libraries.files.map(([name, size]) => {
    const module = WebAssembly.compile(new Uint8Array(buffer, at, size));
    module.catch(() => {});
    at += size;
    return [name, module];
  });
}

// The origin-private file system: reading 50 MB from a file there took ~0.4 s of a repeat visit
// on a busy 2-core machine, from the service worker's cache ~0.6 s.  A restore from the cache leaves a copy there for the next pages.
const opfsName = (info) => `snapshot-${info.raw_sha256.slice(0, 16)}.bin`;

/** The copy in the origin-private file system, as a File, or null. */
async function inOpfs(info) {
  try {
    const handle = await (await navigator.storage.getDirectory()).getFileHandle(opfsName(info));
    const file = await handle.getFile();
    return file.size === info.raw_size ? file : null;
  } catch (error) {
    return null;  // none kept, or no such file system here
  }
}

async function toOpfs(info, bytes) {
  try {
    const root = await navigator.storage.getDirectory();
    for await (const name of root.keys()) {
      if (/^snapshot-.*\.bin$/.test(name) && name !== opfsName(info)) await root.removeEntry(name);
    }
    const access = await (await root.getFileHandle(opfsName(info), { create: true })).createSyncAccessHandle();
    try {
      access.truncate(0);
      if (access.write(bytes, { at: 0 }) !== bytes.length) access.truncate(0);
      access.flush();
    } finally {
      access.close();
    }
  } catch (error) {
    // no origin-private file system (or no room): the cache serves the next pages
  }
}

/** Drop ``url`` from the service worker's caches and the copy in the origin-private file
 * system (best effort). */
async function forget(url, info) {
  if (info) {
    try {
      await (await navigator.storage.getDirectory()).removeEntry(opfsName(info));
    } catch (error) {
      // none there
    }
  }
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

/** Where the snapshot is kept (after a first visit): {from, file | response}, or null. */
async function kept(info) {
  const file = await inOpfs(info);
  if (file) return { from: "file system", file };
  const response = await cached(new URL(info.file, INDEX_URL).href);
  return response ? { from: "cache", response } : null;
}

// Set by a restore from the cache: writes the file-system copy after the first answer.
let afterFirstAnswer = null;

/** Restore the snapshot: Python with our packages imported (snapshot.mjs), or throw.  Pyodide
 * fetches the wasm and the stdlib (from the caches) while the snapshot is read. */
async function restore(failures, info, found) {
  let bytes = null;
  let early = null;
  const compiled = new Promise((resolve) => { early = resolve; });
  const parsed = snapshotBytes(info, found, (libraries) => {
    mark("libraries_read");
    early(compileLibraries(info, libraries));
  }).then((read) => {
    bytes = read;
    return parseSnapshot(bytes);
  });
  parsed.then(() => early(null), () => early(null));  // no early read: compiled from the snapshot
  armRestore(parsed, { mark, compiled });
  try {
    // the instance is made at once, at the snapshot's memory size; snapshot.mjs hands Pyodide the
    // snapshot's memory once it is read and checked
    const pyodide = await start(failures, new Uint8Array(info.memory_size));
    finishRestore(pyodide, await parsed);
    // keep a copy for the next pages once the first widget has its numbers (see onmessage)
    if (found.from !== "file system") afterFirstAnswer = () => toOpfs(info, bytes);
    return pyodide;
  } finally {
    disarmRestore();
  }
}

async function boot() {
  mark("worker");
  let failures = [];
  let pyodide = null;
  let info = null;
  try {
    info = await snapshotInfo();
    if (!info) bootInfo.snapshot = "none in this build";
  } catch (error) {
    bootInfo.snapshot = `not used: ${error.message}`;
  }
  const found = info && (await kept(info));
  mark("snapshot_found");
  if (info && !found) {
    // a first visit: a normal boot downloads less; the service worker keeps the snapshot after it
    bootInfo.snapshot = "not used: not kept yet (a first visit boots normally)";
    info = null;
  }
  if (info) {
    try {
      pyodide = await restore(failures, info, found);
      bootInfo.snapshot = "restored";
      bootInfo.snapshotFrom = found.from;
    } catch (error) {
      const reason = String(error && error.message || error).trim().split("\n")[0];
      if (/WebAssembly runtime/.test(reason)) throw error;
      // any failure to restore: boot normally (the wasm is compiled again, from the cache)
      bootInfo.snapshot = `not used: ${reason}`;
      pyodide = null;
      failures = [];
      delete timings.wasm;
    }
  }
  let entry;
  if (pyodide) {
    mark("pyodide");
    entry = pyodide.pyimport(ENTRY);
    entry.reseed();
    mark("imported");
  } else {
    pyodide = await start(failures, null);
    mark("pyodide");
    await pyodide.loadPackage(PACKAGES, {
      messageCallback: () => {},
      errorCallback: (message) => failures.push(message),
      checkIntegrity: true,
    });
    try {
      mark("packages");
      entry = pyodide.pyimport(ENTRY);
      mark("imported");
    } catch (error) {
      // loadPackage only logs a package it could not load: the import is the real check.
      const why = failures.length ? failures.join("; ") : String(error.message).trim().split("\n").pop();
      throw new Error(`the Python packages did not load (${why})`);
    }
  }
  return { compute: entry.compute, params: entry.params, snippet: entry.snippet, live: entry.live };
}

const booted = boot();
booted.finally(() => { settled = true; }).catch(() => {});
booted.then(
  () => postMessage({ type: "boot", ok: true, timings }),
  (error) => postMessage({ type: "boot", ok: false, error: String(error && error.message || error) }),
);

// The first answer carries when it was sent (epoch ms: the benchmark's first_answer_sent).
let answered = false;
function answer(id, json) {
  const message = { id, json };
  if (!answered) message.sent = performance.timeOrigin + performance.now();
  answered = true;
  postMessage(message);
}

self.onmessage = async ({ data }) => {
  mark("first_request");  // before Python is up, if the page asked at once (it is in the boot message then)
  let py;
  try {
    py = await booted;
  } catch (error) {
    postMessage({ id: data.id, json: JSON.stringify({ ok: false, error: "Python did not start" }) });
    return;
  }
  if (data.validate !== undefined) {
    answer(data.id, py.params(data.validate, JSON.stringify(data.raw)));
  } else if (data.live !== undefined) {
    answer(data.id, py.live(data.live, data.message));
  } else if (data.code !== undefined) {
    answer(data.id, py.snippet(data.code, data.key || ""));
  } else {
    answer(data.id, py.compute(data.widget, JSON.stringify(data.params)));
  }
  if (afterFirstAnswer) {
    const then = afterFirstAnswer;
    afterFirstAnswer = null;
    setTimeout(then, 50);
  }
};
