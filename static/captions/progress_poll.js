// The polling loop of the admin's live progress widgets (scene_progress.js,
// job_progress.js, release_progress.js): each page module picks its widgets and renders
// what the progress endpoint says; this loop fetches, retries and reloads.
//
// Every POLL_MS it fetches the progress JSON of every widget, hands each result to
// `render`, and reloads the page once one of them is no longer active, so what an ended
// item shows (files, failures, buttons, error) then comes from the server as usual.

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

/**
 * Keep `widgets` live until one of them ends.
 *
 * @param {Element[]} widgets the widgets whose item is active when the page loads
 * @param {object} how
 * @param {(widget: Element) => string} how.url the widget's progress endpoint
 * @param {(widget: Element, progress: object) => void} how.render show one result
 * @param {(progress: object) => boolean} how.isActive whether polling goes on
 */
export function pollProgress(widgets, { url, render, isActive }) {
  async function poll(failures) {
    let results;
    try {
      results = await Promise.all(widgets.map((widget) => fetchProgress(url(widget))));
    } catch (error) {
      if (failures + 1 < MAX_FAILURES) {
        setTimeout(() => poll(failures + 1), POLL_MS * 2);
      }
      return;
    }
    results.forEach((progress, index) => render(widgets[index], progress));
    if (!results.every(isActive)) {
      window.location.reload();
      return;
    }
    setTimeout(() => poll(0), POLL_MS);
  }

  if (widgets.length > 0) {
    setTimeout(() => poll(0), POLL_MS);
  }
}
