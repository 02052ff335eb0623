package api

import (
	"context"
	"encoding/json"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"fleetmon/track"
)

func TestReplayAndExports(t *testing.T) {
	f := newFixture(t, nil)
	setupRoles(f)
	insp := f.users["hs_inspector"]
	wuhan := f.users["wh_super"]
	id := f.veh["鄂B00001"]
	q := url.Values{"from": {trackDay.Format(time.RFC3339)}, "to": {trackDay.Add(24 * time.Hour).Format(time.RFC3339)}}
	path := func(kind string, extra url.Values) string {
		v := url.Values{}
		for k, x := range q {
			v[k] = x
		}
		for k, x := range extra {
			v[k] = x
		}
		return "/api/v1/vehicles/" + strconv.FormatInt(id, 10) + "/" + kind + "?" + v.Encode()
	}

	// Replay: inspectors give a reason; outside the jurisdiction, 404.
	if code, body := insp.do("GET", path("replay", nil), nil); code != 400 || errorCode(body) != "reason_required" {
		t.Fatalf("replay without reason: %d %s", code, body)
	}
	if code, _ := wuhan.do("GET", path("replay", url.Values{"reason": {"x"}}), nil); code != 404 {
		t.Fatalf("replay outside jurisdiction: %d", code)
	}
	code, body := insp.do("GET", path("replay", url.Values{"reason": {"举报 12345-88"}}), nil)
	if code != 200 {
		t.Fatalf("replay: %d %s", code, body)
	}
	var rp struct {
		TotalPoints int `json:"total_points"`
		Points      []struct {
			Backfill bool `json:"backfill"`
		} `json:"points"`
		Trips []any `json:"trips"`
		Stops []any `json:"stops"`
		Gaps  []any `json:"gaps"`
	}
	if err := json.Unmarshal([]byte(body), &rp); err != nil || rp.TotalPoints != 3 || len(rp.Points) != 3 || !rp.Points[1].Backfill {
		t.Fatalf("replay = %s (%v)", body, err)
	}
	if len(rp.Gaps) != 1 {
		t.Errorf("the hour between 08:00:30 and 09:00 is a gap: %d gaps", len(rp.Gaps))
	}

	// Exports: a reason from everyone; every format carries a manifest that
	// verifies against the database.
	sup := f.users["yx_super"]
	if code, body := sup.do("GET", path("export", url.Values{"format": {"csv"}}), nil); code != 400 || errorCode(body) != "reason_required" {
		t.Fatalf("export without reason: %d %s", code, body)
	}
	ctx := context.Background()
	for _, format := range []string{"csv", "geojson", "gpx", "kml", "html"} {
		code, body := sup.do("GET", path("export", url.Values{"format": {format}, "reason": {"专项检查 2026Q4"}}), nil)
		if code != 200 {
			t.Fatalf("%s export: %d %s", format, code, body)
		}
		m, err := track.ReadManifest([]byte(body))
		if err != nil {
			t.Fatalf("%s export has no manifest: %v\n%s", format, err, body)
		}
		if m.Rows != 3 || m.Reason != "专项检查 2026Q4" || m.ExportedBy != "yx_super" || m.Plate != "鄂B00001" {
			t.Errorf("%s manifest = %+v", format, m)
		}
		v, err := f.store.Verify(ctx, m)
		if err != nil || !v.Intact {
			t.Errorf("%s export does not verify: %+v %v", format, v, err)
		}
		if format == "csv" && strings.Count(body, "\n") != 5 {
			t.Errorf("csv: %d lines, want header, 3 rows, manifest:\n%s", strings.Count(body, "\n"), body)
		}
		if format == "html" && (!strings.Contains(body, "<svg") || !strings.Contains(body, "专项检查 2026Q4")) {
			t.Errorf("html report lacks the map or the reason")
		}
	}
	// The audit log has the view and the exports, with their reasons.
	var views, exports int
	if err := f.db.Pool.QueryRow(ctx, `SELECT count(*) FILTER (WHERE action = 'track.view' AND reason = '举报 12345-88'),
		count(*) FILTER (WHERE action = 'track.export' AND reason = '专项检查 2026Q4') FROM audit_log`).Scan(&views, &exports); err != nil {
		t.Fatal(err)
	}
	if views != 1 || exports != 5 {
		t.Errorf("audit: %d views, %d exports; want 1 and 5", views, exports)
	}

	// Someone edits a stored row: the exported file no longer verifies, and
	// the row is named.
	_, body = sup.do("GET", path("export", url.Values{"format": {"csv"}, "reason": {"r"}}), nil)
	m, _ := track.ReadManifest([]byte(body))
	if _, err := f.db.Pool.Exec(ctx, "UPDATE positions SET speed_kmh = 99 WHERE vehicle_id = $1 AND device_time = $2", id, trackDay.Add(9*time.Hour)); err != nil {
		t.Fatal(err)
	}
	v, err := f.store.Verify(ctx, m)
	if err != nil || v.Intact || len(v.Differences) != 1 || !v.Differences[0].DeviceTime.Equal(trackDay.Add(9*time.Hour)) {
		t.Fatalf("after an edit: %+v %v", v, err)
	}
}
