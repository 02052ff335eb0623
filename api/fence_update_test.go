package api

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"fleetmon/alerts"
)

// auditCount counts the audit entries of action about subject id (detail
// id), or of action at all when id is 0.
func (f *fixture) auditCount(action string, id int64) int {
	f.t.Helper()
	var n int
	err := f.db.Pool.QueryRow(context.Background(), `SELECT count(*) FROM audit_log
		WHERE action = $1 AND ($2 = 0 OR (detail->>'id')::bigint = $2)`, action, id).Scan(&n)
	if err != nil {
		f.t.Fatal(err)
	}
	return n
}

// doZh is c.do asking for Chinese, as the web UI does.
func (c *client) doZh(method, path, body string) (int, string) {
	c.f.t.Helper()
	return c.doIn("zh-CN,zh;q=0.9", method, path, body)
}

// TestGeofenceUpdate: a fence is renamed, given a category and dwell
// threshold, reshaped and moved to another unit of the jurisdiction, each
// change audited with it; the same change sent again changes nothing and
// writes no entry; refusals (bad values in either language, a stale
// version, a unit or fence outside the jurisdiction, an inspector) leave
// the fence as it was.
func TestGeofenceUpdate(t *testing.T) {
	f := newFixture(t, nil)
	setupRoles(f)
	ysup, wsup, hsi := f.users["yx_super"], f.users["wh_super"], f.users["hs_inspector"]
	yx := f.units["湖北省/黄石市/阳新县"]
	code, body := ysup.do("POST", fmt.Sprintf("/api/v1/geofences?unit=%d", yx), fenceGeoJSON)
	if code != 201 {
		t.Fatalf("create: %d %s", code, body)
	}
	fid := decodeJSON[struct{ Items []alerts.Fence }](t, body).Items[0].ID
	path := fmt.Sprintf("/api/v1/geofences/%d", fid)
	get := func() alerts.Fence {
		t.Helper()
		_, body := f.users["admin"].do("GET", "/api/v1/geofences", nil)
		for _, x := range decodeJSON[struct{ Items []alerts.Fence }](t, body).Items {
			if x.ID == fid {
				return x
			}
		}
		t.Fatalf("fence %d gone", fid)
		return alerts.Fence{}
	}

	patch := `{"version":1,"name":"县委招待所","kind":"sensitive","category":"hotel","dwell_min":45}`
	code, body = ysup.do("PATCH", path, patch)
	if code != 200 {
		t.Fatalf("update: %d %s", code, body)
	}
	if got := get(); got.Name != "县委招待所" || got.Kind != alerts.FenceSensitive || got.Category != alerts.PlaceHotel ||
		got.DwellMin != 45 || got.Version != 2 {
		t.Errorf("after the update: %+v", got)
	}
	if n := f.auditCount("geofence.update", fid); n != 1 {
		t.Errorf("%d audit entries after the update, want 1", n)
	}
	// The same request again: the version it names is gone, but nothing
	// would change, so it answers the fence as it is and writes nothing.
	if code, body := ysup.do("PATCH", path, patch); code != 200 || !strings.Contains(body, `"version":2`) {
		t.Errorf("the update sent again: %d %s", code, body)
	}
	if n := f.auditCount("geofence.update", fid); n != 1 {
		t.Errorf("%d audit entries after the repeat, want 1", n)
	}
	// A different change against the old version is refused.
	if code, body := ysup.do("PATCH", path, `{"version":1,"name":"别的名字"}`); code != 409 || errorCode(body) != "stale_version" {
		t.Errorf("stale version: %d %s", code, body)
	}

	// The shape: a smaller square, and the fence moves to 黄石市's
	// 阳新县 child... 阳新县's supervisor may not give it to 黄石市 (above
	// it) nor to 武汉市.
	shape := `{"shape":{"type":"polygon","polygons":[[[{"lon":115.2,"lat":29.8},{"lon":115.25,"lat":29.8},{"lon":115.25,"lat":29.85}]]]}}`
	if code, body := ysup.do("PATCH", path, shape); code != 200 {
		t.Fatalf("reshape: %d %s", code, body)
	}
	if got := get(); len(got.Shape.Polygons[0][0]) != 3 || got.Shape.Polygons[0][0][1].Lon != 115.25 || got.Version != 3 {
		t.Errorf("after the reshape: %+v", got)
	}
	var inGeom bool
	if err := f.db.Pool.QueryRow(context.Background(), `SELECT ST_Contains(geom, ST_SetSRID(ST_MakePoint(115.24, 29.805), 4326))
		AND NOT ST_Contains(geom, ST_SetSRID(ST_MakePoint(115.12, 29.85), 4326)) FROM alert_fences WHERE id = $1`, fid).Scan(&inGeom); err != nil || !inGeom {
		t.Errorf("the stored geometry does not follow the shape: %v %v", inGeom, err)
	}
	for _, u := range []string{"湖北省/黄石市", "湖北省/武汉市"} {
		if code, body := ysup.do("PATCH", path, fmt.Sprintf(`{"unit_id":%d}`, f.units[u])); code != 404 {
			t.Errorf("move to %s: %d %s", u, code, body)
		}
	}
	if code, body := f.users["admin"].do("PATCH", path, fmt.Sprintf(`{"unit_id":%d}`, f.units["湖北省/黄石市"])); code != 200 {
		t.Errorf("admin moves it to 黄石市: %d %s", code, body)
	}

	// Refusals, in English and in Chinese; none changes the fence.
	before := get()
	for _, c := range []struct{ body, en, zh string }{
		{`{"name":""}`, "name: want 1 to 64 characters", "名称：应为 1 到 64 个字符"},
		{`{"name":" 前后空格 "}`, "no leading or trailing space", "首尾不能有空格"},
		{`{"kind":"forbidden"}`, `unknown fence kind`, "未知围栏类型“forbidden”"},
		{`{"category":"casino"}`, "a sensitive place needs a category", "敏感区域须有类别"},
		{`{"dwell_min":-5}`, "dwell_min: want 0", "停留时长阈值"},
		{`{"kind":"speed_zone"}`, "speed zone needs speed_limit_kmh \\u003e 0", "限速区须有大于 0 的限速"},
		{`{"shape":{"type":"polygon","polygons":[[[{"lon":115.2,"lat":29.8},{"lon":115.25,"lat":29.8}]]]}}`, "ring with 2 points", "只有 2 个点"},
		{`{"shape":{"type":"circle","center":{"lon":215,"lat":29.8},"radius_m":100}}`, "coordinate 215,29.8 out of range", "超出经纬度范围"},
	} {
		if code, body := f.users["admin"].do("PATCH", path, c.body); code != 400 || !strings.Contains(body, c.en) {
			t.Errorf("%s: %d %s, want 400 with %q", c.body, code, body, c.en)
		}
		if code, body := f.users["admin"].doZh("PATCH", path, c.body); code != 400 || !strings.Contains(body, c.zh) {
			t.Errorf("%s in Chinese: %d %s, want 400 with %q", c.body, code, body, c.zh)
		}
	}
	if code, body := wsup.do("PATCH", path, `{"name":"x"}`); code != 404 {
		t.Errorf("武汉市's supervisor edits 黄石市's fence: %d %s", code, body)
	}
	if code, body := hsi.do("PATCH", path, `{"name":"x"}`); code != 403 {
		t.Errorf("an inspector edits: %d %s", code, body)
	}
	if code, body := ysup.do("PATCH", path, `{"name":"x"}`); code != 404 {
		t.Errorf("阳新县's supervisor edits a 黄石市 fence: %d %s", code, body)
	}
	if code, _ := f.users["admin"].do("PATCH", "/api/v1/geofences/999999", `{"name":"x"}`); code != 404 {
		t.Errorf("no such fence: %d", code)
	}
	if after := get(); after.Version != before.Version || after.Name != before.Name {
		t.Errorf("a refused change changed the fence: %+v, was %+v", after, before)
	}
	if n := f.auditCount("geofence.update", fid); n != 3 {
		t.Errorf("%d audit entries, want 3 (update, reshape, move)", n)
	}
	var changed string
	if err := f.db.Pool.QueryRow(context.Background(), `SELECT detail->>'changed' FROM audit_log WHERE action = 'geofence.update'
		ORDER BY id LIMIT 1 OFFSET 1`).Scan(&changed); err != nil || changed != `["shape"]` {
		t.Errorf("the reshape's audit entry names %s (%v)", changed, err)
	}
}

