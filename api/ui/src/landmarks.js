// Landmarks on a map: the places the office keeps (hotels, clubs, scenic
// spots, the unit's compound) from GET /api/v1/landmarks, drawn in the
// base map's datum with their names, under a checkbox that shows or hides
// them. They need no tiles: on the grid base map they are what tells one
// place from another.

import { get } from "./api.js";
import { el } from "./dom.js";
import { addMessages, t } from "./i18n.js";
import { labelsByZoom } from "./fences.js";

addMessages("zh-CN", {
  "landmark.layer": "地标",
  "landmark.category.hotel": "宾馆酒店",
  "landmark.category.club": "会所",
  "landmark.category.scenic": "风景名胜",
  "landmark.category.compound": "单位大院",
  "landmark.category.other": "其他",
});
addMessages("en", {
  "landmark.layer": "Landmarks",
  "landmark.category.hotel": "Hotel",
  "landmark.category.club": "Club",
  "landmark.category.scenic": "Scenic spot",
  "landmark.category.compound": "Unit compound",
  "landmark.category.other": "Other",
});

export const LANDMARK_CATEGORIES = ["hotel", "club", "scenic", "compound", "other"];
const COLOR = "#a05a00";

// createLandmarks draws landmarks on map; project(lat, lon) converts
// WGS-84 to the map's datum.
export function createLandmarks(L, map, { project }) {
  const group = L.featureGroup([], { pmIgnore: true }).addTo(map);
  labelsByZoom(map);
  let items = [];
  let shown = true;

  const ring = (r) => r.map(([lon, lat]) => project(lat, lon));

  function render() {
    group.clearLayers();
    for (const l of items) {
      const g = l.geometry;
      const style = { color: COLOR, weight: 1.5, dashArray: "4 3", fillOpacity: 0.08, pmIgnore: true };
      let layer;
      if (g.type === "Point") {
        layer = L.circleMarker(project(g.coordinates[1], g.coordinates[0]), { ...style, radius: 6, dashArray: null, fillOpacity: 0.6 });
      } else if (g.type === "Polygon") {
        layer = L.polygon(g.coordinates.map(ring), style);
      } else if (g.type === "MultiPolygon") {
        layer = L.polygon(g.coordinates.map((p) => p.map(ring)), style);
      } else {
        continue;
      }
      const where = { permanent: true, direction: g.type === "Point" ? "right" : "center", className: "map-label landmark-label" };
      layer.bindTooltip(el("span", { title: t(`landmark.category.${l.category}`), dataset: { landmarkId: l.id } }, l.name), where);
      layer.landmark = l;
      group.addLayer(layer);
    }
  }
  document.addEventListener("langchange", render);

  async function load() {
    items = (await get("/api/v1/landmarks")).items;
    render();
  }

  // The checkbox in the map's corner.
  const Toggle = L.Control.extend({
    onAdd() {
      const box = el("input", { type: "checkbox", checked: true, id: "landmark-toggle" });
      box.addEventListener("change", () => {
        shown = box.checked;
        if (shown) group.addTo(map);
        else group.remove();
      });
      const text = el("span", {}, t("landmark.layer"));
      document.addEventListener("langchange", () => { text.textContent = t("landmark.layer"); });
      const div = el("div", { className: "map-toggle leaflet-bar" }, el("label", {}, box, " ", text));
      L.DomEvent.disableClickPropagation(div);
      return div;
    },
  });
  new Toggle({ position: "topright" }).addTo(map);

  return { load, render, list: () => items, shown: () => shown, group };
}

// createPlaceLayers draws both geofences and landmarks, with their names,
// on a map that shows no other place (the replay).
export function createPlaceLayers(L, map, createFences, { project, unproject }) {
  const fences = createFences(L, map, { project, unproject });
  const landmarks = createLandmarks(L, map, { project });
  return {
    fences,
    landmarks,
    render() {
      fences.render();
      landmarks.render();
    },
    load: () => Promise.all([fences.load(), landmarks.load()]),
  };
}
