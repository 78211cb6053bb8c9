// The actions: approve, skip, edit and reject, posted as JSON to the review-action
// endpoint (verification/views.py), the next caption swapped in while the save goes on;
// the edit and reject forms; and a 409 conflict, when someone else saved first, shown
// with both texts so that nothing is lost.

import { renderCaption } from "./caption.js";
import { clearDrafts, restoreDraft, saveDraft } from "./drafts.js";
import { goToPrevious, rememberReviewed } from "./history.js";
import { claimAhead } from "./queue.js";
import { goTo, nextUrl, notify, post, secondsSpent } from "./server.js";
import { caption, element, elements, root, state } from "./state.js";
import { captionIdOf, showView } from "./swap.js";

const editForm = element("[data-edit-form]");
const editText = element("[data-edit-text]");
const rejectForm = element("[data-reject-form]");
const actionButtons = elements("[data-action]");

function setBusy(busy) {
  state.busy = busy;
  for (const button of [...actionButtons, ...root.querySelectorAll("button[type=submit]")]) {
    button.disabled = busy;
  }
}

export function startEdit(text) {
  closeReject();
  state.editing = true;
  if (text !== undefined) {
    editText.value = text;
  } else if (!editText.value) {
    editText.value = state.shownText;
  }
  editForm.hidden = false;
  element("[data-caption-view]").hidden = true;
  editText.focus();
  editText.setSelectionRange(editText.value.length, editText.value.length);
}

export function cancelEdit() {
  state.editing = false;
  editForm.hidden = true;
  element("[data-caption-view]").hidden = false;
  clearDrafts();
  editText.value = "";
  element('[data-action="edit"]').focus();
}

export function openReject() {
  if (state.editing) {
    return;
  }
  state.rejecting = true;
  rejectForm.hidden = false;
  (rejectForm.querySelector("input[type=radio]:checked") ?? rejectForm.querySelector("input[type=radio]"))?.focus();
}

export function closeReject() {
  state.rejecting = false;
  rejectForm.hidden = true;
}

// The reason whose key was pressed while the reject form is open, if any, is picked.
export function pickReason(key) {
  const radio = rejectForm.querySelector(`[data-reason-key="${CSS.escape(key)}"]`);
  if (radio) {
    radio.checked = true;
    radio.focus();
  }
}

function rejectReason() {
  const other = rejectForm.querySelector("[data-reject-other]").value.trim();
  return other || rejectForm.querySelector("input[type=radio]:checked")?.value || "";
}

// After an action the caption claimed ahead is swapped in at once, while the save
// goes on in the background; if the save fails, the acted-on caption comes back as it
// was, with the person's text and the reason. Without a caption ready ahead (the end
// of the queue, a page that failed to load) the page waits for the save and moves on.
export async function act(action, extra = {}) {
  if (state.busy) {
    return;
  }
  setBusy(true);
  if (!(await earlierSaveKept())) {
    setBusy(false);
    return;
  }
  const body = { action, version: state.version, seconds_spent: secondsSpent(), ...extra };
  const saving = post(root.dataset.actionUrl, body, { keepalive: true });
  const ahead = state.ahead;
  const view = await aheadView(ahead, saving);
  if (!view) {
    await actInPlace(saving, action, extra);
    return;
  }
  const acted = showView(view);
  window.history.pushState(null, "", view.url);
  performance.clearMarks("review:next-shown"); // the last one only, in a long session
  performance.mark("review:next-shown"); // for the developer tools and the benchmark
  setBusy(false);
  restoreDraft({ startEdit, showConflict });
  root.dataset.saving = String(acted.caption.id); // tests wait for the save to end
  const settled = finishSave(saving, { acted, ahead, action, extra });
  state.saving = settled;
  settled.then(() => {
    if (state.saving === settled) {
      state.saving = null;
      delete root.dataset.saving;
    }
  });
}

// An action on a caption swapped in waits for the save of the one before it: if
// that failed, the person is back on it and this action is not sent.
async function earlierSaveKept() {
  if (!state.saving) {
    return true;
  }
  const shown = caption.id;
  return (await state.saving) && caption.id === shown;
}

// The view of the caption claimed ahead once it is ready, or null: none was claimed,
// its page or images failed, or the save answered first (its page then loads).
async function aheadView(ahead, saving) {
  if (!ahead) {
    return null;
  }
  return ahead.view ?? Promise.race([ahead.ready, saving.then(() => null)]);
}

