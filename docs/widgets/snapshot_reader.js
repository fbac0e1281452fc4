// A helper of worker.js: reads a kept memory snapshot (a File from the origin-private file
// system, or a Blob from the service worker's cache) and computes its sha256, on a thread of its
// own.  In Chromium crypto.subtle.digest runs on the thread that calls it (60-90 ms for the 50 MB
// on an idle 2-core machine, measured), and a read's result is only taken when that thread is
// free; the worker's thread is busy meanwhile loading and instantiating Pyodide.  Answers
// {buffer, sha256} (the buffer transferred) or {error}.
// Given a `first` range ({offset, size}: numpy's libraries), that range is read, hashed and
// answered first ({first: buffer, sha256}), so they compile while the rest is read.
import { sha256Hex } from "./snapshot.mjs";

self.onmessage = async ({ data: { source, first } }) => {
  try {
    if (first) {
      const part = await source.slice(first.offset, first.offset + first.size).arrayBuffer();
      postMessage({ first: part, sha256: await sha256Hex(part) }, [part]);
    }
    const buffer = await source.arrayBuffer();
    postMessage({ buffer, sha256: await sha256Hex(buffer) }, [buffer]);
  } catch (error) {
    postMessage({ error: String(error && error.message || error) });
  }
};
