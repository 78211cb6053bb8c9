// The caption, with its class words highlighted: each word of the class vocabulary is
// marked in its class colour, and marked as an error where the class is not in the patch.
// The words a check finding points at (its span: a wrong size, a misplaced class, a
// colour or forbidden word, the unfinished sentence) are marked too, the finding's
// message as their title. The caption is untrusted text: it goes into the page as text
// nodes only.

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

function classNodes(text, present) {
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
  return nodes;
}

// The checks count characters as Python does (code points); a JavaScript string
// counts UTF-16 units, two for a character beyond the BMP (an emoji).
function unitOffsets(text) {
  const offsets = [];
  let unit = 0;
  for (const character of text) {
    offsets.push(unit);
    unit += character.length;
  }
  offsets.push(unit);
  return offsets;
}

// The findings' spans as ranges of `text`, overlapping ones merged into one range
// that carries all their messages.
function findingRanges(text, checks) {
  const offsets = unitOffsets(text);
  const ranges = (checks ?? [])
    .filter((finding) => Array.isArray(finding.span) && finding.span[1] > finding.span[0])
    .map((finding) => ({
      start: offsets[Math.min(finding.span[0], offsets.length - 1)],
      end: offsets[Math.min(finding.span[1], offsets.length - 1)],
      checks: [finding.check],
      messages: [finding.message],
    }))
    .sort((first, second) => first.start - second.start || second.end - first.end);
  const merged = [];
  for (const range of ranges) {
    const last = merged.at(-1);
    if (last && range.start < last.end) {
      last.end = Math.max(last.end, range.end);
      last.checks.push(...range.checks);
      last.messages.push(...range.messages);
    } else {
      merged.push(range);
    }
  }
  return merged;
}

function findingMark(text, range, present) {
  const mark = make("mark", undefined, "finding");
  mark.dataset.checks = [...new Set(range.checks)].join(" ");
  mark.title = range.messages.join("\n");
  mark.replaceChildren(...classNodes(text.slice(range.start, range.end), present));
  return mark;
}

// `checks` are the findings of `text` (by default the caption's own, when `text` is
// the text they were computed for).
export function renderCaption(text, checks = text === caption.text ? caption.checks : []) {
  const present = presentClasses();
  const nodes = [];
  let position = 0;
  for (const range of findingRanges(text, checks)) {
    nodes.push(...classNodes(text.slice(position, range.start), present));
    nodes.push(findingMark(text, range, present));
    position = range.end;
  }
  nodes.push(...classNodes(text.slice(position), present));
  element("[data-caption-text]").replaceChildren(...nodes);
}
