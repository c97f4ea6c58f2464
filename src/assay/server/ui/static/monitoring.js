// The monitoring page's charts: one uPlot chart per panel, a line per slice (all traffic,
// each version, each version and arm) over the windows' end times; the performance chart
// draws each slice's 95% interval as a band. Data is in the panel's JSON script element.
"use strict";

(() => {
  const colour = (i) => window.AssayCharts.PALETTE[i % window.AssayCharts.PALETTE.length];
  const faint = (hex) => {
    const n = parseInt(hex.slice(1), 16);
    return `rgba(${n >> 16}, ${(n >> 8) & 255}, ${n & 255}, 0.15)`;
  };

  function draw(box) {
    const data = JSON.parse(box.querySelector("script[type='application/json']").textContent);
    const series = [{ label: "window end" }];
    const columns = [data.x];
    const bands = [];
    data.series.forEach((s, i) => {
      const c = colour(i);
      series.push({ label: s.label, stroke: c, width: 1.5, spanGaps: false, points: { show: true, size: 4 } });
      columns.push(s.values);
      if (s.low) {
        const hi = columns.length, lo = columns.length + 1;
        series.push({ label: `${s.label} high`, stroke: faint(c), width: 1 });
        series.push({ label: `${s.label} low`, stroke: faint(c), width: 1 });
        columns.push(s.high, s.low);
        bands.push({ series: [hi, lo], fill: faint(c) });
      }
    });
    const opts = {
      width: Math.max(280, box.clientWidth - 12 || 480),
      height: 220,
      series,
      bands,
      scales: { x: { time: true } },
      legend: { live: true },
    };
    box.assayPlot = new uPlot(opts, columns, box);
    box.dataset.drawn = "true";
  }

  function init() {
    document.querySelectorAll("[data-monitor-chart]").forEach(draw);
  }
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", init);
  else init();
})();
