// The studio's "send to the crowd" form and the concept's crowd batches: live progress
// (done / items, answers spent, budget left, cost: all computed by the API) and a view of
// one batch's items with their aggregated label, P(yes) and answers.
import { api, clearFieldErrors, el, listAll, showFieldError } from "./studio_common.js";
import { sized } from "./crowd_task.js";

const POLL_MS = 15000;  // answers are spent between item_done events: refresh the figures now and then
const $ = (id) => document.getElementById(id);

function fmtP(value) {
  return value === null || value === undefined ? "–" : Number(value).toFixed(3);
}

function parseIds(text) {
  return text.split(/[\s,;]+/).filter(Boolean).map(Number);
}

export class CrowdBatches {
  constructor({ panel, conceptId, projectId, say, template }) {
    Object.assign(this, { panel, conceptId, projectId, say, template });
    this.form = $("send-form");
    this.collections = [];
    this.cohorts = new Map();
    this.viewed = null;     // the batch whose items are shown
    this.timer = null;
    if (this.form) this.wireForm();
    setInterval(() => this.poll(), POLL_MS);
  }

  async load() {
    const cohorts = await listAll(`/api/cohorts/?project=${this.projectId}`);
    this.cohorts = new Map(cohorts.map((c) => [c.id, c]));
    if (this.form) await Promise.all([this.fillSources(cohorts), this.loadAssessments()]);
    await this.loadCollections();
  }

  // ---- the form ----------------------------------------------------------------------
  wireForm() {
    const form = this.form;
    form.elements.source.addEventListener("change", () => this.showSource());
    // A setting whose default depends on the source (the initial overlap: 2 for the
    // evaluation sample) follows the source until the person edits it.
    for (const input of form.querySelectorAll("[data-by-source]")) {
      input.addEventListener("input", () => { input.dataset.edited = "1"; });
    }
    form.addEventListener("submit", (event) => this.send(event));
    $("gold-build").addEventListener("click", () => this.buildGold());
    this.showSource();
  }

  showSource() {
    const source = this.form.elements.source.value;
    for (const label of this.form.querySelectorAll("[data-source]")) {
      label.hidden = !label.dataset.source.split(" ").includes(source);
    }
    for (const input of this.form.querySelectorAll("[data-by-source]")) {
      const defaults = JSON.parse(input.dataset.bySource);
      if (!input.dataset.edited && source in defaults) input.value = String(defaults[source]);
    }
  }

  async fillSources(cohorts) {
    const [batches, pools] = await Promise.all([
      listAll(`/api/batches/?concept=${this.conceptId}`), listAll(`/api/pools/?project=${this.projectId}`)]);
    const elements = this.form.elements;
    elements.cohort.replaceChildren(...(cohorts.length
      ? cohorts.map((c) => el("option", { value: c.id }, `${c.name} · ${c.workers.length} workers`))
      : [el("option", { value: "" }, "no cohort yet: a manager makes one")]));
    const rounds = batches.filter((b) => b.kind === "expert_rating").reverse();
    elements.batch.replaceChildren(...(rounds.length
      ? rounds.map((b) => el("option", { value: b.id }, `Round ${b.round} · #${b.id} · ${b.assignment_count} images`))
      : [el("option", { value: "" }, "no round yet")]));
    const ready = pools.filter((p) => p.status === "ready");
    elements.pool.replaceChildren(...ready.map((p) => el("option", { value: p.id }, `${p.name} · ${p.item_count} images`)));
  }

  async loadAssessments(selected) {
    const sets = await listAll(`/api/assessment-sets/?concept=${this.conceptId}`);
    const select = this.form.elements.assessment_set;
    const keep = selected ?? select.value;
    select.replaceChildren(el("option", { value: "" }, "the one attached to the cohort"),
      ...[...sets].reverse().map((s) => {
        const yes = s.items.filter((i) => i.expected).length;
        return el("option", { value: s.id }, `${s.name} · ${s.items.length} items (${yes} yes)`);
      }));
    select.value = sets.some((s) => String(s.id) === String(keep)) ? String(keep)
      : sets.length ? String(sets[sets.length - 1].id) : "";
  }

