// The map page (templates/verification/map.html, verification/map_views.py).
//
// Leaflet (django-leaflet's copy, served from this site) draws what the map endpoint
// (/api/v1/map/, docs/map.md) answers for the viewport: cells with counts when zoomed
// out, the patches' footprints when zoomed in, their RGB previews closer still. The
// endpoint is asked again after each move (debounced; a newer request aborts the one
// in flight). Colours come from the page's JSON block, which the server fills from the
// product's own tables: this file holds no copy of them.
//
// Patch names come from the data: every text shown is put in as text nodes, never as
// HTML. The view lives in the URL hash (#zoom/lat/lon), so a link reproduces it.

import { csrfToken } from "./csrf.js";

const L = window.L;
const root = document.querySelector("[data-map-page]");
const mapElement = root.querySelector("[data-map]");
const summary = root.querySelector("[data-summary]");
const config = JSON.parse(document.getElementById("map-config").textContent);

const FETCH_DELAY_MS = 200;
const DEFAULT_VIEW = { zoom: 2, lat: 20, lon: 0 };
const MIN_ZOOM = 1;
const MAX_ZOOM = 18;
const COUNT_LABELS_MAX = 300; // more cells than this: counts in their tooltips only
const DRAG_MIN_PX = 4; // a shorter drag is a click, not a box
const FALLBACK_COLOUR = "#757575";
const STATUS_LABELS = { uncaptioned: "No caption" };
const WORLD_STYLE = {
  color: "#8796a5",
  weight: 0.8,
  fillColor: "#eef0ea",
  fillOpacity: 1,
};

const classesByCode = new Map(config.classes.map((cls) => [cls.code, cls]));

const state = {
  colourBy: "status",
  answer: null, // the endpoint's last answer, redrawn when the colouring changes
  request: null, // the AbortController of the request in flight
  timer: null,
  draws: 0,
  drawing: false, // "Draw a box" is on
  box: null, // the drawn box, { bounds, text }
  suppressClick: false,
};

// --- numbers and colours --------------------------------------------------------

function clamp(value, low, high) {
  return Math.min(high, Math.max(low, value));
}

// Into [-180, 180) for a west side, (-180, 180] for an east side: a viewport whose
// east edge is exactly 180 must not become a box that crosses the antimeridian.
function wrapWest(lon) {
  return ((((lon + 180) % 360) + 360) % 360) - 180;
}

function wrapEast(lon) {
  return -wrapWest(-lon);
}

// Rounded outward (down for west and south, up for east and north) to `decimals`:
// shorter numbers that still cover all the box covered.
function roundDown(value, decimals) {
  const scale = 10 ** decimals;
  return Math.floor(value * scale) / scale;
}

function roundUp(value, decimals) {
  const scale = 10 ** decimals;
  return Math.ceil(value * scale) / scale;
}

function numberText(value, decimals) {
  return String(Number(value.toFixed(decimals)));
}

// Decimals a box's sides need at this zoom: about a pixel's worth of degrees.
function boxDecimals(zoom) {
  return clamp(Math.ceil(Math.log10((256 * 2 ** zoom) / 360)), 2, 6);
}

// `west,south,east,north` of longitude/latitude bounds as the API reads a bbox:
// longitudes wrapped into [-180, 180] (west > east crosses the antimeridian).
function bboxOf(bounds, decimals) {
  const south = clamp(roundDown(bounds.getSouth(), decimals), -90, 90);
  const north = clamp(roundUp(bounds.getNorth(), decimals), -90, 90);
  let west = roundDown(bounds.getWest(), decimals);
  let east = roundUp(bounds.getEast(), decimals);
  if (east - west >= 360) {
    west = -180;
    east = 180;
  } else {
    west = wrapWest(west);
    east = wrapEast(east);
  }
  return [west, south, east, north].map((n) => numberText(n, decimals)).join(",");
}

function statusColour(status) {
  return config.status_colours[status] ?? FALLBACK_COLOUR;
}

function classOf(code) {
  return classesByCode.get(code === null ? "none" : String(code));
}

function classColour(code) {
  return classOf(code)?.colour ?? FALLBACK_COLOUR;
}

function statusLabel(status) {
  const label = STATUS_LABELS[status] ?? status;
  return label.charAt(0).toUpperCase() + label.slice(1);
}

