// Live updates without reloading: the server-sent event stream /live names the area that changed (requests,
// confirmation, paper, appointments, policy, dead_letters, or "all" after the console reconnected to its database);
// when it is one this page shows, the page is fetched again and the live element swapped in place.
(() => {
  const me = document.currentScript;
  const areas = new Set((me.dataset.area || "").split(","));
  const target = me.dataset.target;
  const source = me.dataset.fragment || window.location.pathname + window.location.search;
  const state = document.getElementById("live-state");
  let timer = null;
  let running = false;
  let again = false;

  async function refresh() {
    if (running) { again = true; return; }
    running = true;
    try {
      const response = await fetch(source, { headers: { "x-live": "1" }, credentials: "same-origin" });
      if (response.ok) {
        const page = new DOMParser().parseFromString(await response.text(), "text/html");
        const fresh = page.getElementById(target);
        const here = document.getElementById(target);
        if (fresh && here) {
          here.replaceWith(fresh);
          document.body.dataset.refreshed = String(Number(document.body.dataset.refreshed || 0) + 1);
        }
      }
    } finally {
      running = false;
      if (again) { again = false; refresh(); }
    }
  }

  const events = new EventSource("/live");
  events.addEventListener("open", () => { if (state) { state.textContent = state.dataset.on || "●"; } });
  events.addEventListener("error", () => { if (state) { state.textContent = state.dataset.off || "○"; } });
  events.addEventListener("change", (e) => {
    if (e.data === "all" || areas.has(e.data)) {
      clearTimeout(timer);
      timer = setTimeout(refresh, 100);  // a burst of changes makes one fetch
    }
  });
})();
