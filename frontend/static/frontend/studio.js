// The expert studio: rate one image at a time (or a grid page), train, run active-learning
// rounds, build the evaluation set, and watch jobs and metrics live.
// Keys: J or ← = no, K or → = yes, U = undo, Space = skip; in grid mode arrows move,
// Space toggles, K/J set yes/no, Enter submits the page.
import {
  api, ApiError, coalesce, el, EventStream, isNetworkError, JobTracker, keepPreloaded, kindLabel, listAll, myUserId,
  serialQueue, sleep, uuid,
} from "./studio_common.js";
import { drawChart, fillTable, fmt } from "./studio_plot.js";

const root = document.getElementById("studio");
const conceptId = Number(root.dataset.concept);
const projectId = Number(root.dataset.project);
const $ = (id) => document.getElementById(id);
const stage = $("stage");
const PRELOAD = 5;
const GRID_SIZE = 16;
const HISTORY_SHOWN = 14;
const RATED_KINDS = new Set(["expert_rating", "evaluation"]);

const state = {
  pools: [],
  batches: [],
  batch: null,
  queue: [],          // open assignments of the current batch; the first is on screen
  history: [],        // rated entries, newest last
  counts: { yes: 0, no: 0 },
  mode: "single",
  shownAt: performance.now(),
  grid: [],           // the grid page: [{assignment, yes}]
  gridFocus: 0,
  preloaded: new Map(),
  pending: 0,
  loadToken: 0,
  target: null,       // the batch open or being opened
  canWrite: false,    // may this person work the concept (the API's can_write): else the page only shows
  roles: [],          // their roles in the project
  evaluation: null,   // the evaluation set's progress, from the last metrics
};

// Every control that changes the concept's work: shown to whoever may use it (the API's
// rule, labeling.permissions), never offered to be refused with a 403.
const EXPERT_CONTROLS = ["btn-expand", "btn-train", "btn-train-missing", "btn-round", "btn-eval", "batch-size", "strategy", "eval-k",
                         "btn-no", "btn-yes", "btn-skip", "btn-undo", "grid-submit"];

function applyRole() {
  root.dataset.canWrite = state.canWrite ? "1" : "0";
  for (const id of EXPERT_CONTROLS) {
    const control = $(id);
    const holder = control.closest(".inline-row, .actions, .answer-buttons") || control.closest("label") || control;
    holder.hidden = !state.canWrite;
    control.disabled = !state.canWrite;
  }
  $("view-only").hidden = state.canWrite;
}

// ---- status line ---------------------------------------------------------------------
function say(text, isError = false) {
  const line = $("status");
  line.textContent = text;
  line.classList.toggle("error", isError);
}

// ---- pools and batches ---------------------------------------------------------------
async function loadPools() {
  state.pools = await listAll(`/api/pools/?project=${projectId}`);
  const select = $("pool-select");
  const chosen = select.value;
  select.replaceChildren(...state.pools.map((pool) =>
    el("option", { value: pool.id, disabled: pool.status !== "ready" },
       `${pool.name} · ${pool.item_count} images${pool.status === "ready" ? "" : ` (${pool.status})`}`)));
  const ready = state.pools.filter((pool) => pool.status === "ready");
  if (chosen && ready.some((pool) => String(pool.id) === chosen)) select.value = chosen;
  else if (ready.length) select.value = String(ready[0].id);
  if (!ready.length) say("No ready pool in this project yet: add one on the project page.");
}

function batchLabel(batch) {
  const what = batch.kind === "evaluation" ? "Evaluation" : `Round ${batch.round}`;
  return `#${batch.id} · ${what} · ${batch.assignment_count} images`;
}

async function loadBatches() {
  const batches = await listAll(`/api/batches/?concept=${conceptId}`);
  state.batches = batches.filter((batch) => RATED_KINDS.has(batch.kind));
  const select = $("batch-select");
  select.replaceChildren(...(state.batches.length
    ? [...state.batches].reverse().map((b) => el("option", { value: b.id, dataset: { kind: b.kind } }, batchLabel(b)))
    : [el("option", { value: "" }, "none yet: find images")]));
  if (state.batch) select.value = String(state.batch.id);
}

