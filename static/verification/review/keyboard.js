// The keyboard: one key for each action (a, e, r, s, p), the overlay (o), the region
// outlines (g) and zoom (+, -, 0); Escape, Ctrl+Enter and Enter for the open form.

import { act, cancelEdit, closeReject, openReject, pickReason, saveEdit, startEdit, submitReject } from "./actions.js";
import { goToPrevious } from "./history.js";
import { toggleOverlay, toggleRegions, zoomBy } from "./images.js";
import { state } from "./state.js";

const SHORTCUTS = {
  a: () => act("approve"),
  e: () => startEdit(),
  r: () => openReject(),
  s: () => act("skip"),
  p: () => goToPrevious(),
  o: () => toggleOverlay(),
  g: () => toggleRegions(),
  "+": () => zoomBy("in"),
  "=": () => zoomBy("in"),
  "-": () => zoomBy("out"),
  0: () => zoomBy("reset"),
};
// While a caption is being edited only these act: the rest would drop the edit.
const WHILE_EDITING = new Set(["e", "o", "g", "+", "=", "-", "0"]);

function isTyping(target) {
  if (target instanceof HTMLTextAreaElement || target instanceof HTMLSelectElement) {
    return true;
  }
  if (target instanceof HTMLInputElement) {
    return !["checkbox", "radio", "range", "button", "submit"].includes(target.type);
  }
  return Boolean(target?.isContentEditable);
}

// Escape and Enter act on the open form; true when the key was theirs.
function formKey(event) {
  if (event.key === "Escape") {
    if (state.editing) {
      cancelEdit();
    } else if (state.rejecting) {
      closeReject();
    }
    return true;
  }
  if (event.key === "Enter" && (event.ctrlKey || event.metaKey)) {
    if (state.editing) {
      event.preventDefault();
      saveEdit();
    }
    return true;
  }
  if (state.rejecting && event.key === "Enter" && !(event.target instanceof HTMLButtonElement)) {
    event.preventDefault();
    submitReject();
    return true;
  }
  return false;
}

function onKeyDown(event) {
  if (formKey(event)) {
    return;
  }
  if (isTyping(event.target) || event.ctrlKey || event.metaKey || event.altKey || event.repeat) {
    return;
  }
  const key = event.key.length === 1 ? event.key.toLowerCase() : event.key;
  if (state.rejecting) {
    pickReason(key);
    return;
  }
  if (state.editing && !WHILE_EDITING.has(key)) {
    return;
  }
  const shortcut = SHORTCUTS[key];
  if (shortcut) {
    event.preventDefault();
    shortcut();
  }
}

export function setUpKeyboard() {
  document.addEventListener("keydown", onKeyDown);
}
