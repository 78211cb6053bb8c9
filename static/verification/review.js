// The review page (templates/verification/review.html): images with zoom, overlay and
// region outlines; the caption with its class words highlighted; the keyboard actions,
// posted as JSON to the review-action endpoint (verification/views.py).
//
// Captions are untrusted text (an LLM wrote them): every caption, draft and server
// message is put into the page as text nodes (textContent), never as HTML.
//
// The next caption is claimed ahead (review-ahead) once this page is ready, and its
// images and page are fetched in the background: after an action the browser goes
// straight to it and shows it from its cache. Both claims are renewed while the page is
// open.

const RENEW_MS = 60_000;
const HISTORY_KEY = "review-history"; // sessionStorage: captions acted on in this tab
const HISTORY_KEPT = 50;
const DRAFT_PREFIX = "review-draft:"; // localStorage: review-draft:<caption id>:<version>
const VIEW_PREFERENCES_KEY = "review-view"; // localStorage: overlay, opacity, regions
const MIN_ZOOM = 1;
const MAX_ZOOM = 16;
const ZOOM_FACTOR = 1.5;
const MAX_DIFF_CELLS = 4_000_000; // beyond this a word diff shows removed + added text

const root = document.querySelector("[data-review]");
const caption = JSON.parse(document.getElementById("review-caption").textContent);
const vocabulary = JSON.parse(document.getElementById("review-vocabulary").textContent);
const startedAt = performance.now();

const state = {
  ahead: null, // {id, url, renew_url, images} of the caption claimed after this one
  version: caption.version,
  shownText: caption.text,
  busy: false,
  editing: false,
  rejecting: false,
  zoom: 1,
};

const element = (selector) => root.querySelector(selector);
const elements = (selector) => [...root.querySelectorAll(selector)];

function make(tag, text, className) {
  const node = document.createElement(tag);
  if (text !== undefined) {
    node.textContent = text;
  }
  if (className) {
    node.className = className;
  }
  return node;
}

// ---- talking to the server ----------------------------------------------------------

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

