// A worker's open crowd work on the home page, per project (GET /api/crowd/work/), each
// with a link to its task page. Refreshed when the work stream says new work may be there.
import { api, el, EventStream } from "./studio_common.js";

const list = document.getElementById("crowd-work-list");
const section = document.getElementById("crowd-work");
const POLL_MS = 30000;

// What the worker's status on a batch means for them: display only, the server decides.
const STATUS_TEXT = {
  new: "New: a few onboarding images come first.",
  onboarding: "Onboarding in progress.",
  active: "",
  failed: "You did not pass the onboarding for this task, so there is no work for you on it.",
  paused: "Your work on this task is paused. A project manager can resume it.",
};

function entryRow(entry) {
  const blocked = entry.status === "failed" || entry.status === "paused";
  const availability = blocked ? "" : entry.has_work ? "Work available." : "No more work right now.";
  const question = entry.question || `Task ${entry.batch}`;
  return el("li", { "data-testid": "crowd-work-entry", dataset: { batch: entry.batch, status: entry.status,
                                                                   hasWork: entry.has_work ? "1" : "0" } },
    el("div", { class: "row-main" },
      entry.status === "failed" ? el("strong", {}, question)
        : el("a", { href: `/work/${entry.batch}/`, "data-testid": "crowd-work-link" }, question),
      el("span", { class: "muted" }, entry.answered ? `${entry.answered} answered` : "")),
    el("div", { class: `crowd-work-status crowd-work-${entry.status}`, "data-testid": "crowd-work-status" },
      [STATUS_TEXT[entry.status] || "", availability].filter(Boolean).join(" ")));
}

function render(results) {
  if (!results.length) {
    list.replaceChildren(el("p", { class: "muted", "data-testid": "crowd-work-none" },
      "No crowd work for you right now. New work appears here."));
    return;
  }
  const projects = new Map();
  for (const entry of results) {
    if (!projects.has(entry.project)) projects.set(entry.project, { name: entry.project_name, entries: [] });
    projects.get(entry.project).entries.push(entry);
  }
  list.replaceChildren(...[...projects.entries()].map(([id, project]) =>
    el("section", { class: "crowd-work-project", "data-testid": "crowd-work-project", dataset: { project: id } },
      el("h3", {}, project.name),
      el("ul", { class: "rows" }, project.entries.map(entryRow)))));
}

async function load() {
  try {
    render((await api("GET", "/api/crowd/work/")).results);
    section.dataset.ready = "1";
  } catch (error) {
    list.replaceChildren(el("p", { class: "error" }, `Could not load your work: ${error.message}`));
  }
}

new EventStream("/ws/work/", (event) => {
  if (event.event === "work.available") load();
}, (stream) => { section.dataset.stream = stream; });
setInterval(load, POLL_MS);
load();
