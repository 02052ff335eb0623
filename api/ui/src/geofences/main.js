// The geofences page (admins and supervisors, within their jurisdiction):
// the fences in a list beside the map (name, kind, category, threshold,
// unit); a new one drawn with leaflet-geoman's tools (fences.js); one
// picked in the list is edited in a form (name, kind, category, dwell
// threshold, speed limit, unit) and its shape on the map (geoman's vertex
// editing on a copy of it), saved with PATCH /api/v1/geofences/{id} and
// the version it was read at, or deleted. Files (GeoJSON, KML) are
// imported as fences or as landmarks, all or nothing: a refusal lists
// every bad feature and nothing is changed.

import L from "../leaflet.js";
import "../style.css";
import "../replay/replay.css";
import "./geofences.css";
import "./messages.js";
import { get, logout, patch, post, request } from "../api.js";
import { el } from "../dom.js";
import { apply, t, toggle } from "../i18n.js";
import { startPage } from "../page.js";
import { toast } from "../toast.js";
import { gcj02ToWgs84 } from "../gcj02.js";
import { projector, setupBaseMaps } from "../basemap.js";
import { createFences, enableFenceDrawing, loadFenceDrawing } from "../fences.js";
import { createLandmarks } from "../landmarks.js";

const $ = (id) => document.getElementById(id);

let map;
let project = projector("wgs84");
let unproject = (lat, lon) => [lat, lon];
let fences;
let landmarks;
let units = [];
const unitPath = new Map();
// selected is the fence being edited; editLayer its editable copy on the
// map; shapeEdited whether its shape was changed there.
let selected = null;
let editLayer = null;
let shapeEdited = false;

function threshold(f) {
  if (f.speed_limit_kmh) return t("gf.kmh", { n: f.speed_limit_kmh });
  if (f.kind === "sensitive") return f.dwell_min ? t("gf.minutes", { n: f.dwell_min }) : t("gf.byCategory");
  return "";
}

function renderList() {
  const q = $("gf-filter").value.trim();
  const head = el("tr", {}, ...["gf.name", "gf.kind", "gf.category", "gf.threshold", "gf.unit"].map((k) => el("th", {}, t(k))));
  const rows = fences.list().filter((f) => !q || f.name.includes(q)).map((f) => {
    const tr = el("tr", { dataset: { fenceId: f.id }, className: selected && selected.id === f.id ? "selected" : "" },
      el("td", {}, f.name),
      el("td", {}, t(`fence.kind.${f.kind}`)),
      el("td", {}, f.category ? t(`place.${f.category}`) : ""),
      el("td", {}, threshold(f)),
      el("td", { className: "unit" }, f.unit_id ? unitPath.get(f.unit_id) || `#${f.unit_id}` : `🚗 #${f.vehicle_id}`));
    tr.addEventListener("click", () => select(f.id));
    return tr;
  });
  if (rows.length === 0) rows.push(el("tr", {}, el("td", { colSpan: 5, className: "empty" }, t("gf.none"))));
  $("gf-table").replaceChildren(head, ...rows);
}

// editableLayer is a copy of fence f's shape that geoman may edit.
function editableLayer(f) {
  const s = f.shape;
  const ll = (p) => project(p.lat, p.lon);
  const style = { color: "#1d2733", weight: 3, dashArray: "6 4", fillOpacity: 0.05 };
  if (s.type === "circle") return L.circle(ll(s.center), { ...style, radius: s.radius_m });
  if (s.type === "corridor") return L.polyline(s.line.map(ll), style);
  return L.polygon(s.polygons.map((poly) => poly.map((ring) => ring.map(ll))), style);
}

// shapeOf reads the edited layer back as the fence's shape, in WGS-84.
function shapeOf(layer, f) {
  const p = (x) => {
    const [lat, lon] = unproject(x.lat, x.lng);
    return { lon, lat };
  };
  const s = f.shape;
  if (s.type === "circle") return { type: "circle", center: p(layer.getLatLng()), radius_m: Math.round(layer.getRadius()) };
  if (s.type === "corridor") return { type: "corridor", line: layer.getLatLngs().map(p), width_m: s.width_m };
  // editableLayer made it from polygons of rings, which Leaflet keeps
  // nested so for a polygon too.
  return { type: s.type, polygons: layer.getLatLngs().map((poly) => poly.map((ring) => ring.map(p))) };
}

function stopEditing() {
  if (editLayer) {
    editLayer.pm.disable();
    editLayer.remove();
  }
  editLayer = null;
  selected = null;
  shapeEdited = false;
  $("gf-edit").hidden = true;
  disarmDelete();
}

function showCategory() {
  const form = $("gf-edit");
  form.elements.category.closest("label").hidden = form.elements.kind.value !== "sensitive";
}

function select(id) {
  stopEditing();
  const f = fences.list().find((x) => x.id === id);
  if (!f) return renderList();
  selected = f;
  const form = $("gf-edit");
  form.elements.name.value = f.name;
  form.elements.kind.value = f.kind;
  form.elements.category.value = f.category || "hotel";
  form.elements.dwell_min.value = f.dwell_min || 0;
  form.elements.speed_limit_kmh.value = f.speed_limit_kmh || 0;
  form.elements.unit.value = f.unit_id ? String(f.unit_id) : "";
  form.elements.unit.disabled = !f.unit_id;
  showCategory();
  form.hidden = false;
  form.dataset.fenceId = f.id;
  form.dataset.version = f.version;
  editLayer = editableLayer(f).addTo(map);
  editLayer.pm.enable({ allowSelfIntersection: false });
  editLayer.on("pm:edit", () => {
    shapeEdited = true;
  });
  map.fitBounds(editLayer.getBounds(), { maxZoom: 16, padding: [40, 40], animate: false });
  renderList();
}

