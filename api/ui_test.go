package api

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"
)

// TestBaseMaps: the flags' choices become the sources offered, bad ones are
// refused, and the CSP lets the browser reach exactly their tile hosts.
func TestBaseMaps(t *testing.T) {
	for _, tc := range []struct {
		opt     BaseMapOptions
		ids     string
		wantErr bool
	}{
		{BaseMapOptions{}, "", false},
		{BaseMapOptions{TileURL: "http://10.1.2.3:8000/{z}/{x}/{y}.png", TiandituKey: "k"}, "intranet,tianditu", false},
		{BaseMapOptions{Sources: []string{"osm", "amap", "tencent"}}, "osm,amap,tencent", false},
		{BaseMapOptions{Sources: []string{"tianditu"}}, "", true},
		{BaseMapOptions{Sources: []string{"intranet"}}, "", true},
		{BaseMapOptions{Sources: []string{"google"}}, "", true},
		{BaseMapOptions{TileURL: "ftp://tiles/{z}/{x}/{y}"}, "", true},
		{BaseMapOptions{TileURL: "/tiles/{z}/{x}/{y}.png", TileCRS: "bd09"}, "", true},
	} {
		bms, err := BaseMaps(tc.opt)
		if (err != nil) != tc.wantErr {
			t.Errorf("%+v: error %v, want error %v", tc.opt, err, tc.wantErr)
			continue
		}
		var ids []string
		for _, b := range bms {
			ids = append(ids, b.ID)
		}
		if got := strings.Join(ids, ","); got != tc.ids {
			t.Errorf("%+v: sources %q, want %q", tc.opt, got, tc.ids)
		}
	}
	bms, err := BaseMaps(BaseMapOptions{Sources: []string{"amap", "tianditu", "intranet"}, TiandituKey: "a&b", TileURL: "/tiles/{z}/{x}/{y}.png", TileCRS: "gcj02"})
	if err != nil {
		t.Fatal(err)
	}
	if bms[0].CRS != "gcj02" || bms[1].CRS != "wgs84" || bms[2].CRS != "gcj02" || !strings.Contains(bms[1].Layers[0], "tk=a%26b") {
		t.Errorf("base maps %+v", bms)
	}
	if got, want := imgSources(bms), "'self' data: blob: https://*.is.autonavi.com https://*.tianditu.gov.cn"; got != want {
		t.Errorf("img-src %q, want %q", got, want)
	}
}

// TestUIServed: the pages are public, redirect from /ui/, carry the CSP
// with the tile hosts; /api/v1/ui/config needs a login and tells the base
// maps.
func TestUIServed(t *testing.T) {
	bms, err := BaseMaps(BaseMapOptions{Sources: []string{"osm"}})
	if err != nil {
		t.Fatal(err)
	}
	f := newFixture(t, func(c *Config) { c.BaseMaps = bms })
	noRedirect := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := noRedirect.Get(f.ts.URL + "/ui/")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusFound || resp.Header.Get("Location") != "/ui/live.html" {
		t.Errorf("/ui/: %d %s", resp.StatusCode, resp.Header.Get("Location"))
	}
	resp, err = http.Get(f.ts.URL + "/ui/live.html")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	csp := resp.Header.Get("Content-Security-Policy")
	if !strings.Contains(csp, "img-src 'self' data: blob: https://tile.openstreetmap.org;") || !strings.Contains(csp, "default-src 'self'") {
		t.Errorf("CSP %q", csp)
	}
	// Built or not, the page answers: the UI, or how to build it.
	if uiBuilt != nil && resp.StatusCode != http.StatusOK || uiBuilt == nil && resp.StatusCode != http.StatusServiceUnavailable {
		t.Errorf("/ui/live.html: %d (built: %v)", resp.StatusCode, uiBuilt != nil)
	}

	if code, _ := f.newClient().do("GET", "/api/v1/ui/config", nil); code != http.StatusUnauthorized {
		t.Errorf("config without a login: %d", code)
	}
	code, body := f.addUser("cfg_inspector", RoleInspector, "湖北省/黄石市").do("GET", "/api/v1/ui/config", nil)
	var cfg struct {
		BaseMaps []BaseMap `json:"base_maps"`
	}
	if err := json.Unmarshal([]byte(body), &cfg); err != nil || code != 200 || len(cfg.BaseMaps) != 1 || cfg.BaseMaps[0].ID != "osm" {
		t.Errorf("config: %d %s", code, body)
	}
}
