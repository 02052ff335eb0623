// The replay page (issue 6): choose vehicles (one, or up to 8 compared on
// one time axis), a period (yesterday, last weekend, a holiday, custom) and
// the reason the audit log keeps; then the track coloured by speed, gaps
// left open, back-fills marked, stops and alerts as markers, playback
// synchronized with the speed chart, tables of trips, stops, alerts and
// gaps that jump the playback, and the evidence exports.

import L from "../leaflet.js";
import "../style.css";
import "./replay.css";
import "./messages.js";
import { el } from "../dom.js";
import { get, logout } from "../api.js";
import { apply, t, toggle } from "../i18n.js";
import { startPage } from "../page.js";
import { formatDuration, formatTime } from "../time.js";
import { toast } from "../toast.js";
import { projector, setupBaseMaps } from "../basemap.js";
import { createFences } from "../fences.js";
import { createPlaceLayers } from "../landmarks.js";
import { yesterday } from "./period.js";
import { setupPeriodPicker } from "./picker.js";
import { SPEEDS, createPlayer, locate } from "./player.js";
import { SPEED_CLASSES, VEHICLE_COLORS, createTrackLayer, ruleName, vehicleClass } from "./track.js";
import { createChart } from "./chart.js";

const MAX_VEHICLES = 8;
const $ = (id) => document.getElementById(id);

let map;
let project = projector("wgs84");
// chosen: the vehicles picked, {id, plate}; replays: what the server
// answered for them, with ms on every point and gapsMs; layers and chart
// draw them; active: the index whose tables and exports are shown.
const chosen = [];
let replays = [];
let layers = [];
let chart = null;
let active = 0;
let loaded = null; // {from, to, reason} of what is shown
let picker;

const player = createPlayer({ onTime, onState });

// The vehicle picker: plates searched on the server as typed (Chinese
// input counts once the IME commits it).
let searchTimer = 0;
function onSearch(ev) {
  if (ev.isComposing) return;
  clearTimeout(searchTimer);
  // Plates are stored in upper case: 鄂b12345 finds 鄂B12345.
  const q = ev.target.value.trim().toUpperCase();
  searchTimer = setTimeout(() => search(q), 200);
}

async function search(q) {
  const ul = $("v-results");
  if (!q) {
    ul.replaceChildren();
    return;
  }
  const page = await get(`/api/v1/vehicles?plate=${encodeURIComponent(q)}&limit=20`);
  if ($("v-search").value.trim().toUpperCase() !== q) return; // typed on meanwhile
  const rows = page.items.map((v) => {
    const li = document.createElement("li");
    li.dataset.vehicleId = v.id;
    li.dataset.plate = v.plate;
    li.append(el("span", { className: "plate" }, v.plate), el("span", { className: "unit", title: v.unit }, v.unit.split("/").pop()));
    return li;
  });
  if (rows.length === 0) {
    const li = document.createElement("li");
    li.className = "more";
    li.textContent = t("replay.noMatch");
    rows.push(li);
  }
  ul.replaceChildren(...rows);
}

function choose(v) {
  if (chosen.some((c) => c.id === v.id)) return;
  if (chosen.length >= MAX_VEHICLES) chosen.pop();
  chosen.push(v);
  renderChosen();
}

function renderChosen() {
  $("v-chosen").replaceChildren(...chosen.map((v, i) => {
    const li = document.createElement("li");
    li.dataset.vehicleId = v.id;
    li.className = vehicleClass(i);
    li.textContent = v.plate;
    const x = document.createElement("button");
    x.type = "button";
    x.textContent = "×";
    x.title = t("replay.remove");
    x.addEventListener("click", () => {
      chosen.splice(chosen.indexOf(v), 1);
      renderChosen();
    });
    li.append(x);
    return li;
  }));
}

