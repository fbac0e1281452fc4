// Service worker (copied to the site root by docs/hooks/widgets.py, which fills in the
// version and the file list).  Cache-first for the self-hosted Pyodide and the vendored libraries, in a
// cache named by a digest of those files: a repeat visit downloads none of them again,
// and a new build with other files gets a new cache (the old one is deleted).
const VERSION = "__AM_CACHE_VERSION__";
const CACHE = `alignment-math-${VERSION}`;
const SCOPE = new URL("./", self.location).href;
const CACHED = [`${SCOPE}pyodide/`, `${SCOPE}assets/vendor/`];
// Every file the Python worker loads (written in by the hook).  A first visit does not wait
// for this service worker: once Python is up, the page asks it to keep these files, which it
// takes from the HTTP cache the worker has just filled (force-cache), not from the network.
const PRECACHE = /*__AM_PRECACHE__*/ [];

self.addEventListener("install", () => self.skipWaiting());

self.addEventListener("activate", (event) => {
  event.waitUntil(
    (async () => {
      for (const key of await caches.keys()) {
        if (key.startsWith("alignment-math-") && key !== CACHE) await caches.delete(key);
      }
      await self.clients.claim();
    })(),
  );
});

self.addEventListener("fetch", (event) => {
  const { request } = event;
  if (request.method !== "GET" || !CACHED.some((prefix) => request.url.startsWith(prefix))) return;
  event.respondWith(
    (async () => {
      const cache = await caches.open(CACHE);
      const hit = await cache.match(request);
      if (hit) return hit;
      const response = await fetch(request);
      // store in the background: the page streams (and compiles) the body meanwhile
      if (response.ok && response.type === "basic") event.waitUntil(cache.put(request, response.clone()));
      return response;
    })(),
  );
});

self.addEventListener("message", (event) => {
  if (event.data && event.data.precache) event.waitUntil(precache());
});

async function precache() {
  const cache = await caches.open(CACHE);
  for (const path of PRECACHE) {
    const url = new URL(path, SCOPE).href;
    if (await cache.match(url)) continue;
    try {
      const response = await fetch(url, { cache: "force-cache" });
      if (response.ok) await cache.put(url, response);
    } catch (error) {
      // offline or gone: the next visit fetches it through the fetch handler instead
    }
  }
}
