// The studio's metrics chart (Chart.js, via charts.js): x = labels spent, y = metric, one
// series per metric over the model versions with their 95 % intervals, zero-shot dashed.
// Beside the canvas, a visually hidden list names every point for screen readers.

import { metricChart } from "./charts.js";

export const METRICS = [
  { key: "auc_pr", label: "AUC-PR", color: "#2f6fed" },
  { key: "auc_roc", label: "AUC-ROC", color: "#12805c" },
  { key: "f1", label: "F1", color: "#c4320a" },
];

export const fmt = (value) => (value === null || value === undefined ? "–" : Number(value).toFixed(3));

const known = (v) => v !== null && v !== undefined;

export function drawChart(container, metrics) {
  const models = metrics.models || [];
  const zero = metrics.zero_shot || null;
  let canvas = container.querySelector("canvas");
  if (!canvas) {
    const box = document.createElement("div");
    box.className = "chart-box";
    canvas = document.createElement("canvas");
    canvas.setAttribute("role", "img");
    canvas.dataset.testid = "plot";
    box.append(canvas);
    const list = document.createElement("ul");
    list.className = "visually-hidden";
    list.dataset.testid = "plot-points";
    container.replaceChildren(box, list);
  }
  const list = container.querySelector("[data-testid=plot-points]");
  const items = [];
  const series = METRICS.map(({ key, label, color }) => {
    const points = models.filter((m) => known(m[key])).map((m) => {
      const item = document.createElement("li");
      Object.assign(item.dataset, { testid: "plot-point", metric: key, model: m.id });
      item.textContent = `${label} ${fmt(m[key])} · model v${m.number} · ${m.labels} labels`;
      items.push(item);
      return { x: m.labels, y: m[key], low: m[`${key}_low`], high: m[`${key}_high`] };
    });
    return { label, color, points };
  });
  const baselines = [];
  for (const { key, label, color } of METRICS) {
    if (zero && known(zero[key])) {
      baselines.push({ label: `${label} zero-shot`, color, y: zero[key] });
      const item = document.createElement("li");
      Object.assign(item.dataset, { testid: "plot-zero-shot", metric: key });
      item.textContent = `${label} zero-shot ${fmt(zero[key])}`;
      items.push(item);
    }
  }
  list.replaceChildren(...items);
  canvas.setAttribute("aria-label", items.length ? `Metrics against labels spent: ${items.length} points`
    : "Metrics against labels spent: no metrics yet.");
  if (!metricChart(canvas, { series, baselines, xTitle: "labels spent", yTitle: "metric (95 % interval)" })) {
    container.querySelector(".chart-box").replaceChildren("The charting library did not load.");
  }
}

// The labels a metric rests on (the API's ``evaluated_on`` and the keys of ``evaluations``),
// named as the dashboard names them.
export const BASES = [["expert", "expert"], ["crowd-hard", "crowd (hard labels)"], ["crowd-posterior", "crowd (posteriors)"]];
export const basisLabel = (key) => (BASES.find(([k]) => k === key) || [key, key || "–"])[1];

const signed = (v) => (known(v) ? `${v >= 0 ? "+" : "−"}${Math.abs(Number(v)).toFixed(3)}` : "–");
const withInterval = (e, key) => (e && known(e[key]) ? `${fmt(e[key])} [${fmt(e[`${key}_low`])}, ${fmt(e[`${key}_high`])}]` : "–");

// One row per model (and zero-shot): its metrics, the labels they rest on, and, where the
// expert and the crowd both evaluated it, the crowd's estimate beside and the difference.
export function fillTable(table, metrics) {
  const models = [];
  if (metrics.zero_shot) models.push({ ...metrics.zero_shot, name: "zero-shot", round: "–", labels: 0 });
  for (const m of metrics.models || []) models.push({ ...m, name: `v${m.number}` });
  const both = models.some((m) => m.crowd_bias);
  const head = ["Model", "Round", "Labels", "AUC-PR", "AUC-ROC", "F1", "Accuracy", "Rests on"];
  if (both) head.push("AUC-PR, crowd (posteriors)", "F1, crowd (posteriors)", "Crowd − expert (AUC-PR / F1)");
  table.replaceChildren();
  const thead = table.createTHead().insertRow();
  for (const h of head) {
    const th = document.createElement("th");
    th.scope = "col";
    th.textContent = h;
    thead.append(th);
  }
  const body = table.createTBody();
  for (const m of models) {
    const tr = body.insertRow();
    tr.dataset.testid = "metrics-row";
    tr.dataset.model = m.name;
    tr.dataset.evaluatedOn = m.evaluated_on || "";
    const cell = (text, testid) => {
      const td = tr.insertCell();
      td.textContent = text;
      if (testid) td.dataset.testid = testid;
    };
    for (const text of [m.name, String(m.round), String(m.labels), fmt(m.auc_pr), fmt(m.auc_roc), fmt(m.f1),
      fmt(m.accuracy)]) cell(text);
    cell(m.evaluated_on ? basisLabel(m.evaluated_on) : "–", "metrics-rests-on");
    if (!both) continue;
    const crowd = m.crowd_bias ? (m.evaluations || {})["crowd-posterior"] : null;
    cell(withInterval(crowd, "auc_pr"), "metrics-crowd-auc-pr");
    cell(withInterval(crowd, "f1"), "metrics-crowd-f1");
    cell(m.crowd_bias ? `${signed(m.crowd_bias.auc_pr)} / ${signed(m.crowd_bias.f1)}` : "–", "metrics-crowd-bias");
  }
}
