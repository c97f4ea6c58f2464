// Plotly and Vega-Lite plots logged with assay.Plot: each <figure class="media-plot"> names
// its spec and the scripts that draw it; the scripts (megabytes) load only on a page that
// shows such a plot, once, in order, and the plot draws into its canvas.
(() => {
  const loaded = new Map();  // script URL -> Promise

  function load(url) {
    if (!loaded.has(url)) {
      loaded.set(url, new Promise((resolve, reject) => {
        const script = document.createElement("script");
        script.src = url;
        script.onload = resolve;
        script.onerror = () => reject(new Error(`could not load ${url}`));
        document.head.appendChild(script);
      }));
    }
    return loaded.get(url);
  }

  async function draw(figure) {
    figure.dataset.state = "loading";
    const canvas = figure.querySelector(".media-plot-canvas");
    try {
      for (const url of figure.dataset.scripts.split(" ")) await load(url);
      const response = await fetch(figure.dataset.spec, { credentials: "same-origin" });
      if (!response.ok) throw new Error(`the spec answered ${response.status}`);
      const spec = await response.json();
      if (figure.dataset.format === "plotly") {
        const layout = { autosize: true, ...(spec.layout || {}) };
        await window.Plotly.newPlot(canvas, spec.data || [], layout, { responsive: true, displaylogo: false });
      } else {
        await window.vegaEmbed(canvas, spec, { renderer: "svg", actions: { export: true, source: false, compiled: false, editor: false } });
      }
      figure.dataset.state = "drawn";
    } catch (error) {
      figure.dataset.state = "failed";
      canvas.textContent = `This plot could not be drawn: ${error.message}`;
    }
  }

  function mount(scope) {
    scope.querySelectorAll(".media-plot:not([data-state])").forEach(draw);
  }

  document.addEventListener("DOMContentLoaded", () => {
    mount(document);
    document.body.addEventListener("htmx:afterSettle", (event) => mount(event.target));
  });
})();
