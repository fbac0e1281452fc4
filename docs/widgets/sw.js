// Service worker (copied to the site root by docs/hooks/widgets.py, which fills in the
// version).  Cache-first for the self-hosted Pyodide and the vendored libraries, in a
// cache named by a digest of those files: a repeat visit downloads none of them again,
// and a new build with other files gets a new cache (the old one is deleted).
const VERSION = "__AM_CACHE_VERSION__";
const CACHE = `alignment-math-${VERSION}`;
const SCOPE = new URL("./", self.location).href;
const CACHED = [`${SCOPE}pyodide/`, `${SCOPE}assets/vendor/`];

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
      if (response.ok && response.type === "basic") await cache.put(request, response.clone());
      return response;
    })(),
  );
});
