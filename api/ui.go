package api

import (
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"net/http"
	"net/url"
	"strings"
)

// The web UI: the pages built from api/ui by `make ui` (npm ci && vite
// build into api/ui/dist/app) are embedded here and served under /ui/.
// A checkout that was not built still compiles: api/ui/dist holds only a
// committed placeholder then, and /ui/ answers with a page that says how
// to build the UI. The pages are static and public; everything they show
// comes from the API, behind a login.

//go:embed all:ui/dist
var uiDist embed.FS

// uiBuilt is the built UI, or nil when the checkout was not built.
var uiBuilt = func() fs.FS {
	sub, err := fs.Sub(uiDist, "ui/dist/app")
	if err != nil {
		return nil
	}
	if _, err := fs.Stat(sub, "live.html"); err != nil {
		return nil
	}
	return sub
}()

const uiNotBuilt = `<!doctype html><html lang="zh-CN"><meta charset="utf-8"><title>fleetmon</title>
<h1>界面未构建 / UI not built</h1>
<p>This fleetd was built without its web UI: run <code>make ui</code> (or <code>make build</code>) and build again.</p>
<p>此 fleetd 构建时未包含网页界面：请运行 <code>make ui</code>（或 <code>make build</code>）后重新构建。</p>
`

// uiRoutes serves the built pages under /ui/ (public, like the login
// page) and the base maps the pages may use.
func (s *Server) uiRoutes(p routeRecorder) {
	s.public.HandleFunc("GET /ui/{$}", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "/ui/live.html", http.StatusFound)
	})
	var files http.Handler
	if uiBuilt != nil {
		files = http.StripPrefix("/ui/", http.FileServerFS(uiBuilt))
	}
	s.public.HandleFunc("GET /ui/{path...}", func(w http.ResponseWriter, r *http.Request) {
		if files == nil {
			w.Header().Set("Content-Type", "text/html; charset=utf-8")
			w.WriteHeader(http.StatusServiceUnavailable)
			_, _ = w.Write([]byte(uiNotBuilt))
			return
		}
		// Built assets carry a content hash in their names: they may be
		// kept; the pages themselves may not.
		if strings.HasPrefix(r.PathValue("path"), "assets/") {
			w.Header().Set("Cache-Control", "public, max-age=31536000, immutable")
		}
		files.ServeHTTP(w, r)
	})
	p.HandleFunc("GET /api/v1/ui/config", s.uiConfig)
}

// BaseMap is a tile source the map pages offer. Tiles are fetched by the
// browser, never by fleetd.
type BaseMap struct {
	// ID names the source: osm, tianditu, amap, tencent or intranet.
	ID string `json:"id"`
	// Name is what the layer switcher shows.
	Name string `json:"name"`
	// Layers are Leaflet URL templates ({s}, {z}, {x}, {y}, {-y}), drawn
	// bottom first (Tianditu: the map, then its labels).
	Layers []string `json:"layers"`
	// Subdomains replace {s}.
	Subdomains string `json:"subdomains,omitempty"`
	// CRS is the datum the tiles are drawn in: "wgs84" (also CGCS2000,
	// which differs by centimetres) or "gcj02" (AMap, Tencent): positions
	// and geofences are shifted to it for display only.
	CRS         string `json:"crs"`
	MaxZoom     int    `json:"max_zoom"`
	Attribution string `json:"attribution"`
}

// BaseMapOptions is what fleetd serve's flags say about base maps.
type BaseMapOptions struct {
	// Sources are the IDs offered, the first being the default: osm,
	// tianditu, amap, tencent, intranet. Empty: intranet when TileURL is
	// set, then tianditu when TiandituKey is set; with none of those the
	// map draws no tiles at all (a plain background with a grid), which
	// is what works on an intranet without a tile server.
	Sources []string
	// TiandituKey is the operator's Tianditu (天地图) key.
	TiandituKey string
	// TileURL is an intranet tile server's URL template, and TileCRS
	// its datum (wgs84, the default, or gcj02).
	TileURL string
	TileCRS string
}

