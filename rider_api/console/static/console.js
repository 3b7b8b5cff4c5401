// Live operator board: Server-Sent Events replace the sections; the device table keeps
// the operator's sort and filter across updates. No framework, no build step.
"use strict";
(function () {
  const root = document.getElementById("live");
  if (!root) return;
  const parts = ["summary", "incidents", "bookings", "devices"];
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

  function connect() {
    const source = new EventSource(root.dataset.events);
    source.addEventListener("live", (ev) => {
      const data = JSON.parse(ev.data);
      for (const part of parts) {
        if (data[part] !== undefined && data[part] !== last[part]) {
          last[part] = data[part];
          document.getElementById("part-" + part).innerHTML = data[part];
        }
      }
      apply();
      conn.textContent = document.getElementById("conn-ok").textContent + " " + new Date().toLocaleTimeString();
      root.dataset.updated = String(Date.now());
    });
    source.onerror = () => {
      conn.textContent = document.getElementById("conn-lost").textContent;
    };
  }
  connect();
})();