// Loading and drawing.
async function load(ev) {
  ev?.preventDefault();
  const { from, to } = picker.period();
  const reason = $("reason").value.trim();
  if (chosen.length === 0) return toast(t("replay.needVehicle"));
  if (!from || !to) return toast(t("replay.needPeriod"));
  if (!reason) {
    $("reason").focus();
    return toast(t("replay.needReason"));
  }
  const q = `from=${encodeURIComponent(from)}&to=${encodeURIComponent(to)}&reason=${encodeURIComponent(reason)}`;
  $("go").disabled = true;
  $("go").textContent = t("replay.loading");
  try {
    let got;
    if (chosen.length === 1) {
      got = [await get(`/api/v1/vehicles/${chosen[0].id}/replay?${q}`)];
    } else {
      got = (await get(`/api/v1/replay?${chosen.map((v) => `vehicle=${v.id}`).join("&")}&${q}`)).vehicles;
    }
    loaded = { from, to, reason };
    show(got);
    const u = new URL(location.href);
    u.search = `${chosen.map((v) => `vehicle=${v.id}`).join("&")}&from=${encodeURIComponent(from)}&to=${encodeURIComponent(to)}`;
    history.replaceState(null, "", u);
  } catch (e) {
    toast(t("error", { msg: e.message }));
  } finally {
    $("go").disabled = false;
    $("go").textContent = t("replay.go");
  }
}

function show(got) {
  for (const l of layers) l.remove();
  chart?.destroy();
  replays = got.map((r) => ({
    ...r,
    points: r.points.map((p) => ({ ...p, ms: Date.parse(p.time) })),
    gapsMs: r.gaps.map((g) => ({ fromMs: Date.parse(g.from), toMs: Date.parse(g.to) })),
  }));
  active = 0;
  layers = replays.map((r, i) => createTrackLayer(L, map, r, VEHICLE_COLORS[i % VEHICLE_COLORS.length], {
    project: (lat, lon) => project(lat, lon),
    onStop: (j) => jump(i, replays[i].stops[j].from),
    onAlert: (j) => jump(i, replays[i].alerts[j].start),
  }));
  let bounds = null;
  for (const l of layers) {
    const b = l.bounds();
    if (b) bounds = bounds ? bounds.extend(b) : b;
  }
  if (bounds) map.fitBounds(bounds.pad(0.1));
  const all = replays.flatMap((r) => (r.points.length ? [r.points[0].ms, r.points[r.points.length - 1].ms] : []));
  const has = all.length > 0;
  if (!has) toast(t("replay.noData"));
  const start = has ? Math.min(...all) : Date.parse(loaded.from);
  const end = has ? Math.max(...all) : Date.parse(loaded.to);
  const scrub = $("scrub");
  scrub.min = start;
  scrub.max = end;
  scrub.disabled = !has;
  $("play").disabled = !has;
  chart = createChart($("chart"), replays, replays.map((_, i) => VEHICLE_COLORS[i % VEHICLE_COLORS.length]),
    { now: () => player.time(), onSeek: (ms) => player.seek(ms) });
  const sel = $("active");
  sel.replaceChildren(...replays.map((r, i) => new Option(r.plate, i)));
  $("active-row").hidden = replays.length < 2;
  renderActive();
  player.setRange(start, end);
}

// renderActive shows the active vehicle's summary, tables and exports.
function renderActive() {
  renderSummary();
  renderTables();
  renderExports();
}

function renderSummary() {
  const r = replays[active];
  const dl = $("summary");
  dl.hidden = !r;
  if (!r) return;
  const km = (m) => `${(m / 1000).toFixed(2)} km`;
  const fields = [
    ["detail.plate", r.plate, "plate"],
    ["replay.period", `${formatTime(r.from)} – ${formatTime(r.to)}`, "period"],
    ["replay.summary.points", t("replay.summary.shown", { shown: r.points.length, total: r.total_points }), "points"],
    ["replay.summary.distance", km(r.distance_m), "distance"],
    ["replay.summary.odometer", r.odometer_km == null ? "—" : `${r.odometer_km.toFixed(2)} km`, "odometer"],
    ["replay.summary.backfill", String(r.backfill_points), "backfill"],
    ["replay.summary.gaps", r.gaps.length ? `${r.gaps.length} (${km(r.gap_distance_m)})` : "0", "gaps"],
    ["replay.summary.counts", `${r.trips.length} / ${r.stops.length} / ${r.alerts.length}`, "counts"],
  ];
  dl.replaceChildren(...fields.flatMap(([k, v, name]) => {
    const dt = document.createElement("dt");
    dt.textContent = t(k);
    const dd = document.createElement("dd");
    dd.dataset.field = name;
    dd.textContent = v;
    return [dt, dd];
  }));
}

