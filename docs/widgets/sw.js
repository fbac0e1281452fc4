// Service worker (copied to the site root by docs/hooks/widgets.py, which fills in the
// versions and the file list).  Two caches, each named by a digest the build computes:
//  * alignment-math-<digest of the Pyodide and vendored files>: cache-first for the
//    self-hosted Pyodide (core, wheels, memory snapshot) and the vendored libraries, so a
//    repeat visit downloads none of them again;
//  * alignment-math-pages-<digest of the site's own files>: every page the reader opens and the
//    site's own CSS, JS, fonts and search index, network-first, so a visited page reopens
//    offline with working widgets while an online reader always gets the current page.
// A new build has new digests: the new service worker takes over at once and deletes every
// other alignment-math-* cache when it activates, so the old pages are gone with it.
const VERSION = "__AM_CACHE_VERSION__";
const CACHE = `alignment-math-${VERSION}`;
const PAGES = `alignment-math-pages-__AM_SITE_VERSION__`;
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
        if (key.startsWith("alignment-math-") && key !== CACHE && key !== PAGES) await caches.delete(key);
      }
      await self.clients.claim();
      // the pages open now loaded before this worker was in control: keep them too
      const open = await self.clients.matchAll({ type: "window" });
      await keep(open.map((client) => client.url));
    })(),
  );
});

const versioned = (url) => CACHED.some((prefix) => url.startsWith(prefix));

self.addEventListener("fetch", (event) => {
  const { request } = event;
  if (request.method !== "GET" || !request.url.startsWith(SCOPE)) return;
  if (versioned(request.url)) event.respondWith(cacheFirst(event));
  else event.respondWith(networkFirst(event));
});

async function cacheFirst(event) {
  const { request } = event;
  const cache = await caches.open(CACHE);
  const hit = await cache.match(request);
  if (hit) return hit;
  const response = await fetch(request);
  // store in the background: the page streams (and compiles) the body meanwhile
  if (response.ok && response.type === "basic") event.waitUntil(cache.put(request, response.clone()));
  return response;
}

async function networkFirst(event) {
  const { request } = event;
  const cache = await caches.open(PAGES);
  try {
    const response = await fetch(request);
    if (response.ok && response.type === "basic") event.waitUntil(cache.put(request, response.clone()));
    return response;
  } catch (error) {
    // offline: the copy kept from an earlier visit (a shared link's ?query= opens the same page)
    const hit = (await cache.match(request)) ||
      (request.mode === "navigate" && (await cache.match(request, { ignoreSearch: true })));
    if (hit) return hit;
    throw error;
  }
}

self.addEventListener("message", (event) => {
  const data = event.data || {};
  if (data.precache) event.waitUntil(precache());
  if (Array.isArray(data.keep)) event.waitUntil(keep(data.keep, event.source));
});

// The memory snapshot is kept gunzipped: a restore then reads it as it is (the worker checks it
// against the sha256 of either form), where gunzipping 50 MB cost every restore ~0.3 s.
const SNAPSHOT = /(^|\/)pyodide\/snapshot-[^/]*\.bin\.gz$/;
const gunzipped = (response) => new Response(response.body.pipeThrough(new DecompressionStream("gzip")),
  { headers: { "Content-Type": "application/octet-stream" } });

async function precache() {
  const cache = await caches.open(CACHE);
  // the memory snapshot only speeds up later visits: not on a connection that asks to save data
  const saveData = Boolean(self.navigator.connection && self.navigator.connection.saveData);
  for (const path of PRECACHE) {
    if (saveData && SNAPSHOT.test(path)) continue;
    const url = new URL(path, SCOPE).href;
    if (await cache.match(url)) continue;
    try {
      const response = await fetch(url, { cache: "force-cache" });
      if (response.ok) await cache.put(url, SNAPSHOT.test(path) ? gunzipped(response) : response);
    } catch (error) {
      // offline or gone: the next visit fetches it through the fetch handler instead
    }
  }
}

// The page that registered this service worker loaded before it was in control: early.js
// sends its own address and its resources' (performance entries) so they are kept too, and
// is told when they are ({kept: count}).
async function keep(urls, client) {
  const wanted = [...new Set(urls.filter((url) => typeof url === "string" && url.startsWith(SCOPE))
    .map((url) => url.split("#")[0]))];
  const kept = await Promise.all(wanted.map(async (url) => {
    const cache = await caches.open(versioned(url) ? CACHE : PAGES);
    if (await cache.match(url)) return true;
    try {
      const response = await fetch(url, { cache: "force-cache" });
      if (response.ok && response.type === "basic") await cache.put(url, response);
      return response.ok;
    } catch (error) {
      return false; // offline: nothing to keep now
    }
  }));
  if (client) client.postMessage({ kept: kept.filter(Boolean).length });
}
