// The studio's crowd panel: the instructions workers read (task template: question,
// description, examples picked from the expert's own ratings, each with a note and a test
// toggle), a preview rendered by the worker page's own renderer from the API's preview (so
// it is the page a worker sees), then "send to the crowd" and the crowd batches
// (studio_crowd_batches.js). Every rule is behind the API; the server says who may edit.
import { api, clearFieldErrors, coalesce, el, listAll, showFieldError } from "./studio_common.js";
import { renderTask, sized } from "./crowd_task.js";
import { CrowdBatches } from "./studio_crowd_batches.js";

const studio = document.getElementById("studio");
const panel = document.getElementById("crowd-panel");
const conceptId = Number(studio.dataset.concept);
const projectId = Number(studio.dataset.project);
const canAuthor = panel.dataset.canAuthor === "1";
const form = document.getElementById("template-form");
const $ = (id) => document.getElementById(id);
const THUMB = 128;

const state = {
  templates: [],
  template: null,       // the template being edited (null: a new one)
  labels: new Map(),    // item id -> the expert's yes/no
  examples: [],         // [{item, is_positive, note, is_test}] in the order shown
};

export function say(text, isError = false) {
  const line = $("crowd-status");
  line.textContent = text;
  line.classList.toggle("error", isError);
}

// Keys typed in the crowd panel are for the panel: the studio's rating keys (J/K/U/Space)
// must not rate an image while the expert works here.
panel.addEventListener("keydown", (event) => event.stopPropagation());

// ---- templates -----------------------------------------------------------------------
async function loadTemplates(selected) {
  state.templates = await listAll(`/api/templates/?concept=${conceptId}`);
  const select = $("template-select");
  select.replaceChildren(
    ...(canAuthor ? [el("option", { value: "" }, "new template")] : []),
    ...[...state.templates].reverse().map((t) => el("option", { value: t.id }, `#${t.id} · ${t.question}`)));
  const chosen = selected ?? (state.templates.length ? state.templates[state.templates.length - 1].id : null);
  select.value = chosen ? String(chosen) : "";
  openTemplate(state.templates.find((t) => t.id === Number(select.value)) || null);
}

function openTemplate(template) {
  state.template = template;
  clearFieldErrors(form);
  form.elements.question.value = template ? template.question : form.dataset.defaultQuestion;
  form.elements.description.value = template ? template.description : form.dataset.defaultDescription;
  state.examples = template ? template.examples.map(({ item, is_positive, note, is_test }) =>
    ({ item, is_positive, note, is_test })) : [];
  panel.dataset.template = template ? template.id : "";
  renderPicker();
  renderExamples();
  if (template) preview(template.id);
  else $("template-preview").replaceChildren(el("p", { class: "muted" }, canAuthor
    ? "Save the instructions to see them as a worker will."
    : "No instructions yet: the concept's expert writes them."));
}

async function loadLabels() {
  const labels = await listAll(`/api/labels/?concept=${conceptId}&source=expert&limit=500`);
  state.labels = new Map([...labels].reverse().map((label) => [label.item, label.value]));
  renderPicker();
}

function imageOf(item, size = THUMB) {
  return sized(`/api/items/${item}/image/`, size);
}

function renderPicker() {
  const picker = $("example-picker");
  if (!state.labels.size) {
    picker.replaceChildren(el("p", { class: "muted" }, "Rate some images first: examples come from your ratings."));
    return;
  }
  const chosen = new Set(state.examples.map((e) => e.item));
  picker.replaceChildren(...[...state.labels].map(([item, yes]) =>
    el("button", { type: "button", class: `pick ${yes ? "yes" : "no"}`, "aria-pressed": chosen.has(item) ? "true" : "false",
                   disabled: !canAuthor, "data-testid": "example-pick", dataset: { item, value: yes ? "yes" : "no" },
                   "aria-label": `Image ${item}, rated ${yes ? "yes" : "no"}${chosen.has(item) ? ", used as an example" : ""}`,
                   onclick: () => toggleExample(item) },
      el("img", { src: imageOf(item), alt: "", loading: "lazy" }),
      el("span", { class: "pick-mark", "aria-hidden": "true" }, yes ? "yes" : "no"))));
}

function toggleExample(item) {
  const index = state.examples.findIndex((e) => e.item === item);
  if (index >= 0) state.examples.splice(index, 1);
  else state.examples.push({ item, is_positive: state.labels.get(item), note: "", is_test: false });
  renderPicker();
  renderExamples();
  const target = index >= 0 ? $("example-picker").querySelector(`[data-item="${item}"]`)
    : $("example-rows").querySelector(`[data-item="${item}"] input[type=text]`);
  if (target) target.focus();
}

