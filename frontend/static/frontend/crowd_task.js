// The crowd task as a worker sees it: question, instructions (description and examples
// with their notes), one large image and the four answers with their keys. One renderer
// for the worker's task page (crowd.js) and the studio's preview (studio_crowd.js), so the
// preview is the page. It renders the `task` dict of the API as is: a test example comes
// without its expected answer (is_positive null) and is shown without one.
import { el } from "./studio_common.js";

// Keys of each answer value: a letter and its position. Display and input only.
export const ANSWER_KEYS = {
  yes: ["y", "1"],
  no: ["n", "2"],
  dont_know: ["d", "3"],
  broken: ["b", "4"],
};
export const INSTRUCTIONS_KEY = "i";
export const IMAGE_SIZE = 512;
const EXAMPLE_SIZE = 256;

export function sized(url, size) {
  return `${url}${url.includes("?") ? "&" : "?"}size=${size}`;
}

// The answer value a key stands for (null when none).
export function valueForKey(key) {
  const wanted = key.toLowerCase();
  for (const [value, keys] of Object.entries(ANSWER_KEYS)) if (keys.includes(wanted)) return value;
  return null;
}

function example(entry, index) {
  const kind = entry.is_positive === true ? "positive" : entry.is_positive === false ? "negative" : "test";
  const answer = { positive: "Yes", negative: "No", test: null }[kind];
  return el("li", { class: `crowd-example crowd-example-${kind}`, "data-testid": "task-example", dataset: { kind } },
    el("img", { src: sized(entry.image_url, EXAMPLE_SIZE), alt: `Example ${index + 1}`, loading: "lazy" }),
    answer ? el("span", { class: "crowd-example-answer" }, answer) : null,
    entry.note ? el("p", { class: "crowd-example-note", "data-testid": "task-example-note" }, entry.note) : null);
}

function exampleGroup(title, hint, entries, offset) {
  if (!entries.length) return null;
  return el("section", { class: "crowd-examples", "aria-label": title },
    el("h3", {}, title, hint ? el("span", { class: "muted small-text" }, ` ${hint}`) : null),
    el("ul", { class: "crowd-example-list" }, entries.map((entry, i) => example(entry, offset + i))));
}

function instructions(task, open) {
  const examples = task.examples || [];
  const positives = examples.filter((e) => e.is_positive === true);
  const negatives = examples.filter((e) => e.is_positive === false);
  const tests = examples.filter((e) => e.is_positive !== true && e.is_positive !== false);
  return el("details", { class: "crowd-instructions", "data-testid": "instructions", open },
    el("summary", {}, "Instructions ", el("kbd", { "aria-hidden": "true" }, INSTRUCTIONS_KEY.toUpperCase())),
    task.description ? el("p", { class: "crowd-description", "data-testid": "task-description" }, task.description)
      : null,
    el("div", { class: "crowd-example-groups" },
      exampleGroup("Examples of yes", "", positives, 0),
      exampleGroup("Examples of no", "", negatives, positives.length),
      exampleGroup("Try these yourself", "(what would you answer?)", tests, positives.length + negatives.length)),
    examples.length ? null : el("p", { class: "muted" }, "No examples."));
}

function answerButton(answer) {
  const keys = ANSWER_KEYS[answer.value] || [];
  const shown = keys.map((k) => k.toUpperCase());
  return el("button", { type: "button", class: `crowd-answer crowd-answer-${answer.value}`,
                        "data-testid": `crowd-answer-${answer.value}`, dataset: { value: answer.value },
                        "aria-keyshortcuts": shown.join(" "),
                        "aria-label": shown.length ? `${answer.label} (key ${shown.join(" or ")})` : answer.label },
    el("span", { class: "crowd-answer-label" }, answer.label),
    shown.length ? el("span", { class: "crowd-answer-keys", "aria-hidden": "true" },
      el("kbd", {}, shown[0]), shown[1] ? " or " : null, shown[1] ? el("kbd", {}, shown[1]) : null) : null);
}

// Renders `task` into `container` (replacing its content). Returns the parts the caller
// drives: the stage (focus target), the image, the answer buttons by value, the details.
export function renderTask(container, task, { instructionsOpen = true, imageUrl = null, preview = false } = {}) {
  const image = el("img", { class: "crowd-image", "data-testid": "crowd-image", alt: "The image to label", hidden: !imageUrl });
  if (imageUrl) image.src = sized(imageUrl, IMAGE_SIZE);
  const placeholder = el("p", { class: "crowd-image-placeholder", hidden: Boolean(imageUrl) },
    preview ? "The image to label appears here." : "Loading the next image…");
  const stage = el("div", { class: "crowd-stage", tabindex: "-1", "data-testid": "crowd-stage",
                            "aria-label": "Image to label: answer with the keys shown on the buttons" },
    image, placeholder);
  const buttons = new Map();
  const answers = el("div", { class: "crowd-answers", role: "group", "aria-label": "Your answer" },
    (task.answers || []).map((answer) => {
      const button = answerButton(answer);
      buttons.set(answer.value, button);
      return button;
    }));
  const details = instructions(task, instructionsOpen);
  const article = el("article", { class: `crowd-task${preview ? " crowd-task-preview" : ""}`, "data-testid": "crowd-task" },
    el("h2", { class: "crowd-question", "data-testid": "task-question" }, task.question),
    details, stage, answers,
    el("p", { class: "crowd-keys muted small-text" },
      "Keys: ", el("kbd", {}, "Y"), " yes · ", el("kbd", {}, "N"), " no · ", el("kbd", {}, "D"), " don't know · ",
      el("kbd", {}, "B"), " broken image (or ", el("kbd", {}, "1"), "–", el("kbd", {}, "4"), ") · ",
      el("kbd", {}, INSTRUCTIONS_KEY.toUpperCase()), " instructions"));
  container.replaceChildren(article);

  return {
    article, stage, image, buttons, details,
    // Shows an image, or the placeholder with ``waiting`` when url is null; resolves once
    // the image is on screen.
    showImage(url, { alt = "The image to label", waiting = "Loading the next image…" } = {}) {
      if (!url) {
        image.hidden = true;
        image.removeAttribute("src");
        placeholder.textContent = waiting;
        placeholder.hidden = false;
        return Promise.resolve();
      }
      const src = sized(url, IMAGE_SIZE);
      if (image.getAttribute("src") !== src) image.src = src;
      image.alt = alt;
      image.hidden = false;
      placeholder.hidden = true;
      return image.decode().catch(() => {});
    },
  };
}
