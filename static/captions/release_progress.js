// Live build progress on the release admin pages (changelist and release page).
//
// Polls the progress endpoint of every widget marked data-release-progress-url whose
// release is queued or building, updates its bar, count and status badge, and
// reloads the page once one is done or failed, so its files and error then come
// from the server. The count reads as captions/admin/releases.py:progress_text.

const POLL_MS = 1500;
const ACTIVE = new Set(["queued", "building"]);
// A login page instead of JSON (session expired) or a server that is down: give up
// after a few tries rather than poll forever.
const MAX_FAILURES = 5;

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

async function fetchProgress(widget) {
  const response = await fetch(widget.dataset.releaseProgressUrl, {
    headers: { Accept: "application/json" },
    credentials: "same-origin",
    redirect: "error",
  });
  if (!response.ok) {
    throw new Error(`progress: HTTP ${response.status}`);
  }
  return response.json();
}

async function poll(widgets, failures) {
  let results;
  try {
    results = await Promise.all(widgets.map(fetchProgress));
  } catch (error) {
    if (failures + 1 < MAX_FAILURES) {
      setTimeout(() => poll(widgets, failures + 1), POLL_MS * 2);
    }
    return;
  }
  results.forEach((progress, index) => render(widgets[index], progress));
  if (results.some((progress) => !ACTIVE.has(progress.status))) {
    window.location.reload();
    return;
  }
  setTimeout(() => poll(widgets, 0), POLL_MS);
}

const activeWidgets = [
  ...document.querySelectorAll("[data-release-progress-url]"),
].filter((widget) => ACTIVE.has(widget.dataset.releaseStatus));
if (activeWidgets.length > 0) {
  setTimeout(() => poll(activeWidgets, 0), POLL_MS);
}
