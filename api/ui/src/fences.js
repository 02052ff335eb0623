// Geofences on a map: drawn by kind from GET /api/v1/geofences, in the base
// map's datum; and, for those who may (admins, supervisors), drawn anew with
// leaflet-geoman (polygon, circle, corridor) and saved with
// POST /api/v1/geofences as GeoJSON in WGS-84.

import { get, post } from "./api.js";
import { el } from "./dom.js";
import { apply, t } from "./i18n.js";

export const FENCE_COLORS = {
  permitted: "#1e9e4a",
  prohibited: "#d93025",
  sensitive: "#f08c00",
  parking: "#2f6fd6",
  speed_zone: "#8e44ad",
};

const EARTH_CIRCUMFERENCE_M = 40075016.686;

// corridorWeight is a corridor's full width in pixels at the map's zoom.
function corridorWeight(map, lat, widthM) {
  const mPerPx = (EARTH_CIRCUMFERENCE_M * Math.cos((lat * Math.PI) / 180)) / 2 ** (map.getZoom() + 8);
  return Math.max(2, widthM / mPerPx);
}

// labelsByZoom hides the names of places (fences, landmarks) on a map
// zoomed out too far to read them (a province at once).
export function labelsByZoom(map) {
  const set = () => map.getContainer().classList.toggle("labels-hidden", map.getZoom() < LABEL_MIN_ZOOM);
  map.on("zoomend", set);
  map.whenReady(set);
}

// LABEL_MIN_ZOOM is the least zoom at which place names are shown.
export const LABEL_MIN_ZOOM = 10;

// createFences draws fences on map. project(lat, lon) and unproject(lat,
// lon) convert between WGS-84 and the map's datum.
export function createFences(L, map, { project, unproject }) {
  const group = L.featureGroup([], { pmIgnore: true }).addTo(map);
  labelsByZoom(map);
  let fences = [];
  const corridors = [];

  const ll = (p) => project(p.lat, p.lon);

  function render() {
    group.clearLayers();
    corridors.length = 0;
    for (const f of fences) {
      const color = FENCE_COLORS[f.kind] || "#555";
      const style = { color, weight: 2, fillOpacity: 0.12, pmIgnore: true, interactive: true };
      const s = f.shape;
      let layer;
      if (s.type === "polygon" || s.type === "multipolygon") {
        layer = L.polygon(s.polygons.map((poly) => poly.map((ring) => ring.map(ll))), style);
      } else if (s.type === "circle") {
        layer = L.circle(ll(s.center), { ...style, radius: s.radius_m });
      } else if (s.type === "corridor") {
        const pts = s.line.map(ll);
        layer = L.polyline(pts, { ...style, opacity: 0.35, lineCap: "round", lineJoin: "round",
          weight: corridorWeight(map, pts[0][0], s.width_m) });
        corridors.push({ layer, lat: pts[0][0], width: s.width_m });
      } else {
        continue;
      }
      // The name stays on the map as a label (the kind in its title), so
      // that a place is found by reading the map, not by hovering it.
      layer.bindTooltip(el("span", { title: t(`fence.kind.${f.kind}`), dataset: { fenceId: f.id } }, f.name),
        { permanent: true, direction: "center", className: "map-label fence-label" });
      layer.fence = f;
      group.addLayer(layer);
    }
  }
  map.on("zoomend", () => {
    for (const c of corridors) c.layer.setStyle({ weight: corridorWeight(map, c.lat, c.width) });
  });
  document.addEventListener("langchange", render);

  async function load() {
    fences = (await get("/api/v1/geofences")).items;
    render();
  }

  // byId returns the layer drawn for fence id, if any.
  const byId = (id) => group.getLayers().find((l) => l.fence && l.fence.id === id);
  return { load, render, count: () => fences.length, list: () => fences, byId, group };
}

// loadFenceDrawing loads leaflet-geoman (only for those who may draw). It
// must be loaded before the map is made: it hooks into map creation.
export async function loadFenceDrawing() {
  await import("@geoman-io/leaflet-geoman-free");
  await import("@geoman-io/leaflet-geoman-free/dist/leaflet-geoman.css");
}

