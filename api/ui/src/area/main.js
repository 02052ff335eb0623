// Area search (issue 6): a tip names a place and a time, not a plate. Draw
// the place (polygon, rectangle, circle) or pick a geofence, give a period
// and the reason the audit log keeps, and POST /api/v1/area-search lists
// every vehicle of the jurisdiction that was inside, with each visit's
// arrival, departure and dwell; each row opens the replay of that visit.
// ?lat=&lon=&radius_m=&from=&to= (the replay's "who else was here") fills
// the form with a circle.

import L from "../leaflet.js";
import "../style.css";
import "../replay/replay.css";
import "../replay/messages.js";
import { get, logout, post } from "../api.js";
import { apply, t, toggle } from "../i18n.js";
import { startPage } from "../page.js";
import { formatDuration, formatTime } from "../time.js";
import { toast } from "../toast.js";
import { gcj02ToWgs84 } from "../gcj02.js";
import { projector, setupBaseMaps } from "../basemap.js";
import { createFences, loadFenceDrawing } from "../fences.js";
import { createLandmarks } from "../landmarks.js";
import { setupPlaceFinder } from "./places.js";
import { yesterday } from "../replay/period.js";
import { setupPeriodPicker } from "../replay/picker.js";

const $ = (id) => document.getElementById(id);

let map;
let project = projector("wgs84");
let unproject = (lat, lon) => [lat, lon];
let picker;
// area is the drawn layer (in the map's datum), or null.
let area = null;
let last = null;

// setArea makes layer the area searched (replacing any other).
function setArea(layer) {
  if (area && area !== layer) area.remove();
  area = layer;
  $("fence").value = "";
  describe();
}

function describe() {
  const el = $("area-desc");
  if (!area) {
    el.textContent = "";
    return;
  }
  if (area instanceof L.Circle) {
    const [lat, lon] = unproject(area.getLatLng().lat, area.getLatLng().lng);
    el.textContent = t("area.circle", { lat: lat.toFixed(5), lon: lon.toFixed(5), r: Math.round(area.getRadius()) });
  } else {
    el.textContent = t("area.drawn");
  }
}

// geometry is the drawn area as the API takes it, in WGS-84.
function geometry() {
  const wgs = (p) => {
    const [lat, lon] = unproject(p.lat, p.lng);
    return [lon, lat];
  };
  if (area instanceof L.Circle) {
    return { area: { type: "Point", coordinates: wgs(area.getLatLng()) }, radius_m: Math.round(area.getRadius()) };
  }
  // A landmark's area is searched as stored, not as redrawn.
  if (area.geojson) return { area: area.geojson };
  const ring = area.getLatLngs()[0].map(wgs);
  ring.push(ring[0]);
  return { area: { type: "Polygon", coordinates: [ring] } };
}

async function search(ev) {
  ev.preventDefault();
  const { from, to } = picker.period();
  const reason = $("reason").value.trim();
  const fence = Number($("fence").value);
  if (!area && !fence) return toast(t("area.needArea"));
  if (!from || !to) return toast(t("replay.needPeriod"));
  if (!reason) {
    $("reason").focus();
    return toast(t("replay.needReason"));
  }
  $("go").disabled = true;
  try {
    last = await post("/api/v1/area-search", { from, to, reason, ...(fence ? { fence_id: fence } : geometry()) });
    render();
  } catch (e) {
    toast(t("error", { msg: e.message }));
  } finally {
    $("go").disabled = false;
  }
}

// replayHref opens a visit's replay, an hour either side of it.
function replayHref(v, visit) {
  const h = 3600 * 1000;
  const from = new Date(Date.parse(visit.arrival) - h).toISOString();
  const to = new Date(Date.parse(visit.departure) + h).toISOString();
  return `/ui/replay.html?vehicle=${v.vehicle_id}&from=${encodeURIComponent(from)}&to=${encodeURIComponent(to)}`;
}

