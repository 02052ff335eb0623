// The area search's place finder: an inspector who was told "the hotel"
// types its name (a geofence's or a landmark's) or a plate and picks the
// place found, or types coordinates; the area searched is then that
// fence, that landmark's area, or a circle around the point (a landmark
// that is a point, a vehicle's last position, the coordinates) of the
// radius given.

import { get } from "../api.js";
import { el } from "../dom.js";
import { t } from "../i18n.js";
import { toast } from "../toast.js";
import "../geofences/messages.js";

const $ = (id) => document.getElementById(id);

// parseCoords reads "lat, lon" (or "lat lon"), or null.
export function parseCoords(s) {
  const m = s.trim().match(/^(-?\d+(?:\.\d+)?)\s*[,，\s]\s*(-?\d+(?:\.\d+)?)$/);
  if (!m) return null;
  const lat = Number(m[1]);
  const lon = Number(m[2]);
  return lat >= -90 && lat <= 90 && lon >= -180 && lon <= 180 ? { lat, lon } : null;
}

export function setupPlaceFinder(L, map, { fences, project, setArea, pickFence }) {
  const radius = () => Math.min(50000, Math.max(1, Number($("place-r").value) || 300));
  const circle = (lat, lon) => {
    const c = L.circle(project(lat, lon), { radius: radius(), color: "#d93025" }).addTo(map);
    setArea(c);
    map.setView(project(lat, lon), Math.max(map.getZoom(), 15));
  };

  function pickLandmark(l) {
    const g = l.geometry;
    if (g.type === "Point") return circle(g.coordinates[1], g.coordinates[0]);
    const ring = (r) => r.map(([lon, lat]) => project(lat, lon));
    const polys = g.type === "Polygon" ? [g.coordinates] : g.coordinates;
    const layer = L.polygon(polys.map((p) => p.map(ring)), { color: "#d93025" }).addTo(map);
    layer.geojson = g;
    setArea(layer);
    map.fitBounds(layer.getBounds(), { maxZoom: 17, padding: [40, 40] });
  }

  function pick(hit) {
    $("place-results").replaceChildren();
    $("place-q").value = hit.label;
    if (hit.fence) {
      pickFence(hit.fence.id);
      const layer = fences.byId(hit.fence.id);
      if (layer) map.fitBounds(layer.getBounds(), { maxZoom: 17, padding: [40, 40] });
    } else if (hit.landmark) {
      pickLandmark(hit.landmark);
    } else if (hit.position) {
      circle(hit.position.lat, hit.position.lon);
    }
  }

  let seq = 0;
  async function find() {
    const q = $("place-q").value.trim();
    const mine = ++seq;
    if (!q) return $("place-results").replaceChildren();
    const hits = fences.list().filter((f) => f.name.includes(q))
      .map((f) => ({ label: f.name, kind: t("place.fence"), fence: f }));
    try {
      const [ls, ps] = await Promise.all([
        get(`/api/v1/landmarks?q=${encodeURIComponent(q)}`),
        get("/api/v1/positions?limit=500"),
      ]);
      hits.push(...ls.items.map((l) => ({ label: l.name, kind: t("place.landmark"), landmark: l })));
      const up = q.toUpperCase();
      hits.push(...ps.items.filter((p) => p.plate.toUpperCase().includes(up)).slice(0, 10)
        .map((p) => ({ label: p.plate, kind: t("place.vehicle"), position: p })));
    } catch (e) {
      toast(t("error", { msg: e.message }));
    }
    if (mine !== seq) return; // a later keystroke's answer wins
    const items = hits.slice(0, 20).map((h) => {
      const li = el("li", { dataset: { label: h.label } }, el("span", {}, h.label), el("span", { className: "small" }, ` · ${h.kind}`));
      li.addEventListener("click", () => pick(h));
      return li;
    });
    if (items.length === 0) items.push(el("li", { className: "empty" }, t("place.none")));
    $("place-results").replaceChildren(...items);
  }

  let timer = 0;
  $("place-q").addEventListener("input", () => {
    clearTimeout(timer);
    timer = setTimeout(find, 250);
  });
  $("place-q").addEventListener("keydown", (ev) => {
    if (ev.key !== "Enter") return;
    ev.preventDefault();
    clearTimeout(timer);
    find();
  });
  $("coords-go").addEventListener("click", () => {
    const c = parseCoords($("coords").value);
    if (!c) return toast(t("place.badCoords"));
    circle(c.lat, c.lon);
  });
}