// TestGeofenceImportRefusals: a GeoJSON or KML file with bad features is
// refused whole, every bad feature named (index and name), in Chinese for
// the web UI; nothing of it is stored and nothing audited.
func TestGeofenceImportRefusals(t *testing.T) {
	f := newFixture(t, nil)
	setupRoles(f)
	ysup := f.users["yx_super"]
	yx := f.units["湖北省/黄石市/阳新县"]
	bad := `{"type":"FeatureCollection","features":[
 {"type":"Feature","properties":{"name":"好的","kind":"parking"},"geometry":{"type":"Polygon","coordinates":[[[115,30],[115.1,30],[115.1,30.1],[115,30]]]}},
 {"type":"Feature","properties":{"name":"坏的","kind":"parking"},"geometry":{"type":"Polygon","coordinates":[[[115,30],[115.1,30],[115,30]]]}},
 {"type":"Feature","properties":{"name":"宾馆","kind":"sensitive"},"geometry":{"type":"Polygon","coordinates":[[[115,30],[115.1,30],[115.1,30.1],[115,30]]]}}]}`
	code, body := ysup.doZh("POST", fmt.Sprintf("/api/v1/geofences?unit=%d", yx), bad)
	if code != 400 || errorCode(body) != "bad_features" ||
		!strings.Contains(body, "未导入任何内容：第 2 个要素“坏的”：多边形的边界只有 2 个点") ||
		!strings.Contains(body, "第 3 个要素“宾馆”：敏感区域须有类别") || strings.Contains(body, "好的") {
		t.Errorf("bad GeoJSON: %d %s", code, body)
	}
	type refusal struct {
		Error struct {
			Features []featureError `json:"features"`
		} `json:"error"`
	}
	if r := decodeJSON[refusal](t, body); len(r.Error.Features) != 2 || r.Error.Features[0].Index != 2 || r.Error.Features[1].Name != "宾馆" {
		t.Errorf("features of the refusal: %+v", r)
	}
	badKML := strings.Replace(fenceKML, "<value>golf</value>", "<value>casino</value>", 1)
	if code, body := ysup.do("POST", fmt.Sprintf("/api/v1/geofences?unit=%d", yx), badKML); code != 400 ||
		!strings.Contains(body, `feature 1 (\"某高尔夫球场\")`) {
		t.Errorf("bad KML: %d %s", code, body)
	}
	var n int
	if err := f.db.Pool.QueryRow(context.Background(), "SELECT count(*) FROM alert_fences").Scan(&n); err != nil || n != 0 {
		t.Errorf("%d fences stored after refused imports (%v)", n, err)
	}
	if n := f.auditCount("geofence.create", 0); n != 0 {
		t.Errorf("%d audit entries after refused imports", n)
	}
}

