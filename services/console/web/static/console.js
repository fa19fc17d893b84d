// Small behaviours of every page (no inline scripts: the pages' Content-Security-Policy allows none).
document.querySelectorAll("[data-print]").forEach((b) => b.addEventListener("click", () => window.print()));
