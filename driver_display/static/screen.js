// Live updates (SSE) and taps without reload; the page works without this script too.
(() => {
  "use strict";
  const main = document.getElementById("screen");
  const notice = document.getElementById("notice");
  const lang = document.documentElement.lang;

  function swap(html) {
    // Keep an open "Can't stop" reason list open across updates.
    const open = Array.from(main.querySelectorAll("details[open]"), (d) => d.id);
    main.innerHTML = html;
    for (const id of open) {
      const details = document.getElementById(id);
      if (details) details.open = true;
    }
    main.dataset.live = "true";
  }

  if ("EventSource" in window) {
    const source = new EventSource("/events?lang=" + encodeURIComponent(lang));
    source.addEventListener("screen", (event) => swap(event.data));
  }

  main.addEventListener("submit", async (event) => {
    const form = event.target;
    if (!(form instanceof HTMLFormElement)) return;
    event.preventDefault();
    const body = new FormData(form, event.submitter);
    body.set("lang", lang);
    const buttons = form.querySelectorAll("button");
    buttons.forEach((b) => { b.disabled = true; });
    notice.textContent = "";
    try {
      const response = await fetch(form.action, {
        method: "POST",
        body,
        headers: { "X-Requested-With": "fetch", Accept: "application/json" },
      });
      if (!response.ok) {
        const problem = await response.json().catch(() => ({}));
        notice.textContent = problem.title || notice.dataset.error;
        buttons.forEach((b) => { b.disabled = false; });
      }
    } catch {
      notice.textContent = notice.dataset.error;
      buttons.forEach((b) => { b.disabled = false; });
    }
  });
})();
