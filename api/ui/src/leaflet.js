// Leaflet, with its stylesheet, also as the global L that Leaflet plugins
// written for script tags (leaflet-geoman) extend.
import L from "leaflet";
import "leaflet/dist/leaflet.css";

window.L = L;
export default L;
