// Live build progress on the release admin pages (changelist and release page).
//
// Polls (progress_poll.js) the progress endpoint of every widget marked
// data-release-progress-url whose release is queued or building, updates its bar,
// count and status badge, and reloads the page once one is done or failed, so its
// files and error then come from the server. The count reads as
// captions/admin/releases.py:progress_text.

import { pollProgress } from "./progress_poll.js";

const ACTIVE = new Set(["queued", "building"]);

const number = (value) => value.toLocaleString("en-US");

function progressText(progress) {
  if (progress.status === "queued") {
    return "waiting for a worker";
  }
  if (progress.status === "building" && !progress.frozen) {
    return "freezing the pairs";
  }
  return (
    `${number(progress.images_done)} / ${number(progress.images_total)} images, ` +
    `${number(progress.pairs_done)} / ${number(progress.pairs_total)} pairs`
  );
}

function render(widget, progress) {
  widget.dataset.releaseStatus = progress.status;
  const bar = widget.querySelector("progress");
  bar.max = Math.max(progress.images_total + progress.pairs_total, 1);
  bar.value = progress.images_done + progress.pairs_done;
  widget.querySelector("[data-release-progress-count]").textContent =
    progressText(progress);
  const badges = document.querySelectorAll(
    `[data-release-badge="${widget.dataset.releaseId}"]`,
  );
  for (const badge of badges) {
    badge.className = `release-status release-status--${progress.status}`;
    badge.textContent = progress.status_label;
  }
}

pollProgress(
  [...document.querySelectorAll("[data-release-progress-url]")].filter((widget) =>
    ACTIVE.has(widget.dataset.releaseStatus),
  ),
  {
    url: (widget) => widget.dataset.releaseProgressUrl,
    render,
    isActive: (progress) => ACTIVE.has(progress.status),
  },
);
