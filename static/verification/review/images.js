// The images: zoom (buttons, keys, the wheel at the pointer), panning by dragging, the
// frames scrolled together, and the land cover overlay and region outlines, whose
// settings are kept in localStorage.

import { notify } from "./server.js";
import { element, elements, root, state } from "./state.js";

const BROKEN_IMAGE =
  "A preview could not be loaded: the image store may be unavailable. Reload the page to try again, and tell an admin if it persists.";

const VIEW_PREFERENCES_KEY = "review-view"; // localStorage: overlay, opacity, regions
const MIN_ZOOM = 1;
const MAX_ZOOM = 16;
const ZOOM_FACTOR = 1.5;

const frames = elements("[data-viewer]");
const overlay = element("[data-overlay]");
const overlayToggle = element("[data-overlay-toggle]");
const overlayOpacity = element("[data-overlay-opacity]");
const regionsToggle = element("[data-regions-toggle]");

function setZoom(zoom, anchor = { x: 0.5, y: 0.5 }) {
  const next = Math.min(MAX_ZOOM, Math.max(MIN_ZOOM, zoom));
  const frame = frames[0];
  // Keep the image point under the anchor (the pointer, or the centre) in place.
  const pointX = (frame.scrollLeft + anchor.x * frame.clientWidth) / state.zoom;
  const pointY = (frame.scrollTop + anchor.y * frame.clientHeight) / state.zoom;
  state.zoom = next;
  root.style.setProperty("--zoom", String(next));
  for (const each of frames) {
    each.scrollLeft = pointX * next - anchor.x * each.clientWidth;
    each.scrollTop = pointY * next - anchor.y * each.clientHeight;
  }
  element("[data-zoom-level]").textContent = `${Math.round(next * 10) / 10}×`;
}

export function zoomBy(direction) {
  if (direction === "in") {
    setZoom(state.zoom * ZOOM_FACTOR);
  } else if (direction === "out") {
    setZoom(state.zoom / ZOOM_FACTOR);
  } else {
    setZoom(1);
  }
}

function syncScroll(source) {
  for (const frame of frames) {
    if (frame !== source && (frame.scrollLeft !== source.scrollLeft || frame.scrollTop !== source.scrollTop)) {
      frame.scrollLeft = source.scrollLeft;
      frame.scrollTop = source.scrollTop;
    }
  }
}

function panWithPointer(frame) {
  let last = null;
  frame.addEventListener("pointerdown", (event) => {
    last = { x: event.clientX, y: event.clientY };
    frame.setPointerCapture(event.pointerId);
  });
  frame.addEventListener("pointermove", (event) => {
    if (last) {
      frame.scrollLeft -= event.clientX - last.x;
      frame.scrollTop -= event.clientY - last.y;
      last = { x: event.clientX, y: event.clientY };
    }
  });
  const stop = () => {
    last = null;
  };
  frame.addEventListener("pointerup", stop);
  frame.addEventListener("pointercancel", stop);
}

function zoomWithWheel(frame) {
  frame.addEventListener(
    "wheel",
    (event) => {
      event.preventDefault();
      const box = frame.getBoundingClientRect();
      const anchor = { x: (event.clientX - box.left) / frame.clientWidth, y: (event.clientY - box.top) / frame.clientHeight };
      setZoom(event.deltaY < 0 ? state.zoom * 1.25 : state.zoom / 1.25, anchor);
    },
    { passive: false },
  );
}

function viewPreferences() {
  try {
    return JSON.parse(localStorage.getItem(VIEW_PREFERENCES_KEY) || "{}");
  } catch {
    return {};
  }
}

function applyView() {
  overlay.hidden = !overlayToggle.checked;
  overlay.style.opacity = String(Number(overlayOpacity.value) / 100);
  for (const outlines of elements("[data-regions]")) {
    outlines.hidden = !regionsToggle.checked;
  }
  localStorage.setItem(
    VIEW_PREFERENCES_KEY,
    JSON.stringify({
      overlay: overlayToggle.checked,
      opacity: Number(overlayOpacity.value),
      regions: regionsToggle.checked,
    }),
  );
}

function toggle(checkbox) {
  checkbox.checked = !checkbox.checked;
  applyView();
}

export const toggleOverlay = () => toggle(overlayToggle);
export const toggleRegions = () => toggle(regionsToggle);

export function setUpImages() {
  const preferences = viewPreferences();
  overlayToggle.checked = Boolean(preferences.overlay);
  regionsToggle.checked = Boolean(preferences.regions);
  if (Number.isFinite(preferences.opacity)) {
    overlayOpacity.value = String(preferences.opacity);
  }
  applyView();
  for (const control of [overlayToggle, overlayOpacity, regionsToggle]) {
    control.addEventListener("input", applyView);
  }
  for (const frame of frames) {
    frame.addEventListener("scroll", () => syncScroll(frame));
    zoomWithWheel(frame);
    panWithPointer(frame);
  }
  for (const button of elements("[data-zoom]")) {
    button.addEventListener("click", () => zoomBy(button.dataset.zoom));
  }
  reportBrokenImages();
}

// A preview that cannot be loaded (the object store down, or refusing the site's
// credentials) says so instead of leaving an empty frame; one that failed before this
// script ran too.
function reportBrokenImages() {
  const broken = () => notify(BROKEN_IMAGE);
  for (const image of elements("[data-swap-image]")) {
    image.addEventListener("error", broken);
    if (image.complete && image.getAttribute("src") && image.naturalWidth === 0) {
      broken();
    }
  }
}
