// The crowd worker's task page: one image at a time, answered with Y / N / D / B (or 1-4).
// The server decides everything (which item, onboarding, golds, when to stop): the page
// holds two leases from POST /api/crowd/next/ (the task on screen and the next one,
// preloaded), saves answers in the background in order, and re-sends an answer that
// failed on the network with the same client_id, so it is stored once.
import { api, ApiError, EventStream, isNetworkError, keepPreloaded, serialQueue, sleep, uuid } from "./studio_common.js";
import { INSTRUCTIONS_KEY, IMAGE_SIZE, renderTask, sized, valueForKey } from "./crowd_task.js";

const root = document.getElementById("crowd-page");
const batchId = Number(root.dataset.batch);
const $ = (id) => document.getElementById(id);
const HOLD = 2;
const POLL_MS = 20000;  // fallback when the work stream is quiet: "no more work" is re-checked
const SEEN_KEY = `crowd-instructions-seen-${batchId}`;
const WAITING = new Set(["no_work", "paused"]);
const NO_POLL = new Set(["failed", "finished", "error", "loading"]);  // nothing to ask for (yet)

const state = {
  status: "loading",
  task: null,          // the task dict (template) of the leases
  queue: [],           // leased assignments not answered here yet; the first is on screen
  answered: new Set(), // assignment ids answered on this page (saved or on their way)
  view: null,          // what renderTask returned
  shownAt: null,       // when the image on screen appeared (performance.now())
  shownId: null,
  pending: 0,
  refreshing: null,
  again: false,
  preloaded: new Map(),
  count: 0,            // answers given on this page
};

function say(text, isError = false) {
  $("status").textContent = text;
  $("status").classList.toggle("error", isError);
}

function setMessage(text) {
  $("message").textContent = text || "";
  $("message").hidden = !text;
}

// ---- leases --------------------------------------------------------------------------
// Ask the server for the leases this worker holds, topped up to two. One request at a
// time; a request asked for meanwhile runs once the current one is back.
function refresh() {
  if (state.refreshing) {
    state.again = true;
    return state.refreshing;
  }
  state.refreshing = (async () => {
    try {
      do {
        state.again = false;
        await fetchLeases();
      } while (state.again);
    } finally {
      state.refreshing = null;
    }
  })();
  return state.refreshing;
}

async function fetchLeases() {
  let delay = 1000;
  for (;;) {
    try {
      apply(await api("POST", "/api/crowd/next/", { batch: batchId, hold: HOLD }));
      if (delay > 1000) say("Connection back.");
      return;
    } catch (error) {
      if (!isNetworkError(error)) {
        state.status = "error";
        root.dataset.status = "error";
        setMessage(error.status === 404 ? "This task is not available to you." : error.message);
        render();
        return;
      }
      say("Connection lost: trying again…", true);
      await sleep(delay);
      delay = Math.min(delay * 2, 15000);
    }
  }
}

function apply(lease) {
  state.status = lease.status;
  root.dataset.status = lease.status;
  const fresh = lease.assignments.filter((a) => !state.answered.has(a.id));
  // The image on screen stays on screen while the worker looks at it.
  const current = state.queue[0];
  const keep = current && fresh.find((a) => a.id === current.id);
  state.queue = keep ? [keep, ...fresh.filter((a) => a.id !== current.id)] : fresh;
  if (lease.assignments.length && lease.assignments[0].task) state.task = lease.assignments[0].task;
  renderOnboarding(lease.onboarding);
  setMessage(state.queue.length ? "" : lease.message);
  if (state.status === "failed") state.queue = [];
  render();
}

function renderOnboarding(onboarding) {
  const box = $("onboarding");
  box.hidden = !onboarding;
  if (!onboarding) return;
  $("onboarding-text").textContent = `Onboarding ${onboarding.answered} of ${onboarding.total}`;
  const bar = $("onboarding-bar");
  bar.max = Math.max(1, onboarding.total);
  bar.value = onboarding.answered;
  root.dataset.onboardingAnswered = onboarding.answered;
  root.dataset.onboardingTotal = onboarding.total;
}

// ---- rendering -----------------------------------------------------------------------
function instructionsOpen() {
  try {
    return !localStorage.getItem(SEEN_KEY);
  } catch (_) {
    return true;
  }
}

function rememberSeen() {
  try {
    localStorage.setItem(SEEN_KEY, "1");
  } catch (_) { /* private mode: the instructions simply open again next time */ }
}

