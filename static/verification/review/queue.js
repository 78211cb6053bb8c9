// The queue: the claim on this caption is renewed while the page is open, and the next
// caption is claimed ahead (review-ahead) with its images and page fetched in the
// background, so that after an action the browser shows it from its cache.

import { notify, post } from "./server.js";
import { root, state } from "./state.js";

const RENEW_MS = 60_000;

export function keepClaim() {
  if (root.dataset.holdsClaim !== "true") {
    return;
  }
  const timer = window.setInterval(async () => {
    const { status, payload } = await post(root.dataset.renewUrl);
    if (status === 409) {
      window.clearInterval(timer);
      notify(`Your claim on this caption expired (${payload.error}); saving may be refused. Your draft stays in this browser.`, "warning");
    }
    if (state.ahead) {
      const renewed = await post(state.ahead.renew_url);
      if (renewed.status !== 200) {
        state.ahead = null; // lost it: the queue decides after the action
      }
    }
  }, RENEW_MS);
}

function prefetch(url, as) {
  const link = document.createElement("link");
  link.rel = "prefetch";
  link.href = url;
  if (as) {
    link.as = as;
  }
  document.head.append(link);
}

export async function claimAhead() {
  if (root.dataset.holdsClaim !== "true") {
    return; // looking back at an earlier caption: the queue is not involved
  }
  const { status, payload } = await post(root.dataset.aheadUrl + (root.dataset.query || ""));
  if (status !== 200 || !payload.next) {
    return;
  }
  state.ahead = payload.next;
  for (const url of payload.next.images) {
    const image = new Image();
    image.decoding = "async";
    image.src = url; // into the HTTP cache (the previews are cacheable for a day)
  }
  prefetch(payload.next.url, "document");
  root.dataset.ahead = String(payload.next.id); // tests read which caption comes next
}
