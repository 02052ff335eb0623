// The live map: every vehicle of the user's jurisdiction (the server scopes
// the stream and the REST answers), moving as GET /api/v1/live reports,
// with a searchable, filterable list, a detail panel, follow-a-vehicle, the
// live alert feed and the geofences.

import L from "../leaflet.js";
import "../style.css";
import { get, listAll, liveSocket, logout } from "../api.js";
import { apply, t, toggle } from "../i18n.js";
import { startPage } from "../page.js";
import { formatTime, toRFC3339 } from "../time.js";
import { gcj02ToWgs84 } from "../gcj02.js";
import { projector, setupBaseMaps } from "../basemap.js";
import { createFences, enableFenceDrawing, loadFenceDrawing } from "../fences.js";
import { createLandmarks } from "../landmarks.js";
import { STATES, accOn, fixed, stateOf } from "./state.js";
import { createVehicleLayer } from "./layer.js";
import { createAlertFeed } from "./alerts.js";
import { toast } from "../toast.js";

// LIST_MAX rows are in the list at once; the rest are found by searching.
const LIST_MAX = 200;
const CATEGORIES = ["general", "confidential", "emergency", "enforcement", "special"];

const $ = (id) => document.getElementById(id);

// vehicles: id → {id, plate, unit, unit_id, category, sealed,
// terminal_phone, pos, openAlerts, state}; pos as the stream sends it plus
// ms (its time) and [dlat, dlon] (in the map's datum).
const vehicles = new Map();
let units = [];
let project = projector("wgs84");
let unproject = (lat, lon) => [lat, lon];
let selectedId = null;
let following = false;
const filter = { text: "", unit: "", category: "", state: "" };

// matches says whether v passes the filters.
function matches(v) {
  if (filter.text && !v.plate.toUpperCase().includes(filter.text)) return false;
  if (filter.unit && v.unit !== filter.unit && !v.unit.startsWith(`${filter.unit}/`)) return false;
  if (filter.category && v.category !== filter.category) return false;
  if (filter.state && v.state !== filter.state) return false;
  return true;
}

// The drawn points are computed again only when something changed.
let pointsCache = null;
function points() {
  if (pointsCache) return pointsCache;
  pointsCache = [];
  for (const v of vehicles.values()) {
    if (!v.pos || !matches(v)) continue;
    pointsCache.push({ id: v.id, lat: v.pos.dlat, lon: v.pos.dlon, state: v.state,
      heading: v.pos.heading, moving: v.state === "moving" || (v.pos.speed_kmh >= 3 && v.state !== "offline"), plate: v.plate });
  }
  return pointsCache;
}

let map;
let layer;
let fences;
let landmarks;
let feed;

function reproject(v) {
  if (!v.pos) return;
  [v.pos.dlat, v.pos.dlon] = project(v.pos.lat, v.pos.lon);
}

function restate(v) {
  v.state = stateOf(v);
}

// changed marks the map, list and detail for a redraw (coalesced).
let listTimer = 0;
function changed(ids) {
  pointsCache = null;
  layer.changed();
  if (!listTimer) listTimer = setTimeout(renderList, 1000);
  if (selectedId != null && (!ids || ids.has(selectedId))) {
    renderDetail();
    if (following) {
      const v = vehicles.get(selectedId);
      if (v && v.pos) map.panTo([v.pos.dlat, v.pos.dlon], { animate: true, duration: 0.5 });
    }
  }
}

function applyPositions(ps) {
  const ids = new Set();
  for (const p of ps) {
    const v = vehicles.get(p.vehicle_id);
    if (!v) continue; // a vehicle created after the page loaded
    p.ms = Date.parse(p.time);
    if (v.pos && v.pos.ms > p.ms) continue; // an older report (a back-fill) arriving late
    v.pos = p;
    if (p.state) v.serverState = p.state;
    reproject(v);
    restate(v);
    ids.add(v.id);
  }
  return ids;
}

