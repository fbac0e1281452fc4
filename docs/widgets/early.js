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
      const urls = [location.href, new URL("worker.js", base).href, new URL("snapshot.mjs", base).href,
        new URL("snapshot_reader.js", base).href,
        ...performance.getEntriesByType("resource").map((entry) => entry.name)];
      sw.ready.then((registration) => registration.active &&
        registration.active.postMessage({ keep: urls })).catch(() => null);
    }, { once: true });
  }
  // Material's search builds its index in a worker of its own as soon as a page loads: about a
  // second of CPU, which a small machine takes from Python's start-up and the first slider
  // moves.  Here it starts when the reader goes to the search box (Material's keys focus it
  // too), ten seconds after Python is up, or fifteen after the page loaded, whichever comes
  // first; until then its messages wait (the search box says it is initialising).
  const Native = window.Worker;
  const waiting = [];
  let released = false;
  const release = () => {
    if (released) return;
    released = true;
    waiting.splice(0).forEach((worker) => worker.start());
  };
  class DeferredWorker extends EventTarget {
    constructor(url, options) {
      super();
      this.args = [url, options];
      this.queue = [];
      this.real = null;
      this.onmessage = null;
      this.onerror = null;
      if (released) this.start();
      else waiting.push(this);
    }
    start() {
      if (this.real || this.closed) return;
      const real = (this.real = new Native(...this.args));
      real.onmessage = (event) => {
        const copy = new MessageEvent("message", { data: event.data });
        if (this.onmessage) this.onmessage(copy);
        this.dispatchEvent(copy);
      };
      real.onerror = (event) => {
        if (this.onerror) this.onerror(event);
        this.dispatchEvent(new Event("error"));
      };
      this.queue.splice(0).forEach((args) => real.postMessage(...args));
    }
    postMessage(...args) {
      if (this.real) this.real.postMessage(...args);
      else this.queue.push(args);
    }
    terminate() {
      this.closed = true;
      if (this.real) this.real.terminate();
    }
  }
  window.Worker = function Worker(url, options) {
    return /\/workers\/search\.[^/]*\.js/.test(String(url))
      ? new DeferredWorker(url, options) : new Native(url, options);
  };
  window.Worker.prototype = Native.prototype;
  addEventListener("focusin", (event) => {
    if (event.target instanceof Element && event.target.closest(".md-search")) release();
  }, { capture: true });
  addEventListener("load", () => setTimeout(release, 15000), { once: true });
  const ready = Promise.resolve();
  const early = { worker: null, error: null, messages: [], errors: [] };
  early.started = ready.then(() => {
    try {
      early.worker = new Worker(new URL("worker.js", base), { type: "module", name: "alignment-math" });
      early.created = performance.now();
      early.worker.onmessage = ({ data }) => early.messages.push(data);
      early.worker.addEventListener("message", ({ data }) => {
        if (data && data.type === "boot") setTimeout(release, 10000);
      });
      early.worker.onerror = (event) => { event.preventDefault(); early.errors.push(event.message || ""); };
    } catch (error) {
      early.error = error;
      release();
    }
    return early;
  });
  window.__amEarly = early;
})();
