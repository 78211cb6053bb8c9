// Live ingest progress on the scene admin pages (changelist and change page).
//
// Polls the progress endpoint of every widget marked data-scene-progress-url whose
// scene is queued or ingesting, updates its bar, count and status badge, and reloads
// the page once one of them is ready or failed, so the counts, thumbnails and error
// message then come from the server as usual.

const POLL_MS = 1500;
const ACTIVE = new Set(["queued", "ingesting"]);
// A login page instead of JSON (session expired) or a server that is down: give up
// after a few tries rather than poll forever.
const MAX_FAILURES = 5;

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

async function fetchProgress(widget) {
  const response = await fetch(widget.dataset.sceneProgressUrl, {
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
  ...document.querySelectorAll("[data-scene-progress-url]"),
].filter((widget) => ACTIVE.has(widget.dataset.sceneStatus));
if (activeWidgets.length > 0) {
  setTimeout(() => poll(activeWidgets, 0), POLL_MS);
}
