package api

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"fleetmon/alerts"
)

const landmarksGeoJSON = `{"type":"FeatureCollection","features":[
 {"type":"Feature","properties":{"name":"阳新宾馆","category":"hotel"},"geometry":{"type":"Point","coordinates":[115.2,29.85]}},
 {"type":"Feature","properties":{"name":"仙岛湖风景区","category":"scenic"},
  "geometry":{"type":"Polygon","coordinates":[[[115.0,29.9],[115.05,29.9],[115.05,29.95],[115.0,29.95],[115.0,29.9]]]}}]}`

// TestLandmarks: landmarks imported from GeoJSON (twice: the second
// changes nothing), created, edited and deleted through the API, each
// change audited; read within the jurisdiction only, found by part of a
// name; bad files refused whole with every bad feature named.
func TestLandmarks(t *testing.T) {
	f := newFixture(t, nil)
	setupRoles(f)
	ysup, wsup, hsi, admin := f.users["yx_super"], f.users["wh_super"], f.users["hs_inspector"], f.users["admin"]
	yx, wh := f.units["湖北省/黄石市/阳新县"], f.units["湖北省/武汉市"]
	imp := fmt.Sprintf("/api/v1/landmarks/import?unit=%d", yx)
	if code, body := ysup.do("POST", imp, landmarksGeoJSON); code != 200 || !strings.Contains(body, `"created":2`) {
		t.Fatalf("import: %d %s", code, body)
	}
	if code, body := ysup.do("POST", imp, landmarksGeoJSON); code != 200 || !strings.Contains(body, `"unchanged":2`) {
		t.Errorf("import again: %d %s", code, body)
	}
	if n := f.auditCount("landmark.import", 0); n != 1 {
		t.Errorf("%d import audit entries, want 1", n)
	}
	if code, body := wsup.do("POST", imp, landmarksGeoJSON); code != 404 {
		t.Errorf("武汉市's supervisor imports into 阳新县: %d %s", code, body)
	}
	if code, body := hsi.do("POST", imp, landmarksGeoJSON); code != 403 {
		t.Errorf("an inspector imports: %d %s", code, body)
	}

	// Read: 黄石市's inspector sees them and finds one by name; 武汉市 not.
	code, body := hsi.do("GET", "/api/v1/landmarks?q="+"宾馆", nil)
	ls := decodeJSON[struct{ Items []alerts.Landmark }](t, body).Items
	if code != 200 || len(ls) != 1 || ls[0].Name != "阳新宾馆" || !strings.Contains(string(ls[0].Geometry), `"Point"`) {
		t.Fatalf("search by name: %d %s", code, body)
	}
	hotel := ls[0]
	if _, body := wsup.do("GET", "/api/v1/landmarks", nil); !strings.Contains(body, `"items":[]`) {
		t.Errorf("武汉市 sees 阳新县's landmarks: %s", body)
	}

	// Create, edit (twice the same), delete.
	code, body = ysup.do("POST", "/api/v1/landmarks", fmt.Sprintf(`{"name":"县机关大院","category":"compound","unit_id":%d,
		"geometry":{"type":"Polygon","coordinates":[[[115.1,29.8],[115.11,29.8],[115.11,29.81],[115.1,29.8]]]}}`, yx))
	if code != 201 {
		t.Fatalf("create: %d %s", code, body)
	}
	compound := decodeJSON[alerts.Landmark](t, body)
	path := fmt.Sprintf("/api/v1/landmarks/%d", hotel.ID)
	for i := 0; i < 2; i++ {
		if code, body := ysup.do("PATCH", path, `{"name":"阳新宾馆（东楼）","geometry":{"type":"Point","coordinates":[115.201,29.851]}}`); code != 200 ||
			!strings.Contains(body, `"version":2`) {
			t.Errorf("edit %d: %d %s", i, code, body)
		}
	}
	if n := f.auditCount("landmark.update", hotel.ID); n != 1 {
		t.Errorf("%d update audit entries, want 1", n)
	}
	for _, c := range []struct{ body, want string }{
		{`{"category":"casino"}`, "未知地标类别“casino”"},
		{`{"name":""}`, "名称：应为 1 到 64 个字符"},
		{`{"geometry":{"type":"LineString","coordinates":[[115,29],[116,30]]}}`, "不支持的几何类型“LineString”"},
		{`{"geometry":{"type":"Polygon","coordinates":[[[115,29],[115.1,29.1],[115.1,29],[115,29.1],[115,29]]]}}`, "边界不能自相交"},
		{`{"name":"县机关大院"}`, "本单位已有同名地标"},
		{fmt.Sprintf(`{"unit_id":%d}`, wh), "未找到"},
	} {
		if code, body := ysup.doZh("PATCH", path, c.body); code/100 != 4 || !strings.Contains(body, c.want) {
			t.Errorf("%s: %d %s, want %q", c.body, code, body, c.want)
		}
	}
	if code, _ := wsup.do("DELETE", fmt.Sprintf("/api/v1/landmarks/%d", compound.ID), nil); code != 404 {
		t.Errorf("武汉市 deletes 阳新县's landmark: %d", code)
	}
	if code, body := ysup.do("DELETE", fmt.Sprintf("/api/v1/landmarks/%d", compound.ID), nil); code != 204 {
		t.Errorf("delete: %d %s", code, body)
	}
	if code, _ := ysup.do("DELETE", fmt.Sprintf("/api/v1/landmarks/%d", compound.ID), nil); code != 404 {
		t.Errorf("delete again: %d", code)
	}
	if n := f.auditCount("landmark.delete", compound.ID); n != 1 {
		t.Errorf("%d delete audit entries, want 1", n)
	}
	if n := f.auditCount("landmark.create", compound.ID); n != 1 {
		t.Errorf("%d create audit entries, want 1", n)
	}

	// A bad file: every bad feature named, nothing stored.
	bad := `{"type":"FeatureCollection","features":[
 {"type":"Feature","properties":{"name":"新宾馆","category":"hotel"},"geometry":{"type":"Point","coordinates":[115.3,29.9]}},
 {"type":"Feature","properties":{"name":"会所","category":"nightclub"},"geometry":{"type":"Point","coordinates":[115.3,29.9]}},
 {"type":"Feature","properties":{"name":"自交","category":"scenic"},"geometry":{"type":"Polygon","coordinates":[[[115,29],[115.1,29.1],[115.1,29],[115,29.1],[115,29]]]}}]}`
	code, body = admin.doZh("POST", imp, bad)
	if code != 400 || !strings.Contains(body, "第 2 个要素“会所”：未知地标类别") || !strings.Contains(body, "第 3 个要素“自交”：几何图形无效") {
		t.Errorf("bad file: %d %s", code, body)
	}
	var n int
	if err := f.db.Pool.QueryRow(context.Background(), "SELECT count(*) FROM landmarks WHERE name = '新宾馆'").Scan(&n); err != nil || n != 0 {
		t.Errorf("a refused import stored %d landmarks (%v)", n, err)
	}
}
