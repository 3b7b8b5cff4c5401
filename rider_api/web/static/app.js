// BusHail rider app: progressive enhancement only; every flow also works without it.
"use strict";

(function () {
  const doc = document;
  const speechLang = doc.documentElement.lang === "en" ? "en-US" : "zh-TW";

  function focusMarked() {
    const target = doc.querySelector("[data-autofocus]");
    if (target) target.focus();
  }

  // Error summary links: move focus to the field, not only scroll to it.
  doc.addEventListener("click", function (event) {
    const link = event.target.closest && event.target.closest(".error-summary a[href^='#']");
    if (!link) return;
    const field = doc.getElementById(link.getAttribute("href").slice(1));
    if (field) { event.preventDefault(); field.focus(); }
  });

  function nearestStops() {
    const button = doc.getElementById("near-button");
    if (!button || !("geolocation" in navigator)) return;
    const status = doc.getElementById("near-status");
    button.hidden = false;
    button.addEventListener("click", function () {
      status.textContent = button.dataset.busy;
      navigator.geolocation.getCurrentPosition(function (pos) {
        const form = doc.getElementById("find-form");
        const lat = doc.getElementById("near-lat");
        const lon = doc.getElementById("near-lon");
        lat.value = pos.coords.latitude.toFixed(6);
        lon.value = pos.coords.longitude.toFixed(6);
        lat.disabled = false; lon.disabled = false;
        doc.getElementById("q").value = "";
        form.submit();
      }, function () {
        status.textContent = button.dataset.failed;
      }, { enableHighAccuracy: true, timeout: 20000, maximumAge: 60000 });
    });
  }

  function microphone() {
    const Recognition = window.SpeechRecognition || window.webkitSpeechRecognition;
    const button = doc.getElementById("voice-mic");
    if (!button || !Recognition) return;  // no speech recognition: the button stays hidden
    const status = doc.getElementById("voice-status");
    const box = doc.getElementById("voice-text");
    button.hidden = false;
    button.addEventListener("click", function () {
      const rec = new Recognition();
      rec.lang = speechLang;
      rec.interimResults = false;
      rec.maxAlternatives = 1;
      status.textContent = button.dataset.listening;
      rec.onresult = function (event) {
        const heard = event.results[0][0].transcript;
        box.value = heard;
        status.textContent = button.dataset.heard.replace("{text}", heard);
        doc.getElementById("voice-form").submit();
      };
      rec.onerror = function () { status.textContent = button.dataset.failed; };
      rec.start();
    });
  }

  // Live status: a polite region for changes, an assertive one only for "at the stop"
  // and "missed, next bus assigned"; ETA ticks are spoken only at 5, 3 and 1 minutes.
  const PICKUP = ["assigned", "acknowledged", "arriving"];
  const FINAL = ["completed", "cancelled", "no_show", "expired"];
  const THRESHOLDS = [5, 3, 1];

  function fill(template, values) {
    return template.replace(/\{(\w+)\}/g, function (_, key) {
      return values[key] === undefined || values[key] === null ? "" : String(values[key]);
    });
  }

  function say(region, message) {
    // Clearing first makes a repeated message be announced again.
    region.textContent = "";
    window.setTimeout(function () { region.textContent = message; }, 100);
  }

  function liveStatus() {
    const live = doc.getElementById("live");
    if (!live || !window.EventSource) return;
    const T = JSON.parse(doc.getElementById("live-texts").textContent);
    const polite = doc.getElementById("live-status");
    const assertive = doc.getElementById("live-alert");
    let prev = JSON.parse(live.dataset.initial);
    const said = new Set();
    function markCrossed(eta) {
      THRESHOLDS.forEach(function (n) { if (eta !== null && eta <= n * 60) said.add(n); });
    }
    markCrossed(prev.eta_s);

    function etaText(eta) {
      if (eta === null || eta === undefined) return T.eta_unknown;
      if (eta < 60) return T.eta_now;
      return fill(T.eta_min, { n: Math.ceil(eta / 60) });
    }

    function messages(r) {
      const vehicle = r.vehicle_id || "";
      const newStatuses = r.history.slice(prev.history).map(function (h) { return h.status; });
      if (r.status !== prev.status) {
        if (r.status === "assigned" && (prev.status === "missed" || newStatuses.indexOf("missed") >= 0)) {
          said.clear(); markCrossed(r.eta_s);
          return { alert: fill(T.live_missed_next, { vehicle: vehicle }) };
        }
        if (r.status === "assigned") { said.clear(); markCrossed(r.eta_s); return { polite: fill(T.live_assigned, { vehicle: vehicle }) }; }
        markCrossed(r.eta_s);
        if (r.status === "acknowledged") return { polite: T.live_acknowledged };
        if (r.status === "arriving") return { polite: T.live_arriving };
        if (r.status === "at_stop") return { alert: T.live_at_stop, vibrate: true };
        if (r.status === "missed" || (r.status === "pending" && newStatuses.indexOf("missed") >= 0)) {
          return { polite: T.live_missed_wait };
        }
        return { polite: fill(T.live_final, { status: T["st_" + r.status] }) };
      }
      if (PICKUP.indexOf(r.status) >= 0 && r.eta_s !== null && r.eta_s !== undefined) {
        const crossed = THRESHOLDS.filter(function (n) { return r.eta_s <= n * 60 && !said.has(n); });
        if (crossed.length) {
          markCrossed(r.eta_s);
          const n = Math.min.apply(null, crossed);
          return { polite: n === 1 ? T.live_minute : fill(T.live_minutes, { n: n }) };
        }
      }
      return {};
    }

    function show(r) {
      doc.getElementById("trip-status").textContent = T["st_" + r.status] || r.status;
      doc.getElementById("trip-eta").textContent = etaText(r.eta_s);
      doc.getElementById("trip-vehicle").textContent = r.vehicle_id || "–";
      doc.getElementById("gateway-warning").hidden = r.gateway_online !== false;
      if (FINAL.indexOf(r.status) >= 0) {
        const cancel = doc.getElementById("cancel-form");
        if (cancel && !cancel.contains(doc.activeElement)) cancel.hidden = true;
      }
    }

    const source = new EventSource(live.dataset.events);
    source.addEventListener("reservation", function (event) {
      const r = JSON.parse(event.data);
      const m = messages(r);
      show(r);
      if (m.polite) say(polite, m.polite);
      if (m.alert) {
        say(assertive, m.alert);
        if (m.vibrate && navigator.vibrate) navigator.vibrate([400, 150, 400]);
      }
      prev = { status: r.status, eta_s: r.eta_s, vehicle_id: r.vehicle_id, history: r.history.length };
      if (FINAL.indexOf(r.status) >= 0) source.close();
    });
  }

  function init() {
    focusMarked();
    nearestStops();
    microphone();
    liveStatus();
  }
  if (doc.readyState === "loading") doc.addEventListener("DOMContentLoaded", init);
  else init();
})();