async function openBatch(batchId, { focus = true } = {}) {
  const batch = state.batches.find((b) => b.id === Number(batchId));
  // A job's result and its batch.created event both ask for the new batch: open it once.
  if (!batch || state.target === batch.id) return;
  state.target = batch.id;
  const token = ++state.loadToken;
  state.batch = batch;
  $("batch-select").value = String(batch.id);
  root.dataset.batch = batch.id;
  root.dataset.batchKind = batch.kind;
  root.dataset.round = batch.round;
  const kind = $("batch-kind");
  kind.textContent = batch.kind === "evaluation" ? "evaluation" : `round ${batch.round}`;
  kind.className = `badge ${batch.kind === "evaluation" ? "badge-evaluation" : "badge-round"}`;
  const open = await listAll(`/api/assignments/?batch=${batch.id}&mine=1&status=open&limit=500`);
  if (token !== state.loadToken) return;  // another batch was chosen meanwhile
  // Ratings still on their way to the server are not open any more.
  const rated = new Set(state.history.filter((e) => e.batch === batch.id && !e.error).map((e) => e.assignment.id));
  const queue = open.filter((assignment) => !rated.has(assignment.id));
  state.queue = queue;
  state.counts = { yes: 0, no: 0 };
  state.grid = [];
  state.shownAt = performance.now();
  root.dataset.loaded = batch.id;
  render();
  say(batch.kind === "evaluation"
    ? `Evaluation set: ${queue.length} images to rate. These labels only measure the models.`
    : `Round ${batch.round}: ${queue.length} images to rate.`);
  if (focus) focusStage();
}

function focusStage() {
  if (state.mode === "grid" && state.grid.length) focusTile(state.gridFocus);
  else stage.focus({ preventScroll: true });
}

// ---- rendering -----------------------------------------------------------------------
function render() {
  $("count-yes").textContent = state.counts.yes;
  $("count-no").textContent = state.counts.no;
  $("count-left").textContent = state.queue.length;
  root.dataset.left = state.queue.length;
  const empty = state.queue.length === 0;
  $("empty").hidden = !empty;
  $("empty").textContent = emptyMessage();
  $("single").hidden = empty || state.mode !== "single";
  $("grid").hidden = empty || state.mode !== "grid";
  if (state.mode === "single") renderSingle();
  else renderGrid();
  renderHistory();
  preload();
}

function emptyMessage() {
  if (!state.batch) {
    return state.canWrite ? "No batch yet. Pick a pool and press “Find images”." : "No batch yet.";
  }
  if (!state.canWrite) return "Nothing for you to rate here: the concept's owner rates its batches.";
  if (state.batch.kind !== "evaluation") return "Everything in this batch is rated. Train, then run the next round.";
  const progress = state.evaluation;
  if (progress && progress.batch === state.batch.id && progress.rated < progress.size) {
    // Our ratings are still on their way, or part of the set is someone else's to rate.
    return `Nothing left to rate here; ${progress.rated} of ${progress.size} ratings stored so far.`;
  }
  return "Evaluation set rated. The metrics are on the right.";
}

function renderSingle() {
  const img = $("current-image");
  const current = state.queue[0];
  if (!current) {
    img.hidden = true;
    img.removeAttribute("src");
    delete root.dataset.current;
    delete root.dataset.item;
    return;
  }
  if (root.dataset.current !== String(current.id)) {
    img.src = current.image_url;
    img.alt = `Image ${current.item} to rate`;
    state.shownAt = performance.now();
  }
  img.hidden = false;
  root.dataset.current = current.id;
  root.dataset.item = current.item;
  $("current-caption").textContent = `Does this image show “${root.dataset.conceptName}”?`;
}

function renderGrid() {
  if (!state.grid.length && state.queue.length) buildGridPage();
  const tiles = state.grid.map((tile, index) =>
    el("button", { type: "button", class: `tile ${tile.yes ? "yes" : "no"}`, "aria-pressed": tile.yes ? "true" : "false",
                   tabindex: index === state.gridFocus ? 0 : -1, "data-testid": "grid-tile",
                   dataset: { assignment: tile.assignment.id, item: tile.assignment.item, index },
                   "aria-label": `Image ${index + 1}: ${tile.yes ? "yes" : "no"}`,
                   onclick: () => { state.gridFocus = index; flip(index); } },
      el("img", { src: tile.assignment.image_url, alt: "", loading: "eager" }),
      el("span", { class: "tile-mark", "aria-hidden": "true" }, tile.yes ? "✓ yes" : "✗ no")));
  $("grid-tiles").replaceChildren(...tiles);
}