  async buildGold() {
    const elements = this.form.elements;
    clearFieldErrors(this.form);
    const button = $("gold-build");
    button.disabled = true;
    try {
      const built = await api("POST", "/api/assessment-sets/build/", {
        concept: this.conceptId, name: elements.gold_name.value.trim(), size: Number(elements.gold_size.value) });
      await this.loadAssessments(built.id);
      this.say(`Assessment set “${built.name}” built: ${built.items.length} of your labels.`);
    } catch (error) {
      const field = { size: "gold_size", name: "gold_size" }[error.field] || "assessment_set";
      showFieldError(this.form, Object.assign(error, { field }));
    } finally {
      button.disabled = false;
    }
  }

  body() {
    const elements = this.form.elements;
    const source = elements.source.value;
    const body = { cohort: Number(elements.cohort.value) || null, source };
    if (source === "batch") body.batch = Number(elements.batch.value) || null;
    if (source === "uncertain" || source === "random") {
      body.pool = Number(elements.pool.value) || null;
      body.size = Number(elements.size.value);
    }
    if (source === "evaluation") {
      body.pool = Number(elements.pool.value) || null;
      body.k = Number(elements.k.value);
    }
    if (source === "items") body.items = parseIds(elements.items.value);
    if (elements.assessment_set.value) body.assessment_set = Number(elements.assessment_set.value);
    const template = this.template();
    if (template) body.template = template;
    for (const input of this.form.querySelectorAll("#send-settings [name]")) {
      const value = input.value.trim();
      if (input.tagName === "SELECT") body[input.name] = value;
      else if (value === "") { if (input.dataset.optional) body[input.name] = null; }
      else body[input.name] = input.name === "price" ? value : Number(value);
    }
    return body;
  }

  async send(event) {
    event.preventDefault();
    clearFieldErrors(this.form);
    const button = this.form.querySelector("button[type=submit]");
    button.disabled = true;
    try {
      const collection = await api("POST", `/api/concepts/${this.conceptId}/crowd-batches/`, this.body());
      const cohort = this.cohorts.get(collection.cohort);
      this.say(`Sent ${collection.progress.items} images to ${cohort ? cohort.name : "the crowd"} as batch #${collection.batch}.`);
      await this.loadCollections();
    } catch (error) {
      showFieldError(this.form, error);
    } finally {
      button.disabled = false;
    }
  }

  // ---- the batches -------------------------------------------------------------------
  async loadCollections() {
    this.collections = await listAll(`/api/collections/?concept=${this.conceptId}`);
    this.renderCollections();
    if (this.viewed && this.collections.some((c) => c.batch === this.viewed)) await this.showItems(this.viewed);
  }

  renderCollections() {
    const body = $("crowd-batches").tBodies[0];
    if (!this.collections.length) {
      body.replaceChildren(el("tr", {}, el("td", { colspan: 9, class: "muted" }, "No crowd batch yet.")));
      return;
    }
    body.replaceChildren(...[...this.collections].reverse().map((c) => {
      const p = c.progress;
      const cohort = this.cohorts.get(c.cohort);
      return el("tr", { "data-testid": "crowd-batch-row", dataset: { batch: c.batch, done: p.done, items: p.items,
                                                                       status: c.status } },
        el("td", {}, `#${c.batch}`),
        el("td", {}, cohort ? cohort.name : "–"),
        el("td", { "data-testid": "crowd-batch-collection" },
          `${c.method} · τ ${c.tau} · κ ${c.kappa} · overlap ${c.overlap}`),
        el("td", {}, el("progress", { max: Math.max(1, p.items), value: p.done, "aria-label": `Batch ${c.batch}: done` }),
          ` ${p.done} / ${p.items}`),
        el("td", { "data-testid": "crowd-batch-answers" }, `${p.work_answers}`,
          p.gold_answers ? el("span", { class: "muted" }, ` + ${p.gold_answers} gold`) : null),
        el("td", {}, p.budget_left === null ? "no limit" : `${p.budget_left} of ${p.budget}`),
        el("td", { "data-testid": "crowd-batch-cost" }, p.cost),
        el("td", {}, c.status),
        el("td", {}, el("button", { type: "button", class: "secondary small", "data-testid": "crowd-batch-open",
                                    "aria-expanded": this.viewed === c.batch ? "true" : "false",
                                    onclick: () => this.toggleItems(c.batch) }, "Items")));
    }));
  }

