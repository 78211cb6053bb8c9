// Live ingest progress on the scene admin pages (changelist and change page).
//
// Polls (progress_poll.js) the progress endpoint of every widget marked
// data-scene-progress-url whose scene is queued or ingesting, updates its bar, count
// and status badge, and reloads the page once one of them is ready or failed, so the
// counts, thumbnails and error message then come from the server as usual.

import { pollProgress } from "./progress_poll.js";

const ACTIVE = new Set(["queued", "ingesting"]);

function render(widget, progress) {
  widget.dataset.sceneStatus = progress.status;
  const bar = widget.querySelector("progress");
  const count = widget.querySelector("[data-scene-progress-count]");
  if (progress.patches_total > 0) {
    bar.max = progress.patches_total;
    bar.value = progress.patches_done;
    count.textContent = `${progress.patches_done} / ${progress.patches_total}`;
  }
  const badges = document.querySelectorAll(
    `[data-scene-badge="${widget.dataset.sceneId}"]`,
  );
  for (const badge of badges) {
    badge.className = `scene-status scene-status--${progress.status}`;
    badge.textContent = progress.status_label;
  }
}

pollProgress(
  [...document.querySelectorAll("[data-scene-progress-url]")].filter((widget) =>
    ACTIVE.has(widget.dataset.sceneStatus),
  ),
  {
    url: (widget) => widget.dataset.sceneProgressUrl,
    render,
    isActive: (progress) => ACTIVE.has(progress.status),
  },
);