function buildGridPage() {
  const flags = new Map(state.grid.map((tile) => [tile.assignment.id, tile.yes]));
  state.grid = state.queue.slice(0, GRID_SIZE).map((assignment) => ({ assignment, yes: flags.get(assignment.id) || false }));
  state.gridFocus = Math.min(state.gridFocus, Math.max(0, state.grid.length - 1));
  state.shownAt = performance.now();
}

function renderHistory() {
  const shown = state.history.slice(-HISTORY_SHOWN);
  $("history").replaceChildren(...shown.map((entry, index) =>
    el("li", { class: `hist ${entry.value}${entry.saved ? "" : " saving"}${entry.error ? " failed" : ""}`,
               "data-testid": "history-item", dataset: { value: entry.value, assignment: entry.assignment.id },
               title: entry.error ? `Not saved: ${entry.error}` : `${entry.value}${index === shown.length - 1 ? " (U to undo)" : ""}` },
      el("img", { src: entry.assignment.image_url, alt: "" }),
      el("span", { class: "hist-mark" }, entry.value === "yes" ? "✓" : "✗"),
      el("span", { class: "visually-hidden" }, entry.value))));
  root.dataset.pending = state.pending;
}

// Keep the next images loading so rating never waits on the network.
function preload() {
  const upcoming = state.mode === "grid" ? state.queue.slice(GRID_SIZE, 2 * GRID_SIZE) : state.queue.slice(1, 1 + PRELOAD);
  keepPreloaded(state.preloaded, upcoming.map((a) => a.image_url));
}

// ---- answers -------------------------------------------------------------------------
const enqueue = serialQueue();  // answers and retractions are sent in order

function record(assignment, value, seconds) {
  const entry = { assignment, value, seconds, clientId: uuid(), batch: state.batch.id, saved: false, answer: null };
  state.pending += 1;
  entry.promise = enqueue(() => submit(entry));
  state.history.push(entry);
  state.counts[value] += 1;
}

// POST until it is stored. A network failure retries with the same client_id, so the
// server stores the answer once however many times the request is sent.
async function submit(entry) {
  let delay = 500;
  try {
    for (;;) {
      try {
        entry.answer = await api("POST", "/api/answers/", {
          assignment: entry.assignment.id, value: entry.value, client_id: entry.clientId,
          seconds: Math.min(86400, Math.round(entry.seconds * 100) / 100),
        });
        entry.saved = true;
        if (delay > 500) {
          root.dataset.reconnected = String(Number(root.dataset.reconnected || 0) + 1);
          say("Connection back: the ratings made meanwhile are saved.");
        }
        return entry.answer;
      } catch (error) {
        if (!isNetworkError(error)) {
          entry.error = error.message;
          say(`Could not save a rating: ${error.message}`, true);
          return null;
        }
        say("Connection lost: ratings are kept and will be sent when it is back.", true);
        await sleep(delay);
        delay = Math.min(delay * 2, 10000);
      }
    }
  } finally {
    state.pending -= 1;
    renderHistory();
    // The evaluation set just got its last rating: the metrics can now be computed.
    if (!state.pending && !state.queue.length && state.batch && state.batch.kind === "evaluation"
        && entry.batch === state.batch.id) refreshMetrics();
  }
}

function rate(value) {
  const assignment = state.queue.shift();
  if (!assignment) return;
  record(assignment, value, (performance.now() - state.shownAt) / 1000);
  render();
  if (!state.queue.length) say("Batch done. Train a model, or run the next round.");
}

function skip() {
  if (state.queue.length < 2) return;
  state.queue.push(state.queue.shift());
  render();
  say("Skipped: it comes back at the end.");
}

function undo() {
  const entry = state.history.pop();
  if (!entry) {
    say("Nothing to undo.");
    return;
  }
  // Back on screen at once; the retraction follows the answer it undoes.
  const here = state.batch && entry.batch === state.batch.id;
  if (here) {
    state.queue.unshift(entry.assignment);
    state.counts[entry.value] -= 1;
    state.grid = state.grid.filter((tile) => tile.assignment.id !== entry.assignment.id);
    if (state.mode === "grid") {
      state.grid.unshift({ assignment: entry.assignment, yes: entry.value === "yes" });
      state.grid = state.grid.slice(0, GRID_SIZE);
    }
  }
  render();
  say(`Undone: ${entry.value}.`);
  enqueue(async () => {
    const answer = await entry.promise;
    if (!answer) return;
    try {
      await api("POST", `/api/answers/${answer.id}/retract/`);
    } catch (error) {
      if (here) {
        state.queue = state.queue.filter((a) => a.id !== entry.assignment.id);
        state.grid = state.grid.filter((tile) => tile.assignment.id !== entry.assignment.id);
        state.counts[entry.value] += 1;
      }
      state.history.push(entry);
      render();
      say(`Could not undo: ${error.message}`, true);
    }
  });
}

