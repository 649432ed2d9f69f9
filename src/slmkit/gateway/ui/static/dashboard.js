// Draws the Overview's charts (uPlot) from the figures the server embedded in the page.
(function () {
  "use strict";
  const COLORS = { specialist: "#067647", small: "#2457c5", large: "#7a2ec5", remote: "#c5762e", other: "#8a8f98",
                   fallback: "#b42318" };

  function chart(el, title, starts, series, opts) {
    if (!el || !window.uPlot) return;
    const data = [starts].concat(series.map((s) => s.values));
    const width = Math.max(300, el.clientWidth || 600);
    new window.uPlot({
      width: width, height: 200, title: "",
      scales: { x: { time: true } },
      axes: [{}, { size: 64, values: (u, ticks) => ticks.map((v) => (v == null ? "" : +v.toPrecision(3))) }],
      series: [{}].concat(series.map((s) => ({ label: s.label, stroke: s.color, width: 1.5,
                                                fill: s.fill || undefined, spanGaps: true }))),
      ...(opts || {}),
    }, data, el);
  }

  function draw() {
    const node = document.getElementById("overview-data");
    if (!node) return;
    const d = JSON.parse(node.textContent);
    const s = d.series;
    chart(document.getElementById("chart-rpm"), "requests/min", d.starts,
          [{ label: "requests/min", values: s.rpm, color: "#2457c5", fill: "rgba(36,87,197,0.08)" }]);
    chart(document.getElementById("chart-tiers"), "tier mix", d.starts,
          d.groups.map((g) => ({ label: g, values: s["tier:" + g], color: COLORS[g] }))
            .concat([{ label: "fallback", values: s.fallback, color: COLORS.fallback }]));
    chart(document.getElementById("chart-cost"), "cost", d.starts,
          [{ label: "spent", values: s.cost, color: "#067647" },
           { label: "all large", values: s.large, color: "#7a2ec5" }]);
    chart(document.getElementById("chart-errors"), "errors", d.starts,
          [{ label: "error rate %", values: s.error_rate, color: "#b42318" }]);
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", draw);
  else draw();
})();
