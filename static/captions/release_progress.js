// Live build progress on the release admin pages (the list and a release's page),
// polled by progress_poll.js: the bar of images and pairs written, and the count in
// words (captions/admin/releases.py writes both, on the page and in the progress JSON).

import { pollProgress } from "./progress_poll.js";

pollProgress("release", (widget, progress) => {
  const bar = widget.querySelector("progress");
  bar.max = Math.max(progress.images_total + progress.pairs_total, 1);
  bar.value = progress.images_done + progress.pairs_done;
  widget.querySelector("[data-release-progress-count]").textContent =
    progress.count_text;
});
