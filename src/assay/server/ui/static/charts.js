// Charts: one uPlot chart per metric key, runs overlaid, each in a colour of its own.
// Data comes downsampled from POST /ui/api/series (min/max per bucket, so spikes show),
// a page of keys at a time: the server picks the keys by kind (user or system/*) and by
// the search box, and says how many match, so a run of 10,000 keys never asks for them
// in one URL. Zooming fetches the finer range. Each chart element exposes what it draws
// in data-key, data-series-count and data-colours, which the browser tests read.
"use strict";

const AssayCharts = (() => {
  // Tableau 10, then ten more dark enough for lines on a light or dark background: runs
  // in a view take them in the order of the view's run list, so no two of the first 20
  // share a colour and a run keeps its colour while the view lists it.
  const PALETTE = [
    "#4e79a7", "#f28e2b", "#e15759", "#76b7b2", "#59a14f",
    "#edc948", "#b07aa1", "#ff9da7", "#9c755f", "#bab0ac",
    "#1f4e9c", "#d45087", "#2a9d8f", "#8c6d1f", "#6a3d9a",
    "#e76f51", "#3d8c40", "#7b4173", "#17becf", "#5f5f5f",
  ];
  const PAGE_SIZE = 24;

  // The view's run list: the order runs get their colours in. Pages set it once (the
  // table's rows, the compared runs); a run not in it is added at the end.
  let viewRuns = [];
  function setViewRuns(ids) {
    for (const id of ids) if (!viewRuns.includes(id)) viewRuns.push(id);
  }
  function colour(runId) {
    let i = viewRuns.indexOf(runId);
    if (i < 0) { viewRuns.push(runId); i = viewRuns.length - 1; }
    return PALETTE[i % PALETTE.length];
  }
  function faint(hex, alpha) {
    const n = parseInt(hex.slice(1), 16);
    return `rgba(${n >> 16}, ${(n >> 8) & 255}, ${n & 255}, ${alpha})`;
  }

  function csrf() {
    return document.querySelector("meta[name=csrf-token]")?.content || "";
  }

  // The y axis as wide as its widest tick label (uPlot's fixed 50 px cut "27.475" to
  // "7.475" and "10,000" to "0,000").
  function axisSize(u, values, axisIdx, cycleNum) {
    const axis = u.axes[axisIdx];
    if (cycleNum > 1) return axis._size;  // settled: keep the size of the last pass
    let size = (axis.ticks?.size ?? 10) + (axis.gap ?? 5) + 4;
    const widest = (values || []).reduce((a, v) => (String(v).length > a.length ? String(v) : a), "");
    if (widest) {
      u.ctx.save();
      u.ctx.font = axis.font?.[0] || "12px system-ui";
      size += u.ctx.measureText(widest).width / (window.devicePixelRatio || 1);
      u.ctx.restore();
    }
    return Math.ceil(size);
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

  function el(tag, props = {}, text = "") {
    const node = document.createElement(tag);
    Object.assign(node, props);
    if (text) node.textContent = text;
    return node;
  }

  class Panel {
    constructor(el, controls) {
      this.el = el;
      this.controls = controls;
      this.runIds = (el.dataset.runs || "").split(",").filter(Boolean);
      this.kind = el.dataset.kind || "all";
      this.offset = 0;
      this.charts = new Map();
      this.data = null;
      this.timer = null;
      this.status = document.createElement("div");
      this.status.className = "chart-status";
      el.before(this.status);
    }

    setRuns(runIds) {
      this.runIds = runIds;
      this.el.dataset.runs = runIds.join(",");
      return this.load();
    }

    search() {
      return this.controls.search?.value || "";
    }

    async fetchSeries(extra) {
      const body = {
        runs: this.runIds, kind: this.kind, search: this.search(),
        offset: this.offset, limit: PAGE_SIZE, points: 1500, ...extra,
      };
      const response = await fetch("/ui/api/series", {
        method: "POST",
        credentials: "same-origin",
        headers: { "content-type": "application/json", "x-csrf-token": csrf() },
        body: JSON.stringify(body),
      });
      if (!response.ok) throw new Error(`series: HTTP ${response.status}`);
      return response.json();
    }

    async load() {
      if (!this.runIds.length) { this.clear("Select runs to chart them."); return; }
      try {
        this.data = await this.fetchSeries({});
      } catch (err) {
        this.clear(`The charts could not be loaded (${err.message}).`);
        this.el.dataset.error = String(err);
        return;
      }
      if (this.data.keys.length === 0 && this.offset > 0) { this.offset = 0; return this.load(); }
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
      this.el.replaceChildren(el("p", { className: "empty" }, message));
      this.el.dataset.chartCount = "0";
      this.status.replaceChildren();
    }

    showStatus() {
      const { keys, matched, offset } = this.data;
      this.el.dataset.matched = String(matched);
      this.status.replaceChildren();
      if (matched <= keys.length) return;
      const text = el("span", { className: "chart-count" },
        `showing charts ${offset + 1} to ${offset + keys.length} of ${matched.toLocaleString("en")}`);
      const prev = el("button", { type: "button", className: "chart-prev", disabled: offset === 0 }, "‹ prev");
      const next = el("button", {
        type: "button", className: "chart-next", disabled: offset + keys.length >= matched,
      }, "next ›");
      prev.addEventListener("click", () => { this.offset = Math.max(0, offset - PAGE_SIZE); this.load(); });
      next.addEventListener("click", () => { this.offset = offset + PAGE_SIZE; this.load(); });
      this.status.append(text, " ", prev, " ", next);
    }

    draw() {
      const groups = new Map(this.data.keys.map((k) => [k, []]));
      for (const s of this.data.series) groups.get(s.key)?.push(s);
      this.charts.forEach((c) => c.plot.destroy());
      this.charts.clear();
      this.el.replaceChildren();
      const keys = [...groups.keys()].filter((k) => groups.get(k).length);
      for (const key of keys) this.drawChart(key, groups.get(key));
      this.el.dataset.chartCount = String(keys.length);
      this.showStatus();
      if (!keys.length) {
        const message = this.search() ? `No metric matches "${this.search()}".` : "No metrics to chart.";
        this.el.replaceChildren(el("p", { className: "empty" }, message));
      }
    }

    drawChart(key, list) {
      const box = el("div", { className: "chart" });
      box.dataset.key = key;
      box.dataset.seriesCount = String(list.length);
      box.dataset.points = String(Math.max(0, ...list.map((s) => s.steps.length)));
      box.dataset.colours = list.map((s) => colour(s.run)).join(",");
      box.append(el("h3", {}, key));
      this.el.append(box);
      const mode = this.controls.xAxis?.value || "step";
      const alpha = Number(this.controls.smoothing?.value || 0);
      const series = [{ label: mode === "step" ? "step" : "time" }];
      for (const s of list) {
        const name = this.data.runs[s.run]?.name || s.run;
        const c = colour(s.run);
        series.push({ label: name, stroke: alpha ? faint(c, 0.25) : c, width: 1, spanGaps: true });
        if (alpha) series.push({ label: `${name} (smoothed)`, stroke: c, width: 1.5, spanGaps: true });
      }
      const opts = {
        width: Math.max(240, box.clientWidth - 12 || 480),
        height: 220,
        series,
        axes: [{}, { size: axisSize }],
        scales: { x: { time: mode === "wall" }, y: { distr: this.controls.logY?.checked ? 3 : 1 } },
        legend: { live: true },
        cursor: { drag: { x: true, y: false } },
        hooks: { setSelect: [(u) => this.zoom(key, u)] },
      };
      const plot = new uPlot(opts, align(list, mode, alpha), box);
      box.assayPlot = plot;
      box.addEventListener("dblclick", () => this.load());  // reset the zoom
      this.charts.set(key, { plot, box });
    }

    async zoom(key, u) {
      if (u.select.width < 2 || (this.controls.xAxis?.value || "step") !== "step") return;
      const lo = Math.floor(u.posToVal(u.select.left, "x"));
      const hi = Math.ceil(u.posToVal(u.select.left + u.select.width, "x"));
      const finer = await this.fetchSeries({ keys: [key], offset: 0, start: lo, end: hi });
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
    setViewRuns(panel.runIds);
    const redraw = () => panel.data && panel.draw();
    const c = panel.controls;
    let typing = null;
    c.search?.addEventListener("input", () => {
      clearTimeout(typing);
      typing = setTimeout(() => { panel.offset = 0; panel.load(); }, 250);
    });
    c.xAxis?.addEventListener("change", redraw);
    c.logY?.addEventListener("change", redraw);
    c.smoothing?.addEventListener("input", redraw);
    panel.load();
    return panel;
  }

  return { mount, colour, setViewRuns, PALETTE };
})();
window.AssayCharts = AssayCharts;