// table fills a table: head labels, then one row per item with its cells
// (text or [text, className]) and the time (RFC 3339) the row jumps to.
function table(id, heads, items, row) {
  const tbl = $(id);
  const head = document.createElement("tr");
  for (const h of heads) {
    const th = document.createElement("th");
    th.textContent = h ? t(h) : "#";
    head.append(th);
  }
  const rows = items.map((it, i) => {
    const { cells, at, data } = row(it, i);
    const tr = document.createElement("tr");
    tr.dataset.ms = Date.parse(at);
    tr.dataset.index = i;
    Object.assign(tr.dataset, data);
    for (const c of [String(i + 1), ...cells]) {
      const td = document.createElement("td");
      if (c instanceof Node) td.append(c);
      else if (Array.isArray(c)) [td.textContent, td.className] = c;
      else td.textContent = c;
      tr.append(td);
    }
    return tr;
  });
  if (rows.length === 0) {
    const tr = document.createElement("tr");
    const td = document.createElement("td");
    td.colSpan = heads.length;
    td.className = "empty";
    td.textContent = t("replay.none");
    tr.append(td);
    rows.push(tr);
  }
  tbl.replaceChildren(head, ...rows);
}

function renderTables() {
  const r = replays[active] || { trips: [], stops: [], alerts: [], gaps: [] };
  const clock = (s) => formatTime(s).slice(5, 16);
  // Speeds to the tenth, as terminals report them: a 46.9 maximum is not
  // shown as 47, nor a 46.6 average beside it as 47.
  const kmh = (v) => v.toFixed(1);
  table("trips", ["", "replay.start", "replay.end", "replay.distance", "replay.maxSpeed", "replay.avgSpeed", "replay.approval"], r.trips, (tr) => {
    const who = tr.approvals.map((a) => [a.driver, a.purpose].filter(Boolean).join(" ")).join("；");
    return {
      at: tr.start,
      data: { start: tr.start, end: tr.end, distanceM: tr.distance_m.toFixed(0), approved: tr.approved },
      cells: [clock(tr.start), `${clock(tr.end)}${tr.has_gap ? " ⚠" : ""}`, (tr.distance_m / 1000).toFixed(2),
        kmh(tr.max_speed_kmh), kmh(tr.avg_speed_kmh),
        [`${t(`replay.approved.${tr.approved}`)}${who ? ` (${who})` : ""}`, `approved-${tr.approved}`]],
    };
  });
  // How the figures are reckoned, on their headings.
  const th = $("trips").querySelectorAll("th");
  th[3].title = t("replay.distanceTip");
  th[4].title = t("replay.maxSpeedTip");
  th[5].title = t("replay.avgSpeedTip");
  table("stops", ["", "replay.start", "replay.end", "replay.duration", "replay.fences", ""], r.stops, (s) => ({
    at: s.from,
    data: { from: s.from, to: s.to, lat: s.lat.toFixed(6), lon: s.lon.toFixed(6), durationS: Math.round(s.duration_s) },
    cells: [clock(s.from), clock(s.to), formatDuration(s.duration_s), s.fences.map((f) => f.name).join("、") || "—", whoElse(s)],
  }));
  table("alerts", ["", "replay.rule", "replay.start", "replay.end", "replay.status"], r.alerts, (a) => ({
    at: a.start,
    data: { rule: a.rule.id, start: a.start },
    cells: [ruleName(a), clock(a.start), a.end ? clock(a.end) : "—", t(`alerts.${a.status}`)],
  }));
  table("gaps", ["", "replay.start", "replay.end", "replay.duration", "replay.distance"], r.gaps, (g) => ({
    at: g.from,
    data: { from: g.from, to: g.to },
    cells: [clock(g.from), clock(g.to), formatDuration(g.duration_s), `${(g.distance_m / 1000).toFixed(2)} km`],
  }));
  $("n-trips").textContent = r.trips.length;
  $("n-stops").textContent = r.stops.length;
  $("n-alerts").textContent = r.alerts.length;
  $("n-gaps").textContent = r.gaps.length;
}

// WHO_ELSE_M is the radius of "who else was here": a car park, a hotel's
// forecourt.
const WHO_ELSE_M = 150;

