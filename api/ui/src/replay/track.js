// Drawing one vehicle's replay on the map: the display track coloured by
// speed (never joined across a gap in the data: each gap's two ends are
// marked instead), back-filled reports dashed and dotted, the stops and
// alerts as markers, and the moving marker.

import { el, textTip } from "../dom.js";
import { has, t } from "../i18n.js";
import "../rules.js";
import { formatDuration, formatTime } from "../time.js";

// SPEED_CLASSES: upper bounds (km/h) and colours, slow to fast. The first
// is standing (below the analysis's 5 km/h of movement).
export const SPEED_CLASSES = [
  [5, "#8a8f98"],
  [30, "#1e9e4a"],
  [60, "#2f6fd6"],
  [90, "#f5a623"],
  [120, "#d93025"],
  [Infinity, "#7b1020"],
];

export const VEHICLE_COLORS = ["#16365f", "#8e44ad", "#c0392b", "#16a085", "#d35400", "#2c3e50", "#7f8c8d", "#b7950b"];

// vehicleClass is the class that colours the i-th vehicle's marker, plate
// label, stops and chip (replay.css: veh-0 to veh-7, each with a plate
// text colour legible on it), as VEHICLE_COLORS[i] colours its lines.
export function vehicleClass(i) {
  return `veh-${i % VEHICLE_COLORS.length}`;
}

export function speedClass(kmh) {
  return SPEED_CLASSES.findIndex(([hi]) => kmh < hi);
}

// segments cuts the points into runs of one speed class and one kind
// (back-filled or not), breaking at every gap. A run shares its first
// point with the previous run's last, so the line is continuous where it
// should be.
export function segments(pts, gaps) {
  const inGap = (a, b) => gaps.some((g) => g.fromMs <= a.ms && g.toMs >= b.ms);
  const out = [];
  let cur = null;
  for (let i = 0; i < pts.length; i++) {
    const p = pts[i];
    const cls = speedClass(p.speed_kmh);
    if (cur && i > 0 && inGap(pts[i - 1], p)) cur = null;
    if (!cur || cur.cls !== cls || cur.backfill !== p.backfill) {
      const prev = cur ? cur.pts[cur.pts.length - 1] : null;
      cur = { cls, backfill: p.backfill, pts: prev ? [prev] : [] };
      out.push(cur);
    }
    cur.pts.push(p);
  }
  return out.filter((s) => s.pts.length > 1);
}

// createTrackLayer draws replay r (its points carrying ms) of the color-th
// vehicle. project(lat, lon) → [lat, lon] in the base map's datum.
export function createTrackLayer(L, map, r, color, { project, onStop, onAlert }) {
  const group = L.layerGroup().addTo(map);
  let marker = null;

  function ll(lat, lon) {
    return project(lat, lon);
  }

  const vc = vehicleClass(Math.max(0, VEHICLE_COLORS.indexOf(color)));

  function draw() {
    group.clearLayers();
    for (const s of segments(r.points, r.gapsMs)) {
      const latlngs = s.pts.map((p) => ll(p.lat, p.lon));
      const [, col] = SPEED_CLASSES[s.cls];
      L.polyline(latlngs, { color: col, weight: 4, opacity: 0.9, dashArray: s.backfill ? "6 5" : null,
        className: `rp-seg rp-speed-${s.cls}${s.backfill ? " rp-backfill" : ""}` }).addTo(group);
    }
    for (const p of r.points) {
      if (!p.backfill) continue;
      L.circleMarker(ll(p.lat, p.lon), { radius: 3, color: "#8e44ad", weight: 1, fillOpacity: 0.8, className: "rp-backfill-point" })
        .bindTooltip(textTip(`${t("replay.backfill")} ${formatTime(p.time)}`)).addTo(group);
    }
    r.gaps.forEach((g, k) => {
      const { fromMs, toMs } = r.gapsMs[k];
      const before = r.points.findLast((p) => p.ms <= fromMs);
      const after = r.points.find((p) => p.ms >= toMs);
      const tip = t("replay.gapTip", { from: formatTime(g.from), to: formatTime(g.to), dur: formatDuration(g.duration_s),
        km: (g.distance_m / 1000).toFixed(2) });
      for (const p of [before, after]) {
        if (!p) continue;
        L.circleMarker(ll(p.lat, p.lon), { radius: 6, color: "#5a6472", weight: 2, fill: true, fillColor: "#fff", fillOpacity: 1,
          className: "rp-gap-end" }).bindTooltip(textTip(tip)).addTo(group);
      }
    });
    r.stops.forEach((s, i) => {
      const fences = s.fences.map((f) => f.name).join("、");
      const icon = L.divIcon({ className: "rp-stop-icon", html: el("div", { className: `rp-stop ${vc}` }, i + 1),
        iconSize: [22, 22], iconAnchor: [11, 11] });
      L.marker(ll(s.lat, s.lon), { icon, title: `${t("replay.stop")} ${i + 1}` })
        .bindTooltip(textTip(`${t("replay.stop")} ${i + 1}: ${formatTime(s.from)} – ${formatTime(s.to)} (${formatDuration(s.duration_s)})${fences ? ` · ${fences}` : ""}`))
        .on("click", () => onStop(i)).addTo(group);
    });
    r.alerts.forEach((a, i) => {
      const icon = L.divIcon({ className: "rp-alert-icon", html: el("div", { className: "rp-alert", dataset: { rule: a.rule.id } }, "!"),
        iconSize: [18, 18], iconAnchor: [9, 9] });
      L.marker(ll(a.start_place.lat, a.start_place.lon), { icon, zIndexOffset: 500 })
        .bindTooltip(textTip(`${ruleName(a)} · ${formatTime(a.start)}`)).on("click", () => onAlert(i)).addTo(group);
    });
    const icon = L.divIcon({ className: "rp-vehicle-icon", iconSize: [0, 0],
      html: el("div", { className: `rp-vehicle ${vc}` },
        el("span", { className: "rp-arrow" }, "➤"), el("span", { className: "rp-plate" }, r.plate)) });
    marker = L.marker([0, 0], { icon, zIndexOffset: 1000, interactive: false });
    if (r.points.length > 0) marker.setLatLng(ll(r.points[0].lat, r.points[0].lon)).addTo(group);
  }

  draw();
  return {
    redraw: draw,
    bounds() {
      return r.points.length ? L.latLngBounds(r.points.map((p) => ll(p.lat, p.lon))) : null;
    },
    // moveTo puts the marker where the vehicle was (pos from locate).
    moveTo(pos) {
      if (!pos || !marker) return;
      marker.setLatLng(ll(pos.lat, pos.lon));
      const el = marker.getElement();
      if (!el) return;
      const v = el.querySelector(".rp-vehicle");
      v.classList.toggle("in-gap", pos.inGap);
      const p = r.points[pos.i];
      v.querySelector(".rp-arrow").style.transform = `rotate(${(p ? p.heading : 0) - 90}deg)`;
      el.dataset.lat = pos.lat.toFixed(6);
      el.dataset.lon = pos.lon.toFixed(6);
    },
    markerLatLng: () => marker && marker.getLatLng(),
    remove() {
      group.remove();
    },
  };
}

export function ruleName(a) {
  const key = `rule.${a.rule.id}`;
  // The server names rules in Chinese; English comes from the messages.
  return has(key) ? t(key) : a.rule.name || a.rule.id;
}