function renderExamples() {
  $("example-rows").replaceChildren(...state.examples.map((example, index) => {
    const answer = example.is_positive ? "yes" : "no";
    return el("li", { class: "example-row", "data-testid": "example-row", dataset: { item: example.item, answer } },
      el("img", { src: imageOf(example.item), alt: `Example ${index + 1}` }),
      el("div", {},
        el("div", { class: "small-text" }, el("strong", { class: `label-${answer}` }, `${answer} example`),
          ` · image ${example.item}`),
        el("label", {}, el("span", { class: "visually-hidden" }, `Note for example ${index + 1}`),
          el("input", { type: "text", value: example.note, placeholder: "A note for workers, e.g. why it is a yes",
                        disabled: !canAuthor, "data-testid": "example-note",
                        oninput: (event) => { example.note = event.target.value; } })),
        el("label", { class: "check" },
          el("input", { type: "checkbox", checked: example.is_test, disabled: !canAuthor, "data-testid": "example-test",
                        onchange: (event) => { example.is_test = event.target.checked; } }),
          "test: workers see no answer")),
      canAuthor ? el("button", { type: "button", class: "secondary small", "data-testid": "example-remove",
                                 "aria-label": `Remove example ${index + 1}`, onclick: () => toggleExample(example.item) },
        "Remove") : null);
  }));
}

async function save(event) {
  event.preventDefault();
  await saveTemplate();
}

async function saveTemplate() {
  if (!canAuthor) return false;
  clearFieldErrors(form);
  const body = { concept: conceptId, question: form.elements.question.value.trim(),
                 description: form.elements.description.value.trim(),
                 examples: state.examples.map(({ item, is_positive, note, is_test }) =>
                   ({ item, is_positive, note: note.trim(), is_test })) };
  if (!body.question && !state.template) delete body.question;  // a new template takes the default question
  const button = form.querySelector("button[type=submit]");
  button.disabled = true;
  try {
    const saved = state.template
      ? await api("PATCH", `/api/templates/${state.template.id}/`, body)
      : await api("POST", "/api/templates/", body);
    say(`Instructions saved (template #${saved.id}).`);
    await loadTemplates(saved.id);
    return true;
  } catch (error) {
    showFieldError(form, error);
    return false;
  } finally {
    button.disabled = false;
  }
}

// Borderline cases: items the crowd labelled otherwise than the expert (computed by the
// API's crowd quality). One click makes one an example of the instructions, with a note,
// answered as the expert answered it.
async function loadBorderline() {
  const list = $("borderline-rows");
  if (!list) return;
  let quality;
  try {
    quality = await api("GET", `/api/concepts/${conceptId}/crowd-quality/`);
  } catch (error) {
    list.replaceChildren(el("li", { class: "error" }, error.message));
    return;
  }
  const used = new Set(state.examples.map((e) => e.item));
  const rows = quality.disagreements.map((d) => {
    const note = el("input", { type: "text", placeholder: "A note for workers: why it is a " + (d.expert ? "yes" : "no"),
                               "data-testid": "borderline-note", "aria-label": `Note for image ${d.item}` });
    const button = el("button", { type: "button", class: "secondary small", "data-testid": "borderline-make-example",
                                  disabled: used.has(d.item), onclick: () => makeExample(d, note.value.trim()) },
      used.has(d.item) ? "An example already" : "Make it an example");
    return el("li", { class: "example-row", "data-testid": "borderline-row", dataset: { item: d.item } },
      el("img", { src: imageOf(d.item), alt: `Image ${d.item}` }),
      el("div", {}, el("div", { class: "small-text" }, `You: ${d.expert ? "yes" : "no"} · crowd: ${d.crowd ? "yes" : "no"} `,
        `(P(yes) ${d.posterior_yes === null ? "–" : d.posterior_yes.toFixed(2)}, ${d.n_answers} answers)`), note),
      button);
  });
  list.replaceChildren(...(rows.length ? rows
    : [el("li", { class: "muted" }, "None: wherever you and the crowd both labelled an image, you agree.")]));
}

async function makeExample(disagreement, note) {
  if (!state.examples.some((e) => e.item === disagreement.item)) {
    state.examples.push({ item: disagreement.item, is_positive: disagreement.expert, note, is_test: false });
  }
  renderExamples();
  if (await saveTemplate()) {
    say(`Image ${disagreement.item} is now an example of the instructions.`);
    await loadBorderline();
  }
}

// The preview is the API's task dict, rendered by the worker page's renderer.
async function preview(templateId) {
  const box = $("template-preview");
  try {
    const task = await api("GET", `/api/templates/${templateId}/preview/`);
    const sample = (task.examples[0] && task.examples[0].image_url) || null;
    renderTask(box, task, { instructionsOpen: true, imageUrl: sample, preview: true });
    box.dataset.template = templateId;
  } catch (error) {
    box.replaceChildren(el("p", { class: "error" }, `No preview: ${error.message}`));
  }
}

form.addEventListener("submit", save);
$("template-select").addEventListener("change", (event) =>
  openTemplate(state.templates.find((t) => t.id === Number(event.target.value)) || null));
if (!canAuthor) {
  for (const input of form.querySelectorAll("input, textarea")) input.readOnly = true;
  $("example-picker").hidden = true;  // the examples are listed; only the concept's expert picks them
}

const batches = new CrowdBatches({ panel, conceptId, projectId, say,
                                   template: () => (state.template ? state.template.id : null) });
studio.addEventListener("project-event", (event) => batches.handle(event.detail));
const borderlineSoon = coalesce(loadBorderline, 3000);
studio.addEventListener("project-event", (event) => {
  if (event.detail && event.detail.event === "crowd.item_done") borderlineSoon();
});

(async () => {
  try {
    await Promise.all([loadTemplates(), loadLabels(), batches.load()]);
    await loadBorderline();
  } catch (error) {
    say(`Could not load the crowd panel: ${error.message}`, true);
  }
  panel.dataset.ready = "1";
})();
