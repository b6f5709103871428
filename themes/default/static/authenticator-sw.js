// Sésame's web authenticator, in the background: shows the Web Push notification that a
// sign-in request waits, and opens (or brings forward) the authenticator page when it is
// touched. The notification holds no number and no secret: the page then fetches the
// request over the signed device protocol and checks the server's signature, as always.
"use strict";

// The authenticator page, beside this worker's folder (/static/): under Sésame's path
// when it is mounted under one.
var PAGE = new URL("../authenticator", self.location).pathname;

self.addEventListener("install", function () { self.skipWaiting(); });
self.addEventListener("activate", function (event) { event.waitUntil(self.clients.claim()); });

self.addEventListener("push", function (event) {
  var data = {};
  try { data = event.data ? event.data.json() : {}; } catch (e) { data = {}; }
  // Browsers require a visible notification for every push: always show one.
  var title = typeof data.title === "string" && data.title ? data.title : "Sésame";
  var options = {
    body: typeof data.body === "string" ? data.body : "",
    icon: new URL("icon-192.png", self.location).pathname,
    // One notification at a time: a newer request replaces the previous one.
    tag: "sesame-sign-in",
    renotify: true,
    requireInteraction: true
  };
  event.waitUntil(self.registration.showNotification(title, options));
});

self.addEventListener("notificationclick", function (event) {
  event.notification.close();
  event.waitUntil(
    self.clients.matchAll({ type: "window", includeUncontrolled: true }).then(function (windows) {
      for (var i = 0; i < windows.length; i++) {
        if (new URL(windows[i].url).pathname === PAGE && "focus" in windows[i]) return windows[i].focus();
      }
      return self.clients.openWindow(PAGE);
    })
  );
});
