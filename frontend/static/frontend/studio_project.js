// The project page of an expert: concepts, pools (with live embedding progress) and
// the form that defines a concept.
import { api, clearFieldErrors, el, EventStream, JobTracker, kindLabel, lines, listAll, myUserId, showFieldError }
  from "./studio_common.js";

const root = document.getElementById("project-page");
const projectId = Number(root.dataset.project);
const status = document.getElementById("status");
const say = (text) => { status.textContent = text; };

async function loadConcepts() {
  const concepts = await listAll(`/api/concepts/?project=${projectId}`);
  const list = document.getElementById("concepts");
  list.replaceChildren(...(concepts.length ? concepts.map(conceptRow)
    : [el("li", { class: "muted" }, "No concepts yet: define one below.")]));
}

function conceptRow(concept) {
  const phrases = [...concept.positive_phrases.map((p) => `+ ${p}`), ...concept.negative_phrases.map((p) => `− ${p}`)];
  return el("li", { "data-testid": "concept", dataset: { concept: concept.id } },
    el("div", { class: "row-main" },
      el("a", { href: `/concepts/${concept.id}/studio/`, "data-testid": "concept-studio-link" }, concept.name),
      el("span", { class: "muted" }, ` by ${concept.owner}`)),
    concept.description ? el("div", { class: "muted" }, concept.description) : null,
    phrases.length ? el("div", { class: "chips" }, phrases.map((p) => el("span", { class: "chip" }, p))) : null);
}

async function loadPools() {
  const pools = await listAll(`/api/pools/?project=${projectId}`);
  const list = document.getElementById("pools");
  list.replaceChildren(...(pools.length ? pools.map((pool) =>
    el("li", { "data-testid": "pool", dataset: { pool: pool.id, status: pool.status } },
      el("div", { class: "row-main" }, el("strong", {}, pool.name),
        el("span", { class: `badge badge-${pool.status}` }, pool.status)),
      el("div", { class: "muted" }, `${pool.item_count} images · ${pool.encoder}`)))
    : [el("li", { class: "muted" }, "No pools yet.")]));
}

let myRoles = [];
const jobs = new JobTracker(document.getElementById("jobs"), {
  acceptAll: true,  // the project page shows every job of the project
  finishedShown: 3,
  mayRetry: (job) => myRoles.includes("manager") || (job.createdBy !== null && job.createdBy === myUserId()),
  onFinished: (job) => {
    say(job.status === "succeeded" ? `${kindLabel(job.kind)}: done.` : `${kindLabel(job.kind)} failed: ${job.error}`);
    loadPools();
  },
});

const embedding = new Set();  // pool statuses change when an embedding job starts and ends
new EventStream(projectId, (event) => {
  jobs.handle(event);
  if (event.event === "job.progress" && event.kind === "embed_pool" && !embedding.has(event.job)) {
    embedding.add(event.job);
    loadPools();
  }
}, (state) => { root.dataset.stream = state; });

async function resumeJobs() {
  const recent = await api("GET", `/api/jobs/?project=${projectId}&limit=20`);
  for (const job of recent.results.reverse()) {
    if (["queued", "running", "failed"].includes(job.status)) jobs.track(job, { quiet: true });
  }
}

const conceptForm = document.getElementById("concept-form");
conceptForm.addEventListener("submit", async (event) => {
  event.preventDefault();
  clearFieldErrors(conceptForm);
  const form = conceptForm.elements;
  const button = conceptForm.querySelector("button[type=submit]");
  button.disabled = true;
  try {
    const concept = await api("POST", "/api/concepts/", {
      project: projectId, name: form.name.value.trim(), description: form.description.value.trim(),
      positive_phrases: lines(form.positive_phrases.value), negative_phrases: lines(form.negative_phrases.value),
    });
    conceptForm.reset();
    say(`Concept “${concept.name}” defined.`);
    await loadConcepts();
    document.querySelector(`[data-concept="${concept.id}"] a`).focus();
  } catch (error) {
    showFieldError(conceptForm, error);
  } finally {
    button.disabled = false;
  }
});

const poolForm = document.getElementById("pool-form");
poolForm.addEventListener("submit", async (event) => {
  event.preventDefault();
  clearFieldErrors(poolForm);
  const form = poolForm.elements;
  try {
    const pool = await api("POST", "/api/pools/", {
      project: projectId, name: form.name.value.trim(), source: form.source.value.trim(),
      encoder: form.encoder.value.trim() || "offline",
    });
    poolForm.reset();
    say(`Pool “${pool.name}” added; embedding its images.`);
    if (pool.job) jobs.track(typeof pool.job === "object" ? pool.job : await api("GET", `/api/jobs/${pool.job}/`));
    await loadPools();
  } catch (error) {
    showFieldError(poolForm, error);
  }
});

(async () => {
  myRoles = (await api("GET", `/api/projects/${projectId}/`)).my_roles || [];
  await Promise.all([loadConcepts(), loadPools(), resumeJobs()]);
})().catch((error) => say(`Could not load the project: ${error.message}`));
