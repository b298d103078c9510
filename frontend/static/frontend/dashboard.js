// The manager's dashboard: shows what the API computed (reports and aggregation.quality);
// it computes no figure of its own. Charts through Chart.js, served from our static files.

import { metricChart } from "./charts.js";
import { BASES, basisLabel } from "./studio_plot.js";
import { api, coalesce, el, EventStream } from "./studio_common.js";

const page = document.getElementById("dashboard-page");
const projectId = Number(page.dataset.project);
const root = document.getElementById("concepts");
const status = document.getElementById("status");

const SOURCES = [
  { key: "expert", label: "Expert", color: "#2f6fed" },
  { key: "crowd", label: "Crowd", color: "#c4320a" },
  { key: "both", label: "Expert + crowd", color: "#12805c" },
];
const num = (v, digits = 3) => (v === null || v === undefined ? "–" : Number(v).toFixed(digits));
const signed = (v) => (v === null || v === undefined ? "–" : `${v >= 0 ? "+" : "−"}${Math.abs(Number(v)).toFixed(3)}`);
const pct = (v) => (v === null || v === undefined ? "–" : `${(100 * v).toFixed(1)} %`);
const interval = (v, lo, hi) => (v === null || v === undefined ? "–" : `${num(v)} [${num(lo)}, ${num(hi)}]`);

function say(text, isError = false) {
  status.textContent = text;
  status.classList.toggle("error", isError);
}

function table(headers, rows, attrs = {}) {
  return el("table", { class: "grid-table compact", ...attrs },
    el("thead", {}, el("tr", {}, headers.map((h) => el("th", { scope: "col" }, h)))),
    el("tbody", {}, rows));
}

// AUC-PR of every model against ``axis`` ("labels" or "cost"), one series per label source.
function drawChart(canvas, models, axis) {
  const series = SOURCES.map((source) => ({
    label: source.label, color: source.color,
    points: (models.groups[source.key] || []).map((m) => ({ x: Number(m[axis]), y: m.auc_pr, low: m.auc_pr_low,
      high: m.auc_pr_high })),
  }));
  const zero = models.zero_shot;
  const chart = metricChart(canvas, { series, baselines: zero ? [{ label: "Zero-shot", color: "#666", y: zero.auc_pr }] : [],
    xTitle: axis === "labels" ? "labels spent" : "cost", yTitle: "AUC-PR (95 % interval)" });
  if (!chart) canvas.replaceWith(el("p", { class: "field-error" }, "The charting library did not load."));
}

function modelsTable(models) {
  const rows = [];
  for (const source of SOURCES) {
    for (const m of models.groups[source.key] || []) {
      rows.push(el("tr", { dataset: { source: source.key, model: m.id }, "data-testid": "model-row" },
        el("td", {}, source.label), el("td", {}, `v${m.number}`), el("td", {}, m.labels),
        el("td", {}, `${m.expert_labels} / ${m.crowd_labels}`), el("td", {}, m.crowd_answers), el("td", {}, m.cost),
        el("td", {}, interval(m.auc_pr, m.auc_pr_low, m.auc_pr_high)),
        el("td", {}, interval(m.auc_roc, m.auc_roc_low, m.auc_roc_high)),
        el("td", {}, el("a", { href: `/api/model-versions/${m.id}/card/`, download: "" }, "card"))));
    }
  }
  if (models.zero_shot) {
    const z = models.zero_shot;
    rows.push(el("tr", { dataset: { source: "zero-shot" } }, el("td", {}, "Zero-shot"), el("td", {}, "–"),
      el("td", {}, 0), el("td", {}, "–"), el("td", {}, "–"), el("td", {}, "0"),
      el("td", {}, interval(z.auc_pr, z.auc_pr_low, z.auc_pr_high)),
      el("td", {}, interval(z.auc_roc, z.auc_roc_low, z.auc_roc_high)), el("td", {}, "")));
  }
  if (!rows.length) rows.push(el("tr", {}, el("td", { colspan: 9, class: "muted" }, "No model yet.")));
  return table(["Labels from", "Model", "Labels", "Expert / crowd", "Crowd answers", "Cost", "AUC-PR", "AUC-ROC", ""],
    rows, { "data-testid": "models-table" });
}

