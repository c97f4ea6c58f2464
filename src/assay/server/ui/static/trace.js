// The span tree of a trace page: one JSON of every span (as columns), a tree built once,
// and only the rows in view drawn (a trace of tens of thousands of spans stays fast).
// Rows fold and unfold; a row's bar shows when the span ran within the trace; clicking a
// row fetches that span's attributes, conversation and events. Text is set with
// textContent only: nothing a span carries is ever parsed as HTML.
(function () {
  "use strict";
  const ROW = 24;
  const tree = document.getElementById("span-tree");
  if (!tree) return;
  const spacer = tree.querySelector(".span-spacer");
  const detail = document.getElementById("span-detail");
  const count = document.getElementById("span-count");
  const search = document.getElementById("span-search");
  let data = null;
  let children = [];
  let depth = null;
  let order = [];        // every span, depth first
  let folded = null;     // 1: its children are hidden
  let visible = new Int32Array(0);
  let selected = -1;
  let query = "";

  function el(tag, cls, text) {
    const node = document.createElement(tag);
    if (cls) node.className = cls;
    if (text !== undefined && text !== null) node.textContent = String(text);
    return node;
  }

  function duration(us) {
    if (us < 1000) return us + " µs";
    if (us < 1e6) return (us / 1000).toFixed(1) + " ms";
    return (us / 1e6).toFixed(2) + " s";
  }

  function build(d) {
    data = d;
    const n = d.id.length;
    const index = new Map();
    for (let i = 0; i < n; i++) index.set(d.id[i], i);
    children = Array.from({ length: n }, () => []);
    const roots = [];
    for (let i = 0; i < n; i++) {
      const p = d.parent[i] === null ? undefined : index.get(d.parent[i]);
      if (p === undefined || p === i) roots.push(i); else children[p].push(i);
    }
    depth = new Int32Array(n);
    folded = new Uint8Array(n);
    order = [];
    const stack = roots.slice().reverse();
    const seen = new Uint8Array(n);
    while (stack.length) {
      const i = stack.pop();
      if (seen[i]) continue;  // a cycle of parent ids: each span is shown once
      seen[i] = 1;
      order.push(i);
      const kids = children[i];
      for (let k = kids.length - 1; k >= 0; k--) {
        if (!seen[kids[k]]) { depth[kids[k]] = depth[i] + 1; stack.push(kids[k]); }
      }
    }
    for (let i = 0; i < n; i++) if (!seen[i]) order.push(i);
    tree.dataset.spans = String(n);
    relayout();
  }

  function relayout() {
    const out = [];
    const q = query.toLowerCase();
    let hideBelow = -1;
    for (const i of order) {
      if (hideBelow >= 0) {
        if (depth[i] > hideBelow) continue;
        hideBelow = -1;
      }
      if (!q || data.name[i].toLowerCase().includes(q)) out.push(i);
      if (!q && folded[i]) hideBelow = depth[i];
    }
    visible = Int32Array.from(out);
    spacer.style.height = visible.length * ROW + "px";
    tree.dataset.visible = String(visible.length);
    if (count) count.textContent = visible.length + " of " + data.id.length + " spans shown";
    draw();
  }

  function row(i, top) {
    const d = data;
    const r = el("div", "span-row" + (d.status[i] === "error" ? " error" : "") + (i === selected ? " selected" : ""));
    r.style.top = top + "px";
    r.style.paddingLeft = Math.min(depth[i], 40) * 14 + "px";
    r.dataset.index = String(i);
    r.dataset.spanId = d.id[i];
    r.dataset.depth = String(depth[i]);
    const twisty = el("span", "twisty", children[i].length ? (folded[i] ? "▸" : "▾") : "");
    if (children[i].length) twisty.dataset.toggle = "1";
    r.appendChild(twisty);
    r.appendChild(el("span", "name", d.name[i])).title = d.name[i];
    const bits = [];
    if (d.model[i]) bits.push(d.model[i]);
    if (d.tokens[i] !== null) bits.push(d.tokens[i] + " tok");
    if (d.cost[i] !== null) bits.push("$" + d.cost[i].toFixed(5));
    bits.push(duration(d.duration_us[i]));
    r.appendChild(el("span", "meta", bits.join(" · ")));
    const bar = el("span", "bar");
    const fill = el("span");
    const total = Math.max(1, d.total_us);
    fill.style.left = (100 * d.start_us[i] / total).toFixed(3) + "%";
    fill.style.width = (100 * d.duration_us[i] / total).toFixed(3) + "%";
    bar.appendChild(fill);
    r.appendChild(bar);
    return r;
  }

  function draw() {
    if (!data) return;
    const first = Math.max(0, Math.floor(tree.scrollTop / ROW) - 10);
    const last = Math.min(visible.length, Math.ceil((tree.scrollTop + tree.clientHeight) / ROW) + 10);
    tree.querySelectorAll(".span-row").forEach((r) => r.remove());
    const frag = document.createDocumentFragment();
    for (let k = first; k < last; k++) frag.appendChild(row(visible[k], k * ROW));
    tree.appendChild(frag);
    tree.dataset.rendered = String(last - first);
  }

  function table(obj) {
    const t = el("table");
    for (const [k, v] of Object.entries(obj || {})) {
      const tr = el("tr");
      tr.appendChild(el("td", "", k));
      tr.appendChild(el("td", "", typeof v === "string" ? v : JSON.stringify(v)));
      t.appendChild(tr);
    }
    return t;
  }

  function messages(title, list) {
    if (!list || !list.length) return null;
    const box = el("div", "messages");
    box.appendChild(el("h3", "", title));
    for (const m of list) {
      const div = el("div", "message");
      div.appendChild(el("span", "role", (m && m.role) || "message"));
      const body = m && (m.content !== undefined ? m.content : m.parts);
      let text = typeof body === "string" ? body : JSON.stringify(body, null, 1);
      if (Array.isArray(body) && body.every((p) => p && typeof p.content === "string")) {
        text = body.map((p) => p.content).join("\n");
      }
      div.appendChild(document.createTextNode(text || ""));
      box.appendChild(div);
    }
    return box;
  }

  function show(s) {
    detail.replaceChildren();
    detail.appendChild(el("h2", "", s.name));
    const facts = {
      span: s.span_id, kind: s.kind, status: s.status + (s.status_message ? ": " + s.status_message : ""),
      duration: s.duration_ms.toFixed(3) + " ms",
    };
    for (const k of ["operation", "model", "provider", "input_tokens", "output_tokens", "cost", "prices"]) {
      if (s[k] !== null && s[k] !== undefined) facts[k] = s[k];
    }
    detail.appendChild(table(facts));
    for (const part of [messages("Input", s.input_messages), messages("Output", s.output_messages)]) {
      if (part) detail.appendChild(part);
    }
    if (s.tool_call) { detail.appendChild(el("h3", "", "Tool call")); detail.appendChild(table(s.tool_call)); }
    detail.appendChild(el("h3", "", "Attributes"));
    const attrs = table(s.attributes);
    attrs.id = "span-attributes";
    detail.appendChild(attrs);
    if (s.events.length) {
      detail.appendChild(el("h3", "", "Events"));
      for (const e of s.events) { detail.appendChild(el("div", "", e.name)); detail.appendChild(table(e.attributes)); }
    }
    detail.appendChild(el("h3", "", "Resource"));
    detail.appendChild(table(s.resource));
  }

  function open(i) {
    selected = i;
    draw();
    const feedbackSpan = document.getElementById("feedback-span");
    if (feedbackSpan) feedbackSpan.value = data.id[i];  // the reviewer's feedback goes to this span
    const url = tree.dataset.detail + encodeURIComponent(data.id[i]) + "?project=" + encodeURIComponent(tree.dataset.project);
    fetch(url, { credentials: "same-origin" })
      .then((r) => r.ok ? r.json() : Promise.reject(new Error("HTTP " + r.status)))
      .then(show)
      .catch((e) => { detail.replaceChildren(el("p", "filter-error", "cannot load the span: " + e.message)); });
  }

  tree.addEventListener("scroll", () => window.requestAnimationFrame(draw));
  tree.addEventListener("click", (ev) => {
    const r = ev.target.closest(".span-row");
    if (!r) return;
    const i = Number(r.dataset.index);
    if (ev.target.dataset.toggle) { folded[i] = folded[i] ? 0 : 1; relayout(); } else open(i);
  });
  if (search) search.addEventListener("input", () => { query = search.value.trim(); relayout(); });
  const all = (v) => () => { if (data) { folded.fill(0); if (v) for (const i of order) if (children[i].length) folded[i] = 1; relayout(); } };
  const expand = document.getElementById("expand-all");
  const collapse = document.getElementById("collapse-all");
  if (expand) expand.addEventListener("click", all(false));
  if (collapse) collapse.addEventListener("click", all(true));

  fetch(tree.dataset.url, { credentials: "same-origin" })
    .then((r) => r.ok ? r.json() : Promise.reject(new Error("HTTP " + r.status)))
    .then(build)
    .catch((e) => { tree.replaceChildren(el("p", "filter-error", "cannot load the spans: " + e.message)); });
})();