// Live stream.
let backoff = 1000;
function connect() {
  const conn = $("conn");
  const ws = liveSocket();
  ws.onopen = () => {
    backoff = 1000;
    conn.dataset.i18n = "live.connected";
    conn.className = "conn ok";
    apply(conn.parentNode);
  };
  ws.onmessage = (ev) => {
    const m = JSON.parse(ev.data);
    if (m.type === "snapshot" || m.type === "positions") {
      const ids = applyPositions(m.positions || []);
      changed(ids);
      // The first positions seen set the view.
      if (!connect.fitted && points().length > 0) {
        connect.fitted = true;
        fitAll();
      }
    } else if (m.type === "events") {
      for (const e of m.events || []) {
        if (e.kind === "alert") onAlert(e.data);
        else if (e.kind === "state") onState(e.vehicle_id, e.data);
      }
    }
  };
  ws.onclose = () => {
    conn.dataset.i18n = "live.disconnected";
    conn.className = "conn down";
    apply(conn.parentNode);
    setTimeout(connect, backoff);
    backoff = Math.min(backoff * 2, 30000);
  };
}

function fitAll() {
  const pts = points();
  if (pts.length === 0) return;
  const b = L.latLngBounds(pts.map((p) => [p.lat, p.lon]));
  map.fitBounds(b.pad(0.2), { maxZoom: 14 });
}

// onState takes a state change the server noticed (a vehicle fell silent,
// was sealed or unsealed).
function onState(id, data) {
  const v = vehicles.get(id);
  if (!v || !data || !data.state) return;
  v.serverState = data.state;
  if (data.state === "sealed") v.sealed = true;
  else if (data.state !== "alarm") v.sealed = false;
  restate(v);
  changed(new Set([id]));
}

function onAlert(a) {
  const v = vehicles.get(a.vehicle.id);
  if (v) {
    if (a.status === "open") v.openAlerts.add(a.id);
    else v.openAlerts.delete(a.id);
    restate(v);
    changed(new Set([v.id]));
  }
  feed.arrive(a);
}

// The list.
function renderList() {
  listTimer = 0;
  const ul = $("vehicles");
  const rows = [];
  let total = 0;
  const sorted = [...vehicles.values()].filter(matches);
  total = sorted.length;
  sorted.sort((a, b) => a.plate.localeCompare(b.plate, "zh-CN"));
  for (const v of sorted.slice(0, LIST_MAX)) {
    const li = document.createElement("li");
    li.dataset.vehicleId = v.id;
    li.dataset.plate = v.plate;
    li.dataset.state = v.state;
    if (v.id === selectedId) li.className = "selected";
    const dot = document.createElement("span");
    dot.className = `dot ${v.state}`;
    dot.title = t(`state.${v.state}`);
    const plate = document.createElement("span");
    plate.className = "plate";
    plate.textContent = v.plate;
    const unit = document.createElement("span");
    unit.className = "unit";
    unit.textContent = v.unit.split("/").pop();
    unit.title = v.unit;
    const speed = document.createElement("span");
    speed.className = "speed";
    speed.textContent = v.pos ? `${Math.round(v.pos.speed_kmh)} km/h` : "";
    li.append(dot, plate, unit, speed);
    rows.push(li);
  }
  if (total > LIST_MAX) {
    const li = document.createElement("li");
    li.className = "more";
    li.textContent = t("list.more", { n: total - LIST_MAX });
    rows.push(li);
  }
  ul.replaceChildren(...rows);
  $("count").textContent = t("list.count", { shown: total, total: vehicles.size });
}

// The detail panel.
const extra = { id: null, terminal: null, driver: null };

