// Talking to the server (JSON posts with the CSRF token), notices to the reviewer, and
// where the page goes next.

import { csrfToken } from "../csrf.js";
import { element, make, root, state } from "./state.js";

// `keepalive`: the request outlives the page (an action saved in the background while
// the person leaves it).
export async function post(url, body, { keepalive = false } = {}) {
  let response;
  try {
    response = await fetch(url, {
      method: "POST",
      keepalive,
      credentials: "same-origin",
      headers: { "Content-Type": "application/json", "X-CSRFToken": csrfToken() },
      body: JSON.stringify(body ?? {}),
    });
  } catch {
    return { status: 0, payload: { error: "The server cannot be reached; nothing was saved." } };
  }
  try {
    return { status: response.status, payload: await response.json() };
  } catch {
    // A login page instead of JSON: the session has ended.
    return {
      status: response.status,
      payload: { error: `The server answered ${response.status} without JSON; log in again.` },
    };
  }
}

export function notify(message, kind = "error") {
  const notices = element("[data-notices]");
  const notice = make("p", message, `notice notice--${kind}`);
  notices.replaceChildren(notice);
}

export function secondsSpent() {
  return Math.round((performance.now() - state.startedAt) / 100) / 10;
}

// A save still on its way finishes first: leaving the page must not hide its failure.
export async function goTo(url) {
  await state.saving;
  window.location.assign(url);
}

export function nextUrl(next) {
  return next + (root.dataset.query || "");
}

export function reviewUrl(captionId) {
  return root.dataset.reviewUrlTemplate.replace(/\/0\/$/, `/${captionId}/`);
}