// Every model's metrics by the labels they rest on (the API's ``evaluations``), and the
// crowd's bias (crowd-posterior minus expert) where the expert rated the same sample.

function evaluationsTable(models) {
  const rows = [];
  for (const source of SOURCES) {
    for (const m of models.groups[source.key] || []) {
      const cells = [];
      for (const [basis] of BASES) {
        const e = (m.evaluations || {})[basis];
        cells.push(el("td", {}, e ? interval(e.auc_pr, e.auc_pr_low, e.auc_pr_high) : "–"),
          el("td", {}, e ? interval(e.f1, e.f1_low, e.f1_high) : "–"));
      }
      const bias = m.crowd_bias;
      rows.push(el("tr", { dataset: { source: source.key, model: m.id, evaluatedOn: m.evaluated_on || "" },
                           "data-testid": "evaluation-row" },
        el("td", {}, source.label), el("td", {}, `v${m.number}`),
        el("td", { "data-testid": "evaluation-rests-on" }, m.evaluated_on ? basisLabel(m.evaluated_on) : "–"), ...cells,
        el("td", { "data-testid": "evaluation-crowd-bias" }, bias ? `${signed(bias.auc_pr)} / ${signed(bias.f1)}` : "–")));
    }
  }
  if (!rows.length) rows.push(el("tr", {}, el("td", { colspan: 10, class: "muted" }, "No model yet.")));
  const headers = ["Labels from", "Model", "Rests on"];
  for (const [, label] of BASES) headers.push(`AUC-PR, ${label}`, `F1, ${label}`);
  headers.push("Crowd − expert (AUC-PR / F1)");
  return table(headers, rows, { "data-testid": "evaluations-table" });
}

function crowdBatchesTable(batches) {
  const rows = batches.map((b) => el("tr", { dataset: { batch: b.batch }, "data-testid": "crowd-batch-row" },
    el("td", {}, b.batch), el("td", {}, b.cohort_name || "–"),
    el("td", {}, b.selection === "evaluation" ? "evaluation sample" : b.selection || "–"),
    el("td", {}, `${b.method}, τ ${b.tau}, κ ${b.kappa}, overlap ${b.overlap}`),
    el("td", {}, `${b.done} / ${b.items}`), el("td", {}, b.open), el("td", {}, b.answers),
    el("td", {}, num(b.answers_per_done_item, 2)),
    el("td", {}, `${b.cost} (projected ${b.projected_cost})${b.budget ? `, budget ${b.budget} answers` : ""}`),
    el("td", {}, b.cost_per_confident_label ?? "–"), el("td", {}, b.status)));
  if (!rows.length) rows.push(el("tr", {}, el("td", { colspan: 11, class: "muted" }, "No crowd batch yet.")));
  return table(["Batch", "Cohort", "Items from", "Collection", "Done / items", "Open", "Answers", "Answers per done item",
    "Cost", "Cost per confident label", "Status"], rows);
}

function expertRoundsTable(rounds) {
  const rows = rounds.map((r) => el("tr", {}, el("td", {}, r.batch),
    el("td", {}, r.kind === "evaluation" ? "evaluation set" : `round ${r.round}`), el("td", {}, r.selection),
    el("td", {}, `${r.rated} / ${r.items}`)));
  if (!rows.length) rows.push(el("tr", {}, el("td", { colspan: 4, class: "muted" }, "No expert batch yet.")));
  return table(["Batch", "Round", "Chosen by", "Rated / items"], rows);
}

async function setPaused(skill, paused, button) {
  button.disabled = true;
  try {
    await api("POST", `/api/worker-skills/${skill}/${paused ? "pause" : "resume"}/`);
    say(paused ? "Worker paused." : "Worker resumed.");
    await refresh();
  } catch (error) {
    say(error.message, true);
    button.disabled = false;
  }
}