// ---- grid mode -----------------------------------------------------------------------
function focusTile(index) {
  state.gridFocus = Math.max(0, Math.min(index, state.grid.length - 1));
  const tiles = $("grid-tiles").querySelectorAll(".tile");
  tiles.forEach((tile, i) => tile.setAttribute("tabindex", i === state.gridFocus ? "0" : "-1"));
  if (tiles[state.gridFocus]) tiles[state.gridFocus].focus({ preventScroll: false });
}

function flip(index, value) {
  const tile = state.grid[index];
  if (!tile) return;
  tile.yes = value === undefined ? !tile.yes : value;
  renderGrid();
  focusTile(index);
}

function gridColumns() {
  const tiles = [...$("grid-tiles").querySelectorAll(".tile")];
  if (!tiles.length) return 1;
  const top = tiles[0].offsetTop;
  return Math.max(1, tiles.filter((tile) => tile.offsetTop === top).length);
}

function submitPage() {
  if (!state.grid.length) return;
  const seconds = (performance.now() - state.shownAt) / 1000 / state.grid.length;
  const ids = new Set(state.grid.map((tile) => tile.assignment.id));
  for (const tile of state.grid) record(tile.assignment, tile.yes ? "yes" : "no", seconds);
  const yes = state.grid.filter((tile) => tile.yes).length;
  state.queue = state.queue.filter((a) => !ids.has(a.id));
  say(`Page submitted: ${yes} yes, ${ids.size - yes} no.`);
  state.grid = [];
  state.gridFocus = 0;
  render();
  focusStage();
}

function setMode(mode) {
  state.mode = mode;
  $("mode-single").setAttribute("aria-pressed", String(mode === "single"));
  $("mode-grid").setAttribute("aria-pressed", String(mode === "grid"));
  root.dataset.mode = mode;
  state.grid = [];
  state.gridFocus = 0;
  delete root.dataset.current;
  render();
  focusStage();
}

// ---- keyboard ------------------------------------------------------------------------
const SINGLE_KEYS = { j: "no", arrowleft: "no", k: "yes", arrowright: "yes", u: "undo", " ": "skip" };

document.addEventListener("keydown", (event) => {
  if (!state.canWrite) return;  // a viewer has nothing to rate
  if (event.defaultPrevented || event.ctrlKey || event.metaKey || event.altKey) return;
  const target = event.target;
  if (target.closest && target.closest("input, textarea, select, [contenteditable=true]")) return;
  const key = event.key.toLowerCase();
  const onStage = target === document.body || target === stage || target.classList.contains("tile");
  // Space and Enter keep their usual meaning on buttons and links outside the rating area.
  if ((key === " " || key === "enter") && !onStage) return;
  if (state.mode === "grid") gridKey(event, key);
  else singleKey(event, key);
});

function singleKey(event, key) {
  const action = SINGLE_KEYS[key];
  if (!action) return;
  event.preventDefault();
  if (event.repeat && action !== "skip") return;
  if (!stage.contains(document.activeElement)) stage.focus({ preventScroll: true });
  if (action === "undo") undo();
  else if (action === "skip") skip();
  else rate(action);
}

function gridKey(event, key) {
  const moves = { arrowleft: -1, arrowright: 1, arrowup: -gridColumns(), arrowdown: gridColumns() };
  if (key in moves) {
    event.preventDefault();
    focusTile(state.gridFocus + moves[key]);
  } else if (key === " ") {
    event.preventDefault();
    flip(state.gridFocus);
  } else if (key === "k" || key === "j") {
    event.preventDefault();
    flip(state.gridFocus, key === "k");
  } else if (key === "enter") {
    event.preventDefault();
    submitPage();
  } else if (key === "u") {
    event.preventDefault();
    undo();
    focusStage();
  }
}

