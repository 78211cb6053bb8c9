// The actions: approve, skip, edit and reject, posted as JSON to the review-action
// endpoint (verification/views.py); the edit and reject forms; and a 409 conflict, when
// someone else saved first, shown with both texts so that nothing is lost.

import { renderCaption } from "./caption.js";
import { clearDrafts, saveDraft } from "./drafts.js";
import { goToPrevious, rememberReviewed } from "./history.js";
import { goTo, nextUrl, notify, post, secondsSpent } from "./server.js";
import { caption, element, elements, root, state } from "./state.js";

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

export async function act(action, extra = {}) {
  if (state.busy) {
    return;
  }
  setBusy(true);
  const body = { action, version: state.version, seconds_spent: secondsSpent(), ...extra };
  const { status, payload } = await post(root.dataset.actionUrl, body);
  if (status === 200 && payload.ok) {
    clearDrafts();
    rememberReviewed(caption.id);
    goTo(state.ahead ? state.ahead.url : nextUrl(payload.next));
    return;
  }
  setBusy(false);
  if (status === 409 && payload.current) {
    showConflict({
      error: payload.error,
      current: payload.current,
      mine: action === "edit" ? extra.text : state.shownText,
      editing: action === "edit",
    });
  } else {
    notify(payload.error || `Not saved: the server answered ${status}.`);
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
}
