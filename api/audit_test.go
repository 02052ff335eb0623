package api

import (
	"context"
	"errors"
	"fmt"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"fleetmon/track"
)

// registryPrint is a digest of everything the API changes, for telling
// whether a refused change left a trace. Columns a request touches by
// being served (session activity) are left out.
const registryPrint = `SELECT md5(string_agg(x, '|' ORDER BY x)) FROM (
	SELECT 'u' || t::text AS x FROM units t
	UNION ALL SELECT 'v' || t::text FROM vehicles t
	UNION ALL SELECT 't' || (t.id, t.phone, t.vehicle_id)::text FROM terminals t
	UNION ALL SELECT 'p' || (t.id, t.disabled, t.password_hash, t.must_change)::text FROM users t
	UNION ALL SELECT 's' || t.user_id::text FROM sessions t
	UNION ALL SELECT 'f' || (t.id, t.name, t.version)::text FROM alert_fences t
	UNION ALL SELECT 'c' || (t.id, t.revision, t.spec)::text FROM alert_calendars t
	UNION ALL SELECT 'r' || (t.unit_id, t.version, t.params)::text FROM alert_params t
	UNION ALL SELECT 'a' || t::text FROM alert_approvals t
	UNION ALL SELECT 'h' || (t.year, t.version, t.spec)::text FROM alert_holiday_years t
	UNION ALL SELECT 'e' || (t.id, t.verification)::text FROM episodes t) s`

