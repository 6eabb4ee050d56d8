// graphops console: the timeline plots, the list's auto-refresh, copy buttons, and errors from htmx requests
// shown rather than swallowed.
// No inline scripts anywhere: the page's Content-Security-Policy allows only files served from here.
"use strict";

(function () {
  function showProblem(text) {
    const flash = document.getElementById("flash");
    if (!flash) return;
    flash.textContent = text;
    flash.hidden = false;
  }

  document.addEventListener("htmx:responseError", function (event) {
    const xhr = event.detail.xhr;
    const page = new DOMParser().parseFromString(xhr.responseText || "", "text/html");
    const said = page.querySelector(".problem");
    showProblem("HTTP " + xhr.status + ": " + (said ? said.textContent : xhr.statusText));
  });
  document.addEventListener("htmx:sendError", function () {
    showProblem("The console could not be reached.");
  });

  // Fixed colours, one per meaning, on every chart.
  const COLOURS = { graph: "#0b5cad", problem: "#c62828", delivered: "#1a7f37", wait: "#8c959f", retryAfter: "#9a6700" };

  function drawTimeline() {
    const canvas = document.querySelector("canvas[data-chart=timeline]");
    const waits = document.querySelector("canvas[data-chart=waits]");
    const source = document.getElementById("timeline-data");
    if (!canvas || !source || typeof Chart === "undefined") return;
    const data = JSON.parse(source.textContent);
    const polls = data.polls, deliveries = data.deliveries;
    const each = (points, good) => points.map((p) => (p.ok ? good : COLOURS.problem));
    const span = Math.max(1, ...polls.concat(deliveries, data.delays, data.retryAfter).map((p) => p.x));
    const time = { type: "linear", min: 0, suggestedMax: span, title: { display: true, text: data.unit + " since the first step" } };
    const when = (item) => (item.raw.at ? item.raw.at + ": " : "");
    window.graphopsTimeline = new Chart(canvas, {
      data: {
        datasets: [
          { type: "scatter", label: "what Graph said", data: polls, pointRadius: 5, backgroundColor: each(polls, COLOURS.graph) },
          { type: "scatter", label: "delivery attempts", data: deliveries, pointRadius: 7,
            pointStyle: deliveries.map((p) => (p.ok ? "circle" : "crossRot")),
            backgroundColor: each(deliveries, COLOURS.delivered), borderColor: each(deliveries, COLOURS.delivered) },
        ],
      },
      options: {
        animation: false,
        maintainAspectRatio: false,
        parsing: { xAxisKey: "x", yAxisKey: "y" },
        scales: { x: time, y: { type: "category", labels: data.lanes.slice().reverse(), offset: true } },
        plugins: { tooltip: { callbacks: { label: (item) => when(item) + (item.raw.label || item.dataset.label) } } },
      },
    });
    if (!waits) return;
    window.graphopsWaits = new Chart(waits, {
      data: {
        datasets: [
          { type: "line", label: "wait chosen (s)", data: data.delays, stepped: "before", borderColor: COLOURS.wait,
            backgroundColor: COLOURS.wait, pointRadius: 2, borderWidth: 1 },
          { type: "scatter", label: "Retry-After (s)", data: data.retryAfter, pointStyle: "triangle", pointRadius: 6,
            backgroundColor: COLOURS.retryAfter },
        ],
      },
      options: {
        animation: false,
        maintainAspectRatio: false,
        parsing: { xAxisKey: "x", yAxisKey: "y" },
        scales: { x: time, y: { type: "linear", beginAtZero: true, grace: "20%", title: { display: true, text: "seconds" } } },
        plugins: { tooltip: { callbacks: { label: (item) => when(item) + item.dataset.label + ": " + item.raw.y } } },
      },
    });
  }

  // Every page with a [data-refresh] element (the list's filters, a tracking's page, the poison queue) refreshes
  // itself while the toggle is on, but never under an operator typing a filter, ticking entries, reading an opened
  // message or the result of what they just did.
  function autoRefresh() {
    const toggle = document.getElementById("auto-refresh");
    const source = document.querySelector("[data-refresh]");
    if (!toggle || !source || typeof htmx === "undefined") return;
    toggle.checked = localStorage.getItem("graphops.autoRefresh") !== "off";
    toggle.addEventListener("change", (event) => {
      event.stopPropagation(); // not a filter: no new list for flipping it
      localStorage.setItem("graphops.autoRefresh", toggle.checked ? "on" : "off");
    });
    const HOLDS = "#bulk input[name=id]:checked, [data-result], #bulk-result, #operator-result:not(:empty), details[open]";
    setInterval(() => {
      const active = document.activeElement;
      const typing = active && active.matches("input:not([type=checkbox]), select, textarea");
      if (toggle.checked && !typing && !document.querySelector(HOLDS) && !document.hidden) htmx.trigger(source, "refresh");
    }, 15000);
  }

  // A tracking's page refreshed: its charts drawn again from the new data.
  document.addEventListener("htmx:afterSwap", () => {
    const canvas = document.querySelector("canvas[data-chart=timeline]");
    if (!canvas || (window.graphopsTimeline && window.graphopsTimeline.canvas === canvas)) return; // not new
    for (const chart of [window.graphopsTimeline, window.graphopsWaits]) if (chart) chart.destroy();
    window.graphopsTimeline = window.graphopsWaits = undefined;
    drawTimeline();
  });

  // Copy a tracking id: the list shows it short.
  document.addEventListener("click", (event) => {
    const button = event.target.closest ? event.target.closest("button.copy") : null;
    if (!button) return;
    const done = () => { button.classList.add("copied"); button.textContent = "copied"; };
    if (navigator.clipboard) navigator.clipboard.writeText(button.dataset.copy).then(done, () => showProblem("Copy refused by the browser."));
  });

  function start() {
    drawTimeline();
    autoRefresh();
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", start);
  } else {
    start();
  }
})();