// whoElse links a stop to the area search around it, over its time.
function whoElse(s) {
  const a = document.createElement("a");
  a.className = "who-else";
  a.href = `/ui/area.html?lat=${s.lat.toFixed(6)}&lon=${s.lon.toFixed(6)}&radius_m=${WHO_ELSE_M}` +
    `&from=${encodeURIComponent(s.from)}&to=${encodeURIComponent(s.to)}`;
  a.textContent = t("area.whoElse");
  return a;
}

// renderExports points the export links at the active vehicle, the period
// shown and the reason in the form (each download is audited with it).
function renderExports() {
  const r = replays[active];
  $("exports").hidden = !r;
  if (!r) return;
  const reason = $("reason").value.trim() || loaded.reason;
  for (const a of document.querySelectorAll("a.export")) {
    a.href = `/api/v1/vehicles/${r.vehicle_id}/export?format=${a.dataset.format}&from=${encodeURIComponent(loaded.from)}` +
      `&to=${encodeURIComponent(loaded.to)}&reason=${encodeURIComponent(reason)}`;
  }
}

function jump(i, at) {
  if (i !== active) {
    active = i;
    $("active").value = i;
    renderActive();
  }
  player.seek(Date.parse(at));
  const m = layers[i]?.markerLatLng();
  if (m) map.panTo(m);
}

// Playback.
let lastRowMs = NaN;
function onTime(ms) {
  replays.forEach((r, i) => layers[i].moveTo(locate(r.points, r.gapsMs, ms)));
  const scrub = $("scrub");
  scrub.value = ms;
  if (replays.length === 0) {
    // Nothing loaded: no time to show (the player's 0 would read
    // 1970-01-01).
    $("clock").textContent = "—";
    delete $("clock").dataset.ms;
    return;
  }
  const pos = replays[active] && locate(replays[active].points, replays[active].gapsMs, ms);
  $("clock").textContent = `${formatTime(new Date(ms))}${pos?.inGap ? ` ${t("replay.inGap")}` : pos ? ` · ${pos.speed.toFixed(0)} km/h` : ""}`;
  $("clock").dataset.ms = Math.round(ms);
  chart?.playhead();
  // The rows under way are highlighted (checked at most every track minute).
  if (!(Math.abs(ms - lastRowMs) < 60000)) {
    lastRowMs = ms;
    markCurrent(ms);
  }
  // While playing, keep the active vehicle in view.
  if (player.playing()) {
    const m = layers[active]?.markerLatLng();
    if (m && !map.getBounds().pad(-0.1).contains(m)) map.panTo(m, { animate: false });
  }
}

function markCurrent(ms) {
  const r = replays[active];
  if (!r) return;
  const under = (id, list, a, b) => {
    $(id).querySelectorAll("tr[data-index]").forEach((tr) => {
      const it = list[Number(tr.dataset.index)];
      tr.classList.toggle("current", Date.parse(it[a]) <= ms && ms <= Date.parse(it[b]));
    });
  };
  under("trips", r.trips, "start", "end");
  under("stops", r.stops, "from", "to");
  under("gaps", r.gaps, "from", "to");
}

function onState() {
  const b = $("play");
  b.dataset.i18n = player.playing() ? "replay.pause" : "replay.play";
  b.textContent = t(b.dataset.i18n);
  b.classList.toggle("on", player.playing());
  $("speed").value = player.speed();
}

// step moves the playback a minute of track per ×1 of speed.
function step(dir) {
  player.pause();
  player.seek(player.time() + dir * 60000 * player.speed());
}

function onKey(ev) {
  const el = ev.target;
  const typing = el instanceof HTMLTextAreaElement || el instanceof HTMLSelectElement ||
    (el instanceof HTMLInputElement && el.type !== "range");
  if (typing || ev.ctrlKey || ev.metaKey || ev.altKey || replays.length === 0) return;
  // A focused button would take the space as a click of its own.
  if (el instanceof HTMLButtonElement || el instanceof HTMLAnchorElement) el.blur();
  switch (ev.key) {
    case " ":
      player.toggle();
      break;
    case "ArrowRight":
      step(1);
      break;
    case "ArrowLeft":
      step(-1);
      break;
    case "+":
    case "=":
      player.faster();
      break;
    case "-":
    case "_":
      player.slower();
      break;
    default:
      return;
  }
  ev.preventDefault();
}

