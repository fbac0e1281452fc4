// A helper of worker.js: reads a kept memory snapshot (a File from the origin-private file
// system, or a Blob from the service worker's cache) and computes its sha256, on a thread of its
// own.  In Chromium crypto.subtle.digest runs on the thread that calls it (60-90 ms for the 50 MB
// on an idle 2-core machine, measured), and a read's result is only taken when that thread is
// free; the worker's thread is busy meanwhile loading and instantiating Pyodide.  Answers
// {buffer, sha256} (the buffer transferred) or {error}.
self.onmessage = async ({ data: { source } }) => {
  try {
    const buffer = await source.arrayBuffer();
    const digest = new Uint8Array(await crypto.subtle.digest("SHA-256", buffer));
    const sha256 = Array.from(digest, (b) => b.toString(16).padStart(2, "0")).join("");
    postMessage({ buffer, sha256 }, [buffer]);
  } catch (error) {
    postMessage({ error: String(error && error.message || error) });
  }
};