function render() {
  const showTask = state.task && state.status !== "failed";
  if (showTask && !state.view) mountTask();
  $("task").hidden = !showTask;
  if (!state.view) return;
  const current = state.queue[0];
  const working = Boolean(current);
  for (const button of state.view.buttons.values()) button.disabled = !working;
  state.view.stage.classList.toggle("crowd-stage-waiting", !working);
  if (!working) {
    state.shownId = null;
    delete root.dataset.assignment;
    delete root.dataset.item;
    const idle = WAITING.has(state.status) || state.status === "finished";
    state.view.article.classList.toggle("crowd-task-idle", idle);
    state.view.showImage(null, { waiting: idle ? "No image to label right now." : "Loading the next image…" });
    return;
  }
  state.view.article.classList.remove("crowd-task-idle");
  if (state.shownId !== current.id) {
    state.shownId = current.id;
    state.shownAt = null;
    root.dataset.assignment = current.id;
    root.dataset.item = current.item;
    const shown = current.id;
    // Time per answer counts from the moment the image is on screen.
    state.view.showImage(current.image_url).then(() => {
      if (state.shownId !== shown || state.shownAt !== null) return;
      state.shownAt = performance.now();
      root.dataset.shown = shown;
    });
  }
  preload();
}

function mountTask() {
  const open = instructionsOpen();
  state.view = renderTask($("task"), state.task, { instructionsOpen: open });
  rememberSeen();
  for (const [value, button] of state.view.buttons) {
    button.addEventListener("click", () => {
      answer(value);
      focusStage();
    });
  }
  focusStage();
}

function focusStage() {
  if (state.view) state.view.stage.focus({ preventScroll: true });
}

function preload() {
  keepPreloaded(state.preloaded, state.queue.slice(1).map((a) => sized(a.image_url, IMAGE_SIZE)));
}

// ---- answers -------------------------------------------------------------------------
const enqueue = serialQueue();  // answers are sent in order

function answer(value) {
  const assignment = state.queue[0];
  if (!assignment) return;
  const started = state.shownAt === null ? performance.now() : state.shownAt;
  const entry = { assignment, value, clientId: uuid(), seconds: (performance.now() - started) / 1000 };
  state.answered.add(assignment.id);
  state.queue.shift();
  state.count += 1;
  state.pending += 1;
  root.dataset.pending = state.pending;
  root.dataset.answered = state.count;
  render();
  enqueue(() => submit(entry)).then(() => refresh());
}

// POST until it is stored. A network failure or a 5xx retries with the same client_id; a
// 409 (the item needs no more answers, or the budget is spent) just moves on.
async function submit(entry) {
  let delay = 500;
  try {
    for (;;) {
      try {
        await api("POST", "/api/answers/", {
          assignment: entry.assignment.id, value: entry.value, client_id: entry.clientId,
          seconds: Math.min(86400, Math.round(entry.seconds * 100) / 100),
        });
        if (delay > 500) say("Connection back: your answers are saved.");
        return;
      } catch (error) {
        if (error instanceof ApiError && error.status === 409) {
          say("That image needed no more answers; on to the next one.");
          return;
        }
        if (!isNetworkError(error)) {
          say(`Could not save an answer: ${error.message}`, true);
          return;
        }
        say("Connection lost: your answers are kept and will be sent when it is back.", true);
        await sleep(delay);
        delay = Math.min(delay * 2, 10000);
      }
    }
  } finally {
    state.pending -= 1;
    root.dataset.pending = state.pending;
  }
}

// ---- keyboard ------------------------------------------------------------------------
document.addEventListener("keydown", (event) => {
  if (event.defaultPrevented || event.ctrlKey || event.metaKey || event.altKey) return;
  const target = event.target;
  if (target.closest && target.closest("input, textarea, select, [contenteditable=true]")) return;
  if (!state.view) return;
  const key = event.key.toLowerCase();
  if (key === INSTRUCTIONS_KEY) {
    event.preventDefault();
    state.view.details.open = !state.view.details.open;
    return;
  }
  const value = valueForKey(key);
  if (!value) return;
  event.preventDefault();
  if (event.repeat) return;  // a held key answers once
  answer(value);
  focusStage();
});

window.addEventListener("beforeunload", (event) => {
  if (state.pending > 0) event.preventDefault();  // answers still on their way
});

// ---- live: new work ------------------------------------------------------------------
new EventStream("/ws/work/", (event) => {
  if (event.event === "work.available" && event.batch === batchId && !state.queue.length) refresh();
}, (stream) => {
  root.dataset.stream = stream;
  $("stream-label").textContent = { live: "live", reconnecting: "reconnecting…", refused: "offline" }[stream] || stream;
});

// Also when nothing is on screen and nothing is on its way (e.g. the server still holds a
// lease whose answer it refused): ask again now and then rather than wait forever.
setInterval(() => {
  const idle = !state.queue.length && state.pending === 0 && !NO_POLL.has(state.status);
  if (idle || (WAITING.has(state.status) && !state.queue.length)) refresh();
}, POLL_MS);

refresh().then(() => { root.dataset.ready = "1"; });