// TestGeofenceCreateIsIdempotent: the same upload sent twice, or twice at
// once (a retry after a lost answer, a double click), stores each fence
// once and answers the stored fences; a fence that differs in anything is
// a new one.
func TestGeofenceCreateIsIdempotent(t *testing.T) {
	f := newFixture(t, nil)
	setupRoles(f)
	ysup := f.users["yx_super"]
	path := fmt.Sprintf("/api/v1/geofences?unit=%d", f.units["湖北省/黄石市/阳新县"])
	ids := func(body string) []int64 {
		t.Helper()
		var out []int64
		for _, x := range decodeJSON[struct{ Items []alerts.Fence }](t, body).Items {
			out = append(out, x.ID)
		}
		return out
	}
	code, body := ysup.do("POST", path, fenceGeoJSON)
	if code != 201 {
		t.Fatalf("create: %d %s", code, body)
	}
	first := ids(body)
	count := func() int {
		t.Helper()
		var n int
		if err := f.db.Pool.QueryRow(context.Background(), "SELECT count(*) FROM alert_fences").Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	if n := count(); n != len(first) {
		t.Fatalf("%d fences stored for %d features", n, len(first))
	}
	if code, body := ysup.do("POST", path, fenceGeoJSON); code != 201 || fmt.Sprint(ids(body)) != fmt.Sprint(first) {
		t.Errorf("the upload sent again: %d %s, want the fences %v", code, body, first)
	}
	renamed := strings.Replace(fenceGeoJSON, `"name":"`, `"name":"新`, 1)
	if renamed == fenceGeoJSON {
		t.Fatal("the fixture's GeoJSON has no name to change")
	}
	type answer struct {
		code int
		body string
	}
	done := make(chan answer, 2)
	for range 2 {
		go func() {
			code, body := ysup.do("POST", path, renamed)
			done <- answer{code, body}
		}()
	}
	var got [2][]int64
	for i := range got {
		r := <-done
		if r.code != 201 {
			t.Fatalf("create at once: %d %s", r.code, r.body)
		}
		got[i] = ids(r.body)
	}
	a, b := got[0], got[1]
	if fmt.Sprint(a) != fmt.Sprint(b) {
		t.Errorf("two identical uploads at once stored %v and %v", a, b)
	}
	if n := count(); n != len(first)+1 {
		t.Errorf("%d fences after one renamed feature, want %d", n, len(first)+1)
	}
}
