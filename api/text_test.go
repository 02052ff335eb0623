package api

import (
	"fmt"
	"strings"
	"testing"
)

// TestInvalidText: a NUL or invalid UTF-8 in a query value, a JSON string
// or an upload answers 400 invalid_text, not 500, and stores nothing.
func TestInvalidText(t *testing.T) {
	f := newFixture(t, nil)
	setupRoles(f)
	admin, ysup := f.users["admin"], f.users["yx_super"]
	v1, yx := f.veh["鄂B00001"], f.units["湖北省/黄石市/阳新县"]
	period := "from=2026-11-20T00:00:00%2B08:00&to=2026-11-21T00:00:00%2B08:00"
	for _, c := range []struct {
		c            *client
		method, path string
		body         any
	}{
		{admin, "GET", "/api/v1/vehicles?plate=%00", nil},
		{admin, "GET", "/api/v1/vehicles?plate=%FF", nil},
		{admin, "GET", "/api/v1/audit?user=a%00", nil},
		{admin, "GET", "/api/v1/units?x%00=1", nil},
		{admin, "GET", fmt.Sprintf("/api/v1/vehicles/%d/track?%s&reason=a%%00b", v1, period), nil},
		{admin, "GET", fmt.Sprintf("/api/v1/vehicles/%d/replay?%s&reason=%%00", v1, period), nil},
		{admin, "GET", fmt.Sprintf("/api/v1/vehicles/%d/export?format=csv&%s&reason=%%00", v1, period), nil},
		{admin, "GET", "/api/v1/reports/dispatch?date=2026-11-20&reason=%C0%80", nil},
		{admin, "GET", "/api/v1/terminals/1380%00", nil},
		{admin, "POST", "/api/v1/units", fmt.Sprintf(`{"parent_id":%d,"name":"a\u0000b"}`, yx)},
		{admin, "POST", "/api/v1/units", fmt.Sprintf("{\"parent_id\":%d,\"name\":\"a\xffb\"}", yx)},
		{ysup, "PATCH", fmt.Sprintf("/api/v1/vehicles/%d", v1), `{"plate":"鄂B\u00001"}`},
		{ysup, "POST", "/api/v1/area-search", `{"from":"2026-11-20T00:00:00+08:00","to":"2026-11-21T00:00:00+08:00","reason":"x\u0000",
			"area":{"type":"Point","coordinates":[115,30.2]},"radius_m":100}`},
		{ysup, "POST", fmt.Sprintf("/api/v1/geofences?unit=%d", yx), strings.Replace(fenceGeoJSON, "阳新县城", `阳新\u0000县城`, 1)},
		{ysup, "POST", fmt.Sprintf("/api/v1/geofences?unit=%d", yx), strings.Replace(fenceGeoJSON, "阳新县城", "阳新\xfe县城", 1)},
		{admin, "POST", "/api/v1/units/import", "path\n湖北省/鄂州\x00市\n"},
		{admin, "POST", "/api/v1/login", `{"name":"admin\u0000","password":"x"}`},
	} {
		code, body := c.c.do(c.method, c.path, c.body)
		if code != 400 || errorCode(body) != "invalid_text" {
			t.Errorf("%s %q: %d %s, want 400 invalid_text", c.method, c.path, code, body)
		}
	}
	code, body := admin.do("GET", "/api/v1/units", nil)
	if code != 200 || strings.Contains(body, "鄂州") || strings.Contains(body, "\ufffd") || strings.Contains(body, `\u0000`) {
		t.Errorf("refused text was stored: %s", body)
	}
}
