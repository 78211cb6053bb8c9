// The review page's shared state (review.js wires the modules in review/ together).
//
// Everything the modules share lives here, explicitly: the page's root element, the
// caption and class vocabulary the template put in as JSON, and the mutable `state`.
// Nothing is put on `window`. When the next caption is swapped in (swap.js), `caption`
// is the same object with the next caption's fields, so every module sees it.

export const root = document.querySelector("[data-review]");
export const caption = JSON.parse(document.getElementById("review-caption").textContent);
export const vocabulary = JSON.parse(document.getElementById("review-vocabulary").textContent);

export const state = {
  ahead: null, // {id, url, renew_url, images, ready, view} of the caption claimed after this one
  saving: null, // a save still on its way after the page moved on: a promise of true/false
  startedAt: performance.now(), // when this caption was shown (the seconds spent on it)
  claimLost: false, // the renewal of the caption on screen was refused
  version: caption.version,
  shownText: caption.text,
  busy: false,
  editing: false,
  rejecting: false,
  zoom: 1,
};

export const element = (selector) => root.querySelector(selector);
export const elements = (selector) => [...root.querySelectorAll(selector)];

// Captions are untrusted text (an LLM wrote them): text goes in as textContent only.
export function make(tag, text, className) {
  const node = document.createElement(tag);
  if (text !== undefined) {
    node.textContent = text;
  }
  if (className) {
    node.className = className;
  }
  return node;
}