async function save(ev) {
  ev.preventDefault();
  if (!selected) return;
  const form = $("gf-edit");
  const body = {
    version: selected.version,
    name: form.elements.name.value.trim(),
    kind: form.elements.kind.value,
    dwell_min: Number(form.elements.dwell_min.value) || 0,
    speed_limit_kmh: Number(form.elements.speed_limit_kmh.value) || 0,
  };
  if (body.kind === "sensitive") body.category = form.elements.category.value;
  if (selected.unit_id && Number(form.elements.unit.value) !== selected.unit_id) body.unit_id = Number(form.elements.unit.value);
  if (shapeEdited) body.shape = shapeOf(editLayer, selected);
  $("gf-save").disabled = true;
  try {
    const f = await patch(`/api/v1/geofences/${selected.id}`, body);
    toast(f.version === selected.version ? t("gf.unchanged") : t("gf.updated"));
    await fences.load();
    select(f.id);
  } catch (e) {
    toast(t("error", { msg: e.message }));
  } finally {
    $("gf-save").disabled = false;
  }
}

// Deleting takes two clicks (the second on "确定删除？"): no confirm()
// box, which a page cannot style or translate.
function disarmDelete() {
  const b = $("gf-delete");
  b.classList.remove("armed");
  b.textContent = t("gf.delete");
}

async function remove() {
  const b = $("gf-delete");
  if (!selected) return;
  if (!b.classList.contains("armed")) {
    b.classList.add("armed");
    b.textContent = t("gf.confirmDelete", { name: selected.name });
    return;
  }
  try {
    await request("DELETE", `/api/v1/geofences/${selected.id}`);
    toast(t("gf.deleted"));
    stopEditing();
    await fences.load();
    renderList();
  } catch (e) {
    disarmDelete();
    toast(t("error", { msg: e.message }));
  }
}

async function importFile(ev) {
  ev.preventDefault();
  const out = $("imp-errors");
  out.className = "imp-errors";
  out.replaceChildren();
  const file = $("imp-file").files[0];
  if (!file) return toast(t("gf.needFile"));
  const text = await file.text();
  // Whatever the answer, the file is read: choosing it again reads it anew.
  $("imp-file").value = "";
  const kml = text.replace(/^\uFEFF/, "").trimStart().startsWith("<");
  const unit = encodeURIComponent($("imp-unit").value);
  const type = kml ? "application/vnd.google-earth.kml+xml" : "application/geo+json";
  $("imp-go").disabled = true;
  try {
    if ($("imp-what").value === "landmarks") {
      const r = await post(`/api/v1/landmarks/import?unit=${unit}`, text, type);
      out.append(el("li", { className: "ok" }, t("gf.importedLandmarks", r)));
      await landmarks.load();
    } else {
      const r = await post(`/api/v1/geofences?unit=${unit}`, text, type);
      out.append(el("li", { className: "ok" }, t("gf.imported", { n: r.items.length })));
      await fences.load();
      renderList();
    }
  } catch (e) {
    out.className = "imp-errors refused";
    out.append(el("li", { className: "head" }, t("gf.refused")));
    if (e.features && e.features.length) {
      for (const f of e.features) {
        out.append(el("li", { dataset: { index: f.index } }, `#${f.index}${f.name ? ` “${f.name}”` : ""}：${f.message}`));
      }
    } else {
      out.append(el("li", {}, e.message));
    }
  } finally {
    $("imp-go").disabled = false;
  }
}

function setupControls(user) {
  $("user").textContent = `${user.name} · ${user.unit || ""}`;
  $("logout").addEventListener("click", logout);
  $("lang").addEventListener("click", toggle);
  $("gf-filter").addEventListener("input", renderList);
  $("gf-edit").addEventListener("submit", save);
  $("gf-edit").elements.kind.addEventListener("change", showCategory);
  $("gf-close").addEventListener("click", () => {
    stopEditing();
    renderList();
  });
  $("gf-delete").addEventListener("click", remove);
  $("imp-file").addEventListener("change", () => $("imp-errors").replaceChildren());
  $("gf-import").addEventListener("submit", importFile);
  document.addEventListener("langchange", () => {
    renderList();
    disarmDelete();
  });
}

async function main() {
  const user = await startPage();
  if (!user) return; // api.js went to the login page
  const [config, unitList] = await Promise.all([get("/api/v1/ui/config"), get("/api/v1/units")]);
  units = unitList.items;
  for (const u of units) unitPath.set(u.id, u.path);
  const opts = () => units.map((u) => new Option(u.path, u.id));
  $("gf-edit").elements.unit.replaceChildren(...opts());
  $("imp-unit").replaceChildren(...opts());
  await loadFenceDrawing(); // before the map: leaflet-geoman hooks its creation
  map = L.map("map", { zoomControl: true }).setView([30.2, 115.04], 11);
  map.attributionControl.setPrefix("");
  fences = createFences(L, map, { project: (a, b) => project(a, b), unproject: (a, b) => unproject(a, b) });
  landmarks = createLandmarks(L, map, { project: (a, b) => project(a, b) });
  setupBaseMaps(L, map, config.base_maps, (datum) => {
    project = projector(datum);
    unproject = datum === "gcj02" ? gcj02ToWgs84 : (lat, lon) => [lat, lon];
    fences.render();
    landmarks.render();
    if (selected) select(selected.id);
  }, toast);
  setupControls(user);
  apply();
  enableFenceDrawing(L, map, { unproject: (a, b) => unproject(a, b), units,
    onSaved: async () => {
      await fences.load();
      renderList();
    }, notify: toast });
  await Promise.all([fences.load(), landmarks.load()]);
  renderList();
  document.body.dataset.ready = "1";
}

main().catch((e) => toast(t("error", { msg: e.message })));
