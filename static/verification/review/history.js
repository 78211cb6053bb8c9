// History: the captions acted on in this tab (sessionStorage), for "previous"; and the
// caption's revision history on the page, shown as word diffs.

import { goTo, notify, reviewUrl } from "./server.js";
import { caption, elements, make } from "./state.js";

const HISTORY_KEY = "review-history"; // sessionStorage: captions acted on in this tab
const HISTORY_KEPT = 50;
const MAX_DIFF_CELLS = 4_000_000; // beyond this a word diff shows removed + added text

// ---- the tab's history, for "previous" ----------------------------------------------

function reviewedInTab() {
  try {
    const ids = JSON.parse(sessionStorage.getItem(HISTORY_KEY) || "[]");
    return Array.isArray(ids) ? ids.filter(Number.isInteger) : [];
  } catch {
    return [];
  }
}

export function rememberReviewed(captionId) {
  const ids = reviewedInTab().filter((id) => id !== captionId);
  ids.push(captionId);
  sessionStorage.setItem(HISTORY_KEY, JSON.stringify(ids.slice(-HISTORY_KEPT)));
}

export function goToPrevious() {
  const ids = reviewedInTab().filter((id) => id !== caption.id);
  const previous = ids.pop();
  if (previous === undefined) {
    notify("No earlier caption in this tab.", "info");
    return;
  }
  sessionStorage.setItem(HISTORY_KEY, JSON.stringify(ids));
  goTo(reviewUrl(previous));
}

// ---- the revisions: word diffs ------------------------------------------------------

// Longest common subsequence of words, from the end: common[i * width + j] is its length
// for old[i..] and now[j..].
function commonLengths(old, now) {
  const width = now.length + 1;
  const common = new Uint32Array((old.length + 1) * width);
  for (let i = old.length - 1; i >= 0; i -= 1) {
    for (let j = now.length - 1; j >= 0; j -= 1) {
      common[i * width + j] =
        old[i] === now[j]
          ? common[(i + 1) * width + j + 1] + 1
          : Math.max(common[(i + 1) * width + j], common[i * width + j + 1]);
    }
  }
  return common;
}

// Walks the common subsequence forwards into runs of same, removed and added words.
function diffParts(old, now, common) {
  const width = now.length + 1;
  const parts = [];
  const push = (kind, word) => {
    const last = parts[parts.length - 1];
    if (last && last.kind === kind) {
      last.words.push(word);
    } else {
      parts.push({ kind, words: [word] });
    }
  };
  let i = 0;
  let j = 0;
  while (i < old.length || j < now.length) {
    if (i < old.length && j < now.length && old[i] === now[j]) {
      push("same", old[i]);
      i += 1;
      j += 1;
    } else if (i < old.length && (j === now.length || common[(i + 1) * width + j] >= common[i * width + j + 1])) {
      // Removed words before the words that replace them, as diffs read.
      push("del", old[i]);
      i += 1;
    } else {
      push("ins", now[j]);
      j += 1;
    }
  }
  return parts;
}

function wordDiff(before, after) {
  const old = before.split(/\s+/).filter(Boolean);
  const now = after.split(/\s+/).filter(Boolean);
  if ((old.length + 1) * (now.length + 1) > MAX_DIFF_CELLS) {
    return [
      { kind: "del", words: old },
      { kind: "ins", words: now },
    ];
  }
  return diffParts(old, now, commonLengths(old, now));
}

export function renderDiffs() {
  for (const target of elements("[data-diff]")) {
    const nodes = [];
    for (const part of wordDiff(target.dataset.before, target.dataset.after)) {
      const text = part.words.join(" ");
      if (nodes.length) {
        nodes.push(document.createTextNode(" "));
      }
      nodes.push(part.kind === "same" ? document.createTextNode(text) : make(part.kind, text));
    }
    target.replaceChildren(...nodes);
  }
}
