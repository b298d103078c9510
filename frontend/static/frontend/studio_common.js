// Shared helpers of the expert pages: the API client (session + CSRF), the project
// event stream (websocket with reconnect), and the job tracker (progress bars, retry,
// polling fallback). Pages only show and collect: every rule is behind the API.

export class ApiError extends Error {
  constructor(status, message, field) {
    super(message);
    this.status = status;
    this.field = field || null;
  }
}

export function csrfToken() {
  const match = document.cookie.match(/(?:^|;\s*)csrftoken=([^;]+)/);
  return match ? decodeURIComponent(match[1]) : "";
}

// One request. Throws ApiError for an HTTP error (body {"error", "field"}) and lets a
// network failure through as the TypeError fetch raises, so callers can retry those.
export async function api(method, url, body) {
  const init = { method, credentials: "same-origin", headers: { Accept: "application/json" } };
  if (method !== "GET") init.headers["X-CSRFToken"] = csrfToken();
  if (body !== undefined) {
    init.headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  const response = await fetch(url, init);
  const text = await response.text();
  let data = null;
  try { data = text ? JSON.parse(text) : null; } catch (_) { data = null; }
  if (!response.ok) {
    const message = (data && data.error) || `${response.status} ${response.statusText}`;
    throw new ApiError(response.status, message, data && data.field);
  }
  return data;
}

// Every row of a paginated list (DRF limit/offset), following "next".
export async function listAll(url) {
  let page = await api("GET", url);
  if (Array.isArray(page)) return page;
  const rows = [...page.results];
  while (page.next) {
    page = await api("GET", page.next);
    rows.push(...page.results);
  }
  return rows;
}

export const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

// A client id for an answer (the same on every retry of it).
export function uuid() {
  if (crypto.randomUUID) return crypto.randomUUID();
  // crypto.randomUUID needs a secure context; getRandomValues does not.
  const b = crypto.getRandomValues(new Uint8Array(16));
  b[6] = (b[6] & 0x0f) | 0x40;
  b[8] = (b[8] & 0x3f) | 0x80;
  const h = [...b].map((x) => x.toString(16).padStart(2, "0")).join("");
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
}

// The person looking at the page (their user id), from the page's <body data-user>.
export const myUserId = () => Number(document.body.dataset.user) || null;

// Call ``fn`` at most once per ``ms``: calls meanwhile coalesce into one trailing call, and
// a call never starts while the previous one is still running.
export function coalesce(fn, ms) {
  let timer = null;
  let running = null;
  let again = false;
  const run = async () => {
    timer = null;
    if (running) { again = true; return; }
    running = fn();
    try { await running; } finally {
      running = null;
      if (again) { again = false; schedule(); }
    }
  };
  const schedule = () => { if (!timer) timer = setTimeout(run, ms); };
  return schedule;
}

// Run tasks one after another, in the order given (a failed one does not stop the next):
// ``const enqueue = serialQueue(); enqueue(() => send(a)); enqueue(() => send(b));``
export function serialQueue() {
  let chain = Promise.resolve();
  return (task) => {
    const run = chain.then(task, task);
    chain = run.catch(() => {});
    return run;
  };
}

// Keep exactly ``urls`` loading in ``cache`` (a Map of url -> Image): the images the page
// will show next, so showing them never waits on the network.
export function keepPreloaded(cache, urls) {
  const wanted = new Set(urls);
  for (const url of cache.keys()) if (!wanted.has(url)) cache.delete(url);
  for (const url of wanted) {
    if (cache.has(url)) continue;
    const image = new Image();
    image.src = url;
    cache.set(url, image);
  }
}

export function isNetworkError(error) {
  return !(error instanceof ApiError) || error.status >= 500;
}

// A small element builder: el("button", {class: "x", onclick: f}, "text", child).
export function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (value === null || value === undefined || value === false) continue;
    if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
    else if (key === "dataset") Object.assign(node.dataset, value);
    else node.setAttribute(key, value === true ? "" : value);
  }
  for (const child of children.flat()) {
    if (child === null || child === undefined || child === false) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

// A project's live events (``target``: the project id), or another stream's path such as
// "/ws/work/". Reconnects with exponential backoff; reports its state so the page can say
// "live" or "reconnecting".
export class EventStream {
  constructor(target, onEvent, onState = () => {}) {
    const path = typeof target === "string" ? target : `/ws/projects/${target}/`;
    this.url = `${location.protocol === "https:" ? "wss" : "ws"}://${location.host}${path}`;
    this.onEvent = onEvent;
    this.onState = onState;
    this.delay = 500;
    this.connect();
  }

  connect() {
    const socket = new WebSocket(this.url);
    this.socket = socket;
    socket.addEventListener("open", () => {
      this.delay = 500;
      this.onState("live");
    });
    socket.addEventListener("message", (message) => {
      let data;
      try { data = JSON.parse(message.data); } catch (_) { return; }
      this.onEvent(data);
    });
    socket.addEventListener("close", (event) => {
      // 4401/4403: not allowed; retrying will not help until the person logs in again.
      if (event.code === 4401 || event.code === 4403) {
        this.onState("refused");
        return;
      }
      this.onState("reconnecting");
      setTimeout(() => this.connect(), this.delay);
      this.delay = Math.min(this.delay * 2, 30000);
    });
  }
}

const KIND_LABELS = {
  embed_pool: "Embedding pool",
  expand: "Finding images",
  train: "Training",
  al_round: "Next round",
  evaluation_set: "Evaluation set",
  score_pool: "Scoring pool",
  genmqd: "What the model needs",
};

export function kindLabel(kind) {
  return KIND_LABELS[kind] || (kind || "job").replace(/[_-]+/g, " ");
}

const ACTIVE = new Set(["queued", "running"]);
const POLL_AFTER_MS = 4000;

// Jobs shown as progress bars. Fed by websocket events; jobs that hear nothing for a
// while are polled (GET /api/jobs/<id>/), so a dropped socket never hides an outcome.
export class JobTracker {
  // ``mayRetry(entry)``: whether to offer Retry (the API's rule: the job's starter or a manager).
  constructor(container, { onFinished = () => {}, acceptAll = false, finishedShown = 1, mayRetry = () => true } = {}) {
    this.container = container;
    this.mayRetry = mayRetry;
    this.onFinished = onFinished;
    this.acceptAll = acceptAll;
    this.finishedShown = finishedShown;  // succeeded jobs kept on screen; running and failed ones always are
    this.jobs = new Map();
    this.orphans = new Map();  // events that arrived before the POST that started the job returned
    setInterval(() => this.poll(), 2000);
  }

  // ``quiet``: a job found finished when the page loads is shown, not announced.
  track(job, { restarted = false, quiet = false } = {}) {
    const known = this.jobs.get(job.id);
    // A stale poll answer must not reopen a job the stream already reported finished.
    if (known && !restarted && !ACTIVE.has(known.status) && ACTIVE.has(job.status)) return known;
    const entry = known || { id: job.id, node: null, reported: quiet && !ACTIVE.has(job.status) };
    Object.assign(entry, { kind: job.kind, status: job.status, done: job.done || 0, total: job.total || 0,
                           createdBy: job.created_by ?? entry.createdBy ?? null,
                           message: job.message || "", error: job.error || "", result: job.result || {},
                           seen: Date.now() });
    this.jobs.set(job.id, entry);
    this.render(entry);
    const early = this.orphans.get(job.id);
    if (early) {
      this.orphans.delete(job.id);
      this.handle(early);
    }
    this.maybeFinish(entry);
    return entry;
  }

  handle(event) {
    if (event.event !== "job.progress" && event.event !== "job.finished") return;
    const entry = this.jobs.get(event.job);
    if (!entry && !this.acceptAll) {
      const earlier = this.orphans.get(event.job);
      if (!earlier || earlier.event !== "job.finished") this.orphans.set(event.job, event);
      if (this.orphans.size > 50) this.orphans.delete(this.orphans.keys().next().value);
      return;
    }
    this.track({ ...(entry || {}), id: event.job, kind: event.kind || (entry && entry.kind), status: event.status,
                 created_by: event.created_by ?? (entry && entry.createdBy),
                 done: event.done ?? (entry && entry.done), total: event.total ?? (entry && entry.total),
                 message: event.message ?? (entry && entry.message), error: event.error ?? "",
                 result: event.result ?? (entry && entry.result) });
  }

  active(kind) {
    return [...this.jobs.values()].some((job) => ACTIVE.has(job.status) && (!kind || job.kind === kind));
  }

  async poll() {
    for (const entry of this.jobs.values()) {
      if (!ACTIVE.has(entry.status) || Date.now() - entry.seen < POLL_AFTER_MS || entry.polling) continue;
      entry.polling = true;
      try {
        this.track(await api("GET", `/api/jobs/${entry.id}/`));
      } catch (_) {
        entry.seen = Date.now();  // try again later
      } finally {
        entry.polling = false;
      }
    }
  }

  async retry(entry) {
    const button = entry.node.querySelector("[data-testid=job-retry]");
    if (button) button.disabled = true;
    try {
      const job = await api("POST", `/api/jobs/${entry.id}/retry/`);
      entry.reported = false;
      if (job.id !== entry.id) {
        entry.node.remove();
        this.jobs.delete(entry.id);
      }
      this.track(job, { restarted: true });
    } catch (error) {
      entry.error = error.message;
      this.render(entry);
    }
  }

  maybeFinish(entry) {
    if (ACTIVE.has(entry.status) || entry.reported) return;
    entry.reported = true;
    this.finished = (this.finished || 0) + 1;
    entry.finishedSeq = this.finished;
    this.prune();
    this.onFinished(entry);
  }

  render(entry) {
    const fraction = entry.total ? Math.min(1, entry.done / entry.total) : 0;
    const status = entry.status === "succeeded" ? "done" : entry.status;
    const node = el("li", { class: `job job-${entry.status}`, "data-testid": "job",
                            dataset: { jobId: entry.id, kind: entry.kind, status: entry.status } },
      el("div", { class: "job-head" },
        el("strong", {}, kindLabel(entry.kind)),
        el("span", { class: "job-status" }, status)),
      el("progress", { max: 100, value: entry.status === "succeeded" ? 100 : Math.round(fraction * 100),
                       "aria-label": `${kindLabel(entry.kind)} progress` }),
      el("div", { class: "job-message" },
        entry.total ? `${entry.done} / ${entry.total}` : "", entry.message ? ` ${entry.message}` : ""),
      entry.status === "failed" ? el("div", { class: "job-error", role: "alert" }, entry.error || "Failed.") : null,
      entry.status === "failed" && this.mayRetry(entry)
        ? el("button", { type: "button", class: "small", "data-testid": "job-retry",
                         onclick: () => this.retry(entry) }, "Retry")
        : null);
    if (entry.node) entry.node.replaceWith(node);
    else this.container.prepend(node);
    entry.node = node;
    this.prune();
  }

  prune() {
    // Newest outcome first: a retried job finishes after jobs created later than it.
    const succeeded = [...this.jobs.values()].filter((job) => job.status === "succeeded" && job.reported)
      .sort((a, b) => (b.finishedSeq || 0) - (a.finishedSeq || 0));
    for (const job of succeeded.slice(this.finishedShown)) {
      job.node.remove();
      this.jobs.delete(job.id);
    }
  }
}

// Show an API error next to its field (elements with data-error-for="<field>"),
// or in the form's general error slot.
export function showFieldError(form, error) {
  for (const slot of form.querySelectorAll("[data-error-for]")) slot.textContent = "";
  const field = (error.field || "").split(/[.[]/)[0];
  const slot = form.querySelector(`[data-error-for="${field}"]`) || form.querySelector('[data-error-for=""]');
  slot.textContent = error.message;
  const input = form.elements[field];
  if (input && input.focus) {
    input.setAttribute("aria-invalid", "true");
    input.focus();
  }
}

export function clearFieldErrors(form) {
  for (const slot of form.querySelectorAll("[data-error-for]")) slot.textContent = "";
  for (const input of form.querySelectorAll("[aria-invalid]")) input.removeAttribute("aria-invalid");
}

export function lines(text) {
  return text.split("\n").map((line) => line.trim()).filter(Boolean);
}
