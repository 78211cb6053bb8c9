// Talking to the server (JSON posts with the CSRF token), notices to the reviewer, and
// where the page goes next.

import { element, make, root, startedAt } from "./state.js";

function cookie(name) {
  const prefix = `${name}=`;
  for (const part of document.cookie.split(";")) {
    const trimmed = part.trim();
    if (trimmed.startsWith(prefix)) {
      return decodeURIComponent(trimmed.slice(prefix.length));
    }
  }
  return "";
}

export async function post(url, body) {
  let response;
  try {
    response = await fetch(url, {
      method: "POST",
      credentials: "same-origin",
      headers: { "Content-Type": "application/json", "X-CSRFToken": cookie("csrftoken") },
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
  return Math.round((performance.now() - startedAt) / 100) / 10;
}

export function goTo(url) {
  window.location.assign(url);
}

export function nextUrl(next) {
  return next + (root.dataset.query || "");
}

export function reviewUrl(captionId) {
  return root.dataset.reviewUrlTemplate.replace(/\/0\/$/, `/${captionId}/`);
}
