// The destination drawn on a map (目的地区域): a point or an area, drawn
// with leaflet-geoman on the page's base map and kept in WGS-84 as the API
// stores it, whatever the base map's datum. One destination at a time:
// drawing another replaces it.

import L from "../leaflet.js";
import { projector, setupBaseMaps } from "../basemap.js";
import { loadFenceDrawing, labelsByZoom } from "../fences.js";
import { gcj02ToWgs84 } from "../gcj02.js";

// createDestinationMap makes the map in div; config is GET
// /api/v1/ui/config. It returns { geometry(), clear() }: the GeoJSON
// geometry drawn, or null.
export async function createDestinationMap(div, config, notify) {
  await loadFenceDrawing(); // before the map: leaflet-geoman hooks its creation
  const map = L.map(div, { zoomControl: true }).setView([30.2, 115.04], 11);
  map.attributionControl.setPrefix("");
  labelsByZoom(map);
  let unproject = (lat, lon) => [lat, lon];
  setupBaseMaps(L, map, config.base_maps, (datum) => {
    // A drawn shape stays where it was drawn on the screen: redraw after
    // a change of datum rather than move it.
    unproject = datum === "gcj02" ? gcj02ToWgs84 : projector("wgs84");
  }, notify);
  map.pm.setLang(document.documentElement.lang === "en" ? "en" : "zh");
  // One destination: drawing ends with the first shape. A point is a
  // dot of the page's own (Leaflet's marker image is not bundled).
  map.pm.setGlobalOptions({ continueDrawing: false,
    markerStyle: { icon: L.divIcon({ className: "rq-dest-icon", iconSize: [14, 14] }) } });
  map.pm.addControls({
    position: "topleft",
    drawCircleMarker: false, drawRectangle: false, drawText: false, drawCircle: false, drawPolyline: false,
    editMode: false, dragMode: false, cutPolygon: false, removalMode: false, rotateMode: false,
    drawMarker: true, drawPolygon: true,
  });
  let layer = null;
  let geometry = null;
  const wgs = (p) => {
    const [lat, lon] = unproject(p.lat, p.lng);
    return [lon, lat];
  };
  map.on("pm:create", (ev) => {
    if (layer) layer.remove();
    layer = ev.layer;
    if (ev.shape === "Marker") {
      geometry = { type: "Point", coordinates: wgs(layer.getLatLng()) };
    } else {
      const ring = layer.getLatLngs()[0].map(wgs);
      ring.push(ring[0]);
      geometry = { type: "Polygon", coordinates: [ring] };
    }
    div.dataset.drawn = geometry.type;
  });
  return {
    geometry: () => geometry,
    clear() {
      if (layer) layer.remove();
      layer = null;
      geometry = null;
      delete div.dataset.drawn;
    },
  };
}
