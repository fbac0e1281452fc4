// Inlined by docs/hooks/widgets.py at the top of <head> of pages with computed widgets:
// starts the page's Python worker while the rest of the page is still loading, and registers
// the service worker that keeps Pyodide for repeat visits (loader.js asks it to once Python
// is up) and the pages visited, for reading offline.  loader.js adopts the worker and any
// message it sent.
(() => {
  const base = new URL("__AM_WIDGETS__", location.href);
  const sw = navigator.serviceWorker;
  if (sw && location.protocol !== "file:") {
    sw.register(new URL("../sw.js", base)).catch(() => null);
    // Once loaded, ask the service worker to keep this page and what it loaded (it was not in
    // control yet on a first visit), and the worker's script, so it reopens offline; it says
    // when it has (window.__amKept: how many files).
    sw.addEventListener("message", ({ data }) => {
      if (data && typeof data.kept === "number") window.__amKept = data.kept;
    });
    addEventListener("load", () => {
      const urls = [location.href, new URL("worker.js", base).href,
        ...performance.getEntriesByType("resource").map((entry) => entry.name)];
      sw.ready.then((registration) => registration.active &&
        registration.active.postMessage({ keep: urls })).catch(() => null);
    }, { once: true });
  }
  const ready = Promise.resolve();
  const early = { worker: null, error: null, messages: [], errors: [] };
  early.started = ready.then(() => {
    try {
      early.worker = new Worker(new URL("worker.js", base), { type: "module", name: "alignment-math" });
      early.created = performance.now();
      early.worker.onmessage = ({ data }) => early.messages.push(data);
      early.worker.onerror = (event) => { event.preventDefault(); early.errors.push(event.message || ""); };
    } catch (error) {
      early.error = error;
    }
    return early;
  });
  window.__amEarly = early;
})();
