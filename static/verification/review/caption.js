// The caption, with its class words highlighted: each word of the class vocabulary is
// marked in its class colour, and marked as an error where the class is not in the patch.
// The caption is untrusted text: it goes into the page as text nodes only.

import { caption, element, make, vocabulary } from "./state.js";

function escapeRegExp(text) {
  return text.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
}

const normalise = (word) => word.toLowerCase().replace(/[\s-]+/g, " ");

function classMatcher() {
  const classByWord = new Map();
  for (const cls of vocabulary.classes) {
    for (const word of cls.words) {
      classByWord.set(normalise(word), cls);
    }
  }
  // Longest first, so "developed area" wins over "developed".
  const alternatives = [...classByWord.keys()]
    .sort((first, second) => second.length - first.length)
    .map((word) => word.split(" ").map(escapeRegExp).join("[\\s-]+"));
  return { pattern: new RegExp(`\\b(?:${alternatives.join("|")})\\b`, "giu"), classByWord };
}

const matcher = classMatcher();

function presentClasses() {
  // What the checks call present: at least min_pixels pixels (captions/generation/checks.py).
  const present = new Map();
  for (const entry of caption.landcover?.overall ?? []) {
    if (entry.pixels >= vocabulary.min_pixels) {
      present.set(entry.code, entry);
    }
  }
  return present;
}

function classMark(word, present) {
  const cls = matcher.classByWord.get(normalise(word));
  const entry = present.get(cls.code);
  const mark = make("mark", word, entry ? "class-word" : "class-word class-word--absent");
  mark.style.setProperty("--class-colour", cls.colour);
  mark.dataset.classCode = String(cls.code);
  mark.title = entry
    ? `${cls.term}: ${(entry.fraction * 100).toFixed(1)}% of the patch`
    : `${cls.term}: not in this patch (error)`;
  return mark;
}

export function renderCaption(text) {
  const present = presentClasses();
  const container = element("[data-caption-text]");
  const nodes = [];
  let position = 0;
  for (const match of text.matchAll(matcher.pattern)) {
    if (match.index > position) {
      nodes.push(document.createTextNode(text.slice(position, match.index)));
    }
    nodes.push(classMark(match[0], present));
    position = match.index + match[0].length;
  }
  if (position < text.length) {
    nodes.push(document.createTextNode(text.slice(position)));
  }
  container.replaceChildren(...nodes);
}
