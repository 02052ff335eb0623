// Vite builds every page of the UI (one HTML entry each, sharing the modules
// in src/) into dist/app, which the api package embeds and serves under /ui/.
// Add a page by adding its HTML file here.
import { resolve } from "node:path";
import { defineConfig } from "vite";

const page = (name) => resolve(import.meta.dirname, name);

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
      },
    },
  },
});
