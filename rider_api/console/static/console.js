// Live operator board: Server-Sent Events replace the sections; the device table keeps
// the operator's sort and filter across updates; the map's live items move in place.
// The broadcast form's stop picker suggests stops by name. No framework, no build step.
"use strict";
(function () {
  const input = document.getElementById("b-stop");
  const list = document.getElementById("stop-options");
  if (!input || !list || !input.dataset.suggest) return;
  let timer = 0;
  let asked = "";
  function suggest() {
    const q = input.value.trim();
    if (!q || q === asked) return;
    asked = q;
    const url = new URL(input.dataset.suggest, window.location.href);
    url.searchParams.set("q", q);
    fetch(url, { credentials: "same-origin" }).then((r) => (r.ok ? r.json() : [])).then((stops) => {
      if (q !== input.value.trim()) return;  // a later keystroke asks again
      list.replaceChildren(...stops.map((s) => {
        const option = document.createElement("option");
        option.value = s.stop_id;
        option.label = s.label;
        option.textContent = s.label;
        return option;
      }));
      input.dataset.suggested = q;
    }, () => {});
  }
  input.addEventListener("input", () => {
    window.clearTimeout(timer);
    timer = window.setTimeout(suggest, 150);
  });
})();
(function () {
  const root = document.getElementById("live");
  if (!root) return;
  const parts = ["risks", "summary", "incidents", "bookings", "devices", "feeds", "maptable"];
  const last = {};
  const table = document.getElementById("devices");
  const body = document.getElementById("part-devices");
  const form = document.getElementById("device-filter");
  const shown = document.getElementById("devices-shown");
  const conn = document.getElementById("conn");
  let sortKey = "state";
  let sortDir = 1;

  function cellValue(row, key) {
    const idx = Array.from(table.tHead.rows[0].cells).findIndex((th) => th.dataset.key === key);
    const cell = row.cells[idx];
    return cell ? (cell.dataset.v || "") : "";
  }

  function apply() {
    const kind = form.elements.kind.value;
    const state = form.elements.state.value;
    const q = form.elements.q.value.trim().toLowerCase();
    const rows = Array.from(body.rows).filter((r) => r.dataset.device);
    rows.sort((a, b) => {
      const va = cellValue(a, sortKey);
      const vb = cellValue(b, sortKey);
      const na = Number(va);
      const nb = Number(vb);
      const cmp = va !== "" && vb !== "" && !isNaN(na) && !isNaN(nb) ? na - nb : va.localeCompare(vb);
      return cmp * sortDir || a.dataset.device.localeCompare(b.dataset.device);
    });
    let count = 0;
    for (const r of rows) {
      const match = (!kind || r.dataset.kind === kind) && (!state || r.dataset.state === state) &&
        (!q || r.textContent.toLowerCase().includes(q));
      r.hidden = !match;
      if (match) count += 1;
      body.appendChild(r);
    }
    shown.value = String(count);
    for (const th of table.tHead.rows[0].cells) {
      th.setAttribute("aria-sort", th.dataset.key === sortKey ? (sortDir > 0 ? "ascending" : "descending") : "none");
    }
  }

  table.tHead.addEventListener("click", (ev) => {
    const button = ev.target.closest("button[data-sort]");
    if (!button) return;
    const key = button.dataset.sort;
    sortDir = key === sortKey ? -sortDir : 1;
    sortKey = key;
    apply();
  });
  form.addEventListener("input", apply);
  form.addEventListener("submit", (ev) => ev.preventDefault());
  apply();

  // Replacing a section must not take the operator's focus away: the focused element's
  // keyed ancestor (data-key, data-device, id) and its place in it are found again after.
  function focusMark(container) {
    const active = document.activeElement;
    if (!active || active === document.body || !container.contains(active)) return null;
    const keyed = active.closest("[data-key],[data-device],[id]");
    if (!keyed || !container.contains(keyed)) return null;
    const sel = keyed.dataset.key !== undefined ? '[data-key="' + CSS.escape(keyed.dataset.key) + '"]'
      : keyed.dataset.device !== undefined ? '[data-device="' + CSS.escape(keyed.dataset.device) + '"]'
      : "#" + CSS.escape(keyed.id);
    const focusables = Array.from(keyed.querySelectorAll("a,button,input,select,textarea,[tabindex]"));
    return { sel: sel, index: keyed === active ? -1 : focusables.indexOf(active) };
  }

  function refocus(container, mark) {
    if (!mark) return;
    const keyed = container.querySelector(mark.sel);
    let target = keyed;
    if (keyed && mark.index >= 0) {
      target = keyed.querySelectorAll("a,button,input,select,textarea,[tabindex]")[mark.index];
    }
    if (target && typeof target.focus === "function") {
      target.focus({ preventScroll: true });
      return;
    }
    // What had focus is gone (a risk dealt with): the section's heading takes it.
    const heading = container.closest("section").querySelector("h2");
    heading.setAttribute("tabindex", "-1");
    heading.focus({ preventScroll: true });
  }

  function connect() {
    const source = new EventSource(root.dataset.events);
    source.addEventListener("live", (ev) => {
      const data = JSON.parse(ev.data);
      for (const part of parts) {
        if (data[part] !== undefined && data[part] !== last[part]) {
          last[part] = data[part];
          const container = document.getElementById("part-" + part);
          const mark = focusMark(container);
          container.innerHTML = data[part];
          refocus(container, mark);
        }
      }
      if (data.maplive !== undefined && data.maplive !== last.maplive) {
        last.maplive = data.maplive;
        updateMap(data.maplive);
      }
      apply();
      conn.textContent = document.getElementById("conn-ok").textContent + " " + new Date().toLocaleTimeString();
      root.dataset.updated = String(Date.now());
    });
    source.onerror = () => {
      conn.textContent = document.getElementById("conn-lost").textContent;
      if (source.readyState !== EventSource.CLOSED) return;
      // Refused, not dropped: the sign-in may have ended. Reloading the page leads to
      // the sign-in form if so, and back to the board if not.
      fetch("/ops/live.json", { credentials: "same-origin" }).then((r) => {
        if (r.status === 401) window.location.reload();
        else window.setTimeout(connect, 5000);
      }, () => window.setTimeout(connect, 5000));
    };
  }
  // -- the map: zoom and pan (buttons and keys), live items moved in place ----------------
  const svg = document.getElementById("netmap");
  const frame = document.getElementById("map-frame");
  const layer = document.getElementById("map-live");
  const home = svg ? svg.dataset.home.split(" ").map(Number) : null;
  let view = home ? home.slice() : null;

  function setView(v) {
    const minW = home[2] / 64;
    const w = Math.min(home[2] * 2, Math.max(minW, v[2]));
    const h = w * home[3] / home[2];
    const cx = v[0] + v[2] / 2;
    const cy = v[1] + v[3] / 2;
    view = [cx - w / 2, cy - h / 2, w, h];
    svg.setAttribute("viewBox", view.map((n) => Math.round(n * 10) / 10).join(" "));
  }

  function mapAction(action) {
    const [x, y, w, h] = view;
    if (action === "in") setView([x + w / 4, y + h / 4, w / 2, h / 2]);
    else if (action === "out") setView([x - w / 2, y - h / 2, w * 2, h * 2]);
    else if (action === "left") setView([x - w / 4, y, w, h]);
    else if (action === "right") setView([x + w / 4, y, w, h]);
    else if (action === "up") setView([x, y - h / 4, w, h]);
    else if (action === "down") setView([x, y + h / 4, w, h]);
    else if (action === "reset") setView(home.slice());
  }

  const KEYS = { ArrowLeft: "left", ArrowRight: "right", ArrowUp: "up", ArrowDown: "down",
    "+": "in", "=": "in", "-": "out", "_": "out", "0": "reset" };

  function itemPoint(el) {
    const m = /translate\(([-\d.]+)[ ,]+([-\d.]+)\)/.exec(el.getAttribute("transform") || "");
    if (m) return [Number(m[1]), Number(m[2])];
    const c = el.querySelector("circle");
    return c ? [Number(c.getAttribute("cx")), Number(c.getAttribute("cy"))] : null;
  }

  function updateMap(markup) {
    const doc = new DOMParser().parseFromString(
      '<svg xmlns="http://www.w3.org/2000/svg">' + markup + "</svg>", "image/svg+xml");
    const have = new Map();
    for (const el of Array.from(layer.children)) have.set(el.getAttribute("data-key"), el);
    for (const fresh of Array.from(doc.documentElement.children)) {
      const key = fresh.getAttribute("data-key");
      const old = have.get(key);
      if (!old) {
        layer.appendChild(document.importNode(fresh, true));
        continue;
      }
      have.delete(key);
      for (const name of ["transform", "class", "aria-label", "href"]) {
        const value = fresh.getAttribute(name);
        if (old.getAttribute(name) !== value) old.setAttribute(name, value);
      }
      if (old.getAttribute("data-shape") !== fresh.getAttribute("data-shape")) {
        old.setAttribute("data-shape", fresh.getAttribute("data-shape"));
        old.replaceChildren(...Array.from(fresh.childNodes).map((n) => document.importNode(n, true)));
      }
    }
    for (const gone of have.values()) {
      if (gone.contains(document.activeElement)) frame.focus({ preventScroll: true });
      gone.remove();
    }
  }

  if (svg) {
    document.querySelectorAll("button[data-map]").forEach((b) => {
      b.addEventListener("click", () => mapAction(b.dataset.map));
    });
    frame.addEventListener("keydown", (ev) => {
      const action = KEYS[ev.key];
      if (!action || ev.altKey || ev.ctrlKey || ev.metaKey) return;
      ev.preventDefault();
      mapAction(action);
    });
    // An item reached by Tab outside the view is brought into it.
    svg.addEventListener("focusin", (ev) => {
      const el = ev.target.closest("a");
      const p = el && itemPoint(el);
      if (!p) return;
      const [x, y, w, h] = view;
      if (p[0] < x || p[0] > x + w || p[1] < y || p[1] > y + h) setView([p[0] - w / 2, p[1] - h / 2, w, h]);
    });
  }

  connect();
})();