async function loadExtra(v) {
  extra.id = v.id;
  extra.terminal = null;
  extra.driver = null;
  const now = new Date();
  const [term, appr] = await Promise.allSettled([
    v.terminal_phone ? get(`/api/v1/terminals/${encodeURIComponent(v.terminal_phone)}`) : Promise.resolve(null),
    get(`/api/v1/approvals?vehicle=${v.id}&from=${encodeURIComponent(toRFC3339(now))}&to=${encodeURIComponent(toRFC3339(new Date(now.getTime() + 1000)))}&limit=1`),
  ]);
  if (extra.id !== v.id) return;
  if (term.status === "fulfilled") extra.terminal = term.value;
  if (appr.status === "fulfilled" && appr.value.items.length > 0) extra.driver = appr.value.items[0].driver || null;
  renderDetail();
}

function renderDetail() {
  const v = vehicles.get(selectedId);
  const box = $("detail");
  if (!v) {
    box.hidden = true;
    return;
  }
  box.hidden = false;
  box.dataset.vehicleId = v.id;
  const p = v.pos;
  const term = extra.id === v.id ? extra.terminal : null;
  let termText = t("unknown");
  if (term) {
    // The server says when a terminal has been silent too long.
    const online = p && v.serverState !== "offline";
    termText = `${term.phone} · ${t(online ? "term.online" : "term.offline")}`;
    if (term.protocol_version) termText += ` · JT/T 808-${term.protocol_version}`;
    if (term.maker || term.model) termText += ` · ${[term.maker, term.model].filter(Boolean).join(" ")}`;
  } else if (v.terminal_phone) {
    termText = v.terminal_phone;
  }
  const fields = [
    ["detail.plate", v.plate, "plate"],
    ["detail.unit", v.unit, "unit"],
    ["detail.category", t(`category.${v.category}`), "category"],
    ["detail.driver", (extra.id === v.id && extra.driver) || t("unknown"), "driver"],
    ["detail.state", t(`state.${v.state}`), "state"],
    ["detail.speed", p ? `${p.speed_kmh.toFixed(1)} km/h · ${p.heading}°` : "—", "speed"],
    ["detail.acc", p ? t(accOn(p.status) ? "acc.on" : "acc.off") : "—", "acc"],
    ["detail.lastReport", p ? formatTime(p.time) : "—", "time"],
    ["detail.position", p ? `${p.lat.toFixed(6)}, ${p.lon.toFixed(6)} (WGS-84)` : "—", "position"],
    ["detail.terminalStatus", p ? `${t(fixed(p.status) ? "fix.yes" : "fix.no")}${p.alarm ? ` · alarm 0x${p.alarm.toString(16)}` : ""}` : "—", "terminal-status"],
    ["detail.terminal", termText, "terminal"],
  ];
  const dl = $("d-fields");
  dl.replaceChildren();
  for (const [key, value, name] of fields) {
    const dt = document.createElement("dt");
    dt.textContent = t(key);
    const dd = document.createElement("dd");
    dd.dataset.field = name;
    dd.textContent = value;
    dl.append(dt, dd);
  }
  $("d-replay").href = `/ui/replay.html?vehicle=${v.id}`;
  const btn = $("follow");
  btn.textContent = t(following ? "detail.unfollow" : "detail.follow");
  btn.classList.toggle("on", following);
}

function select(id, { pan = false } = {}) {
  if (id !== selectedId) following = false;
  selectedId = id;
  const v = vehicles.get(id);
  if (v) {
    loadExtra(v);
    if (pan && v.pos) map.setView([v.pos.dlat, v.pos.dlon], Math.max(map.getZoom(), 15));
  }
  renderDetail();
  renderList();
  layer.redraw();
}

