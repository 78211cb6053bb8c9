// The review page (templates/verification/review.html): images with zoom, overlay and
// region outlines; the caption with its class words highlighted; the keyboard actions,
// posted as JSON to the review-action endpoint (verification/views.py).
//
// Captions are untrusted text (an LLM wrote them): every caption, draft and server
// message is put into the page as text nodes (textContent), never as HTML.
//
// The next caption is claimed ahead (review-ahead) once this page is ready, and its
// page is fetched and its images decoded in the background: after an action it is
// swapped in at once (history.pushState keeps the address right) while the save goes
// on; a failed save brings the acted-on caption back. Both claims are renewed while the
// page is open.
//
// This entry module only wires up the modules in review/, one concern each:
//   state.js     the shared state (caption, vocabulary, root element, `state`)
//   server.js    JSON posts with the CSRF token, notices, where to go next
//   queue.js     the claims renewed, the next caption claimed ahead and prepared
//   swap.js      the next caption's page parsed and swapped in, and back
//   actions.js   approve/skip/edit/reject, the background save, the forms, the 409
//   drafts.js    drafts of an edit in localStorage
//   images.js    zoom, pan, overlay and region outlines
//   caption.js   the caption with its class words highlighted
//   history.js   the tab's history ("previous") and the revisions' word diffs
//   keyboard.js  the shortcuts

import { setUpActions, showConflict, startEdit } from "./review/actions.js";
import { renderCaption } from "./review/caption.js";
import { restoreDraft } from "./review/drafts.js";
import { renderDiffs } from "./review/history.js";
import { setUpImages } from "./review/images.js";
import { setUpKeyboard } from "./review/keyboard.js";
import { claimAhead, keepClaim } from "./review/queue.js";
import { root, state } from "./review/state.js";

function setUp() {
  renderCaption(state.shownText);
  renderDiffs();
  setUpImages();
  setUpActions();
  setUpKeyboard();
  restoreDraft({ startEdit, showConflict });
  keepClaim();
  root.dataset.ready = "true"; // the keyboard works from here on (tests wait for it)
  claimAhead();
}

setUp();
