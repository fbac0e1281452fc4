// Inlined by docs/hooks/widgets.py at the top of <head> of pages with computed widgets:
// starts the page's Python worker while the rest of the page is still loading, and registers
// the service worker that keeps Pyodide for repeat visits (loader.js asks it to once Python
// is up).  loader.js adopts the worker and any message it sent.
(() => {
  const base = new URL("__AM_WIDGETS__", location.href);
  const sw = navigator.serviceWorker;
  if (sw && location.protocol !== "file:") sw.register(new URL("../sw.js", base)).catch(() => null);
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