// fenceDialog makes the form that names a drawn fence (#fence-dialog), once
// for every page that draws fences, and adds it to the page.
function fenceDialog() {
  const option = (value, key) => el("option", { value, dataset: { i18n: key } });
  const field = (key, control) => el("p", {}, el("label", {}, el("span", { dataset: { i18n: key } }), el("br"), control));
  const d = el("dialog", { id: "fence-dialog" },
    el("form", { method: "dialog" },
      el("h2", { dataset: { i18n: "fence.title" } }),
      field("fence.name", el("input", { name: "name", required: true, maxLength: 64 })),
      field("fence.kind", el("select", { name: "kind" },
        ...["permitted", "prohibited", "sensitive", "parking"].map((k) => option(k, `fence.kind.${k}`)))),
      field("fence.category", el("select", { name: "category" },
        ...["hotel", "golf", "ktv_sauna", "scenic", "residential"].map((c) => option(c, `place.${c}`)))),
      field("fence.width", el("input", { name: "width", type: "number", min: "1", max: "10000", value: "100" })),
      field("fence.unit", el("select", { name: "unit" })),
      el("p", {},
        el("button", { value: "save", dataset: { i18n: "fence.save" } }), " ",
        el("button", { value: "cancel", formNoValidate: true, dataset: { i18n: "fence.cancel" } }))));
  document.body.append(d);
  apply(d);
  return d;
}

// enableFenceDrawing adds leaflet-geoman's drawing tools (loadFenceDrawing
// first); each shape drawn opens the fence dialog (fenceDialog) and is saved
// through the API. units are the units the user may give the fence to.
export function enableFenceDrawing(L, map, { unproject, units, onSaved, notify }) {
  const dialog = fenceDialog();
  map.pm.setLang(document.documentElement.lang === "en" ? "en" : "zh");
  map.pm.addControls({
    position: "topleft",
    drawMarker: false, drawCircleMarker: false, drawRectangle: false, drawText: false,
    editMode: false, dragMode: false, cutPolygon: false, removalMode: false, rotateMode: false,
    drawPolygon: true, drawCircle: true, drawPolyline: true,
  });
  const form = dialog.querySelector("form");
  const unitSel = form.elements.unit;
  unitSel.replaceChildren(...units.map((u) => new Option(u.path, u.id)));

  const wgs = (p) => {
    const [lat, lon] = unproject(p.lat, p.lng);
    return [lon, lat];
  };

  map.on("pm:create", (ev) => {
    const layer = ev.layer;
    const shape = ev.shape; // "Polygon", "Circle" or "Line"
    form.reset();
    form.dataset.shape = shape;
    form.elements.width.closest("p").hidden = shape !== "Line";
    const update = () => {
      form.elements.category.closest("p").hidden = form.elements.kind.value !== "sensitive";
    };
    form.elements.kind.onchange = update;
    update();
    // Escape closes the dialog without a return value: Firefox and Safari
    // then keep the last one, which would save what was cancelled.
    const ask = () => {
      dialog.returnValue = "";
      dialog.showModal();
    };
    dialog.onclose = async () => {
      if (dialog.returnValue !== "save") {
        layer.remove();
        return;
      }
      const props = { name: form.elements.name.value.trim(), kind: form.elements.kind.value };
      if (props.kind === "sensitive") props.category = form.elements.category.value;
      let geometry;
      if (shape === "Circle") {
        geometry = { type: "Point", coordinates: wgs(layer.getLatLng()) };
        props.radius_m = Math.round(layer.getRadius());
      } else if (shape === "Line") {
        geometry = { type: "LineString", coordinates: layer.getLatLngs().map(wgs) };
        props.width_m = Number(form.elements.width.value);
      } else {
        const ring = layer.getLatLngs()[0].map(wgs);
        ring.push(ring[0]);
        geometry = { type: "Polygon", coordinates: [ring] };
      }
      try {
        await post(`/api/v1/geofences?unit=${encodeURIComponent(unitSel.value)}`,
          { type: "Feature", geometry, properties: props });
      } catch (e) {
        // Refused: the shape stays and the form opens again as it was,
        // to be corrected and saved, or cancelled — not drawn again.
        notify(t("error", { msg: e.message }));
        ask();
        return;
      }
      notify(t("fence.saved"));
      try {
        await onSaved();
      } catch (e) {
        notify(t("error", { msg: e.message }));
      } finally {
        layer.remove();
      }
    };
    ask();
  });
}
