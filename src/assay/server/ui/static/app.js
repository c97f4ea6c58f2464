// Page behaviour: run selection (kept in the URL), the column picker, tree search,
// group toggles, the compare page's toggles and parallel coordinates.
"use strict";

function selectedIds() {
  return [...document.querySelectorAll(".select-run:checked")].map((c) => c.value);
}

function visibleIds() {
  const state = document.querySelector(".table-state");
  return state ? (state.dataset.visible || "").split(",").filter(Boolean) : [];
}

function syncSelection() {
  const ids = selectedIds();
  const field = document.getElementById("sel-field");
  if (field) field.value = ids.join(",");
  const url = new URL(window.location.href);
  if (ids.length) url.searchParams.set("sel", ids.join(",")); else url.searchParams.delete("sel");
  history.replaceState(null, "", url);
  const bulk = document.getElementById("bulk");
  if (bulk) {
    bulk.hidden = ids.length === 0;
    document.getElementById("bulk-runs").value = ids.join(",");
    document.getElementById("bulk-count").textContent = `${ids.length} selected`;
  }
  const link = document.getElementById("compare-link");
  if (link) {
    link.hidden = ids.length < 2 || ids.length > 50;
    link.href = `/compare?runs=${ids.join(",")}`;
  }
  AssayCharts.setViewRuns([...visibleIds(), ...ids]);
  paintSwatches();
  const wanted = ids.length ? ids : visibleIds().slice(0, 20);
  document.querySelectorAll(".runs-layout [data-charts]").forEach((charts) => {
    if (!charts.assayPanel) { charts.dataset.runs = wanted.join(","); return; }
    if (wanted.join(",") !== charts.assayPanel.runIds.join(",")) charts.assayPanel.setRuns(wanted);
  });
}

// Each run's colour beside its name in the table, as in its charts.
function paintSwatches() {
  document.querySelectorAll(".swatch-run").forEach((s) => {
    s.style.background = AssayCharts.colour(s.dataset.runId);
  });
}

function setupPicker() {
  const picker = document.querySelector(".picker");
  if (!picker) return;
  picker.addEventListener("change", (event) => {
    if (!event.target.matches("input[type=checkbox]")) return;
    const chosen = [...picker.querySelectorAll("input[type=checkbox]:checked")].map((c) => c.value);
    document.getElementById("columns-field").value = chosen.join(",");
    htmx.trigger("#runs-controls", "submit");
  });
  // the keys arrive when the picker is first opened; the search filters what has arrived
  const search = picker.querySelector(".picker-search");
  const filter = () => {
    const q = (search?.value || "").toLowerCase();
    picker.querySelectorAll("label").forEach((l) => { l.hidden = !l.textContent.toLowerCase().includes(q); });
  };
  search?.addEventListener("input", filter);
  picker.addEventListener("htmx:afterSwap", filter);
}

function setupTreeSearch() {
  document.querySelectorAll(".tree-search").forEach((input) => {
    const table = document.querySelector(input.dataset.target);
    input.addEventListener("input", () => {
      const q = input.value.toLowerCase();
      table.querySelectorAll("tr").forEach((row) => {
        row.hidden = q !== "" && !row.textContent.toLowerCase().includes(q);
      });
    });
  });
}

function setupCompare() {
  const toggle = document.getElementById("show-all-config");
  toggle?.addEventListener("change", () => {
    document.querySelectorAll("#config-diff tr.same").forEach((r) => { r.hidden = !toggle.checked; });
  });
  const holder = document.getElementById("parallel");
  if (!holder) return;
  const data = JSON.parse(document.getElementById("parallel-data").textContent);
  AssayCharts.setViewRuns(data.runs.map((r) => r.id));
  const draw = () => drawParallel(holder, data,
    [...document.getElementById("pc-keys").selectedOptions].map((o) => o.value),
    document.getElementById("pc-metric").value);
  document.getElementById("pc-keys").addEventListener("change", draw);
  document.getElementById("pc-metric").addEventListener("change", draw);
  draw();
}

