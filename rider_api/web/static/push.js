// BusHail notifications opt-in (Web Push), for the partial _push_optin.html.
// Progressive enhancement: without this script the section stays hidden. The browser is
// asked for permission only when the rider presses the button; every outcome is said in
// the polite status line. Texts come from the section's data-* attributes.
"use strict";

(function () {
  const doc = document;
  const box = doc.getElementById("push-optin");
  if (!box) return;
  const button = doc.getElementById("push-toggle");
  const status = doc.getElementById("push-status");
  const text = box.dataset;
  const json = { "Content-Type": "application/json", Accept: "application/json" };
  let registration = null;
  let busy = false;

  function say(message) {
    status.textContent = message || "";
  }

  // "on" / "off": what the button does next; anything else hides it.
  function show(state) {
    box.dataset.state = state;
    button.hidden = state !== "on" && state !== "off";
    button.textContent = state === "on" ? text.turnOff : text.turnOn;
  }

  function keyBytes(base64url) {
    const padded = base64url.replace(/-/g, "+").replace(/_/g, "/") +
      "===".slice((base64url.length + 3) % 4);
    const raw = atob(padded);
    const out = new Uint8Array(raw.length);
    for (let i = 0; i < raw.length; i += 1) out[i] = raw.charCodeAt(i);
    return out;
  }

  function store(subscription) {
    return fetch(box.dataset.subscriptions, {
      method: "POST",
      credentials: "same-origin",
      headers: json,
      body: JSON.stringify(subscription.toJSON()),
    }).then(function (response) {
      if (!response.ok) throw new Error("the server refused the subscription: " + response.status);
    });
  }

  function serverKey() {
    return fetch(box.dataset.key, { credentials: "same-origin", headers: { Accept: "application/json" } })
      .then(function (response) {
        if (!response.ok) throw new Error("no server key: " + response.status);
        return response.json();
      })
      .then(function (body) { return keyBytes(body.public_key); });
  }

  async function turnOn() {
    const permission = await Notification.requestPermission();
    if (permission !== "granted") {
      show(permission === "denied" ? "blocked" : "off");
      say(permission === "denied" ? text.blocked : text.dismissed);
      return;
    }
    say(text.working);
    const key = await serverKey();
    const subscription = await registration.pushManager.subscribe({
      userVisibleOnly: true,
      applicationServerKey: key,
    });
    try {
      await store(subscription);
    } catch (error) {
      await subscription.unsubscribe();
      throw error;
    }
    show("on");
    say(text.on);
  }

  async function turnOff() {
    say(text.working);
    const subscription = await registration.pushManager.getSubscription();
    if (subscription) {
      await fetch(box.dataset.subscriptions, {
        method: "DELETE",
        credentials: "same-origin",
        headers: json,
        body: JSON.stringify({ endpoint: subscription.endpoint }),
      });
      await subscription.unsubscribe();
    }
    show("off");
    say(text.off);
  }

  button.addEventListener("click", async function () {
    if (busy) return;
    busy = true;
    const was = box.dataset.state;
    button.setAttribute("aria-disabled", "true");
    try {
      await (was === "on" ? turnOff() : turnOn());
    } catch (error) {
      show(was);
      say(text.failed);
      if (window.console) console.warn("BusHail notifications:", error);
    } finally {
      busy = false;
      button.removeAttribute("aria-disabled");
    }
  });

  const supported = window.isSecureContext && "serviceWorker" in navigator &&
    "PushManager" in window && "Notification" in window;
  box.hidden = false;
  if (!supported) {
    show("unsupported");
    say(text.unsupported);
    box.dataset.ready = "true";
    return;
  }
  show("off");
  navigator.serviceWorker.register(box.dataset.worker, { scope: "/" })
    .then(function () { return navigator.serviceWorker.ready; })
    .then(function (ready) {
      registration = ready;
      return registration.pushManager.getSubscription();
    })
    .then(function (subscription) {
      if (Notification.permission === "denied") {
        show("blocked");
        say(text.blocked);
      } else if (subscription) {
        show("on");
        // The same browser may have been another rider's: the server learns it is ours.
        return store(subscription).catch(function () { say(text.unavailable); });
      }
      return undefined;
    })
    // For tests and for the curious: the script has settled on a state.
    .then(function () { box.dataset.ready = "true"; })
    .catch(function (error) {
      show("unavailable");
      say(text.unavailable);
      box.dataset.ready = "true";
      if (window.console) console.warn("BusHail notifications:", error);
    });
})();