function workersTable(workers) {
  const rows = workers.map((w) => {
    let action = "";
    if (w.skill && w.status === "paused") {
      action = el("button", { type: "button", class: "secondary", "data-testid": "worker-resume",
        onclick: (e) => setPaused(w.skill, false, e.currentTarget) }, "Resume");
    } else if (w.skill && (w.status === "active" || w.status === "onboarding")) {
      action = el("button", { type: "button", class: "secondary", "data-testid": "worker-pause",
        onclick: (e) => setPaused(w.skill, true, e.currentTarget) }, "Pause");
    }
    return el("tr", { dataset: { username: w.username, status: w.status || "" }, "data-testid": "worker-row" },
      el("td", {}, w.username), el("td", {}, w.cohort_name || "–"),
      el("td", {}, `${interval(w.accuracy, w.accuracy_low, w.accuracy_high)} (${w.gold_correct}/${w.gold_answered})`),
      el("td", {}, w.answers), el("td", {}, num(w.median_seconds, 1)), el("td", {}, pct(w.dont_know_rate)),
      el("td", {}, pct(w.broken_rate)), el("td", {}, pct(w.agreement)),
      el("td", { "data-testid": "worker-status" }, w.status ? `${w.status}${w.paused_by ? ` (${w.paused_by})` : ""}` : "–"),
      el("td", {}, action));
  });
  if (!rows.length) rows.push(el("tr", {}, el("td", { colspan: 10, class: "muted" }, "No crowd worker yet.")));
  return table(["Worker", "Cohort", "Accuracy on golds [95 %]", "Answers", "Median s", "Don't know", "Broken",
    "Agrees with final labels", "Status", ""], rows, { "data-testid": "worker-table" });
}

function cohortsTable(cohorts) {
  const rows = cohorts.map((c) => el("tr", { "data-testid": "cohort-row" }, el("td", {}, c.name),
    el("td", {}, c.workers), el("td", {}, interval(c.accuracy, c.accuracy_low, c.accuracy_high)),
    el("td", {}, c.answers), el("td", {}, num(c.median_seconds, 1)), el("td", {}, pct(c.agreement)),
    el("td", {}, c.cost), el("td", {}, c.cost_per_confident_label ?? "–")));
  if (!rows.length) rows.push(el("tr", {}, el("td", { colspan: 8, class: "muted" }, "No cohort has worked yet.")));
  return table(["Cohort", "Workers", "Accuracy on golds [95 %]", "Answers", "Median s", "Agrees with final labels",
    "Cost", "Cost per confident label"], rows, { "data-testid": "cohort-table" });
}

function agreementTable(batches) {
  const rows = batches.map((b) => el("tr", {}, el("td", {}, b.batch), el("td", {}, b.answers),
    el("td", {}, b.items_pairable), el("td", {}, interval(b.alpha, b.alpha_low, b.alpha_high))));
  if (!rows.length) rows.push(el("tr", {}, el("td", { colspan: 4, class: "muted" }, "No crowd batch yet.")));
  return table(["Batch", "Answers", "Items answered twice or more", "Krippendorff's α [95 % bootstrap]"], rows,
    { "data-testid": "agreement-table" });
}

function disagreementsList(items) {
  if (!items.length) return el("p", { class: "muted" }, "Crowd and expert agree wherever both labelled.");
  return el("ul", { class: "rows", "data-testid": "disagreements" }, items.map((d) => el("li", { dataset: { item: d.item } },
    el("img", { src: `/api/items/${d.item}/image/`, alt: `item ${d.item}`, width: 48, height: 48, loading: "lazy" }),
    ` ${d.key}: expert ${d.expert ? "yes" : "no"}, crowd ${d.crowd ? "yes" : "no"} (P(yes) ${num(d.posterior_yes, 2)}, `,
    `${d.n_answers} answers)`)));
}

