// The queue: the claims are renewed while the page is open, and the next caption is
// claimed ahead (review-ahead) with its page fetched and parsed and its images decoded
// in the background, so that after an action it is swapped in at once (swap.js).

import { notify, post } from "./server.js";
import { root, state } from "./state.js";
import { parseView } from "./swap.js";

const RENEW_MS = 60_000;

let renewing = null;

// One timer for the page's life: it renews whatever caption is on screen and the one
// claimed ahead of it, which change as captions are swapped in.
export function keepClaim() {
  renewing ??= window.setInterval(renewClaims, RENEW_MS);
}

async function renewClaims() {
  if (root.dataset.holdsClaim === "true" && !state.claimLost) {
    const { status, payload } = await post(root.dataset.renewUrl);
    if (status === 409) {
      state.claimLost = true;
      notify(`Your claim on this caption expired (${payload.error}); saving may be refused. Your draft stays in this browser.`, "warning");
    }
  }
  const ahead = state.ahead;
  if (ahead) {
    const renewed = await post(ahead.renew_url);
    if (renewed.status !== 200 && state.ahead === ahead) {
      state.ahead = null; // lost it: the queue decides after the action
    }
  }
}

function decoded(url) {
  const image = new Image();
  image.decoding = "async";
  image.src = url; // into the HTTP cache (the previews are cacheable for a day)
  return image.decode().then(() => image);
}

// The next caption's page as a view, its images decoded; null if any of it failed
// (the action then loads the page as before).
async function prepare(next) {
  try {
    const [response, ...images] = await Promise.all([
      fetch(next.url, { credentials: "same-origin" }),
      ...next.images.map(decoded),
    ]);
    if (!response.ok || response.redirected) {
      return null;
    }
    const view = parseView(await response.text(), next.url, next.id);
    if (view) {
      view.decodedImages = images; // held, so that the decoded images stay in memory
    }
    return view;
  } catch {
    return null;
  }
}

export async function claimAhead() {
  if (root.dataset.holdsClaim !== "true") {
    return; // looking back at an earlier caption: the queue is not involved
  }
  const askedFor = root.dataset.aheadUrl;
  const { status, payload } = await post(root.dataset.aheadUrl + (root.dataset.query || ""));
  if (status !== 200 || !payload.next || root.dataset.aheadUrl !== askedFor) {
    return;
  }
  const ahead = { ...payload.next, view: null };
  ahead.ready = prepare(ahead).then((view) => {
    ahead.view = view;
    if (view && state.ahead === ahead) {
      root.dataset.aheadReady = String(ahead.id); // tests and benchmarks wait for it
    }
    return view;
  });
  state.ahead = ahead;
  root.dataset.ahead = String(ahead.id); // tests read which caption comes next
}