// ---- jobs ----------------------------------------------------------------------------
const jobs = new JobTracker($("jobs"), {
  onFinished: jobFinished,
  mayRetry: (job) => state.roles.includes("manager") || (job.createdBy !== null && job.createdBy === myUserId()),
});

async function startJob(button, path, body, waiting) {
  const pool = Number($("pool-select").value);
  if (!pool) {
    say("Choose a ready pool first.", true);
    return;
  }
  button.disabled = true;
  try {
    const job = await api("POST", `/api/concepts/${conceptId}/${path}/`, { pool, ...body });
    jobs.track(job);
    say(`${waiting} (job ${job.id})`);
  } catch (error) {
    say(error instanceof ApiError ? error.message : `Network error: ${error.message}`, true);
  } finally {
    button.disabled = false;
  }
}

async function jobFinished(job) {
  if (job.status !== "succeeded") {
    say(`${kindLabel(job.kind)} failed: ${job.error || "unknown error"}. Use Retry in the job list.`, true);
    return;
  }
  say(`${kindLabel(job.kind)}: done.${job.message ? ` ${job.message}` : ""}`);
  const batchId = job.result && job.result.batch;
  if (batchId) {
    await loadBatches();
    await openBatch(batchId);
  }
  await loadMetrics();
}

async function onEvent(event) {
  root.dispatchEvent(new CustomEvent("project-event", { detail: event }));  // for the crowd panel
  jobs.handle(event);
  root.dispatchEvent(new CustomEvent("studio:event", { detail: event }));  // for page modules (studio_genmqd.js)
  if (event.event === "job.finished" && event.kind === "embed_pool") await loadPools();
  if (event.concept !== conceptId) return;
  if (event.event === "batch.created" && RATED_KINDS.has(event.kind)) {
    await loadBatches();
    // Someone else's new batch waits in the list unless nothing is left to rate here.
    if (!state.queue.length) await openBatch(event.batch);
  } else if (event.event === "metrics.updated") {
    refreshMetrics();  // one per evaluation answer: coalesced into at most one fetch a second
  }
}

// Jobs of this concept still running from an earlier visit keep their progress bar here.
async function resumeJobs() {
  const recent = await api("GET", `/api/jobs/?project=${projectId}&limit=20`);
  for (const job of recent.results) {
    if (job.params && job.params.concept === conceptId && ["queued", "running"].includes(job.status)) jobs.track(job);
  }
}

// ---- metrics and models --------------------------------------------------------------
async function loadMetrics() {
  let metrics;
  try {
    const pool = $("pool-select").value;
    metrics = await api("GET", `/api/concepts/${conceptId}/metrics/${pool ? `?pool=${pool}` : ""}`);
  } catch (error) {
    $("metrics-note").textContent = `Metrics unavailable: ${error.message}`;
    $("metrics-note").hidden = false;
    return;
  }
  const strategy = $("strategy");
  const chosen = strategy.value;
  if (metrics.strategies && metrics.strategies.length) {
    strategy.replaceChildren(...metrics.strategies.map((s) => el("option", { value: s }, s)));
    strategy.value = metrics.strategies.includes(chosen) ? chosen : metrics.strategies[0];
  }
  const evaluation = metrics.evaluation || { batch: null, size: 0, rated: 0 };
  state.evaluation = evaluation;
  root.dataset.metricsFetches = String(Number(root.dataset.metricsFetches || 0) + 1);
  if (!state.queue.length) $("empty").textContent = emptyMessage();
  const scored = (metrics.models || []).some((m) => m.auc_pr !== null && m.auc_pr !== undefined);
  const byCrowd = (metrics.models || []).some((m) => m.evaluated_on === "crowd-posterior");
  const crowd = evaluation.crowd || { batch: null, size: 0, labelled: 0 };
  let note = "";
  if (!evaluation.batch && !crowd.batch) {
    note = "No evaluation set yet: build one, then rate the evaluation set to see metrics.";
  } else if (byCrowd) {
    // Metrics that rest on the crowd's labels until the expert's give an estimate.
    note = `Metrics from the crowd's labels of the evaluation sample (${crowd.labelled} of ${crowd.size} labelled`
      + `${evaluation.batch ? `; you rated ${evaluation.rated} of ${evaluation.size}` : ""}): see "Rests on".`;
  } else if (evaluation.batch && evaluation.rated < evaluation.size) {
    note = `Rate the evaluation set to see metrics (${evaluation.rated} of ${evaluation.size} rated).`;
  } else if (!scored) note = "Train a model to see metrics.";
  $("metrics-note").textContent = note;
  $("metrics-note").hidden = !note;
  drawChart($("chart"), metrics);
  fillTable($("metrics-table"), metrics);
  root.dataset.models = (metrics.models || []).length;
  renderModels(metrics.models || []);
}

