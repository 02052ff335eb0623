// The base-map layer factory every map page shares. fleetd tells which tile
// sources it offers (GET /api/v1/ui/config); whatever they are, a plain
// background with a coordinate grid lies underneath, so that with no tile
// server reachable (an intranet, a test machine) the map still shows where
// things are, and a metric scale is always on.

import { t } from "./i18n.js";
import { wgs84ToGcj02 } from "./gcj02.js";

const STORE = "fleetmon.basemap";

// gridStep picks the grid spacing, in degrees, that puts lines at least
// minPx pixels apart at zoom z.
function gridStep(z, minPx) {
  const pxPerDeg = (256 * 2 ** z) / 360;
  const steps = [20, 10, 5, 2, 1, 0.5, 0.2, 0.1, 0.05, 0.02, 0.01, 0.005, 0.002, 0.001, 0.0005, 0.0002, 0.0001];
  let best = steps[0];
  for (const s of steps) if (s * pxPerDeg >= minPx) best = s;
  return best;
}

function label(v, pos, neg, step) {
  const d = Math.max(0, Math.ceil(-Math.log10(step)));
  return `${Math.abs(v).toFixed(d)}°${v >= 0 ? pos : neg}`;
}

// coordinateGrid is a tile layer drawn in the browser: background and
// lines of latitude and longitude (labelled once, at the map's edges, by
// gridLabels: labels drawn per tile repeat on every tile and are cut at
// its edges).
export function coordinateGrid(L) {
  const Grid = L.GridLayer.extend({
    createTile(coords) {
      const size = this.getTileSize();
      const tile = document.createElement("canvas");
      tile.width = size.x;
      tile.height = size.y;
      const ctx = tile.getContext("2d");
      ctx.fillStyle = "#eef1f4";
      ctx.fillRect(0, 0, size.x, size.y);
      const map = this._map;
      const nwPx = coords.scaleBy(size);
      const nw = map.unproject(nwPx, coords.z);
      const se = map.unproject(nwPx.add(size), coords.z);
      const step = gridStep(coords.z, GRID_PX);
      ctx.strokeStyle = "#c5ccd6";
      ctx.lineWidth = 1;
      const toPx = (lat, lon) => map.project([lat, lon], coords.z).subtract(nwPx);
      for (let lon = Math.ceil(nw.lng / step) * step; lon < se.lng; lon += step) {
        const x = Math.round(toPx(nw.lat, lon).x) + 0.5;
        ctx.beginPath();
        ctx.moveTo(x, 0);
        ctx.lineTo(x, size.y);
        ctx.stroke();
      }
      for (let lat = Math.ceil(se.lat / step) * step; lat < nw.lat; lat += step) {
        const y = Math.round(toPx(lat, nw.lng).y) + 0.5;
        ctx.beginPath();
        ctx.moveTo(0, y);
        ctx.lineTo(size.x, y);
        ctx.stroke();
      }
      return tile;
    },
  });
  return new Grid({ pane: "tilePane", zIndex: 0, maxZoom: 22 });
}

// GRID_PX is the least distance between grid lines, in pixels.
const GRID_PX = 110;

// gridLabels labels the grid's lines where they meet the map's edges:
// longitudes along the top (clear of the controls at the top left),
// latitudes along the right. Redrawn as the map moves.
function gridLabels(L, map) {
  const box = L.DomUtil.create("div", "grid-labels", map.getContainer());
  const draw = () => {
    const step = gridStep(map.getZoom(), GRID_PX);
    const b = map.getBounds();
    const size = map.getSize();
    const labels = [];
    const put = (text, style) => {
      const el = document.createElement("span");
      el.textContent = text;
      Object.assign(el.style, style);
      labels.push(el);
    };
    for (let lon = Math.ceil(b.getWest() / step) * step; lon < b.getEast(); lon += step) {
      const x = map.latLngToContainerPoint([b.getNorth(), lon]).x;
      if (x > 60 && x < size.x - 70) put(label(lon, "E", "W", step), { left: `${Math.round(x) + 3}px`, top: "2px" });
    }
    for (let lat = Math.ceil(b.getSouth() / step) * step; lat < b.getNorth(); lat += step) {
      const y = map.latLngToContainerPoint([lat, b.getEast()]).y;
      if (y > 20 && y < size.y - 30) put(label(lat, "N", "S", step), { right: "3px", top: `${Math.round(y) - 15}px` });
    }
    box.replaceChildren(...labels);
  };
  map.on("move zoomend resize viewreset", draw);
  map.whenReady(draw);
}

// projector returns the function that turns stored WGS-84 positions into
// the base map's datum, as [lat, lon].
export function projector(datum) {
  return datum === "gcj02" ? wgs84ToGcj02 : (lat, lon) => [lat, lon];
}

// setupBaseMaps adds the grid, the configured base maps (with a switcher
// when there is a choice), and a scale to map. onDatum(datum) is called
// with "wgs84" or "gcj02" now and whenever the user picks a base map of
// another datum. It returns { datum() }.
export function setupBaseMaps(L, map, baseMaps, onDatum, notify) {
  coordinateGrid(L).addTo(map);
  gridLabels(L, map);
  L.control.scale({ metric: true, imperial: false, position: "bottomleft" }).addTo(map);
  const entries = [{ id: "none", name: t("map.none"), crs: "wgs84", layer: L.layerGroup() }];
  for (const b of baseMaps) {
    const group = L.layerGroup();
    let loads = 0;
    let errors = 0;
    let warned = false;
    for (const url of b.layers) {
      const tl = L.tileLayer(url, { subdomains: b.subdomains || "abc", maxZoom: b.max_zoom || 18,
        maxNativeZoom: b.max_zoom || 18, attribution: b.attribution || "", zIndex: 1 });
      tl.on("tileload", () => loads++);
      tl.on("tileerror", () => {
        errors++;
        // A few failures and not one tile: the source is unreachable.
        if (!warned && loads === 0 && errors >= 4) {
          warned = true;
          notify(t("map.tilesFailed"));
        }
      });
      group.addLayer(tl);
    }
    entries.push({ id: b.id, name: b.name, crs: b.crs, layer: group });
  }
  const saved = localStorage.getItem(STORE);
  let current = entries.find((e) => e.id === saved) || entries[1] || entries[0];
  current.layer.addTo(map);
  if (entries.length > 1) {
    const byName = {};
    for (const e of entries) byName[e.name] = e.layer;
    L.control.layers(byName, null, { position: "topright" }).addTo(map);
    map.on("baselayerchange", (ev) => {
      const next = entries.find((e) => e.layer === ev.layer);
      if (!next) return;
      const changed = next.crs !== current.crs;
      current = next;
      localStorage.setItem(STORE, next.id);
      if (changed) onDatum(next.crs);
    });
  }
  onDatum(current.crs);
  return { datum: () => current.crs };
}