function setupControls(user) {
  $("user").textContent = `${user.name} · ${user.unit || ""}`;
  $("logout").addEventListener("click", logout);
  $("lang").addEventListener("click", toggle);
  $("v-search").addEventListener("input", onSearch);
  $("v-search").addEventListener("compositionend", onSearch);
  $("v-results").addEventListener("click", (ev) => {
    const li = ev.target.closest("li[data-vehicle-id]");
    if (li) choose({ id: Number(li.dataset.vehicleId), plate: li.dataset.plate });
  });
  $("query").addEventListener("submit", load);
  $("reason").addEventListener("input", () => replays.length && renderExports());
  const speed = $("speed");
  for (const s of SPEEDS) speed.append(new Option(`×${s}`, s));
  speed.addEventListener("change", (ev) => player.setSpeed(ev.target.value));
  $("play").addEventListener("click", () => player.toggle());
  $("scrub").addEventListener("input", (ev) => player.seek(Number(ev.target.value)));
  $("active").addEventListener("change", (ev) => {
    active = Number(ev.target.value);
    renderActive();
    markCurrent(player.time());
  });
  for (const tbl of document.querySelectorAll(".tables table")) {
    tbl.addEventListener("click", (ev) => {
      const tr = ev.target.closest("tr[data-ms]");
      if (!tr) return;
      player.seek(Number(tr.dataset.ms));
      const m = layers[active]?.markerLatLng();
      if (m) map.setView(m, Math.max(map.getZoom(), 15));
    });
  }
  for (const b of document.querySelectorAll(".tabs button")) {
    b.addEventListener("click", () => {
      for (const x of document.querySelectorAll(".tabs button")) x.classList.toggle("on", x === b);
      for (const tbl of document.querySelectorAll(".tables table")) tbl.hidden = tbl.dataset.tab !== b.dataset.tab;
    });
  }
  document.addEventListener("keydown", onKey);
  document.addEventListener("langchange", () => {
    renderLegend();
    if (replays.length) renderActive();
    onState();
  });
}

function renderLegend() {
  let lo = 0;
  // The swatches are coloured by class (replay.css): the page's CSP
  // allows no inline style.
  $("legend-speed").replaceChildren(...SPEED_CLASSES.map(([hi], i) => {
    const s = el("span", {}, el("i", { className: `sw-${i}` }), `${hi === Infinity ? `≥${lo}` : `${lo}–${hi}`} km/h`);
    lo = hi;
    return s;
  }));
}

// fromURL takes ?vehicle=ID (repeated), &from=, &to= (a link from the live
// map, or a shared replay): the form is filled; the reason is still asked.
async function fromURL() {
  const q = new URLSearchParams(location.search);
  for (const id of q.getAll("vehicle").slice(0, MAX_VEHICLES)) {
    try {
      const v = await get(`/api/v1/vehicles/${Number(id)}`);
      choose({ id: v.id, plate: v.plate });
    } catch (e) {
      toast(t("error", { msg: e.message }));
    }
  }
  picker.set(q.get("from") && q.get("to") ? { from: q.get("from"), to: q.get("to") } : yesterday());
}

async function main() {
  const user = await startPage();
  if (!user) return; // api.js went to the login page
  const config = await get("/api/v1/ui/config");
  map = L.map("map", { zoomControl: true }).setView([30.2, 115.04], 11);
  map.attributionControl.setPrefix("");
  // Geofences and landmarks, named, under the tracks.
  const places = createPlaceLayers(L, map, createFences, { project: (a, b) => project(a, b), unproject: (a, b) => [a, b] });
  setupBaseMaps(L, map, config.base_maps, (datum) => {
    project = projector(datum);
    places.render();
    for (const l of layers) l.redraw();
    onTime(player.time());
  }, toast);
  picker = setupPeriodPicker();
  setupControls(user);
  renderLegend();
  onState();
  apply();
  places.load().catch((e) => toast(t("error", { msg: e.message })));
  await fromURL();
}

main().catch((e) => toast(t("error", { msg: e.message })));
