// Charts: one uPlot chart per metric key, runs overlaid with stable colours.
// Data comes downsampled from /ui/api/series (min/max per bucket, so spikes show);
// zooming fetches the finer range. Each chart element exposes what it draws in
// data-key and data-series-count, which the browser tests read.
"use strict";

const AssayCharts = (() => {
  // A run's colour comes from a hash of its id: the same on every page, for everyone.
  function hue(runId) {
    let h = 2166136261;
    for (const c of runId) h = Math.imul(h ^ c.charCodeAt(0), 16777619) >>> 0;
    return h % 360;
  }

  function colour(runId, alpha = 1) {
    return `hsla(${hue(runId)}, 70%, 45%, ${alpha})`;
  }

  function ema(values, alpha) {
    if (!alpha) return values;
    const out = new Array(values.length);
    let last = null;
    for (let i = 0; i < values.length; i++) {
      const v = values[i];
      if (v === null || Number.isNaN(v)) { out[i] = last; continue; }
      last = last === null ? v : alpha * last + (1 - alpha) * v;
      out[i] = last;
    }
    return out;
  }

  function xOf(series, mode) {
    if (mode === "step") return series.steps;
    if (mode === "wall") return series.times;
    const t0 = series.times.length ? series.times[0] : 0;
    return series.times.map((t) => t - t0);
  }

  // uPlot wants one shared x array: take the union, leave gaps as null.
  function align(list, mode, alpha) {
    const xs = Array.from(new Set(list.flatMap((s) => xOf(s, mode)))).sort((a, b) => a - b);
    const index = new Map(xs.map((x, i) => [x, i]));
    const columns = [xs];
    for (const s of list) {
      const raw = new Array(xs.length).fill(null);
      xOf(s, mode).forEach((x, i) => { raw[index.get(x)] = s.values[i]; });
      columns.push(raw);
      if (alpha) columns.push(ema(raw, alpha));
    }
    return columns;
  }

  class Panel {
    constructor(el, controls) {
      this.el = el;
      this.controls = controls;
      this.runIds = (el.dataset.runs || "").split(",").filter(Boolean);
      this.keys = (el.dataset.keys || "").split(",").filter(Boolean);
      this.charts = new Map();
      this.data = null;
      this.timer = null;
    }

    setRuns(runIds) {
      this.runIds = runIds;
      this.el.dataset.runs = runIds.join(",");
      return this.load();
    }

    async fetchSeries(extra) {
      const params = new URLSearchParams({ runs: this.runIds.join(","), points: "1500", ...extra });
      if (this.keys.length) params.set("keys", this.keys.join(","));
      const response = await fetch(`/ui/api/series?${params}`, { credentials: "same-origin" });
      if (!response.ok) throw new Error(`series: HTTP ${response.status}`);
      return response.json();
    }

    async load() {
      if (!this.runIds.length) { this.clear("Select runs to chart them."); return; }
      this.data = await this.fetchSeries({});
      this.draw();
      this.schedule();
    }

    schedule() {
      clearTimeout(this.timer);
      const running = Object.values(this.data.runs).some((r) => r.status === "running");
      this.el.dataset.live = running ? "true" : "false";
      if (running) this.timer = setTimeout(() => this.load(), 3000);  // stops once none runs
    }

    clear(message) {
      this.charts.forEach((c) => c.plot.destroy());
      this.charts.clear();
      this.el.innerHTML = `<p class="empty">${message}</p>`;
      this.el.dataset.chartCount = "0";
    }

    byKey(series) {
      const groups = new Map();
      for (const s of series) {
        if (!groups.has(s.key)) groups.set(s.key, []);
        groups.get(s.key).push(s);
      }
      return groups;
    }

    draw() {
      const filter = (this.controls.search?.value || "").toLowerCase();
      const groups = this.byKey(this.data.series);
      this.charts.forEach((c) => c.plot.destroy());
      this.charts.clear();
      this.el.innerHTML = "";
      const keys = [...groups.keys()].sort().filter((k) => k.toLowerCase().includes(filter));
      for (const key of keys) this.drawChart(key, groups.get(key));
      this.el.dataset.chartCount = String(keys.length);
      if (!keys.length) this.el.innerHTML = '<p class="empty">No metrics to chart.</p>';
    }

    drawChart(key, list) {
      const box = document.createElement("div");
      box.className = "chart";
      box.dataset.key = key;
      box.dataset.seriesCount = String(list.length);
      box.dataset.points = String(Math.max(0, ...list.map((s) => s.steps.length)));
      const title = document.createElement("h3");
      title.textContent = key;
      box.append(title);
      this.el.append(box);
      const mode = this.controls.xAxis?.value || "step";
      const alpha = Number(this.controls.smoothing?.value || 0);
      const series = [{ label: mode === "step" ? "step" : "time" }];
      for (const s of list) {
        const name = this.data.runs[s.run]?.name || s.run;
        series.push({ label: name, stroke: colour(s.run, alpha ? 0.25 : 1), width: 1, spanGaps: true });
        if (alpha) series.push({ label: `${name} (smoothed)`, stroke: colour(s.run), width: 1.5, spanGaps: true });
      }
      const opts = {
        width: Math.max(280, box.clientWidth || 480),
        height: 220,
        series,
        scales: { x: { time: mode === "wall" }, y: { distr: this.controls.logY?.checked ? 3 : 1 } },
        legend: { live: true },
        cursor: { drag: { x: true, y: false } },
        hooks: { setSelect: [(u) => this.zoom(key, list, u)] },
      };
      const plot = new uPlot(opts, align(list, mode, alpha), box);
      box.addEventListener("dblclick", () => this.load());  // reset the zoom
      this.charts.set(key, { plot, box });
    }

    async zoom(key, list, u) {
      if (u.select.width < 2 || (this.controls.xAxis?.value || "step") !== "step") return;
      const lo = Math.floor(u.posToVal(u.select.left, "x"));
      const hi = Math.ceil(u.posToVal(u.select.left + u.select.width, "x"));
      const saved = this.keys;
      this.keys = [key];
      const finer = await this.fetchSeries({ start: String(lo), end: String(hi) });
      this.keys = saved;
      const chart = this.charts.get(key);
      if (!chart) return;
      const alpha = Number(this.controls.smoothing?.value || 0);
      chart.plot.setData(align(finer.series, "step", alpha));
      chart.box.dataset.zoomed = `${lo}-${hi}`;
    }
  }

  function controls(scope) {
    const root = scope.closest("section, main") || document;
    return {
      search: root.querySelector("#key-search"),
      xAxis: root.querySelector("#x-axis"),
      logY: root.querySelector("#log-y"),
      smoothing: root.querySelector("#smoothing"),
    };
  }

  function mount(el) {
    const panel = new Panel(el, controls(el));
    el.assayPanel = panel;
    const redraw = () => panel.data && panel.draw();
    const c = panel.controls;
    c.search?.addEventListener("input", redraw);
    c.xAxis?.addEventListener("change", redraw);
    c.logY?.addEventListener("change", redraw);
    c.smoothing?.addEventListener("input", redraw);
    panel.load().catch((err) => { el.dataset.error = String(err); });
    return panel;
  }

  return { mount, colour };
})();
window.AssayCharts = AssayCharts;
