// Live ingest progress on the scene admin pages (the list and a scene's page), polled
// by progress_poll.js: the bar of patches done, and the count in words
// (captions/admin/scenes.py writes both, on the page and in the progress JSON).

import { pollProgress } from "./progress_poll.js";

pollProgress("scene", (widget, progress) => {
  if (progress.patches_total > 0) {
    const bar = widget.querySelector("progress");
    bar.max = progress.patches_total;
    bar.value = progress.patches_done;
  }
  widget.querySelector("[data-scene-progress-count]").textContent = progress.count_text;
});
