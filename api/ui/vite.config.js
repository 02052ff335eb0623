// Vite builds every page of the UI (one HTML entry each, sharing the modules
// in src/) into dist/app, which the api package embeds and serves under /ui/.
// Add a page by adding its HTML file here.
import { fileURLToPath } from "node:url";
import { defineConfig } from "vite";

// import.meta.dirname is Node 20.11 or later; Debian 12's Node is 18.
const page = (name) => fileURLToPath(new URL(name, import.meta.url));

export default defineConfig({
  base: "/ui/",
  build: {
    outDir: "dist/app",
    emptyOutDir: true,
    // Small images (Leaflet's CSS icons) become data: URIs, which the CSP
    // allows for images only.
    assetsInlineLimit: 8192,
    rollupOptions: {
      input: {
        live: page("live.html"),
        replay: page("replay.html"),
        verify: page("verify.html"),
        area: page("area.html"),
        admin: page("admin.html"),
        alerts: page("alerts.html"),
        tips: page("tips.html"),
        audit: page("audit.html"),
        dispatch: page("dispatch.html"),
        requests: page("requests.html"),
        geofences: page("geofences.html"),
        reports: page("reports.html"),
        fuel: page("fuel.html"),
      },
    },
  },
});
