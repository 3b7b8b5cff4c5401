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

  function fill(template, values) {
    // A {field} without a value stays as it is (a route or stop name is never a field).
    return template.replace(/\{(\w+)\}/g, function (whole, key) {
      if (!(key in values)) return whole;
      return values[key] === undefined || values[key] === null ? "" : String(values[key]);
    });
  }

  // One queue for both live regions: a message is shown, then held a moment before the
  // next replaces it, so that two arriving together are both spoken, in order. Clearing
  // first makes a repeated message be announced again.
  const HOLD_MS = 700;
  function announcer(polite, assertive) {
    const queue = [];
    let busy = false;
    function pump() {
      if (busy || !queue.length) return;
      const item = queue.shift();
      if (item.clearAlert) { assertive.textContent = ""; pump(); return; }
      busy = true;
      const region = item.alert ? assertive : polite;
      region.textContent = "";
      window.setTimeout(function () {
        region.textContent = item.text;
        if (item.vibrate && navigator.vibrate) navigator.vibrate([400, 150, 400]);
        window.setTimeout(function () { busy = false; pump(); }, HOLD_MS);
      }, 100);
    }
    return {
      say: function (text, options) {
        if (!text) return;
        const o = options || {};
        queue.push({ text: text, alert: !!o.alert, vibrate: !!o.vibrate });
        pump();
      },
      clearAlert: function () { queue.push({ clearAlert: true }); pump(); },
    };
  }

  function timeFormatter(zone) {
    const options = { hour: "2-digit", minute: "2-digit", second: "2-digit", hourCycle: "h23" };
    let format;
    try {
      format = new Intl.DateTimeFormat("en-GB", Object.assign({ timeZone: zone || "UTC" }, options));
    } catch (e) {
      format = new Intl.DateTimeFormat("en-GB", Object.assign({ timeZone: "UTC" }, options));
    }
    return function (iso) { return format.format(new Date(iso)); };
  }

  // Live status: a polite region for changes, an assertive one only for "at the stop",
  // "missed, next bus assigned" and "your stop is next"; ETA marks are spoken at 5, 3
  // and 1 minutes, also when a status change comes in the same moment. A lost stream is
  // said once, and so is its return; the state missed meanwhile is then announced.
  const FINAL = ["completed", "cancelled", "no_show", "expired"];
  const ON_BOARD = ["boarded", "riding", "alighting"];
  const THRESHOLDS = [5, 3, 1];
  const RETRY_MIN_MS = 1000;
  const RETRY_MAX_MS = 15000;

  function liveStatus() {
    const live = doc.getElementById("live");
    if (!live || !window.EventSource) return;
    const T = JSON.parse(doc.getElementById("live-texts").textContent);
    const speak = announcer(doc.getElementById("live-status"), doc.getElementById("live-alert"));
    const clock = timeFormatter(live.dataset.tz);
    const destination = live.dataset.destination || "";
    let prev = JSON.parse(live.dataset.initial);
    if (FINAL.indexOf(prev.status) >= 0) return;  // nothing will change any more
    const said = new Set();
    function markCrossed(eta) {
      THRESHOLDS.forEach(function (n) { if (eta !== null && eta !== undefined && eta <= n * 60) said.add(n); });
    }
    markCrossed(prev.eta_s);

    function etaText(eta) {
      if (eta === null || eta === undefined) return T.eta_unknown;
      if (eta < 60) return T.eta_now;
      return fill(T.eta_min, { n: Math.ceil(eta / 60) });
    }

    function minutes(n) { return n <= 1 ? T.live_minute : fill(T.live_minutes, { n: n }); }

    function statusMessage(r, missedNow) {
      const vehicle = r.vehicle_id || "";
      switch (r.status) {
        case "assigned":
          if (missedNow) return { text: fill(T.live_missed_next, { vehicle: vehicle }), alert: true };
          return { text: fill(T.live_assigned, { vehicle: vehicle }) };
        case "acknowledged": return { text: T.live_acknowledged };
        case "arriving": return { text: T.live_arriving };
        case "at_stop": return { text: T.live_at_stop, alert: true, vibrate: true };
        case "boarded":
        case "riding": return { text: T.live_riding };
        case "alighting":
          return { text: fill(T.live_alighting, { stop: destination }), alert: true, vibrate: true };
        case "missed": return { text: T.live_missed_wait };
        case "pending": return missedNow ? { text: T.live_missed_wait } : null;
        default: {
          const text = fill(T.live_final, { status: T["st_" + r.status] || r.status });
          const hint = T["end_hint_" + r.status];
          return { text: hint ? text + " " + hint : text };
        }
      }
    }

    function messages(r) {
      const out = [];
      const newStatuses = r.history.slice(prev.history).map(function (h) { return h.status; });
      const missedNow = prev.status === "missed" || newStatuses.indexOf("missed") >= 0;
      const changed = r.status !== prev.status;
      if (changed) {
        const m = statusMessage(r, missedNow);
        if (m) out.push(m);
        if (r.status === "assigned") {
          // A new bus: say how far it is, then count down from there.
          said.clear();
          if (r.eta_s !== null && r.eta_s !== undefined) {
            out.push({ text: minutes(Math.max(1, Math.ceil(r.eta_s / 60))) });
          }
          markCrossed(r.eta_s);
          return out;
        }
        if (r.status !== "acknowledged") { markCrossed(r.eta_s); return out; }
      }
      if (["assigned", "acknowledged", "arriving"].indexOf(r.status) >= 0 && r.eta_s !== null && r.eta_s !== undefined) {
        const crossed = THRESHOLDS.filter(function (n) { return r.eta_s <= n * 60 && !said.has(n); });
        if (crossed.length) {
          markCrossed(r.eta_s);
          out.push({ text: minutes(Math.min.apply(null, crossed)) });
        }
      }
      return out;
    }

    function showHistory(items) {
      const list = doc.getElementById("history");
      if (!list || list.children.length === items.length) return;
      list.textContent = "";
      items.forEach(function (h) {
        const li = doc.createElement("li");
        const time = doc.createElement("time");
        time.dateTime = h.at;
        time.textContent = clock(h.at);
        li.appendChild(time);
        li.appendChild(doc.createTextNode(" " + (T["st_" + h.status] || h.status)));
        list.appendChild(li);
      });
    }

    function showEnding(r) {
      const heading = doc.getElementById("trip-heading");
      const template = doc.getElementById("end-heading");
      const cancel = doc.getElementById("cancel-form");
      if (cancel) {
        if (cancel.contains(doc.activeElement)) heading.focus();
        cancel.hidden = true;
      }
      if (template) {
        const title = template.content.cloneNode(true);
        const slot = title.querySelector("[data-slot='status']");
        if (slot) slot.replaceWith(doc.createTextNode(T["st_" + r.status] || r.status));
        heading.textContent = "";
        heading.appendChild(title);
        doc.title = heading.textContent.trim() + " – " + doc.title.split(" – ").pop();
      }
      const next = doc.getElementById("next-steps");
      if (next) {
        const hint = doc.getElementById("end-hint");
        if (hint) hint.textContent = T["end_hint_" + r.status] || "";
        const report = doc.getElementById("report-form");
        if (report) report.hidden = report.dataset.when.split(" ").indexOf(r.status) < 0;
        next.hidden = false;
      }
    }

    function show(r) {
      const final = FINAL.indexOf(r.status) >= 0;
      doc.getElementById("trip-status").textContent = T["st_" + r.status] || r.status;
      doc.getElementById("trip-eta").textContent = etaText(r.eta_s);
      doc.getElementById("eta-row").hidden = final || ON_BOARD.indexOf(r.status) >= 0;
      doc.getElementById("trip-vehicle").textContent = r.vehicle_id || "–";
      doc.getElementById("gateway-warning").hidden = r.gateway_online !== false;
      showHistory(r.history);
      if (final) showEnding(r);
    }

    let source = null;
    let lost = false;
    let done = false;
    let retryMs = RETRY_MIN_MS;

    function onReservation(event) {
      const r = JSON.parse(event.data);
      if (lost) { lost = false; speak.say(T.live_back); }
      retryMs = RETRY_MIN_MS;
      const out = messages(r);
      if (r.status !== prev.status && !out.some(function (m) { return m.alert; })) speak.clearAlert();
      show(r);
      out.forEach(function (m) { speak.say(m.text, m); });
      prev = { status: r.status, eta_s: r.eta_s, vehicle_id: r.vehicle_id, history: r.history.length };
      if (FINAL.indexOf(r.status) >= 0) { done = true; source.close(); }
    }

    function connect() {
      source = new EventSource(live.dataset.events);
      source.addEventListener("reservation", onReservation);
      source.addEventListener("error", function () {
        // The browser's own retry gives up on some failures (a 502 from a proxy): retry
        // here, sooner at first, then less often.
        source.close();
        if (done) return;
        if (!lost) { lost = true; speak.say(T.live_lost); }
        window.setTimeout(connect, retryMs);
        retryMs = Math.min(retryMs * 2, RETRY_MAX_MS);
      });
    }
    connect();
  }

  // The next bus of each route at a stop: refreshed quietly; spoken when asked for
  // ("Check bus times again") or when it changes much (a bus now on its way or gone,
  // or 3 minutes or more sooner or later), never at every refresh.
  const BIG_CHANGE_S = 180;

  function nextBuses() {
    const box = doc.getElementById("next-buses");
    const form = doc.getElementById("next-refresh-form");
    if (!box || !form || !window.fetch) return;
    const status = doc.getElementById("next-status");
    const every = (parseInt(box.dataset.refreshS, 10) || 30) * 1000;
    const last = {};
    box.querySelectorAll(".next-bus").forEach(function (el) {
      last[el.dataset.choice] = { kind: el.dataset.kind, in_s: el.dataset.inS === "" ? null : Number(el.dataset.inS) };
    });

    function bigChange(before, after) {
      if (!before) return false;
      if ((before.kind === "live") !== (after.kind === "live")) return true;
      if (after.kind !== "live") return false;
      if (before.in_s >= 60 && after.in_s < 60) return true;
      return Math.abs(before.in_s - after.in_s) >= BIG_CHANGE_S;
    }

    function say(text) {
      status.textContent = "";
      window.setTimeout(function () { status.textContent = text; }, 100);
    }

    let inFlight = false;
    function refresh(asked) {
      if (inFlight) return;
      inFlight = true;
      fetch(box.dataset.src, { credentials: "same-origin", headers: { Accept: "application/json" } })
        .then(function (response) { if (!response.ok) throw new Error(String(response.status)); return response.json(); })
        .then(function (data) {
          const items = [];
          const changed = [];
          data.routes.forEach(function (bus) {
            const el = box.querySelector(".next-bus[data-choice='" + CSS.escape(bus.choice) + "']");
            if (!el) return;
            el.textContent = bus.text;
            el.dataset.kind = bus.kind;
            const item = fill(box.dataset.item, { route: bus.route, next: bus.text });
            items.push(item);
            if (bigChange(last[bus.choice], bus)) changed.push(item);
            last[bus.choice] = { kind: bus.kind, in_s: bus.in_s };
          });
          if (asked) say([box.dataset.updated].concat(items).join(" "));
          else if (changed.length) say(changed.join(" "));
        })
        .catch(function () { if (asked) form.submit(); })  // the page itself still works
        .then(function () { inFlight = false; });
    }

    form.addEventListener("submit", function (event) { event.preventDefault(); refresh(true); });
    window.setInterval(function () { if (!doc.hidden) refresh(false); }, every);
  }

  function init() {
    focusMarked();
    nearestStops();
    microphone();
    liveStatus();
    nextBuses();
  }
  if (doc.readyState === "loading") doc.addEventListener("DOMContentLoaded", init);
  else init();
})();
