// Inlined by docs/hooks/widgets.py at the top of <head> of pages with computed widgets:
// starts the page's Python worker while the rest of the page is still loading.  On a first
// visit it first lets the service worker take control (at most 3 s), so that Pyodide's files
// pass through it into its cache.  loader.js adopts the worker and any message it sent.
(() => {
  const base = new URL("__AM_WIDGETS__", location.href);
  const sw = navigator.serviceWorker;
  let ready = Promise.resolve();
  if (sw && location.protocol !== "file:") {
    const registered = sw.register(new URL("../sw.js", base)).catch(() => null);
    if (!sw.controller) {
      ready = Promise.race([
        registered.then((r) => r && new Promise((res) => sw.addEventListener("controllerchange", res, { once: true }))),
        new Promise((res) => setTimeout(res, 3000)),
      ]);
    }
  }
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
