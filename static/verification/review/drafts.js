// Drafts of an edit, kept in localStorage (review-draft:<caption id>:<version>) so an
// edit survives a reload or a crash; restored into the edit box when the page opens.

import { notify } from "./server.js";
import { caption, state } from "./state.js";

const DRAFT_PREFIX = "review-draft:";

const draftKey = (version) => `${DRAFT_PREFIX}${caption.id}:${version}`;

function draftKeys(captionId = caption.id) {
  const prefix = `${DRAFT_PREFIX}${captionId}:`;
  const keys = [];
  for (let index = 0; index < localStorage.length; index += 1) {
    const key = localStorage.key(index);
    if (key && key.startsWith(prefix)) {
      keys.push({ key, version: Number(key.slice(prefix.length)) });
    }
  }
  return keys.sort((first, second) => first.version - second.version);
}

export function saveDraft(text) {
  for (const { key } of draftKeys()) {
    localStorage.removeItem(key);
  }
  localStorage.setItem(draftKey(state.version), text);
}

// `captionId`: a caption saved in the background, after the next one came on screen.
export function clearDrafts(captionId = caption.id) {
  for (const { key } of draftKeys(captionId)) {
    localStorage.removeItem(key);
  }
}

// startEdit and showConflict come from actions.js (passed in: drafts.js imports no
// module that imports it back).
export function restoreDraft({ startEdit, showConflict }) {
  const latest = draftKeys().pop();
  if (!latest) {
    return;
  }
  const draft = localStorage.getItem(latest.key);
  if (latest.version === state.version) {
    startEdit(draft);
    notify("Your unsaved draft from this browser is back in the box.", "info");
  } else {
    // Someone saved since the draft was written: keep the draft, show both.
    showConflict({
      error: `The caption changed since your draft (version ${latest.version}).`,
      current: { ...caption, text: state.shownText },
      mine: draft,
      editing: true,
    });
  }
}