function setupControls(user) {
  $("user").textContent = `${user.name} · ${user.unit || ""}`;
  $("logout").addEventListener("click", logout);
  $("lang").addEventListener("click", toggle);
  $("search").addEventListener("input", (ev) => {
    // Plates are matched without regard to case (鄂b12345 finds 鄂B12345).
    filter.text = ev.target.value.trim().toUpperCase();
    changed(null);
    renderList();
  });
  for (const [id, key] of [["f-unit", "unit"], ["f-category", "category"], ["f-state", "state"]]) {
    $(id).addEventListener("change", (ev) => {
      filter[key] = ev.target.value;
      changed(null);
      renderList();
    });
  }
  const unitSel = $("f-unit");
  for (const u of units) unitSel.append(new Option(u.path, u.path));
  const catSel = $("f-category");
  for (const c of CATEGORIES) {
    const o = new Option("", c);
    o.dataset.i18n = `category.${c}`;
    catSel.append(o);
  }
  const stSel = $("f-state");
  for (const s of STATES) {
    const o = new Option("", s);
    o.dataset.i18n = `state.${s}`;
    stSel.append(o);
  }
  $("vehicles").addEventListener("click", (ev) => {
    const li = ev.target.closest("li[data-vehicle-id]");
    if (li) select(Number(li.dataset.vehicleId), { pan: true });
  });
  $("d-close").addEventListener("click", () => {
    following = false;
    selectedId = null;
    renderDetail();
    renderList();
    layer.redraw();
  });
  $("follow").addEventListener("click", () => {
    following = !following;
    renderDetail();
    const v = vehicles.get(selectedId);
    if (following && v && v.pos) map.setView([v.pos.dlat, v.pos.dlon], Math.max(map.getZoom(), 15));
  });
  // Dragging the map ends following.
  map.on("dragstart", () => {
    if (following) {
      following = false;
      renderDetail();
    }
  });
  document.addEventListener("langchange", () => {
    renderList();
    renderDetail();
  });
}

async function main() {
  const user = await startPage();
  if (!user) return; // api.js went to the login page
  const [config, unitList, vehicleList, openAlerts] = await Promise.all([
    get("/api/v1/ui/config"),
    get("/api/v1/units"),
    listAll("/api/v1/vehicles"),
    get("/api/v1/alerts?state=open&limit=100"),
  ]);
  units = unitList.items;
  for (const v of vehicleList) vehicles.set(v.id, { ...v, pos: null, openAlerts: new Set(), state: "nodata", serverState: "" });
  for (const a of openAlerts.items) vehicles.get(a.vehicle.id)?.openAlerts.add(a.id);
  for (const v of vehicles.values()) restate(v);

  const canDraw = user.role === "admin" || user.role === "supervisor";
  if (canDraw) await loadFenceDrawing();
  // preferCanvas: geofences are drawn on a canvas too.
  map = L.map("map", { preferCanvas: true, zoomControl: true, attributionControl: true }).setView([30.6, 114.3], 7);
  map.attributionControl.setPrefix("");
  layer = createVehicleLayer(L, { points, onSelect: (id) => select(id), selected: () => selectedId });
  fences = createFences(L, map, { project: (lat, lon) => project(lat, lon), unproject: (lat, lon) => unproject(lat, lon) });
  landmarks = createLandmarks(L, map, { project: (lat, lon) => project(lat, lon) });
  setupBaseMaps(L, map, config.base_maps, (datum) => {
    project = projector(datum);
    unproject = datum === "gcj02" ? gcj02ToWgs84 : (lat, lon) => [lat, lon];
    for (const v of vehicles.values()) reproject(v);
    if (fences) fences.render();
    if (landmarks) landmarks.render();
    pointsCache = null;
    layer.changed();
  }, toast);
  layer.addTo(map);

  feed = createAlertFeed({ list: $("alerts"), panel: $("alert-panel"), soundButton: $("sound"),
    onPick: (a) => select(a.vehicle.id, { pan: true }) });
  feed.load(openAlerts.items);
  setupControls(user);
  apply();
  renderList();
  fences.load().catch((e) => toast(t("error", { msg: e.message })));
  landmarks.load().catch((e) => toast(t("error", { msg: e.message })));
  if (canDraw) {
    enableFenceDrawing(L, map, { unproject: (lat, lon) => unproject(lat, lon), units,
      onSaved: () => fences.load(), notify: toast });
  }
  connect();
}

main().catch((e) => toast(t("error", { msg: e.message })));
