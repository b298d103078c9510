// The metrics chart, drawn by hand as inline SVG: x = labels spent, y = metric.
// One line per metric over the model versions, the zero-shot score as a dashed line.

const SVG = "http://www.w3.org/2000/svg";
export const METRICS = [
  { key: "auc_pr", label: "AUC-PR", color: "#2f6fed" },
  { key: "auc_roc", label: "AUC-ROC", color: "#12805c" },
  { key: "f1", label: "F1", color: "#c4320a" },
];
const W = 520, H = 260, M = { top: 14, right: 16, bottom: 40, left: 42 };

function svg(tag, attrs = {}, text) {
  const node = document.createElementNS(SVG, tag);
  for (const [key, value] of Object.entries(attrs)) node.setAttribute(key, value);
  if (text !== undefined) node.textContent = text;
  return node;
}

// About five round ticks from 0 to at least max.
function ticks(max) {
  const raw = max / 5;
  const magnitude = 10 ** Math.floor(Math.log10(raw || 1));
  const step = [1, 2, 5, 10].map((f) => f * magnitude).find((s) => s >= raw) || magnitude;
  const out = [];
  for (let v = 0; v <= max + step / 2; v += step) out.push(v);
  return out;
}

export const fmt = (value) => (value === null || value === undefined ? "–" : Number(value).toFixed(3));

// Points of one metric: models whose metric is known, ordered by labels spent.
function series(models, key) {
  return models.filter((m) => m[key] !== null && m[key] !== undefined)
    .map((m) => ({ x: m.labels, y: m[key], model: m }))
    .sort((a, b) => a.x - b.x);
}

export function drawChart(container, metrics) {
  const models = metrics.models || [];
  const zero = metrics.zero_shot || null;
  // Headroom on the right, so the newest model's point never sits on the frame.
  const xTicks = ticks(Math.max(10, ...models.map((m) => Math.ceil((m.labels || 0) * 1.15))));
  const xMax = xTicks[xTicks.length - 1];
  const x = (v) => M.left + (v / xMax) * (W - M.left - M.right);
  const y = (v) => H - M.bottom - v * (H - M.top - M.bottom);

  const summary = METRICS.map(({ key, label }) => {
    const points = series(models, key);
    return points.length ? `${label} ${fmt(points[points.length - 1].y)} at ${points[points.length - 1].x} labels` : null;
  }).filter(Boolean).join(", ");
  const chart = svg("svg", { viewBox: `0 0 ${W} ${H}`, role: "img", class: "plot", "data-testid": "plot",
                             "aria-labelledby": "plot-title plot-desc" });
  chart.append(svg("title", { id: "plot-title" }, "Metrics against labels spent"),
               svg("desc", { id: "plot-desc" }, summary || "No metrics yet."));

  const axes = svg("g", { class: "axes" });
  for (const t of [0, 0.25, 0.5, 0.75, 1]) {
    axes.append(svg("line", { x1: M.left, x2: W - M.right, y1: y(t), y2: y(t), class: "gridline" }),
                svg("text", { x: M.left - 6, y: y(t) + 4, "text-anchor": "end" }, t.toFixed(2)));
  }
  for (const t of xTicks) {
    axes.append(svg("line", { x1: x(t), x2: x(t), y1: H - M.bottom, y2: H - M.bottom + 4, class: "tick" }),
                svg("text", { x: x(t), y: H - M.bottom + 16, "text-anchor": "middle" }, String(t)));
  }
  axes.append(svg("line", { x1: M.left, x2: W - M.right, y1: H - M.bottom, y2: H - M.bottom, class: "axis" }),
              svg("line", { x1: M.left, x2: M.left, y1: M.top, y2: H - M.bottom, class: "axis" }),
              svg("text", { x: (M.left + W - M.right) / 2, y: H - 6, "text-anchor": "middle", class: "axis-label" },
                  "labels spent"));
  chart.append(axes);

  for (const { key, label, color } of METRICS) {
    const group = svg("g", { "data-metric": key });
    if (zero && zero[key] !== null && zero[key] !== undefined) {
      group.append(svg("line", { x1: M.left, x2: W - M.right, y1: y(zero[key]), y2: y(zero[key]), stroke: color,
                                 "stroke-dasharray": "6 4", "stroke-opacity": 0.7, class: "zero-shot",
                                 "data-testid": "plot-zero-shot", "data-metric": key }));
    }
    const points = series(models, key);
    if (points.length > 1) {
      group.append(svg("polyline", { points: points.map((p) => `${x(p.x)},${y(p.y)}`).join(" "), fill: "none",
                                     stroke: color, "stroke-width": 2, "data-testid": "plot-line", "data-metric": key }));
    }
    for (const p of points) {
      const dot = svg("circle", { cx: x(p.x), cy: y(p.y), r: 4, fill: color, "data-testid": "plot-point",
                                  "data-metric": key, "data-model": p.model.id });
      dot.append(svg("title", {}, `${label} ${fmt(p.y)} · model v${p.model.number} · ${p.x} labels`));
      group.append(dot);
    }
    chart.append(group);
  }

  const legend = document.createElement("ul");
  legend.className = "legend";
  for (const { label, color } of METRICS) {
    const item = document.createElement("li");
    item.innerHTML = `<span class="swatch" style="background:${color}"></span>`;
    item.append(label);
    legend.append(item);
  }
  if (zero) {
    const item = document.createElement("li");
    item.innerHTML = '<span class="swatch dashed"></span>';
    item.append("zero-shot");
    legend.append(item);
  }
  container.replaceChildren(chart, legend);
}

export function fillTable(table, metrics) {
  const head = ["Model", "Round", "Labels", "AUC-PR", "AUC-ROC", "F1", "Accuracy"];
  const rows = [];
  if (metrics.zero_shot) {
    const z = metrics.zero_shot;
    rows.push(["zero-shot", "–", "0", fmt(z.auc_pr), fmt(z.auc_roc), fmt(z.f1), fmt(z.accuracy)]);
  }
  for (const m of metrics.models || []) {
    rows.push([`v${m.number}`, String(m.round), String(m.labels), fmt(m.auc_pr), fmt(m.auc_roc), fmt(m.f1),
               fmt(m.accuracy)]);
  }
  table.replaceChildren();
  const thead = table.createTHead().insertRow();
  for (const h of head) {
    const th = document.createElement("th");
    th.scope = "col";
    th.textContent = h;
    thead.append(th);
  }
  const body = table.createTBody();
  for (const row of rows) {
    const tr = body.insertRow();
    tr.dataset.testid = "metrics-row";
    for (const cell of row) tr.insertCell().textContent = cell;
  }
}