// Parallel coordinates: one vertical axis per config key and the metric last, one line
// per run. Hand-written: uPlot has no such plot, and a 60-line SVG needs no library.
function drawParallel(holder, data, keys, metric) {
  const axes = [...keys.map((k) => ({ name: k, values: data.config[k] || [] })),
                ...(metric ? [{ name: metric, values: data.summary[metric] || [] }] : [])];
  const W = Math.max(320, holder.clientWidth || 640), H = 280, pad = 40;
  const ns = "http://www.w3.org/2000/svg";
  const svg = document.createElementNS(ns, "svg");
  svg.setAttribute("viewBox", `0 0 ${W} ${H}`);
  svg.setAttribute("width", "100%");
  const x = (i) => pad + (axes.length < 2 ? 0 : i * (W - 2 * pad) / (axes.length - 1));
  const ranges = axes.map((a) => {
    const nums = a.values.filter((v) => typeof v === "number");
    return nums.length ? [Math.min(...nums), Math.max(...nums)] : null;
  });
  const scales = ranges.map((r) => (v) => (typeof v !== "number" || !r ? null
    : H - pad - ((v - r[0]) / ((r[1] - r[0]) || 1)) * (H - 2 * pad)));
  const attrs = (node, values) => Object.entries(values).forEach(([k, v]) => node.setAttribute(k, v));
  axes.forEach((a, i) => {
    const line = document.createElementNS(ns, "line");
    Object.entries({ x1: x(i), x2: x(i), y1: pad, y2: H - pad, class: "pc-axis" })
      .forEach(([k, v]) => line.setAttribute(k, v));
    const label = document.createElementNS(ns, "text");
    Object.entries({ x: x(i), y: pad - 10, "text-anchor": "middle", class: "pc-label" })
      .forEach(([k, v]) => label.setAttribute(k, v));
    label.textContent = a.name;
    svg.append(line, label);
    // tick values: the axis's lowest, middle and highest value, left of the axis (right of
    // the first one, so no label leaves the plot)
    const r = ranges[i];
    if (!r) return;
    const names = (data.labels || {})[a.name];  // a categorical axis: a tick per choice
    const ticks = names ? names.map((_, k) => k).filter((k) => k >= r[0] && k <= r[1])
      : r[0] === r[1] ? [r[0]] : [r[0], (r[0] + r[1]) / 2, r[1]];
    for (const v of ticks) {
      const tick = document.createElementNS(ns, "text");
      const left = i === 0;
      attrs(tick, { x: x(i) + (left ? 4 : -4), y: scales[i](v) + 4, "text-anchor": left ? "start" : "end", class: "pc-tick" });
      tick.textContent = names ? names[v]
        : Number(v.toPrecision(4)).toLocaleString("en", { maximumSignificantDigits: 4 });
      svg.append(tick);
    }
  });
  data.runs.forEach((run, r) => {
    const pts = axes.map((a, i) => [x(i), scales[i](a.values[r])]).filter((p) => p[1] !== null);
    if (pts.length < 2) return;
    const path = document.createElementNS(ns, "polyline");
    path.setAttribute("points", pts.map((p) => p.join(",")).join(" "));
    path.setAttribute("stroke", AssayCharts.colour(run.id));
    path.setAttribute("class", "pc-line");
    path.dataset.runId = run.id;
    const title = document.createElementNS(ns, "title");
    title.textContent = run.name;
    path.append(title);
    svg.append(path);
  });
  holder.replaceChildren(svg);
  holder.dataset.lines = String(svg.querySelectorAll("polyline").length);
}

// A sweep's page: every parameter an axis, the metric last.
function setupSweep() {
  const holder = document.getElementById("sweep-parallel");
  if (!holder) return;
  const data = JSON.parse(document.getElementById("sweep-data").textContent);
  AssayCharts.setViewRuns(data.runs.map((r) => r.id));
  drawParallel(holder, data, data.keys, data.metric);
}

function mountCharts(scope) {
  scope.querySelectorAll("[data-charts]").forEach((el) => {
    if (el.assayPanel) return;
    if (!el.dataset.runs && el.closest(".runs-layout")) {
      const sel = new URL(window.location.href).searchParams.get("sel");
      el.dataset.runs = sel || visibleIds().slice(0, 20).join(",");
    }
    const box = el.closest("details");
    if (el.dataset.lazy !== undefined && box && !box.open) {  // charts nobody opened: no fetch
      box.addEventListener("toggle", () => { if (box.open && !el.assayPanel) AssayCharts.mount(el); });
      return;
    }
    AssayCharts.mount(el);
  });
}

document.addEventListener("DOMContentLoaded", () => {
  AssayCharts.setViewRuns(visibleIds());
  paintSwatches();
  setupPicker();
  setupTreeSearch();
  setupCompare();
  setupSweep();
  mountCharts(document);
  document.body.addEventListener("change", (event) => {
    if (event.target.matches(".select-run")) syncSelection();
    if (event.target.matches(".select-all")) {
      document.querySelectorAll(".select-run").forEach((c) => { c.checked = event.target.checked; });
      syncSelection();
    }
  });
  document.body.addEventListener("click", (event) => {
    const toggle = event.target.closest(".group-head .toggle");
    if (!toggle) return;
    const open = toggle.getAttribute("aria-expanded") === "true";
    toggle.setAttribute("aria-expanded", String(!open));
    toggle.textContent = open ? "▸" : "▾";
    toggle.closest("tbody").querySelectorAll("tr[data-run-id]").forEach((r) => { r.hidden = open; });
  });
  document.body.addEventListener("htmx:afterSwap", (event) => {
    if (event.target.id === "runs-table") syncSelection();
  });
  // A bulk action the server refused: its message beside the buttons (nothing changed).
  document.body.addEventListener("htmx:responseError", (event) => {
    const box = document.getElementById("bulk-error");
    if (!box || !event.target.closest("#bulk")) return;
    let message = event.detail.xhr.responseText;
    try { message = JSON.parse(message).error.message; } catch (e) { /* plain text */ }
    box.textContent = message;
  });
  document.body.addEventListener("htmx:beforeRequest", (event) => {
    const box = document.getElementById("bulk-error");
    if (box && event.target.closest("#bulk")) box.textContent = "";
  });
  if (document.querySelector(".select-run")) syncSelection();
});