  async toggleItems(batch) {
    if (this.viewed === batch) {
      this.viewed = null;
      $("crowd-batch-view").hidden = true;
      this.renderCollections();
      return;
    }
    this.viewed = batch;
    this.renderCollections();
    await this.showItems(batch);
  }

  // Items of a batch: its decided items (the newest decision of each: label, P(yes),
  // answers, why) and the items leased so far with their answers.
  async showItems(batch) {
    const collection = this.collections.find((c) => c.batch === batch);
    const [decisions, assignments, info] = await Promise.all([
      listAll(`/api/decisions/?batch=${batch}&limit=500`), listAll(`/api/assignments/?batch=${batch}&limit=500`),
      api("GET", `/api/batches/${batch}/`)]);
    const gold = new Set();
    if (info.assessment_set) {
      const set = await api("GET", `/api/assessment-sets/${info.assessment_set}/`);
      for (const entry of set.items) gold.add(entry.item);
    }
    const rows = new Map();
    const row = (item) => rows.get(item) || rows.set(item, { item, answered: 0, decision: null }).get(item);
    for (const a of assignments) if (a.status === "answered") row(a.item).answered += 1; else row(a.item);
    for (const d of decisions) row(d.item).decision = d;  // oldest first: the newest stays
    const items = [...rows.values()].sort((a, b) => (gold.has(a.item) - gold.has(b.item)) || a.item - b.item);
    const asked = items.filter((r) => !gold.has(r.item)).length;
    const view = $("crowd-batch-view");
    view.hidden = false;
    view.dataset.batch = batch;
    view.replaceChildren(
      el("h4", {}, `Batch #${batch}: items`),
      el("p", { class: "muted small-text" }, `${collection.progress.done} of ${collection.progress.items} done · `,
        `${Math.max(0, collection.progress.items - asked)} not asked yet · ${collection.progress.leases_held} leases held now`),
      el("div", { class: "table-wrap" }, el("table", { class: "grid-table compact", "data-testid": "crowd-items" },
        el("thead", {}, el("tr", {}, ["", "Item", "Status", "Label", "P(yes)", "Answers"].map((h) => el("th", {}, h)))),
        el("tbody", {}, items.map((r) => this.itemRow(r, gold.has(r.item)))))));
  }

  itemRow(r, isGold) {
    const d = r.decision;
    const done = d && d.reason !== "open";
    const label = d && d.value !== null ? (d.value ? "yes" : "no") : null;
    const status = isGold ? "gold" : done ? `done (${d.reason})` : "open";
    return el("tr", { "data-testid": "crowd-item", dataset: { item: r.item, label: label || "", status: isGold ? "gold" : done ? "done" : "open" } },
      el("td", {}, el("img", { src: sized(`/api/items/${r.item}/image/`, 128), alt: "", loading: "lazy" })),
      el("td", {}, String(r.item)),
      el("td", {}, status),
      el("td", { "data-testid": "crowd-item-label" }, label ? el("span", { class: `label-${label}` }, label) : "–"),
      el("td", { "data-testid": "crowd-item-p" }, fmtP(d && d.posterior_yes)),
      el("td", { "data-testid": "crowd-item-answers" }, String(d ? d.n_answers : r.answered)));
  }

  // ---- live --------------------------------------------------------------------------
  handle(event) {
    const ours = event.event === "crowd.item_done" && this.collections.some((c) => c.batch === event.batch);
    const fresh = event.event === "batch.created" && event.kind === "crowd" && event.concept === this.conceptId;
    if (!ours && !fresh) return;
    clearTimeout(this.timer);  // a burst of events reloads once
    this.timer = setTimeout(() => this.loadCollections().catch(() => {}), 300);
  }

  poll() {
    if (this.collections.some((c) => c.status === "open")) this.loadCollections().catch(() => {});
  }
}
