// The vehicle layer: one canvas over the map, redrawn in an animation frame
// when something changed. Vehicles are arrows (moving, pointing to their
// heading) or dots, coloured by state; zoomed out they are clustered with
// supercluster, rebuilt at most every REBUILD_MS while positions stream in.
// One canvas instead of a DOM marker per vehicle keeps the page smooth with
// ten thousand vehicles moving.

import Supercluster from "supercluster";
import { STATE_COLORS } from "./state.js";

// CLUSTER_MAX_ZOOM: from the next zoom on, every vehicle is drawn alone.
const CLUSTER_MAX_ZOOM = 14;
const REBUILD_MS = 500;
const LABEL_ZOOM = 12;
const HIT_PX = 14;

// createVehicleLayer returns a Leaflet layer. points() returns the vehicles
// to draw as {id, lat, lon (in the map's datum), state, heading, moving,
// plate}; onSelect(id) is called when one is clicked; selected() is the
// selected vehicle's id.
export function createVehicleLayer(L, { points, onSelect, selected }) {
  let map;
  let canvas;
  let ctx;
  let frame = 0;
  let index = null;
  let dataDirty = true;
  let builtAt = 0;
  let rebuildTimer = 0;
  let drawn = []; // hit targets of the last draw: {x, y, id} or {x, y, cluster, lat, lon}

  function rebuild() {
    const feats = [];
    for (const p of points()) {
      feats.push({ type: "Feature", geometry: { type: "Point", coordinates: [p.lon, p.lat] }, properties: p });
    }
    index = new Supercluster({
      radius: 50,
      maxZoom: CLUSTER_MAX_ZOOM,
      map: (p) => ({ alarm: p.state === "alarm" ? 1 : 0 }),
      reduce: (acc, p) => {
        acc.alarm += p.alarm;
      },
    });
    index.load(feats);
    builtAt = performance.now();
    dataDirty = false;
  }

  function arrow(x, y, heading, color) {
    ctx.save();
    ctx.translate(x, y);
    ctx.rotate((heading * Math.PI) / 180);
    ctx.beginPath();
    ctx.moveTo(0, -9);
    ctx.lineTo(6, 7);
    ctx.lineTo(0, 3);
    ctx.lineTo(-6, 7);
    ctx.closePath();
    ctx.fillStyle = color;
    ctx.fill();
    ctx.strokeStyle = "#fff";
    ctx.lineWidth = 1.5;
    ctx.stroke();
    ctx.restore();
  }

  function dot(x, y, color) {
    ctx.beginPath();
    ctx.arc(x, y, 6, 0, 2 * Math.PI);
    ctx.fillStyle = color;
    ctx.fill();
    ctx.strokeStyle = "#fff";
    ctx.lineWidth = 1.5;
    ctx.stroke();
  }

  function drawVehicle(p, x, y, zoom, sel) {
    const color = STATE_COLORS[p.state] || STATE_COLORS.nodata;
    if (sel) {
      ctx.beginPath();
      ctx.arc(x, y, 13, 0, 2 * Math.PI);
      ctx.strokeStyle = "#f5a623";
      ctx.lineWidth = 3;
      ctx.stroke();
    }
    if (p.moving) arrow(x, y, p.heading, color);
    else dot(x, y, color);
    if (zoom >= LABEL_ZOOM || sel) {
      ctx.font = "12px sans-serif";
      ctx.lineWidth = 3;
      ctx.strokeStyle = "#fff";
      ctx.strokeText(p.plate, x + 10, y + 4);
      ctx.fillStyle = "#1d2733";
      ctx.fillText(p.plate, x + 10, y + 4);
    }
    drawn.push({ x, y, id: p.id });
  }

  function drawCluster(c, x, y) {
    const n = c.properties.point_count;
    const r = n < 10 ? 13 : n < 100 ? 16 : n < 1000 ? 19 : 23;
    ctx.beginPath();
    ctx.arc(x, y, r, 0, 2 * Math.PI);
    ctx.fillStyle = c.properties.alarm > 0 ? "rgba(217,48,37,0.85)" : "rgba(33,84,160,0.85)";
    ctx.fill();
    ctx.strokeStyle = "rgba(255,255,255,0.9)";
    ctx.lineWidth = 3;
    ctx.stroke();
    ctx.fillStyle = "#fff";
    ctx.font = "bold 12px sans-serif";
    ctx.textAlign = "center";
    ctx.textBaseline = "middle";
    ctx.fillText(c.properties.point_count_abbreviated, x, y);
    ctx.textAlign = "start";
    ctx.textBaseline = "alphabetic";
    const [lon, lat] = c.geometry.coordinates;
    drawn.push({ x, y, cluster: c.id, lat, lon });
  }

  function draw() {
    frame = 0;
    if (!map) return;
    const size = map.getSize();
    const dpr = window.devicePixelRatio || 1;
    L.DomUtil.setPosition(canvas, map.containerPointToLayerPoint([0, 0]));
    if (canvas.width !== size.x * dpr || canvas.height !== size.y * dpr) {
      canvas.width = size.x * dpr;
      canvas.height = size.y * dpr;
      canvas.style.width = `${size.x}px`;
      canvas.style.height = `${size.y}px`;
    }
    ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
    ctx.clearRect(0, 0, size.x, size.y);
    drawn = [];
    const zoom = Math.round(map.getZoom());
    const b = map.getBounds().pad(0.05);
    const sel = selected();
    let selPoint = null;
    if (zoom <= CLUSTER_MAX_ZOOM) {
      if (!index || (dataDirty && performance.now() - builtAt >= REBUILD_MS)) rebuild();
      else if (dataDirty && !rebuildTimer) {
        // Draw again once the index may be rebuilt.
        rebuildTimer = setTimeout(() => {
          rebuildTimer = 0;
          schedule();
        }, REBUILD_MS - (performance.now() - builtAt));
      }
      const west = Math.max(-180, b.getWest());
      const east = Math.min(180, b.getEast());
      for (const c of index.getClusters([west, b.getSouth(), east, b.getNorth()], zoom)) {
        const [lon, lat] = c.geometry.coordinates;
        const pt = map.latLngToContainerPoint([lat, lon]);
        if (c.properties.cluster) drawCluster(c, pt.x, pt.y);
        else if (c.properties.id === sel) selPoint = c.properties;
        else drawVehicle(c.properties, pt.x, pt.y, zoom, false);
      }
    } else {
      for (const p of points()) {
        if (p.lat < b.getSouth() || p.lat > b.getNorth() || p.lon < b.getWest() || p.lon > b.getEast()) continue;
        if (p.id === sel) {
          selPoint = p;
          continue;
        }
        const pt = map.latLngToContainerPoint([p.lat, p.lon]);
        drawVehicle(p, pt.x, pt.y, zoom, false);
      }
    }
    // The selected vehicle is drawn last, on top, even inside a cluster.
    if (sel != null) {
      selPoint = selPoint || points().find((p) => p.id === sel);
      if (selPoint) {
        const pt = map.latLngToContainerPoint([selPoint.lat, selPoint.lon]);
        drawVehicle(selPoint, pt.x, pt.y, zoom, true);
      }
    }
  }

  function schedule() {
    if (!frame) frame = requestAnimationFrame(draw);
  }

  function click(ev) {
    const { x, y } = ev.containerPoint;
    let best = null;
    let bestD = HIT_PX * HIT_PX;
    for (let i = drawn.length - 1; i >= 0; i--) {
      const d = (drawn[i].x - x) ** 2 + (drawn[i].y - y) ** 2;
      if (d <= bestD) {
        best = drawn[i];
        bestD = d;
      }
    }
    if (!best) return;
    if (best.cluster != null) {
      map.setView([best.lat, best.lon], Math.min(index.getClusterExpansionZoom(best.cluster), CLUSTER_MAX_ZOOM + 1));
    } else {
      onSelect(best.id);
    }
  }

  const Layer = L.Layer.extend({
    onAdd(m) {
      map = m;
      canvas = L.DomUtil.create("canvas", "fm-vehicles leaflet-zoom-hide");
      ctx = canvas.getContext("2d");
      map.getPanes().overlayPane.appendChild(canvas);
      map.on("move moveend zoomend resize viewreset", schedule);
      map.on("click", click);
      schedule();
    },
    onRemove() {
      map.off("move moveend zoomend resize viewreset", schedule);
      map.off("click", click);
      canvas.remove();
      if (frame) cancelAnimationFrame(frame);
      frame = 0;
      map = null;
    },
    // changed says positions or states changed: redraw, reclustering soon.
    changed() {
      dataDirty = true;
      schedule();
    },
    // redraw redraws with the current clusters (e.g. the selection moved).
    redraw: schedule,
  });
  return new Layer();
}