async function post(url, body) {
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

function notify(message, kind = "error") {
  const notices = element("[data-notices]");
  const notice = make("p", message, `notice notice--${kind}`);
  notices.replaceChildren(notice);
}

function secondsSpent() {
  return Math.round((performance.now() - startedAt) / 100) / 10;
}

function goTo(url) {
  window.location.assign(url);
}

function nextUrl(next) {
  return next + (root.dataset.query || "");
}

function reviewUrl(captionId) {
  return root.dataset.reviewUrlTemplate.replace(/\/0\/$/, `/${captionId}/`);
}

// ---- the tab's history, for "previous" ----------------------------------------------

function reviewedInTab() {
  try {
    const ids = JSON.parse(sessionStorage.getItem(HISTORY_KEY) || "[]");
    return Array.isArray(ids) ? ids.filter(Number.isInteger) : [];
  } catch {
    return [];
  }
}

function rememberReviewed(captionId) {
  const ids = reviewedInTab().filter((id) => id !== captionId);
  ids.push(captionId);
  sessionStorage.setItem(HISTORY_KEY, JSON.stringify(ids.slice(-HISTORY_KEPT)));
}

function goToPrevious() {
  const ids = reviewedInTab().filter((id) => id !== caption.id);
  const previous = ids.pop();
  if (previous === undefined) {
    notify("No earlier caption in this tab.", "info");
    return;
  }
  sessionStorage.setItem(HISTORY_KEY, JSON.stringify(ids));
  goTo(reviewUrl(previous));
}

// ---- drafts ------------------------------------------------------------------------

const draftKey = (version) => `${DRAFT_PREFIX}${caption.id}:${version}`;

function draftKeys() {
  const prefix = `${DRAFT_PREFIX}${caption.id}:`;
  const keys = [];
  for (let index = 0; index < localStorage.length; index += 1) {
    const key = localStorage.key(index);
    if (key && key.startsWith(prefix)) {
      keys.push({ key, version: Number(key.slice(prefix.length)) });
    }
  }
  return keys.sort((first, second) => first.version - second.version);
}

function saveDraft(text) {
  for (const { key } of draftKeys()) {
    localStorage.removeItem(key);
  }
  localStorage.setItem(draftKey(state.version), text);
}

function clearDrafts() {
  for (const { key } of draftKeys()) {
    localStorage.removeItem(key);
  }
}

function restoreDraft() {
  const latest = draftKeys().pop();
  if (!latest) {
    return;
  }
  const draft = localStorage.getItem(latest.key);
  if (latest.version === state.version) {
    startEdit(draft);
    notify("Your unsaved draft from this browser is back in the box.", "info");
  } else {
    // Someone saved since the draft was written: keep the draft, show both.
    showConflict({
      error: `The caption changed since your draft (version ${latest.version}).`,
      current: { ...caption, text: state.shownText },
      mine: draft,
      editing: true,
    });
  }
}

// ---- the caption, with class words highlighted ------------------------------------

function escapeRegExp(text) {
  return text.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
}

const normalise = (word) => word.toLowerCase().replace(/[\s-]+/g, " ");

function classMatcher() {
  const classByWord = new Map();
  for (const cls of vocabulary.classes) {
    for (const word of cls.words) {
      classByWord.set(normalise(word), cls);
    }
  }
  // Longest first, so "developed area" wins over "developed".
  const alternatives = [...classByWord.keys()]
    .sort((first, second) => second.length - first.length)
    .map((word) => word.split(" ").map(escapeRegExp).join("[\\s-]+"));
  return { pattern: new RegExp(`\\b(?:${alternatives.join("|")})\\b`, "giu"), classByWord };
}

const matcher = classMatcher();

function presentClasses() {
  // What the checks call present: at least min_pixels pixels (captions/checks.py).
  const present = new Map();
  for (const entry of caption.landcover?.overall ?? []) {
    if (entry.pixels >= vocabulary.min_pixels) {
      present.set(entry.code, entry);
    }
  }
  return present;
}

function renderCaption(text) {
  const present = presentClasses();
  const container = element("[data-caption-text]");
  const nodes = [];
  let position = 0;
  for (const match of text.matchAll(matcher.pattern)) {
    if (match.index > position) {
      nodes.push(document.createTextNode(text.slice(position, match.index)));
    }
    const cls = matcher.classByWord.get(normalise(match[0]));
    const entry = present.get(cls.code);
    const mark = make("mark", match[0], entry ? "class-word" : "class-word class-word--absent");
    mark.style.setProperty("--class-colour", cls.colour);
    mark.dataset.classCode = String(cls.code);
    mark.title = entry
      ? `${cls.term}: ${(entry.fraction * 100).toFixed(1)}% of the patch`
      : `${cls.term}: not in this patch (error)`;
    nodes.push(mark);
    position = match.index + match[0].length;
  }
  if (position < text.length) {
    nodes.push(document.createTextNode(text.slice(position)));
  }
  container.replaceChildren(...nodes);
}

// ---- editing, rejecting and the actions --------------------------------------------

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

function startEdit(text) {
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

function cancelEdit() {
  state.editing = false;
  editForm.hidden = true;
  element("[data-caption-view]").hidden = false;
  clearDrafts();
  editText.value = "";
  element('[data-action="edit"]').focus();
}

function openReject() {
  if (state.editing) {
    return;
  }
  state.rejecting = true;
  rejectForm.hidden = false;
  (rejectForm.querySelector("input[type=radio]:checked") ?? rejectForm.querySelector("input[type=radio]"))?.focus();
}

function closeReject() {
  state.rejecting = false;
  rejectForm.hidden = true;
}

function rejectReason() {
  const other = rejectForm.querySelector("[data-reject-other]").value.trim();
  return other || rejectForm.querySelector("input[type=radio]:checked")?.value || "";
}

async function act(action, extra = {}) {
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

function saveEdit() {
  const text = editText.value;
  if (!text.trim()) {
    notify("A caption cannot be empty.");
    return;
  }
  act("edit", { text });
}

function submitReject() {
  const reason = rejectReason();
  if (!reason) {
    notify("Pick a reason or write one.");
    return;
  }
  act("reject", { reason });
}

function showConflict({ error, current, mine, editing }) {
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
  renderCaption(current.text);
  if (editing) {
    startEdit(mine);
    saveDraft(mine);
  }
}

// ---- images: zoom, overlay, regions ------------------------------------------------

const frames = elements("[data-viewer]");
const overlay = element("[data-overlay]");
const overlayToggle = element("[data-overlay-toggle]");
const overlayOpacity = element("[data-overlay-opacity]");
const regionsToggle = element("[data-regions-toggle]");

function setZoom(zoom, anchor = { x: 0.5, y: 0.5 }) {
  const next = Math.min(MAX_ZOOM, Math.max(MIN_ZOOM, zoom));
  const frame = frames[0];
  // Keep the image point under the anchor (the pointer, or the centre) in place.
  const pointX = (frame.scrollLeft + anchor.x * frame.clientWidth) / state.zoom;
  const pointY = (frame.scrollTop + anchor.y * frame.clientHeight) / state.zoom;
  state.zoom = next;
  root.style.setProperty("--zoom", String(next));
  for (const each of frames) {
    each.scrollLeft = pointX * next - anchor.x * each.clientWidth;
    each.scrollTop = pointY * next - anchor.y * each.clientHeight;
  }
  element("[data-zoom-level]").textContent = `${Math.round(next * 10) / 10}×`;
}

function syncScroll(source) {
  for (const frame of frames) {
    if (frame !== source && (frame.scrollLeft !== source.scrollLeft || frame.scrollTop !== source.scrollTop)) {
      frame.scrollLeft = source.scrollLeft;
      frame.scrollTop = source.scrollTop;
    }
  }
}

function panWithPointer(frame) {
  let last = null;
  frame.addEventListener("pointerdown", (event) => {
    last = { x: event.clientX, y: event.clientY };
    frame.setPointerCapture(event.pointerId);
  });
  frame.addEventListener("pointermove", (event) => {
    if (last) {
      frame.scrollLeft -= event.clientX - last.x;
      frame.scrollTop -= event.clientY - last.y;
      last = { x: event.clientX, y: event.clientY };
    }
  });
  const stop = () => {
    last = null;
  };
  frame.addEventListener("pointerup", stop);
  frame.addEventListener("pointercancel", stop);
}

function viewPreferences() {
  try {
    return JSON.parse(localStorage.getItem(VIEW_PREFERENCES_KEY) || "{}");
  } catch {
    return {};
  }
}

function applyView() {
  overlay.hidden = !overlayToggle.checked;
  overlay.style.opacity = String(Number(overlayOpacity.value) / 100);
  for (const outlines of elements("[data-regions]")) {
    outlines.hidden = !regionsToggle.checked;
  }
  localStorage.setItem(
    VIEW_PREFERENCES_KEY,
    JSON.stringify({
      overlay: overlayToggle.checked,
      opacity: Number(overlayOpacity.value),
      regions: regionsToggle.checked,
    }),
  );
}

function toggle(checkbox) {
  checkbox.checked = !checkbox.checked;
  applyView();
}

function setUpImages() {
  const preferences = viewPreferences();
  overlayToggle.checked = Boolean(preferences.overlay);
  regionsToggle.checked = Boolean(preferences.regions);
  if (Number.isFinite(preferences.opacity)) {
    overlayOpacity.value = String(preferences.opacity);
  }
  applyView();
  for (const control of [overlayToggle, overlayOpacity, regionsToggle]) {
    control.addEventListener("input", applyView);
  }
  for (const frame of frames) {
    frame.addEventListener("scroll", () => syncScroll(frame));
    frame.addEventListener(
      "wheel",
      (event) => {
        event.preventDefault();
        const box = frame.getBoundingClientRect();
        const anchor = { x: (event.clientX - box.left) / frame.clientWidth, y: (event.clientY - box.top) / frame.clientHeight };
        setZoom(event.deltaY < 0 ? state.zoom * 1.25 : state.zoom / 1.25, anchor);
      },
      { passive: false },
    );
    panWithPointer(frame);
  }
  for (const button of elements("[data-zoom]")) {
    button.addEventListener("click", () => zoomBy(button.dataset.zoom));
  }
}

function zoomBy(direction) {
  if (direction === "in") {
    setZoom(state.zoom * ZOOM_FACTOR);
  } else if (direction === "out") {
    setZoom(state.zoom / ZOOM_FACTOR);
  } else {
    setZoom(1);
  }
}

// ---- history: word diffs -----------------------------------------------------------

function wordDiff(before, after) {
  const old = before.split(/\s+/).filter(Boolean);
  const now = after.split(/\s+/).filter(Boolean);
  if ((old.length + 1) * (now.length + 1) > MAX_DIFF_CELLS) {
    return [
      { kind: "del", words: old },
      { kind: "ins", words: now },
    ];
  }
  // Longest common subsequence of words, from the end, then walk it forwards.
  const width = now.length + 1;
  const common = new Uint32Array((old.length + 1) * width);
  for (let i = old.length - 1; i >= 0; i -= 1) {
    for (let j = now.length - 1; j >= 0; j -= 1) {
      common[i * width + j] =
        old[i] === now[j]
          ? common[(i + 1) * width + j + 1] + 1
          : Math.max(common[(i + 1) * width + j], common[i * width + j + 1]);
    }
  }
  const parts = [];
  const push = (kind, word) => {
    const last = parts[parts.length - 1];
    if (last && last.kind === kind) {
      last.words.push(word);
    } else {
      parts.push({ kind, words: [word] });
    }
  };
  let i = 0;
  let j = 0;
  while (i < old.length || j < now.length) {
    if (i < old.length && j < now.length && old[i] === now[j]) {
      push("same", old[i]);
      i += 1;
      j += 1;
    } else if (i < old.length && (j === now.length || common[(i + 1) * width + j] >= common[i * width + j + 1])) {
      // Removed words before the words that replace them, as diffs read.
      push("del", old[i]);
      i += 1;
    } else {
      push("ins", now[j]);
      j += 1;
    }
  }
  return parts;
}

function renderDiffs() {
  for (const target of elements("[data-diff]")) {
    const nodes = [];
    for (const part of wordDiff(target.dataset.before, target.dataset.after)) {
      const text = part.words.join(" ");
      if (nodes.length) {
        nodes.push(document.createTextNode(" "));
      }
      nodes.push(part.kind === "same" ? document.createTextNode(text) : make(part.kind, text));
    }
    target.replaceChildren(...nodes);
  }
}

// ---- keyboard ----------------------------------------------------------------------

function isTyping(target) {
  if (target instanceof HTMLTextAreaElement || target instanceof HTMLSelectElement) {
    return true;
  }
  if (target instanceof HTMLInputElement) {
    return !["checkbox", "radio", "range", "button", "submit"].includes(target.type);
  }
  return Boolean(target?.isContentEditable);
}

const SHORTCUTS = {
  a: () => act("approve"),
  e: () => startEdit(),
  r: () => openReject(),
  s: () => act("skip"),
  p: () => goToPrevious(),
  o: () => toggle(overlayToggle),
  g: () => toggle(regionsToggle),
  "+": () => zoomBy("in"),
  "=": () => zoomBy("in"),
  "-": () => zoomBy("out"),
  0: () => zoomBy("reset"),
};
// While a caption is being edited only these act: the rest would drop the edit.
const WHILE_EDITING = new Set(["e", "o", "g", "+", "=", "-", "0"]);

function onKeyDown(event) {
  if (event.key === "Escape") {
    if (state.editing) {
      cancelEdit();
    } else if (state.rejecting) {
      closeReject();
    }
    return;
  }
  if (event.key === "Enter" && (event.ctrlKey || event.metaKey)) {
    if (state.editing) {
      event.preventDefault();
      saveEdit();
    }
    return;
  }
  if (state.rejecting && event.key === "Enter" && !(event.target instanceof HTMLButtonElement)) {
    event.preventDefault();
    submitReject();
    return;
  }
  if (isTyping(event.target) || event.ctrlKey || event.metaKey || event.altKey || event.repeat) {
    return;
  }
  const key = event.key.length === 1 ? event.key.toLowerCase() : event.key;
  if (state.rejecting) {
    const radio = rejectForm.querySelector(`[data-reason-key="${CSS.escape(key)}"]`);
    if (radio) {
      radio.checked = true;
      radio.focus();
    }
    return;
  }
  if (state.editing && !WHILE_EDITING.has(key)) {
    return;
  }
  const shortcut = SHORTCUTS[key];
  if (shortcut) {
    event.preventDefault();
    shortcut();
  }
}

// ---- the claim ---------------------------------------------------------------------

function keepClaim() {
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

async function claimAhead() {
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

// ---- wiring ------------------------------------------------------------------------

function setUp() {
  renderCaption(state.shownText);
  renderDiffs();
  setUpImages();
  for (const button of actionButtons) {
    button.addEventListener("click", () => {
      const action = button.dataset.action;
      if (action === "edit") {
        startEdit();
      } else if (action === "reject") {
        openReject();
      } else if (action === "previous") {
        goToPrevious();
      } else if (!state.editing) {
        act(action);
      }
    });
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
  document.addEventListener("keydown", onKeyDown);
  restoreDraft();
  keepClaim();
  root.dataset.ready = "true"; // the keyboard works from here on (tests wait for it)
  claimAhead();
}

setUp();
