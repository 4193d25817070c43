// The console's service worker: caches the shell (index.html, the hashed assets, the manifest
// and icons) so the console opens offline or on a slow link; data (the APIs) is never cached.
const SHELL = 'fieldline-shell-v1';
const API = /^\/(api|query|write|epts|conduitv|post|V0100|notifier|health|ping)/;

self.addEventListener('install', (event) => {
  event.waitUntil(
    caches.open(SHELL).then((c) => c.addAll(['/', '/manifest.webmanifest', '/icon.svg'])).then(() => self.skipWaiting()),
  );
});

self.addEventListener('activate', (event) => {
  event.waitUntil(
    caches.keys().then((keys) => Promise.all(keys.filter((k) => k !== SHELL).map((k) => caches.delete(k)))).then(() => self.clients.claim()),
  );
});

self.addEventListener('fetch', (event) => {
  const url = new URL(event.request.url);
  if (event.request.method !== 'GET' || url.origin !== location.origin || API.test(url.pathname)) return;
  if (url.pathname.startsWith('/assets/')) {
    // Hashed names never change: cache first.
    event.respondWith(
      caches.match(event.request).then(
        (hit) => hit || fetch(event.request).then((r) => {
          if (r.ok) { const copy = r.clone(); caches.open(SHELL).then((c) => c.put(event.request, copy)); }
          return r;
        }),
      ),
    );
    return;
  }
  if (event.request.mode === 'navigate') {
    // The shell: the network first (it is revalidated by ETag), the cached one offline.
    event.respondWith(
      fetch(event.request).then((r) => {
        if (r.ok) { const copy = r.clone(); caches.open(SHELL).then((c) => c.put('/', copy)); }
        return r;
      }).catch(() => caches.match('/')),
    );
  }
});
