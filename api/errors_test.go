package api

import (
	"fmt"
	"strings"
	"testing"
)

// TestErrorsCarryNoInternals: an area the database cannot read answers a
// code and what to send, not the database's message; a plate or terminal
// taken outside the jurisdiction answers exactly as one taken inside it,
// naming neither the other vehicle nor its unit; a body of the wrong
// shape is described in JSON's terms, not the server's types.
func TestErrorsCarryNoInternals(t *testing.T) {
	f := newFixture(t, nil)
	setupRoles(f)
	admin, ysup := f.users["admin"], f.users["yx_super"]
	yx := f.units["湖北省/黄石市/阳新县"]
	internals := []string{"SRID", "spatial_ref_sys", "SQLSTATE", "pq:", "ERROR", "geometry", "Go struct", "int64", "api.", "track:"}
	leaks := func(what, body string, also ...string) {
		t.Helper()
		for _, s := range append(internals, also...) {
			if strings.Contains(body, s) {
				t.Errorf("%s: the answer names %q: %s", what, s, body)
			}
		}
	}
	for _, area := range []string{
		`{"type":"Point","coordinates":[1e999,30]}`,
		`{"type":"Polygon","coordinates":[[[1e999,30],[115,30],[115,31],[1e999,30]]]}`,
		`{"type":"Polygon","coordinates":"x"}`,
		`{"type":"Bogus"}`,
	} {
		code, body := ysup.do("POST", "/api/v1/area-search", `{"from":"2026-11-20T00:00:00+08:00","to":"2026-11-21T00:00:00+08:00",
			"reason":"x","radius_m":100,"area":`+area+`}`)
		if code != 400 || errorCode(body) != "bad_area" {
			t.Errorf("area %s: %d %s, want 400 bad_area", area, code, body)
		}
		leaks("area "+area, body)
	}

	// 鄂B00001 and its terminal are 阳新县's; 鄂A00003 and its terminal
	// are 武汉市's, outside.
	code, body := admin.do("POST", "/api/v1/vehicles", map[string]any{"plate": "鄂B77777", "unit_id": yx})
	if code != 201 {
		t.Fatalf("create vehicle: %d %s", code, body)
	}
	v := decodeJSON[vehicleJSON](t, body)
	answer := func(method, path string, body any) string {
		t.Helper()
		code, resp := ysup.do(method, path, body)
		if code != 409 || errorCode(resp) != "conflict" {
			t.Errorf("%s %s %v: %d %s, want 409 conflict", method, path, body, code, resp)
		}
		leaks(path, resp, "武汉", "鄂A00003", "13800000003", fmt.Sprintf(`"id":%d`, f.veh["鄂A00003"]))
		return resp
	}
	if in, out := answer("POST", "/api/v1/vehicles", map[string]any{"plate": "鄂B00001", "unit_id": yx}),
		answer("POST", "/api/v1/vehicles", map[string]any{"plate": "鄂A00003", "unit_id": yx}); in != out {
		t.Errorf("a plate taken inside and outside answer differently:\n%s\n%s", in, out)
	}
	path := fmt.Sprintf("/api/v1/vehicles/%d", v.ID)
	if in, out := answer("PATCH", path, map[string]any{"plate": "鄂B00001"}), answer("PATCH", path, map[string]any{"plate": "鄂A00003"}); in != out {
		t.Errorf("a plate change inside and outside answer differently:\n%s\n%s", in, out)
	}
	path += "/terminal"
	if in, out := answer("PUT", path, map[string]any{"phone": "13800000001"}), answer("PUT", path, map[string]any{"phone": "13800000003"}); in != out {
		t.Errorf("a terminal bound inside and outside answer differently:\n%s\n%s", in, out)
	}

	code, body = admin.do("POST", "/api/v1/units", `{"parent_id":"x","name":1}`)
	if code != 400 || errorCode(body) != "bad_request" {
		t.Errorf("a body of the wrong shape: %d %s", code, body)
	}
	leaks("wrong shape", body)
}
