// Live updates (SSE) and taps without reload; the page works without this script too.
(() => {
  "use strict";
  const main = document.getElementById("screen");
  const notice = document.getElementById("notice");
  const lang = document.documentElement.lang;
  const tokenMeta = document.querySelector('meta[name="bushail-screen-token"]');

  // The screen's secret proves a tap comes from this page. Each form carries the one of
  // the display now running (forms are re-rendered with every update, so after a restart
  // too); the page's own copy is the fallback.
  function screenToken(form) {
    const field = form.elements.namedItem("screen_token");
    if (field instanceof HTMLInputElement && field.value) return field.value;
    return tokenMeta ? tokenMeta.content : "";
  }

  function swap(html) {
    // Keep an open "Can't stop" reason list open across updates.
    const open = Array.from(main.querySelectorAll("details[open]"), (d) => d.id);
    // The list under the pinned card keeps its place when an ETA changes; the card to
    // answer is pinned above it, so it never needs scrolling back.
    const list = main.querySelector(".others");
    const listTop = list ? list.scrollTop : 0;
    main.innerHTML = html;
    for (const id of open) {
      const details = document.getElementById(id);
      if (details) details.open = true;
    }
    const newList = main.querySelector(".others");
    if (newList) newList.scrollTop = listTop;
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
        headers: {
          "X-Requested-With": "fetch",
          "X-Screen-Token": screenToken(form),
          Accept: "application/json",
        },
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
