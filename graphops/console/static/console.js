// graphops console: the timeline plot, and errors from htmx requests shown rather than swallowed.
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

  function drawTimeline() {
    const canvas = document.getElementById("timeline");
    const source = document.getElementById("timeline-data");
    if (!canvas || !source || typeof Chart === "undefined") return;
    const data = JSON.parse(source.textContent);
    const colour = (ok, good, bad) => (points) => points.map((p) => (p.ok ? good : bad));
    const polls = data.polls, deliveries = data.deliveries;
    window.graphopsTimeline = new Chart(canvas, {
      data: {
        datasets: [
          { type: "scatter", label: "what Graph said", data: polls, yAxisID: "y", pointRadius: 5,
            backgroundColor: colour(true, "#0b5cad", "#c62828")(polls) },
          { type: "scatter", label: "delivery attempts", data: deliveries, yAxisID: "y", pointRadius: 7,
            pointStyle: deliveries.map((p) => (p.ok ? "circle" : "crossRot")),
            backgroundColor: colour(true, "#1a7f37", "#c62828")(deliveries),
            borderColor: colour(true, "#1a7f37", "#c62828")(deliveries) },
          { type: "line", label: "wait chosen (s)", data: data.delays, yAxisID: "seconds", stepped: "before",
            borderColor: "#8c959f", backgroundColor: "#8c959f", pointRadius: 2, borderWidth: 1 },
          { type: "scatter", label: "Retry-After (s)", data: data.retryAfter, yAxisID: "seconds",
            pointStyle: "triangle", pointRadius: 6, backgroundColor: "#9a6700" },
        ],
      },
      options: {
        animation: false,
        maintainAspectRatio: false,
        parsing: { xAxisKey: "x", yAxisKey: "y" },
        scales: {
          x: { type: "linear", title: { display: true, text: "minutes since the first step" } },
          y: { type: "category", labels: data.lanes.slice().reverse(), offset: true, position: "left" },
          seconds: { type: "linear", position: "right", beginAtZero: true, grace: "20%", title: { display: true, text: "seconds" },
                     grid: { drawOnChartArea: false } },
        },
        plugins: {
          tooltip: { callbacks: { label: (item) => item.raw.label || item.dataset.label + ": " + item.raw.y } },
        },
      },
    });
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", drawTimeline);
  } else {
    drawTimeline();
  }
})();
