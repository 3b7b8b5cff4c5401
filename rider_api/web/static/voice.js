// BusHail voice form: the rider's location on request, and the way in from the home page.
// Progressive enhancement only: without this script the form still works (no location).
// The location is asked for only when the rider presses "Include my location".
"use strict";

(function () {
  const doc = document;

  // Home page: the "Skip to book by voice" link is first in the page (base.html's skip
  // links), so Tab then Enter reaches the voice field; the script moves the focus into it.
  function skipLink() {
    const link = doc.getElementById("skip-voice");
    const field = doc.getElementById("voice-text");
    if (!link || !field) return;
    link.addEventListener("click", function (event) {
      event.preventDefault();
      field.focus();
    });
  }

  function location() {
    const button = doc.getElementById("voice-location");
    if (!button || !("geolocation" in navigator)) return;  // no geolocation: stays hidden
    const lat = doc.getElementById("voice-lat");
    const lon = doc.getElementById("voice-lon");
    const status = doc.getElementById("voice-location-status");
    const hint = doc.getElementById("voice-location-hint");
    button.hidden = false;
    hint.hidden = false;

    function include(on) {
      lat.disabled = !on;
      lon.disabled = !on;
      if (!on) { lat.value = ""; lon.value = ""; }
      button.setAttribute("aria-pressed", on ? "true" : "false");
    }

    button.addEventListener("click", function () {
      if (button.getAttribute("aria-pressed") === "true") {
        include(false);
        status.textContent = button.dataset.removed;
        return;
      }
      status.textContent = button.dataset.busy;
      button.setAttribute("aria-busy", "true");
      navigator.geolocation.getCurrentPosition(function (pos) {
        lat.value = pos.coords.latitude.toFixed(6);
        lon.value = pos.coords.longitude.toFixed(6);
        include(true);
        button.removeAttribute("aria-busy");
        const metres = Math.max(1, Math.round(pos.coords.accuracy || 0));
        status.textContent = button.dataset.on.replace("{m}", String(metres));
      }, function () {
        include(false);
        button.removeAttribute("aria-busy");
        status.textContent = button.dataset.off;
      }, { enableHighAccuracy: true, timeout: 20000, maximumAge: 60000 });
    });
  }

  function init() {
    skipLink();
    location();
  }
  if (doc.readyState === "loading") doc.addEventListener("DOMContentLoaded", init);
  else init();
})();