async function actInPlace(saving, action, extra) {
  const { status, payload } = await saving;
  if (status === 200 && payload.ok) {
    clearDrafts();
    rememberReviewed(caption.id);
    goTo(state.ahead ? state.ahead.url : nextUrl(payload.next));
    return;
  }
  setBusy(false);
  showFailure(status, payload, action, extra);
}

// True when the save of the caption that was swapped out is kept.
async function finishSave(saving, { acted, ahead, action, extra }) {
  const { status, payload } = await saving;
  if (status === 200 && payload.ok) {
    clearDrafts(acted.caption.id);
    rememberReviewed(acted.caption.id);
    claimAhead(); // only now: until the save is in, the queue would offer it again
    return true;
  }
  // Back to the acted-on caption; the one on screen is still claimed, and is again
  // the caption ahead of it, ready to be swapped in when the person acts again.
  ahead.view = showView(acted);
  ahead.ready = Promise.resolve(ahead.view);
  state.ahead = ahead;
  Object.assign(root.dataset, { ahead: String(ahead.id), aheadReady: String(ahead.id) });
  window.history.replaceState(null, "", acted.url);
  showFailure(status, payload, action, extra, { reopen: true });
  return false;
}

// A refused or lost save: a conflict shows both texts; otherwise the message, and
// (`reopen`, when the page had moved on) the edit or reject form as it was sent.
function showFailure(status, payload, action, extra, { reopen = false } = {}) {
  if (status === 409 && payload.current) {
    showConflict({
      error: payload.error,
      current: payload.current,
      mine: action === "edit" ? extra.text : state.shownText,
      editing: action === "edit",
    });
    return;
  }
  const reason = payload.error || `the server answered ${status}`;
  notify(reopen ? `Not saved, so this caption is back: ${reason}` : `Not saved: ${reason}`);
  if (reopen && action === "edit") {
    startEdit(extra.text);
    saveDraft(extra.text);
  } else if (reopen && action === "reject") {
    openReject();
    pickSentReason(extra.reason);
  }
}

function pickSentReason(reason) {
  const listed = [...rejectForm.querySelectorAll("input[type=radio]")].find((radio) => radio.value === reason);
  if (listed) {
    listed.checked = true;
  } else {
    rejectForm.querySelector("[data-reject-other]").value = reason;
  }
}

export function saveEdit() {
  const text = editText.value;
  if (!text.trim()) {
    notify("A caption cannot be empty.");
    return;
  }
  act("edit", { text });
}

export function submitReject() {
  const reason = rejectReason();
  if (!reason) {
    notify("Pick a reason or write one.");
    return;
  }
  act("reject", { reason });
}

export function showConflict({ error, current, mine, editing }) {
  // From now on a save overwrites their version knowingly: it carries theirs.
  state.version = current.version;
  state.shownText = current.text;
  element("[data-version]").textContent = String(current.version);
  const badge = element("[data-status]");
  badge.textContent = current.status;
  badge.className = `status status--${current.status}`;
  element("[data-conflict-message]").textContent = error;
  element("[data-conflict-version]").textContent = `version ${current.version}, ${current.status}`;
  element("[data-conflict-theirs]").textContent = current.text;
  element("[data-conflict-mine]").textContent = mine;
  element("[data-conflict]").hidden = false;
  renderCaption(current.text, current.checks);
  if (editing) {
    startEdit(mine);
    saveDraft(mine);
  }
}

function onActionButton(action) {
  if (action === "edit") {
    startEdit();
  } else if (action === "reject") {
    openReject();
  } else if (action === "previous") {
    goToPrevious();
  } else if (!state.editing) {
    act(action);
  }
}

export function setUpActions() {
  for (const button of actionButtons) {
    button.addEventListener("click", () => onActionButton(button.dataset.action));
  }
  editForm.addEventListener("submit", (event) => {
    event.preventDefault();
    saveEdit();
  });
  editText.addEventListener("input", () => saveDraft(editText.value));
  element("[data-cancel-edit]").addEventListener("click", cancelEdit);
  rejectForm.addEventListener("submit", (event) => {
    event.preventDefault();
    submitReject();
  });
  element("[data-cancel-reject]").addEventListener("click", closeReject);
  // Back or Forward to another caption's address loads that page (once a save on its
  // way has ended); to the caption on screen (after a failed save) changes nothing.
  window.addEventListener("popstate", async () => {
    await state.saving;
    if (captionIdOf(window.location.href) !== caption.id) {
      window.location.reload();
    }
  });
}