const refreshMetrics = coalesce(loadMetrics, 1000);

function renderModels(models) {
  $("models").replaceChildren(...(models.length ? [...models].reverse().map((m) =>
    el("li", { "data-testid": "model", dataset: { model: m.id } },
      el("div", { class: "row-main" }, el("strong", {}, `v${m.number}`),
        el("span", { class: "muted" }, ` round ${m.round} · ${m.labels} labels · AUC-PR ${fmt(m.auc_pr)}`)),
      el("a", { href: `/api/model-versions/${m.id}/download/`, download: "", "data-testid": "model-download",
                "aria-label": `Download model v${m.number} (zip)` }, "Download")))
    : [el("li", { class: "muted" }, "No model yet: rate some images, then Train.")]));
}

// ---- wiring --------------------------------------------------------------------------
$("btn-no").addEventListener("click", () => { rate("no"); focusStage(); });
$("btn-yes").addEventListener("click", () => { rate("yes"); focusStage(); });
$("btn-skip").addEventListener("click", () => { skip(); focusStage(); });
$("btn-undo").addEventListener("click", () => { undo(); focusStage(); });
$("grid-submit").addEventListener("click", submitPage);
$("mode-single").addEventListener("click", () => setMode("single"));
$("mode-grid").addEventListener("click", () => setMode("grid"));
$("batch-select").addEventListener("change", (event) => openBatch(event.target.value));
$("pool-select").addEventListener("change", () => loadMetrics());
const batchSize = () => Math.max(1, Number($("batch-size").value) || 100);
$("btn-expand").addEventListener("click", (e) => startJob(e.currentTarget, "expand", { size: batchSize() },
                                                          "Finding images…"));
$("btn-train").addEventListener("click", (e) => startJob(e.currentTarget, "train", {}, "Training…"));
$("btn-train-missing").addEventListener("click", async (e) => {
  const button = e.currentTarget;
  const pool = Number($("pool-select").value);
  if (!pool) { say("Choose a ready pool first.", true); return; }
  button.disabled = true;
  try {
    const started = await api("POST", `/api/concepts/${conceptId}/train-missing/`, { pool });
    started.jobs.forEach((job) => jobs.track(job));
    say(`Training the ${started.sources.join(", ")} arm${started.sources.length > 1 ? "s" : ""}…`);
  } catch (error) {
    say(error instanceof ApiError ? error.message : `Network error: ${error.message}`, true);
  } finally {
    button.disabled = false;
  }
});
$("btn-round").addEventListener("click", (e) => startJob(e.currentTarget, "rounds", {
  strategy: $("strategy").value, batch_size: batchSize(),
}, "Selecting the next round…"));
$("btn-eval").addEventListener("click", (e) => startJob(e.currentTarget, "evaluation-set", {
  k: Math.max(1, Number($("eval-k").value) || 20),
}, "Building the evaluation set…"));

new EventStream(projectId, onEvent, (stream) => {
  root.dataset.stream = stream;
  $("stream-label").textContent = { live: "live", reconnecting: "reconnecting…", refused: "offline" }[stream] || stream;
});

(async () => {
  try {
    const [concept, project] = await Promise.all([api("GET", `/api/concepts/${conceptId}/`),
                                                  api("GET", `/api/projects/${projectId}/`)]);
    state.canWrite = Boolean(concept.can_write);
    state.roles = project.my_roles || [];
    applyRole();
    await loadPools();
    await Promise.all([loadBatches(), loadMetrics(), resumeJobs()]);
    const newest = state.batches[state.batches.length - 1];
    if (newest) await openBatch(newest.id);
    else render();
  } catch (error) {
    say(`Could not load the studio: ${error.message}`, true);
  }
  root.dataset.ready = "1";
  root.dispatchEvent(new CustomEvent("studio:ready"));
})();

// Page modules (studio_genmqd.js) ask to open a batch they made.
root.addEventListener("studio:open-batch", async (event) => {
  await loadBatches();
  await openBatch(event.detail.batch);
});
