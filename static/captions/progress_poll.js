// The polling loop of the admin's live progress widgets (captions/admin/live_progress.py).
// Each page's module (scene_progress.js, job_progress.js, release_progress.js) says
// only what its widget shows; this loop finds the widgets, fetches, updates the status
// badges, retries and reloads.
//
// A widget of kind "scene" is marked data-scene-progress-url, data-scene-id,
// data-scene-status and, while a worker moves its scene along, data-scene-active; its
// status badges anywhere on the page are marked data-scene-badge="<id>". Every POLL_MS
// the loop fetches the progress JSON of every active widget, hands each to `render`,
// and reloads the page once one of them is no longer active, so what an ended item
// shows (files, failures, buttons, error) then comes from the server as usual.

const POLL_MS = 1500;
// A login page instead of JSON (session expired) or a server that is down: give up
// after a few tries rather than poll forever.
const MAX_FAILURES = 5;

async function fetchProgress(url) {
  const response = await fetch(url, {
    headers: { Accept: "application/json" },
    credentials: "same-origin",
    redirect: "error",
  });
  if (!response.ok) {
    throw new Error(`progress: HTTP ${response.status}`);
  }
  return response.json();
}

function updateBadges(kind, id, progress) {
  for (const badge of document.querySelectorAll(`[data-${kind}-badge="${id}"]`)) {
    badge.className = `${kind}-status ${kind}-status--${progress.status}`;
    badge.textContent = progress.status_label;
  }
}

/**
 * Keep the page's widgets of `kind` live until one of them ends.
 *
 * @param {string} kind "scene", "job" or "release": the prefix of the data attributes
 * @param {(widget: Element, progress: object) => void} render show one result: the
 *   texts come formatted in the progress JSON
 */
export function pollProgress(kind, render) {
  const key = (name) => kind + name; // a dataset key: data-scene-id is sceneId
  const widgets = [...document.querySelectorAll(`[data-${kind}-progress-url]`)].filter(
    (widget) => key("Active") in widget.dataset,
  );

  function show(widget, progress) {
    widget.dataset[key("Status")] = progress.status;
    render(widget, progress);
    updateBadges(kind, widget.dataset[key("Id")], progress);
  }

  async function poll(failures) {
    let results;
    try {
      results = await Promise.all(
        widgets.map((widget) => fetchProgress(widget.dataset[key("ProgressUrl")])),
      );
    } catch (error) {
      if (failures + 1 < MAX_FAILURES) {
        setTimeout(() => poll(failures + 1), POLL_MS * 2);
      }
      return;
    }
    results.forEach((progress, index) => show(widgets[index], progress));
    if (!results.every((progress) => progress.active)) {
      window.location.reload();
      return;
    }
    setTimeout(() => poll(0), POLL_MS);
  }

  if (widgets.length > 0) {
    setTimeout(() => poll(0), POLL_MS);
  }
}