function render() {
  if (!last) return;
  $("found").textContent = t("area.found", { n: last.total, v: last.visits });
  const head = document.createElement("tr");
  for (const k of ["area.plate", "area.arrival", "area.departure", "area.dwell", ""]) {
    const th = document.createElement("th");
    th.textContent = k ? t(k) : "";
    head.append(th);
  }
  const rows = [];
  for (const v of last.items) {
    for (const visit of v.visits) {
      const tr = document.createElement("tr");
      Object.assign(tr.dataset, { vehicleId: v.vehicle_id, plate: v.plate, arrival: visit.arrival, departure: visit.departure });
      const cells = [v.plate, formatTime(visit.arrival).slice(5, 16), formatTime(visit.departure).slice(5, 16),
        `${formatDuration(visit.dwell_s)}${visit.has_gap ? " ⚠" : ""}`];
      for (const c of cells) {
        const td = document.createElement("td");
        td.textContent = c;
        tr.append(td);
      }
      tr.firstChild.title = v.unit_path;
      const a = document.createElement("a");
      a.className = "replay-link";
      a.href = replayHref(v, visit);
      a.textContent = t("area.replay");
      const td = document.createElement("td");
      td.append(a);
      tr.append(td);
      rows.push(tr);
    }
  }
  if (rows.length === 0) {
    const tr = document.createElement("tr");
    const td = document.createElement("td");
    td.colSpan = 5;
    td.className = "empty";
    td.textContent = t("replay.none");
    tr.append(td);
    rows.push(tr);
  }
  $("results").replaceChildren(head, ...rows);
}

function setupControls(user) {
  $("user").textContent = `${user.name} · ${user.unit || ""}`;
  $("logout").addEventListener("click", logout);
  $("lang").addEventListener("click", toggle);
  $("fence").addEventListener("change", (ev) => {
    if (!ev.target.value) return;
    if (area) area.remove();
    area = null;
    describe();
  });
  $("query").addEventListener("submit", search);
  map.on("pm:create", (ev) => setArea(ev.layer));
  document.addEventListener("langchange", () => {
    describe();
    render();
  });
}

// fromURL draws ?lat=&lon=&radius_m= as the area and takes ?from=&to=.
function fromURL() {
  const q = new URLSearchParams(location.search);
  const lat = Number(q.get("lat"));
  const lon = Number(q.get("lon"));
  const r = Number(q.get("radius_m"));
  if (q.get("lat") && q.get("lon") && r > 0) {
    setArea(L.circle(project(lat, lon), { radius: r, color: "#d93025" }).addTo(map));
    map.setView(project(lat, lon), 16);
  }
  picker.set(q.get("from") && q.get("to") ? { from: q.get("from"), to: q.get("to") } : yesterday());
}

async function main() {
  const user = await startPage();
  if (!user) return; // api.js went to the login page
  const config = await get("/api/v1/ui/config");
  await loadFenceDrawing(); // before the map: leaflet-geoman hooks its creation
  map = L.map("map", { zoomControl: true }).setView([30.2, 115.04], 12);
  map.attributionControl.setPrefix("");
  const fences = createFences(L, map, { project: (a, b) => project(a, b), unproject: (a, b) => unproject(a, b) });
  const landmarks = createLandmarks(L, map, { project: (a, b) => project(a, b) });
  setupBaseMaps(L, map, config.base_maps, (datum) => {
    project = projector(datum);
    unproject = datum === "gcj02" ? gcj02ToWgs84 : (lat, lon) => [lat, lon];
    fences.render();
    landmarks.render();
  }, toast);
  map.pm.setLang(document.documentElement.lang === "en" ? "en" : "zh");
  map.pm.addControls({
    position: "topleft",
    drawMarker: false, drawCircleMarker: false, drawPolyline: false, drawText: false,
    editMode: true, dragMode: false, cutPolygon: false, removalMode: false, rotateMode: false,
    drawPolygon: true, drawRectangle: true, drawCircle: true,
  });
  picker = setupPeriodPicker();
  setupControls(user);
  apply();
  fromURL();
  setupPlaceFinder(L, map, { fences, project: (a, b) => project(a, b), setArea,
    pickFence: (id) => {
      $("fence").value = String(id);
      $("fence").dispatchEvent(new Event("change"));
    } });
  landmarks.load().catch((e) => toast(t("error", { msg: e.message })));
  try {
    await fences.load();
    $("fence").append(...fences.list().map((f) => new Option(f.name, f.id)));
  } catch (e) {
    toast(t("error", { msg: e.message }));
  }
}

main().catch((e) => toast(t("error", { msg: e.message })));