// TestAuditFailureRollsBack makes every audit write fail (a trigger on
// audit_log) and checks that each change is refused with an error code and
// leaves nothing behind, and that no audited read sends its data.
func TestAuditFailureRollsBack(t *testing.T) {
	f, _ := alertFixture(t, nil)
	ctx := context.Background()
	admin, ysup := f.users["admin"], f.users["yx_super"]
	yx, v1 := f.units["湖北省/黄石市/阳新县"], f.veh["鄂B00001"]
	code, body := ysup.do("POST", fmt.Sprintf("/api/v1/geofences?unit=%d", yx), fenceGeoJSON)
	if code != 201 {
		t.Fatalf("create fence: %d %s", code, body)
	}
	var fence int64
	if err := f.db.Pool.QueryRow(ctx, "SELECT max(id) FROM alert_fences").Scan(&fence); err != nil {
		t.Fatal(err)
	}
	var whInspector int64
	if err := f.db.Pool.QueryRow(ctx, "SELECT id FROM users WHERE name = 'wh_inspector'").Scan(&whInspector); err != nil {
		t.Fatal(err)
	}
	_, err := f.db.Pool.Exec(ctx, `CREATE FUNCTION refuse_audit() RETURNS trigger LANGUAGE plpgsql AS $$
		BEGIN RAISE EXCEPTION 'audit log unavailable (test)'; END $$;
		CREATE TRIGGER refuse_audit BEFORE INSERT ON audit_log FOR EACH ROW EXECUTE FUNCTION refuse_audit()`)
	if err != nil {
		t.Fatal(err)
	}
	print := func() string {
		t.Helper()
		var s string
		if err := f.db.Pool.QueryRow(ctx, registryPrint).Scan(&s); err != nil {
			t.Fatal(err)
		}
		return s
	}

	changes := []struct {
		c            *client
		method, path string
		body         any
	}{
		{admin, "POST", "/api/v1/units", map[string]any{"parent_id": yx, "name": "新单位"}},
		{admin, "PATCH", fmt.Sprintf("/api/v1/units/%d", yx), map[string]any{"name": "阳新"}},
		{admin, "POST", "/api/v1/units/import", "path\n湖北省/鄂州市/华容区\n"},
		{ysup, "POST", "/api/v1/vehicles", map[string]any{"plate": "鄂B99999", "unit_id": yx}},
		{ysup, "PATCH", fmt.Sprintf("/api/v1/vehicles/%d", v1), map[string]any{"category": "emergency"}},
		{ysup, "POST", fmt.Sprintf("/api/v1/vehicles/%d/seal", v1), nil},
		{ysup, "PUT", fmt.Sprintf("/api/v1/vehicles/%d/terminal", v1), map[string]any{"phone": "13800000099"}},
		{ysup, "POST", fmt.Sprintf("/api/v1/geofences?unit=%d", yx), fenceGeoJSON},
		{ysup, "DELETE", fmt.Sprintf("/api/v1/geofences/%d", fence), nil},
		{ysup, "PUT", fmt.Sprintf("/api/v1/units/%d/calendar", yx), `{"week":[[],[{"start":"08:00","end":"12:00"}],[],[],[],[],[]]}`},
		{ysup, "PUT", fmt.Sprintf("/api/v1/units/%d/rule-params", yx), `{"time":{"min_violation":"10m"}}`},
		{ysup, "POST", "/api/v1/approvals", map[string]any{"vehicle_id": v1, "driver": "张三", "purpose": "检查",
			"from": "2026-11-20T18:00:00+08:00", "to": "2026-11-20T22:00:00+08:00", "approver": "李四"}},
		{ysup, "POST", "/api/v1/approvals/import", "vehicle_plate,driver,purpose,from,to,approver\n鄂B00001,王五,会议,2026-11-21 08:00,2026-11-21 12:00,李四\n"},
		{admin, "PUT", "/api/v1/holidays", `{"years":{"2027":{"holidays":[{"name":"元旦","days":["2027-01-01"]}],"workdays":[]}}}`},
		{admin, "POST", fmt.Sprintf("/api/v1/users/%d/disable", whInspector), nil},
		{admin, "POST", fmt.Sprintf("/api/v1/users/%d/reset-password", whInspector), nil},
	}
	for _, c := range changes {
		before := print()
		code, body := c.c.do(c.method, c.path, c.body)
		if code != 500 || errorCode(body) != "internal" {
			t.Errorf("%s %s with the audit log failing: %d %s, want 500 internal", c.method, c.path, code, body)
		}
		if before != print() {
			t.Errorf("%s %s: the change stands although its audit entry failed", c.method, c.path)
		}
	}

	q := url.Values{"from": {"2026-11-20T00:00:00+08:00"}, "to": {"2026-11-21T00:00:00+08:00"}, "reason": {"核查"}}.Encode()
	reads := []struct {
		method, path string
		body         any
	}{
		{"GET", fmt.Sprintf("/api/v1/vehicles/%d/track?%s", v1, q), nil},
		{"GET", fmt.Sprintf("/api/v1/vehicles/%d/track?download=true&%s", v1, q), nil},
		{"GET", fmt.Sprintf("/api/v1/vehicles/%d/export?format=csv&%s", v1, q), nil},
		{"GET", fmt.Sprintf("/api/v1/vehicles/%d/replay?%s", v1, q), nil},
		{"GET", fmt.Sprintf("/api/v1/replay?vehicle=%d&vehicle=%d&%s", v1, f.veh["鄂B00002"], q), nil},
		{"GET", "/api/v1/reports/dispatch?date=2026-11-20&format=csv", nil},
		{"POST", "/api/v1/area-search", map[string]any{"from": "2026-11-20T00:00:00+08:00", "to": "2026-11-21T00:00:00+08:00",
			"reason": "核查", "area": map[string]any{"type": "Point", "coordinates": []float64{115.0, 30.2}}, "radius_m": 5000}},
		{"POST", "/api/v1/alerts/reevaluate", map[string]any{"vehicle_id": v1, "from": "2026-11-20T00:00:00+08:00",
			"to": "2026-11-21T00:00:00+08:00", "apply": true}},
	}
	for _, rd := range reads {
		code, body := admin.do(rd.method, rd.path, rd.body)
		if code != 500 || errorCode(body) != "internal" {
			t.Errorf("%s %s with the audit log failing: %d %.200s, want 500 internal", rd.method, rd.path, code, body)
		}
		if strings.Contains(body, "115.0") || strings.Contains(body, "鄂B00001") {
			t.Errorf("%s %s sent data unaudited: %.200s", rd.method, rd.path, body)
		}
	}
}

// TestChangeWithoutEntry: a change whose function returns no audit entry
// is refused and rolled back.
func TestChangeWithoutEntry(t *testing.T) {
	f := newFixture(t, nil)
	r := httptest.NewRequest("POST", "/api/v1/units", nil)
	err := f.srv.change(r, func(c changeTx) (Entry, error) {
		_, err := c.store.CreateUnit(r.Context(), track.All, 0, "无记录单位")
		return Entry{}, err
	})
	if !errors.Is(err, errUnaudited) {
		t.Fatalf("change without an entry: %v, want errUnaudited", err)
	}
	if _, err := f.store.UnitByPath(r.Context(), "无记录单位"); !errors.Is(err, track.ErrNotFound) {
		t.Errorf("the unaudited unit stands: %v", err)
	}
}
