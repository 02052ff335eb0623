package api

import (
	"context"
	"encoding/csv"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"fleetmon/alerts"
)

// TestDispatchReport: 鄂B00002 drives from 19:00 to 19:20 on an order
// that ends at 19:10 (overrun); 鄂B00001 has an order for the afternoon
// and never drives (有单无车). Each sees only its jurisdiction; inspectors
// give a reason; every report is audited.
func TestDispatchReport(t *testing.T) {
	f, _ := alertFixture(t, nil)
	ctx := context.Background()
	start := trackDay.Add(19 * time.Hour)
	for i := range 45 {
		at := start.Add(time.Duration(i) * 30 * time.Second)
		lon, speed, status := 115.1+float64(min(i, 39))*0.0035, 40.0, 3 // 330 m per fix eastwards, ACC on
		if i >= 40 {
			speed, status = 0, 2 // parked, ACC off
		}
		_, err := f.db.Pool.Exec(ctx, `INSERT INTO positions (vehicle_id, device_time, received_at, terminal_id, geom, speed_kmh,
				heading, altitude_m, alarm, status, backfill, fix_hash)
			VALUES ($1, $2, $2, 1, ST_SetSRID(ST_MakePoint($3, 30.2), 4326), $4, 90, 20, 0, $5, false, $6)`,
			f.veh["鄂B00002"], at, lon, speed, status, int64(1000+i))
		if err != nil {
			t.Fatal(err)
		}
	}
	as := alerts.NewStore(f.db.Pool)
	add := func(plate string, from, to time.Duration) int64 {
		id, err := as.AddApproval(ctx, alerts.ApprovalRecord{Approval: alerts.Approval{VehicleID: f.veh[plate],
			Start: trackDay.Add(from), End: trackDay.Add(to)}, Driver: "张三", Purpose: "会议", Approver: "李四"})
		if err != nil {
			t.Fatal(err)
		}
		return id
	}
	overrun := add("鄂B00002", 18*time.Hour+30*time.Minute, 19*time.Hour+10*time.Minute)
	undriven := add("鄂B00001", 14*time.Hour, 15*time.Hour)

	type row struct {
		Kind       string  `json:"kind"`
		Plate      string  `json:"plate"`
		Start      string  `json:"start"`
		End        string  `json:"end"`
		OutsideS   float64 `json:"outside_s"`
		ApprovalID int64   `json:"approval_id"`
	}
	type report struct {
		Drives int   `json:"drives"`
		Rows   []row `json:"rows"`
	}
	url := "/api/v1/reports/dispatch?date=2026-11-20"
	if code, body := f.users["hs_inspector"].do("GET", url, nil); code != 400 || !strings.Contains(body, "reason_required") {
		t.Errorf("inspector without a reason: %d %s", code, body)
	}
	code, body := f.users["hs_inspector"].do("GET", url+"&reason=季度专项检查", nil)
	if code != 200 {
		t.Fatalf("report: %d %s", code, body)
	}
	rep := decodeJSON[report](t, body)
	var got []string
	for _, r := range rep.Rows {
		got = append(got, r.Kind+" "+r.Plate)
	}
	// The fixture's own fixes of 鄂B00001 (08:00, 08:00:30, 09:00, the
	// next morning: moving, but 1 km an hour) are no drive.
	want := []string{"overrun 鄂B00002", "undriven 鄂B00001"}
	if !slices.Equal(got, want) {
		t.Fatalf("rows %v, want %v (%s)", got, want, body)
	}
	o := rep.Rows[0]
	if o.ApprovalID != overrun || o.Start != "2026-11-20T19:00:00+08:00" || o.End != "2026-11-20T19:19:30+08:00" || o.OutsideS != 570 {
		t.Errorf("overrun row %+v", o)
	}
	if u := rep.Rows[1]; u.ApprovalID != undriven || u.Start != "2026-11-20T14:00:00+08:00" {
		t.Errorf("undriven row %+v", u)
	}
	// 阳新县 sees its own vehicle only; 武汉市 nothing of 黄石市.
	code, body = f.users["yx_super"].do("GET", url, nil)
	if got := decodeJSON[report](t, body); code != 200 || len(got.Rows) != 1 || got.Rows[0].Kind != "undriven" {
		t.Errorf("阳新县: %d %s", code, body)
	}
	code, body = f.users["wh_inspector"].do("GET", url+"&reason=检查", nil)
	if got := decodeJSON[report](t, body); code != 200 || len(got.Rows) != 0 {
		t.Errorf("武汉市: %d %s", code, body)
	}
	if code, _ := f.users["wh_inspector"].do("GET", url+"&reason=检查&unit="+strconv.FormatInt(f.units["湖北省/黄石市"], 10), nil); code != 404 {
		t.Errorf("武汉市 asks for 黄石市: %d", code)
	}
	if code, _ := f.users["admin"].do("GET", "/api/v1/reports/dispatch?date=2026-13-01", nil); code != 400 {
		t.Errorf("bad date: %d", code)
	}
	// CSV: the same rows.
	code, body = f.users["admin"].do("GET", url+"&format=csv&unit="+strconv.FormatInt(f.units["湖北省/黄石市/大冶市"], 10), nil)
	recs, err := csv.NewReader(strings.NewReader(body)).ReadAll()
	if code != 200 || err != nil || len(recs) != 2 || recs[1][0] != "overrun" || recs[1][1] != "鄂B00002" || recs[1][7] != "570" {
		t.Errorf("csv: %d %v %q", code, err, body)
	}
	var n int
	if err := f.db.Pool.QueryRow(ctx, "SELECT count(*) FROM audit_log WHERE action = 'report.dispatch'").Scan(&n); err != nil || n != 4 {
		t.Errorf("%d report audit entries, want 4 (%v)", n, err)
	}
}