// BaseMaps turns the options into the sources offered.
func BaseMaps(o BaseMapOptions) ([]BaseMap, error) {
	src := o.Sources
	if len(src) == 0 {
		if o.TileURL != "" {
			src = append(src, "intranet")
		}
		if o.TiandituKey != "" {
			src = append(src, "tianditu")
		}
	}
	var out []BaseMap
	for _, id := range src {
		var b BaseMap
		switch id {
		case "osm":
			b = BaseMap{Name: "OpenStreetMap", Layers: []string{"https://tile.openstreetmap.org/{z}/{x}/{y}.png"},
				CRS: "wgs84", MaxZoom: 19, Attribution: "© OpenStreetMap contributors"}
		case "tianditu":
			if o.TiandituKey == "" {
				return nil, errors.New("base map tianditu needs the operator's key (--tianditu-key)")
			}
			k := url.QueryEscape(o.TiandituKey)
			wmts := func(layer string) string {
				return "https://t{s}.tianditu.gov.cn/" + layer + "_w/wmts?SERVICE=WMTS&REQUEST=GetTile&VERSION=1.0.0&LAYER=" + layer +
					"&STYLE=default&TILEMATRIXSET=w&FORMAT=tiles&TILEMATRIX={z}&TILEROW={y}&TILECOL={x}&tk=" + k
			}
			b = BaseMap{Name: "天地图", Layers: []string{wmts("vec"), wmts("cva")}, Subdomains: "01234567",
				CRS: "wgs84", MaxZoom: 18, Attribution: "© 天地图"}
		case "amap":
			b = BaseMap{Name: "高德地图", Layers: []string{"https://webrd0{s}.is.autonavi.com/appmaptile?lang=zh_cn&size=1&scale=1&style=8&x={x}&y={y}&z={z}"},
				Subdomains: "1234", CRS: "gcj02", MaxZoom: 18, Attribution: "© 高德地图"}
		case "tencent":
			b = BaseMap{Name: "腾讯地图", Layers: []string{"https://rt{s}.map.gtimg.com/tile?z={z}&x={x}&y={-y}&type=vector&styleid=0"},
				Subdomains: "0123", CRS: "gcj02", MaxZoom: 18, Attribution: "© 腾讯地图"}
		case "intranet":
			if o.TileURL == "" {
				return nil, errors.New("base map intranet needs a tile URL template (--tile-url)")
			}
			crs := o.TileCRS
			if crs == "" {
				crs = "wgs84"
			}
			if crs != "wgs84" && crs != "gcj02" {
				return nil, fmt.Errorf("tile datum %q: want wgs84 or gcj02", crs)
			}
			b = BaseMap{Name: "内网地图", Layers: []string{o.TileURL}, Subdomains: "abc", CRS: crs, MaxZoom: 18}
		default:
			return nil, fmt.Errorf("base map %q: want osm, tianditu, amap, tencent or intranet", id)
		}
		b.ID = id
		for _, l := range b.Layers {
			if _, err := tileOrigin(l); err != nil {
				return nil, fmt.Errorf("base map %s: %w", id, err)
			}
		}
		out = append(out, b)
	}
	return out, nil
}

// tileOrigin is the CSP source that lets the browser load a template's
// tiles: its scheme and host, with a {s} label widened to a wildcard.
// A relative template (tiles served beside fleetd) needs none.
func tileOrigin(tmpl string) (string, error) {
	if strings.HasPrefix(tmpl, "/") && !strings.HasPrefix(tmpl, "//") {
		return "", nil
	}
	u, err := url.Parse(strings.NewReplacer("{", "", "}", "").Replace(tmpl))
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return "", fmt.Errorf("tile URL %q: want an http(s) URL template or a path on this server", tmpl)
	}
	host := u.Host
	if i := strings.Index(tmpl, "://"); i >= 0 {
		h := tmpl[i+3:]
		if j := strings.IndexAny(h, "/?"); j >= 0 {
			h = h[:j]
		}
		if label, rest, ok := strings.Cut(h, "."); ok && strings.Contains(label, "{s}") {
			host = "*." + rest
		}
	}
	return u.Scheme + "://" + host, nil
}

// imgSources is the CSP img-src for the configured base maps.
func imgSources(bms []BaseMap) string {
	src := "'self' data: blob:"
	for _, b := range bms {
		for _, l := range b.Layers {
			if o, _ := tileOrigin(l); o != "" && !strings.Contains(src, " "+o) {
				src += " " + o
			}
		}
	}
	return src
}

// uiConfig serves GET /api/v1/ui/config: what the map pages need to know
// of the server's configuration.
func (s *Server) uiConfig(w http.ResponseWriter, r *http.Request) {
	bms := s.cfg.BaseMaps
	if bms == nil {
		bms = []BaseMap{}
	}
	writeJSON(w, http.StatusOK, map[string]any{"base_maps": bms})
}