function exportLinks(conceptId) {
  const files = [["answers.csv", "Answers (task, worker, label)"], ["labels.csv", "Labels (CSV)"],
    ["labels.jsonl", "Labels (JSONL)"], ["worker-accuracies.csv", "Worker accuracies"]];
  return el("p", { class: "exports" }, files.flatMap(([name, text]) => [el("a", {
    href: `/api/concepts/${conceptId}/exports/${name}`, download: "", class: "button secondary",
    "data-testid": `export-${name.replace(".", "-")}` }, text), " "]));
}

function conceptSection(concept, quality) {
  const labelsCanvas = el("canvas", { id: `chart-labels-${concept.id}`, "data-testid": "chart-labels",
    role: "img", "aria-label": "AUC-PR against labels spent" });
  const costCanvas = el("canvas", { id: `chart-cost-${concept.id}`, "data-testid": "chart-cost",
    role: "img", "aria-label": "AUC-PR against cost" });
  const models = concept.models;
  const evaluation = models.evaluation || {};
  const section = el("section", { class: "card", "data-testid": "dashboard-concept", dataset: { concept: concept.id } },
    el("h2", {}, concept.name, el("span", { class: "muted" }, ` · expert ${concept.owner}`)),
    el("h3", {}, "Expert rounds"), expertRoundsTable(concept.expert_rounds),
    el("h3", {}, "Crowd batches"), crowdBatchesTable(concept.crowd_batches),
    el("h3", {}, "Expert vs crowd"),
    el("p", { class: "muted" }, `On the concept's one expert evaluation set (${evaluation.rated || 0} of `,
      `${evaluation.size || 0} items rated). ${models.note || ""} Expert labels are priced at `,
      `${models.expert_price_per_label} each.`,
      models.missing_sources && models.missing_sources.length
        ? ` No model trained on ${models.missing_sources.join(", ")} labels yet: the expert trains them from the studio.`
        : ""),
    el("div", { class: "columns" },
      el("div", { class: "chart-box" }, labelsCanvas), el("div", { class: "chart-box" }, costCanvas)),
    modelsTable(models),
    el("h3", {}, "Evaluated by expert and crowd"),
    el("p", { class: "muted" }, `The evaluation sample as the expert rated it and as the crowd labelled it `,
      `(${(evaluation.crowd || {}).labelled || 0} of ${(evaluation.crowd || {}).size || 0} items). The crowd's `,
      `posterior estimate counts each item by its P(yes); where both exist, the last column is how far the crowd's `,
      `evaluation is off for this concept.`),
    evaluationsTable(models));
  if (quality) {
    section.append(el("h3", {}, "Crowd quality"), el("h4", {}, "Cohorts"), cohortsTable(quality.cohorts),
      el("h4", {}, "Workers"), workersTable(quality.workers),
      el("h4", {}, "Agreement per batch"), agreementTable(quality.batches),
      el("h4", {}, "Where crowd and expert disagree"), disagreementsList(quality.disagreements));
  }
  section.append(el("h3", {}, "Exports"), exportLinks(concept.id));
  return { section, draw: () => { drawChart(labelsCanvas, models, "labels"); drawChart(costCanvas, models, "cost"); } };
}

async function refresh() {
  const body = await api("GET", `/api/projects/${projectId}/dashboard/`);
  const qualities = await Promise.all(body.concepts.map((c) => api("GET", `/api/concepts/${c.id}/crowd-quality/`)));
  const built = body.concepts.map((c, i) => conceptSection(c, qualities[i]));
  root.replaceChildren(...built.map((b) => b.section));
  if (!built.length) root.append(el("p", { class: "muted" }, "This project has no concept yet."));
  built.forEach((b) => b.draw());
  page.dataset.ready = "1";
}

const refreshSoon = coalesce(async () => {
  try { await refresh(); } catch (error) { say(error.message, true); }
}, 5000);

new EventStream(projectId, (event) => {
  if (event.event && event.event !== "pong") refreshSoon();
}, (state) => { page.dataset.stream = state; });

refresh().catch((error) => say(error.message, true));
