// The next caption without a page load: the page of the caption claimed ahead is
// fetched in the background and parsed (DOMParser: an inert document, nothing in it
// runs or loads), and after an action its caption-dependent parts, the elements marked
// `data-swap` in templates/verification/review.html, take the place of this caption's.
// The template stays the one place that says how a caption is shown, and its escaping
// is the page load's: nothing here builds HTML from data.
//
// Showing a view hands back the view it replaced (the nodes themselves, kept while
// detached), so a failed background save can bring the acted-on caption back exactly.

import { renderCaption } from "./caption.js";
import { renderDiffs } from "./history.js";
import { zoomBy } from "./images.js";
import { caption, element, elements, root, state } from "./state.js";

// What the root element says about its caption: where to save, renew and claim ahead.
const CAPTION_DATASET = ["actionUrl", "renewUrl", "aheadUrl", "holdsClaim", "query"];
const IMAGE_ATTRIBUTES = ["src", "width", "height"];

function sectionsOf(container) {
  const sections = new Map();
  for (const node of container.querySelectorAll("[data-swap]")) {
    sections.set(node.dataset.swap, node);
  }
  return sections;
}

function imagesOf(container) {
  const images = new Map();
  for (const image of container.querySelectorAll("[data-swap-image]")) {
    images.set(image.dataset.swapImage, Object.fromEntries(IMAGE_ATTRIBUTES.map((name) => [name, image.getAttribute(name)])));
  }
  return images;
}

// The review page in `html` as a view, or null when it is not the page of `id` (a
// login page after the session ended, an error page).
export function parseView(html, url, id) {
  const page = new DOMParser().parseFromString(html, "text/html");
  const pageRoot = page.querySelector("[data-review]");
  const captionScript = page.getElementById("review-caption");
  if (!pageRoot || !captionScript) {
    return null;
  }
  const parsed = JSON.parse(captionScript.textContent);
  if (parsed.id !== id) {
    return null;
  }
  return {
    url: new URL(url, window.location.href).href,
    title: page.title,
    caption: parsed,
    version: parsed.version,
    shownText: parsed.text,
    dataset: Object.fromEntries(CAPTION_DATASET.map((name) => [name, pageRoot.dataset[name] ?? ""])),
    sections: sectionsOf(pageRoot),
    images: imagesOf(pageRoot),
  };
}

// What is on screen now, as a view that `showView` can put back.
function currentView() {
  return {
    url: window.location.href,
    title: document.title,
    caption: { ...caption },
    version: state.version, // after a conflict: the other person's version and text
    shownText: state.shownText,
    dataset: Object.fromEntries(CAPTION_DATASET.map((name) => [name, root.dataset[name] ?? ""])),
    sections: sectionsOf(root),
    images: imagesOf(root),
  };
}

function clearForms() {
  state.editing = false;
  state.rejecting = false;
  element("[data-edit-form]").hidden = true;
  element("[data-edit-text]").value = "";
  const reject = element("[data-reject-form]");
  reject.reset();
  reject.hidden = true;
  element("[data-conflict]").hidden = true;
  if (root.contains(document.activeElement)) {
    document.activeElement.blur(); // a hidden box must not keep the keys
  }
}

function showImages(images) {
  // The same URLs the ahead images were decoded from: the image cache has them, so
  // each element is complete as soon as its src is set.
  for (const image of elements("[data-swap-image]")) {
    const attributes = images.get(image.dataset.swapImage);
    for (const name of IMAGE_ATTRIBUTES) {
      if (attributes?.[name] != null && image.getAttribute(name) !== attributes[name]) {
        image.setAttribute(name, attributes[name]);
      }
    }
  }
}

// Put `view` on screen; the view it replaced comes back.
export function showView(view) {
  const shown = currentView();
  clearForms();
  showImages(view.images);
  for (const [name, node] of view.sections) {
    shown.sections.get(name)?.replaceWith(node);
  }
  Object.assign(root.dataset, view.dataset);
  delete root.dataset.ahead;
  delete root.dataset.aheadReady;
  for (const key of Object.keys(caption)) {
    delete caption[key];
  }
  Object.assign(caption, view.caption);
  Object.assign(state, {
    version: view.version,
    shownText: view.shownText,
    startedAt: performance.now(),
    claimLost: false,
    ahead: null,
  });
  document.title = view.title;
  if (state.zoom !== 1) {
    zoomBy("reset"); // reads the layout: only when there is a zoom to undo
  }
  renderCaption(state.shownText);
  renderDiffs();
  return shown;
}

// The caption whose page `url` is (/review/<id>/), or null.
export function captionIdOf(url) {
  const found = new URL(url, window.location.href).pathname.match(/\/review\/(\d+)\/$/);
  return found ? Number(found[1]) : null;
}
