// "What does the model need?" (GenMQD) in the studio: ask for one description per class
// (yes and no) with the pool images it finds; rate them as a batch, or download a
// description as a list of images to add to the pool. Talks to the studio page (studio.js)
// through two DOM events on #studio: it hears "studio:event" (the project's live events)
// and asks for "studio:open-batch" to open the gathered batch in the rater.
import { api, ApiError, el, JobTracker } from "./studio_common.js";

const root = document.getElementById("studio");
const conceptId = Number(root.dataset.concept);
const $ = (id) => document.getElementById(id);
const section = $("needs");
let shown = null;  // the result on screen: {batch, descriptions}

const jobs = new JobTracker($("needs-jobs"), { onFinished: finished });

function say(text, isError = false) {
  const line = $("status");
  line.textContent = text;
  line.classList.toggle("error", isError);
}

const pool = () => Number($("pool-select").value) || null;
const percent = (weight) => `${Math.round(weight * 100)}%`;

function render(result) {
  shown = result && result.descriptions && result.descriptions.length ? result : null;
  $("needs-empty").hidden = Boolean(shown);
  $("needs-actions").hidden = !shown || root.dataset.canWrite !== "1";
  section.dataset.batch = shown ? shown.batch : "";
  section.dataset.descriptions = shown ? shown.descriptions.length : 0;
  $("needs-list").replaceChildren(...(shown ? shown.descriptions.map(card) : []));
}

function card(need) {
  const words = need.phrases.length
    ? el("ol", { class: "need-phrases", "aria-label": `What a “${need.class}” image the model needs shows` },
         ...need.phrases.map((phrase) => el("li", { class: "need-phrase", "data-testid": "need-phrase",
                                                     dataset: { weight: phrase.weight }, title: phrase.gloss || "" },
           el("span", {}, el("span", {}, phrase.text), phrase.gloss ? el("div", { class: "gloss" }, phrase.gloss) : null),
           el("meter", { min: 0, max: 1, value: phrase.weight, "aria-label": `weight of ${phrase.text}` }),
           el("span", { class: "weight" }, percent(phrase.weight)))))
    : el("p", { class: "muted small-text" }, "No words for this encoder: the images are the pool’s nearest to the synthetic example itself.");
  const images = el("div", { class: "need-images", "aria-label": "Images it found" },
    ...need.items.map((found) => el("img", { src: `/api/items/${found.item}/image/?size=96`, alt: "",
                                            "data-testid": "need-image", dataset: { item: found.item },
                                            title: `similarity ${found.similarity}` })));
  const note = need.few_like_this
    ? "The pool has little like this: these images are further from the words than your own labelled ones. Consider adding such images to the pool."
    : "";
  return el("article", { class: "need", "data-testid": "need", dataset: { class: need.class } },
    el("div", { class: "need-head" },
      el("h3", {}, "A ", el("span", { class: `need-class ${need.class}` }, need.class), " example it needs"),
      el("button", { type: "button", class: "small secondary", "data-testid": "need-download",
                     onclick: () => download(need) }, "Download as a list")),
    words, el("p", { class: "need-note", role: "note" }, note), images);
}

// The description as a plain-text shopping list: what to photograph or collect for the pool.
function download(need) {
  const name = root.dataset.conceptName;
  const lines = [
    `Images to add to the pool for "${name}" (answer: ${need.class})`,
    "Collect images that look like a mix of:",
    ...need.phrases.map((p) => `- ${p.text} (${percent(p.weight)})${p.gloss ? `: ${p.gloss}` : ""}`),
    "",
    "Add them on the project page (Add a pool), then run What does the model need? again.",
  ];
  const link = el("a", { href: URL.createObjectURL(new Blob([lines.join("\n")], { type: "text/plain" })),
                         download: `${name.replace(/\W+/g, "-")}-${need.class}-images-to-add.txt` });
  document.body.append(link);
  link.click();
  link.remove();
}

async function ask(button) {
  if (!pool()) {
    say("Choose a ready pool first.", true);
    return;
  }
  button.disabled = true;
  try {
    const perClass = Math.max(1, Math.min(100, Number($("needs-per-class").value) || 10));
    const job = await api("POST", `/api/concepts/${conceptId}/what-model-needs/`, { pool: pool(), per_class: perClass });
    jobs.track(job);
    say(`Working out what the model needs… (job ${job.id})`);
  } catch (error) {
    say(error instanceof ApiError ? error.message : `Network error: ${error.message}`, true);
  } finally {
    button.disabled = false;
  }
}

function finished(job) {
  if (job.status !== "succeeded") {
    say(`What the model needs failed: ${job.error || "unknown error"}. Use Retry in its job list.`, true);
    return;
  }
  render(job.result);
  say(`The model described ${job.result.descriptions.length} examples it needs; ${job.result.size} pool images match.`);
}

async function loadLatest() {
  const chosen = pool();
  if (!chosen) return;
  try {
    render(await api("GET", `/api/concepts/${conceptId}/what-model-needs/?pool=${chosen}`));
  } catch (error) {
    $("needs-empty").textContent = `Descriptions unavailable: ${error.message}`;
  }
}

$("btn-needs").addEventListener("click", (event) => ask(event.currentTarget));
$("btn-needs-rate").addEventListener("click", () => {
  if (shown) root.dispatchEvent(new CustomEvent("studio:open-batch", { detail: { batch: shown.batch } }));
});
$("pool-select").addEventListener("change", loadLatest);
root.addEventListener("studio:event", (event) => jobs.handle(event.detail));

// The pool list is filled by studio.js: ask for the latest result once it has loaded.
// Asking and rating are the concept owner's (the API's can_write, set on #studio by studio.js);
// a viewer sees the descriptions only.
function applyRole() {
  const canWrite = root.dataset.canWrite === "1";
  section.querySelector(".needs-controls").hidden = !canWrite;
  $("btn-needs").disabled = !canWrite;
  $("btn-needs-rate").disabled = !canWrite;
  if (!canWrite) $("needs-empty").textContent = "No descriptions yet.";
}

async function start() {
  applyRole();
  await loadLatest();
  section.dataset.ready = "1";
}
if (root.dataset.ready === "1") start();
else root.addEventListener("studio:ready", start, { once: true });