function className(code) {
  return classOf(code)?.name ?? `Class ${code}`;
}

// The key with the highest count (the first of equals, in the answer's order).
function majority(counts) {
  let best = null;
  let most = -1;
  for (const [key, count] of Object.entries(counts)) {
    if (count > most) {
      best = key;
      most = count;
    }
  }
  return best;
}

function cellColour(cell) {
  if (state.colourBy === "status") return statusColour(majority(cell.statuses));
  const code = majority(cell.classes);
  return classColour(code === "none" ? null : code);
}

function patchColour(patch) {
  return state.colourBy === "status"
    ? statusColour(patch.status)
    : classColour(patch.dominant_class);
}

// --- the map and its basemap ----------------------------------------------------

function viewFromHash() {
  const parts = window.location.hash.replace(/^#/, "").split("/");
  if (parts.length !== 3 || parts.some((part) => part.trim() === "")) return null;
  const [zoom, lat, lon] = parts.map(Number);
  if (![zoom, lat, lon].every(Number.isFinite)) return null;
  return {
    zoom: clamp(Math.round(zoom), MIN_ZOOM, MAX_ZOOM),
    lat: clamp(lat, -85, 85),
    lon: wrapWest(lon),
  };
}

const map = L.map(mapElement, {
  minZoom: MIN_ZOOM,
  maxZoom: MAX_ZOOM,
  boxZoom: false, // Shift+drag draws a box here
  worldCopyJump: true,
});
map.createPane("basemap").style.zIndex = 250; // above tiles, below everything else
map.createPane("previews").style.zIndex = 350; // under the footprints' outlines
const dataLayer = L.layerGroup().addTo(map);
const previewLayer = L.layerGroup().addTo(map);

function escapeHtml(text) {
  const element = document.createElement("span");
  element.textContent = text;
  return element.innerHTML;
}

function addBasemap() {
  if (config.tile_url) {
    mapElement.dataset.basemap = "tiles";
    // The attribution is configuration, shown as text (Leaflet writes it as HTML).
    L.tileLayer(config.tile_url, {
      attribution: escapeHtml(config.tile_attribution),
      maxZoom: MAX_ZOOM,
    }).addTo(map);
    return;
  }
  mapElement.dataset.basemap = "outline";
  mapElement.classList.add("map-canvas--offline");
  fetch(config.world_url, { credentials: "same-origin" })
    .then((response) => {
      if (!response.ok) throw new Error(`status ${response.status}`);
      return response.json();
    })
    .then((world) => {
      // Three copies side by side: the map wraps, and a view across the
      // antimeridian shows both sides.
      for (const offset of [-360, 0, 360]) {
        L.geoJSON(world, {
          pane: "basemap",
          interactive: false,
          style: WORLD_STYLE,
          coordsToLatLng: (point) => L.latLng(point[1], point[0] + offset),
        }).addTo(map);
      }
      map.attributionControl.addAttribution("World outline: Natural Earth");
      mapElement.dataset.outline = "drawn";
    })
    .catch((error) => {
      mapElement.dataset.outline = "failed";
      showSummary(`The world outline could not be loaded (${error.message}).`);
    });
}

// --- asking the endpoint ----------------------------------------------------------

function viewportBbox() {
  return bboxOf(map.getBounds(), 5);
}

// What is drawn is stale from the moment the view moves ("loading" until the new
// answer is drawn).
function scheduleFetch() {
  mapElement.dataset.state = "loading";
  window.clearTimeout(state.timer);
  state.timer = window.setTimeout(fetchView, FETCH_DELAY_MS);
}

// The split and status the toolbar narrows the map to ("" for all).
function filterQuery() {
  let query = "";
  for (const select of root.querySelectorAll("[data-map-filter]")) {
    if (select.value) {
      query += `&${select.dataset.mapFilter}=${encodeURIComponent(select.value)}`;
    }
  }
  return query;
}

for (const select of root.querySelectorAll("[data-map-filter]")) {
  select.addEventListener("change", scheduleFetch);
}

async function fetchView() {
  state.request?.abort();
  const request = new AbortController();
  state.request = request;
  const url = `${config.data_url}?bbox=${viewportBbox()}&zoom=${map.getZoom()}${filterQuery()}`;
  mapElement.dataset.state = "loading";
  try {
    const response = await fetch(url, {
      signal: request.signal,
      credentials: "same-origin",
      headers: { Accept: "application/json" },
    });
    const answer = await response.json();
    if (!response.ok) {
      throw new Error(answer.error ?? `the map's data failed (${response.status})`);
    }
    if (request !== state.request) return;
    state.answer = answer;
    draw();
  } catch (error) {
    if (error.name === "AbortError" || request !== state.request) return;
    mapElement.dataset.state = "error";
    showSummary(error.message);
  }
}

// --- drawing ------------------------------------------------------------------------

function showSummary(text) {
  summary.textContent = text;
}

// A feature's bounds moved by whole turns of 360° to lie nearest the view's centre:
// the map wraps, the answer's longitudes do not.
function nearestBounds(feature) {
  let { west, east } = feature;
  if (east < west) east += 360; // a footprint across the antimeridian
  const centre = map.getCenter().lng;
  const turns = Math.round(((west + east) / 2 - centre) / 360);
  return L.latLngBounds(
    [feature.south, west - 360 * turns],
    [feature.north, east - 360 * turns],
  );
}

function tooltipContent(title, lines) {
  const content = document.createElement("div");
  const heading = document.createElement("strong");
  heading.textContent = title;
  content.append(heading);
  for (const line of lines) {
    const row = document.createElement("div");
    row.textContent = line;
    content.append(row);
  }
  return content;
}

function countLines(counts, label) {
  return Object.entries(counts)
    .sort((a, b) => b[1] - a[1])
    .map(([key, count]) => `${label(key)}: ${count}`);
}

function drawCell(cell, labels, mostInACell) {
  const colour = cellColour(cell);
  const bounds = nearestBounds(cell);
  const share = Math.log1p(cell.count) / Math.log1p(mostInACell);
  const rectangle = L.rectangle(bounds, {
    color: colour,
    weight: 1,
    fillColor: colour,
    fillOpacity: 0.2 + 0.5 * share,
  });
  const lines =
    state.colourBy === "status"
      ? countLines(cell.statuses, statusLabel)
      : countLines(cell.classes, (code) => className(code === "none" ? null : code));
  const noun = cell.count === 1 ? "patch" : "patches";
  rectangle.bindTooltip(tooltipContent(`${cell.count} ${noun}`, lines), {
    sticky: true,
  });
  rectangle.on("click", () => map.setView(bounds.getCenter(), map.getZoom() + 2));
  rectangle.addTo(dataLayer);
  const path = rectangle.getElement();
  path.classList.add("map-cell");
  path.dataset.count = cell.count;
  if (labels) {
    const label = document.createElement("span");
    label.textContent = cell.count.toLocaleString("en");
    L.marker(bounds.getCenter(), {
      icon: L.divIcon({ className: "map-count", html: label, iconSize: [0, 0] }),
      interactive: false,
      keyboard: false,
    }).addTo(dataLayer);
  }
}

function captionUrl(captionId) {
  return config.caption_url_template.replace(/\/0\/$/, `/${captionId}/`);
}

function drawPatch(patch) {
  const colour = patchColour(patch);
  const bounds = nearestBounds(patch);
  if (patch.rgb_preview) {
    L.imageOverlay(patch.rgb_preview, bounds, {
      pane: "previews",
      interactive: false,
      alt: "",
      className: "map-preview",
    }).addTo(previewLayer);
  }
  const rectangle = L.rectangle(bounds, {
    color: colour,
    weight: 2,
    fillColor: colour,
    fillOpacity: patch.rgb_preview ? 0 : 0.45,
  });
  const lines = [
    statusLabel(patch.status),
    className(patch.dominant_class),
    patch.caption_id === null ? "No caption yet" : "Click to open its caption",
  ];
  rectangle.bindTooltip(tooltipContent(patch.name || `Patch ${patch.id}`, lines), {
    sticky: true,
  });
  if (patch.caption_id !== null) {
    rectangle.on("click", () => window.location.assign(captionUrl(patch.caption_id)));
  }
  rectangle.addTo(dataLayer);
  const path = rectangle.getElement();
  path.classList.add("map-footprint");
  path.classList.toggle("map-footprint--no-caption", patch.caption_id === null);
  path.dataset.patchId = patch.id;
  path.dataset.captionId = patch.caption_id ?? "";
  path.dataset.status = patch.status;
  path.dataset.colour = colour;
}

function draw() {
  const answer = state.answer;
  dataLayer.clearLayers();
  previewLayer.clearLayers();
  if (answer.mode === "cells") {
    const labels = answer.cells.length <= COUNT_LABELS_MAX;
    const most = Math.max(1, ...answer.cells.map((cell) => cell.count));
    for (const cell of answer.cells) drawCell(cell, labels, most);
  } else {
    for (const patch of answer.patches) drawPatch(patch);
  }
  showSummary(summaryText(answer));
  state.draws += 1;
  mapElement.dataset.mode = answer.mode;
  mapElement.dataset.total = answer.total;
  mapElement.dataset.draws = state.draws;
  mapElement.dataset.state = "ready";
}

function summaryText(answer) {
  const total = answer.total.toLocaleString("en");
  const noun = answer.total === 1 ? "patch" : "patches";
  if (answer.total === 0) return "No patches in view.";
  if (answer.mode === "cells") {
    const more =
      answer.zoom < answer.footprint_zoom
        ? `; zoom to ${answer.footprint_zoom} for footprints`
        : "; zoom in further for footprints";
    return `${total} ${noun} in view, counted in cells of ${answer.cell_degrees}°${more}.`;
  }
  const images =
    answer.zoom < answer.preview_zoom
      ? `; zoom to ${answer.preview_zoom} for their images`
      : "";
  return `${total} ${noun} in view${images}.`;
}

// --- the legend and the colouring --------------------------------------------------

function legendEntries() {
  if (state.colourBy === "status") {
    return Object.entries(config.status_colours).map(([status, colour]) => [
      statusLabel(status),
      colour,
    ]);
  }
  return config.classes.map((cls) => [cls.name, cls.colour]);
}

function renderLegend() {
  const title = root.querySelector("[data-legend-title]");
  title.textContent = state.colourBy === "status" ? "Review status" : "Land cover";
  const items = legendEntries().map(([label, colour]) => {
    const item = document.createElement("li");
    const swatch = document.createElement("span");
    swatch.className = "map-legend__swatch";
    swatch.style.background = colour;
    item.append(swatch, label);
    item.dataset.colour = colour;
    return item;
  });
  root.querySelector("[data-legend]").replaceChildren(...items);
}

for (const input of root.querySelectorAll("[data-colour-by]")) {
  input.addEventListener("change", () => {
    if (!input.checked) return;
    state.colourBy = input.value;
    mapElement.dataset.colourBy = input.value;
    renderLegend();
    if (state.answer) draw();
  });
}

// --- the box ------------------------------------------------------------------------

const boxPanel = root.querySelector("[data-box-panel]");
const drawButton = root.querySelector("[data-draw-box]");
let boxShape = null;
let dragStart = null;

function setDrawing(on) {
  state.drawing = on;
  drawButton.setAttribute("aria-pressed", String(on));
  mapElement.classList.toggle("map-canvas--drawing", on);
}

function showBoxShape(bounds) {
  if (boxShape) {
    boxShape.setBounds(bounds);
    return;
  }
  boxShape = L.rectangle(bounds, {
    className: "map-box",
    interactive: false,
    color: "#0b3954",
    weight: 3,
    dashArray: "8 5",
    fillColor: "#0b3954",
    fillOpacity: 0.1,
  }).addTo(map);
}

// The numbers, each after a comma free to start a new line (a <wbr>): the text
// stays the bbox as it is, to copy.
function showBoxText(text) {
  const parts = text.split(",").flatMap((number, index) =>
    index === 0 ? [number] : [",", document.createElement("wbr"), number],
  );
  root.querySelector("[data-box-text]").replaceChildren(...parts);
}

function setBox(bounds) {
  const text = bboxOf(bounds, boxDecimals(map.getZoom()));
  state.box = { bounds, text };
  showBoxShape(bounds);
  showBoxText(text);
  for (const link of root.querySelectorAll("[data-box-link]")) {
    link.href = link.dataset.hrefBase + text;
  }
  boxPanel.hidden = false;
  mapElement.dataset.box = text;
}

function clearBox() {
  state.box = null;
  boxShape?.remove();
  boxShape = null;
  boxPanel.hidden = true;
  delete mapElement.dataset.box;
}

function onDragMove(event) {
  showBoxShape(L.latLngBounds(dragStart, map.mouseEventToLatLng(event)));
}

function onDragEnd(event) {
  document.removeEventListener("mousemove", onDragMove);
  const end = map.mouseEventToLatLng(event);
  const moved = map
    .latLngToContainerPoint(dragStart)
    .distanceTo(map.latLngToContainerPoint(end));
  if (moved < DRAG_MIN_PX) {
    // A click: the box drawn before (if any) stays.
    if (state.box) showBoxShape(state.box.bounds);
    else clearBox();
    return;
  }
  // The click that ends the drag must not open the footprint under the pointer.
  state.suppressClick = true;
  window.setTimeout(() => {
    state.suppressClick = false;
  }, 0);
  setBox(L.latLngBounds(dragStart, end));
  setDrawing(false);
}

// Captured before Leaflet sees the press, so the map does not pan while a box is
// drawn (with the button, or with Shift held).
mapElement.addEventListener(
  "mousedown",
  (event) => {
    if (event.button !== 0 || !(state.drawing || event.shiftKey)) return;
    if (event.target.closest(".leaflet-control")) return;
    event.preventDefault();
    event.stopPropagation();
    dragStart = map.mouseEventToLatLng(event);
    document.addEventListener("mousemove", onDragMove);
    document.addEventListener("mouseup", onDragEnd, { once: true });
  },
  true,
);
mapElement.addEventListener(
  "click",
  (event) => {
    if (!state.suppressClick) return;
    event.preventDefault();
    event.stopPropagation();
  },
  true,
);
drawButton.addEventListener("click", () => setDrawing(!state.drawing));
root.querySelector("[data-box-clear]").addEventListener("click", clearBox);
document.addEventListener("keydown", (event) => {
  if (event.key === "Escape" && state.drawing) setDrawing(false);
});

// --- the view in the URL ------------------------------------------------------------

function hashDecimals(zoom) {
  return clamp(Math.ceil(zoom * Math.log10(2)) + 1, 1, 6);
}

function writeHash() {
  const centre = map.getCenter();
  const zoom = map.getZoom();
  const decimals = hashDecimals(zoom);
  const lat = centre.lat.toFixed(decimals);
  const lon = wrapWest(centre.lng).toFixed(decimals);
  const hash = `#${zoom}/${lat}/${lon}`;
  if (hash !== window.location.hash) window.history.replaceState(null, "", hash);
}

window.addEventListener("hashchange", () => {
  const view = viewFromHash();
  if (view) map.setView([view.lat, view.lon], view.zoom);
});

map.on("moveend", () => {
  writeHash();
  scheduleFetch();
});

const start = viewFromHash() ?? DEFAULT_VIEW;
renderLegend();
addBasemap();
mapElement.dataset.colourBy = state.colourBy;
map.setView([start.lat, start.lon], start.zoom);

// --- the QA sample of the box (curators) -------------------------------------------

const qaForm = root.querySelector("[data-qa-sample]");

function qaResultText(opened) {
  const parts = Object.entries(opened).map(
    ([code, count]) => `${classesByCode.get(code)?.name ?? code}: ${count}`,
  );
  const total = Object.values(opened).reduce((sum, count) => sum + count, 0);
  if (!total) return "No QA review opened: the classes in this area have enough.";
  return `Opened ${total} QA review${total === 1 ? "" : "s"} (${parts.join(", ")}).`;
}

async function sampleBoxForQa(event) {
  event.preventDefault();
  const result = qaForm.querySelector("[data-qa-result]");
  if (!state.box) return;
  result.textContent = "Sampling…";
  let response;
  try {
    response = await fetch(qaForm.dataset.url, {
      method: "POST",
      credentials: "same-origin",
      headers: { "Content-Type": "application/json", "X-CSRFToken": csrfToken() },
      body: JSON.stringify({
        per_class: Number(qaForm.elements.per_class.value),
        bbox: state.box.text,
      }),
    });
  } catch {
    result.textContent = "The server cannot be reached; nothing was opened.";
    return;
  }
  const payload = await response.json().catch(() => ({}));
  result.textContent = response.ok
    ? qaResultText(payload.opened ?? {})
    : `Refused: ${payload.error ?? JSON.stringify(payload)}`;
}

qaForm?.addEventListener("submit", sampleBoxForQa);
