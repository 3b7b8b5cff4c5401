// BusHail service worker: shows a rider's trip notifications (Web Push) while the app's
// pages are closed or the phone is locked, and opens the trip on a tap. It caches nothing.
"use strict";

self.addEventListener("install", function () {
  self.skipWaiting();
});

self.addEventListener("activate", function (event) {
  event.waitUntil(self.clients.claim());
});

function sameOriginPath(url) {
  try {
    const target = new URL(url || "/", self.location.origin);
    return target.origin === self.location.origin ? target.pathname : "/";
  } catch (e) {
    return "/";
  }
}

self.addEventListener("push", function (event) {
  let data = {};
  try {
    data = event.data ? event.data.json() : {};
  } catch (e) {
    data = {};
  }
  // A push must always show something (userVisibleOnly): a message we cannot read
  // still says where to look.
  const title = typeof data.title === "string" && data.title ? data.title : "BusHail";
  const options = {
    body: typeof data.body === "string" ? data.body : "",
    lang: typeof data.lang === "string" ? data.lang : "",
    dir: "ltr",
    data: { url: sameOriginPath(data.url), kind: data.kind || "" },
    requireInteraction: data.requireInteraction === true,
  };
  if (typeof data.tag === "string" && data.tag) {
    // One per trip: a newer notification replaces the older one on screen, and with
    // renotify it vibrates again instead of changing silently.
    options.tag = data.tag;
    options.renotify = data.renotify === true;
  }
  if (data.silent === true) {
    options.silent = true;
  } else if (Array.isArray(data.vibrate) && data.vibrate.length) {
    options.vibrate = data.vibrate.filter(function (n) { return typeof n === "number"; });
  }
  event.waitUntil(self.registration.showNotification(title, options));
});

self.addEventListener("notificationclick", function (event) {
  const path = sameOriginPath(event.notification.data && event.notification.data.url);
  event.notification.close();
  event.waitUntil(
    self.clients.matchAll({ type: "window", includeUncontrolled: true }).then(function (list) {
      for (const client of list) {
        if (new URL(client.url).pathname === path && "focus" in client) return client.focus();
      }
      for (const client of list) {
        if ("navigate" in client && "focus" in client) {
          return client.navigate(path).then(function (c) { return (c || client).focus(); });
        }
      }
      return self.clients.openWindow(path);
    })
  );
});

// The browser replaced the subscription (keys rotated, or it expired): subscribe again
// with the same server key and tell the server, with the rider's cookie.
self.addEventListener("pushsubscriptionchange", function (event) {
  const old = event.oldSubscription;
  const renewed = event.newSubscription
    ? Promise.resolve(event.newSubscription)
    : self.registration.pushManager.subscribe({
        userVisibleOnly: true,
        applicationServerKey: old && old.options.applicationServerKey,
      });
  event.waitUntil(
    renewed.then(function (subscription) {
      const json = { "Content-Type": "application/json", Accept: "application/json" };
      const forget = old
        ? fetch("/v1/push/subscriptions", {
            method: "DELETE",
            credentials: "same-origin",
            headers: json,
            body: JSON.stringify({ endpoint: old.endpoint }),
          })
        : Promise.resolve();
      return forget.then(function () {
        return fetch("/v1/push/subscriptions", {
          method: "POST",
          credentials: "same-origin",
          headers: json,
          body: JSON.stringify(subscription.toJSON()),
        });
      });
    })
  );
});
