package api

import (
	"context"
	"fmt"
	"testing"
	"time"
)

// drivePositions stores a drive of plate from start: 40 fixes 30 s apart
// eastwards from lon along 30.2°N (330 m each, ACC on), then 5 parked.
func (f *fixture) drivePositions(plate string, start time.Time, lon float64, hash int64) {
	f.t.Helper()
	for i := range 45 {
		at := start.Add(time.Duration(i) * 30 * time.Second)
		x, speed, status := lon+float64(min(i, 39))*0.0035, 40.0, 3
		if i >= 40 {
			speed, status = 0, 2
		}
		_, err := f.db.Pool.Exec(context.Background(), `INSERT INTO positions (vehicle_id, device_time, received_at, terminal_id, geom,
				speed_kmh, heading, altitude_m, alarm, status, backfill, fix_hash)
			VALUES ($1, $2, $2, 1, ST_SetSRID(ST_MakePoint($3, 30.2), 4326), $4, 90, 20, 0, $5, false, $6)`,
			f.veh[plate], at, x, speed, status, hash+int64(i))
		if err != nil {
			f.t.Fatal(err)
		}
	}
}

// TestDispatchReportTrips: a request dispatched the day before its trip is
// compared with the track: started and ended in its window, reached the
// place drawn as its destination, 12.9 km in 19.5 minutes, and a drive of
// the same car that morning outside the window is listed besides it. An
// emergency use recorded afterwards (补录) shows as issued after the trip.
func TestDispatchReportTrips(t *testing.T) {
	f, _ := alertFixture(t, nil)
	const center = "湖北省/黄石市/阳新县/县机关事务中心"
	staff := f.addUser("yx_staff", RoleStaff, center)
	ysup := f.users["yx_super"]
	day := time.Date(2026, 11, 23, 0, 0, 0, 0, cst) // the clock says 11-22 09:00
	f.drivePositions("鄂B00001", day.Add(7*time.Hour), 115.1, 5000)
	f.drivePositions("鄂B00001", day.Add(14*time.Hour+5*time.Minute), 115.1, 6000)

	body := tripBody("OA-1", day, 14, 15)
	body["dest_area"] = map[string]any{"type": "Point", "coordinates": []float64{115.1 + 39*0.0035, 30.2}}
	code, out := staff.do("POST", "/api/v1/trip-requests", body)
	mustStatus(t, "request", code, out, 201, "")
	req := decodeJSON[tripRequestJSON](t, out)
	code, out = ysup.do("POST", fmt.Sprintf("/api/v1/trip-requests/%d/approve", req.ID), map[string]string{})
	mustStatus(t, "approve", code, out, 200, "")
	code, out = ysup.do("POST", "/api/v1/drivers", map[string]any{"unit_id": f.units[center], "name": "王师傅"})
	mustStatus(t, "driver", code, out, 201, "")
	driver := decodeJSON[driverJSON](t, out)
	code, out = ysup.do("POST", fmt.Sprintf("/api/v1/trip-requests/%d/dispatch", req.ID),
		map[string]any{"vehicle_id": f.veh["鄂B00001"], "driver_id": driver.ID})
	mustStatus(t, "dispatch", code, out, 200, "")
	disp := decodeJSON[tripRequestJSON](t, out)

	type report struct {
		Rows []struct {
			Kind string `json:"kind"`
		} `json:"rows"`
		Trips []tripRow `json:"trips"`
	}
	_, out = ysup.do("GET", "/api/v1/reports/dispatch?date=2026-11-23", nil)
	rep := decodeJSON[report](t, out)
	if len(rep.Trips) != 1 {
		t.Fatalf("trips: %s", out)
	}
	tr := rep.Trips[0]
	if tr.ApprovalID != disp.ApprovalID || tr.RequestID != req.ID || tr.Plate != "鄂B00001" || tr.Drives != 1 ||
		!tr.StartedInWindow || !tr.EndedInWindow || tr.Reached == nil || !*tr.Reached || tr.IssuedAfter || tr.Emergency {
		t.Fatalf("trip %+v", tr)
	}
	if tr.DistanceM < 12000 || tr.DistanceM > 14000 || tr.DrivingS < 15*60 || tr.DrivingS > 22*60 {
		t.Errorf("distance %.0f m, driving %.0f s", tr.DistanceM, tr.DrivingS)
	}
	if len(tr.Besides) != 1 || tr.Besides[0].Start != formatTime(day.Add(7*time.Hour)) {
		t.Errorf("besides %+v", tr.Besides)
	}
	// The morning's drive is 无单出车, as before.
	if len(rep.Rows) != 1 || rep.Rows[0].Kind != "no_order" {
		t.Errorf("rows %+v", rep.Rows)
	}

	// Emergency use on the 21st, recorded on the 22nd: issued after.
	past := time.Date(2026, 11, 21, 0, 0, 0, 0, cst)
	f.drivePositions("鄂B00001", past.Add(20*time.Hour+10*time.Minute), 115.3, 7000)
	em := tripBody("EM-1", past, 20, 22)
	em["vehicle_id"], em["driver_id"], em["reason"] = f.veh["鄂B00001"], driver.ID, "防汛抢险"
	em["dest_area"] = map[string]any{"type": "Polygon", "coordinates": [][][]float64{{{120, 31}, {120.1, 31}, {120.1, 31.1}, {120, 31}}}}
	code, out = ysup.do("POST", "/api/v1/trip-requests/emergency", em)
	mustStatus(t, "emergency", code, out, 201, "")
	_, out = ysup.do("GET", "/api/v1/reports/dispatch?date=2026-11-21", nil)
	rep = decodeJSON[report](t, out)
	if len(rep.Trips) != 1 || !rep.Trips[0].Emergency || !rep.Trips[0].IssuedAfter || rep.Trips[0].Drives != 1 ||
		rep.Trips[0].Reached == nil || *rep.Trips[0].Reached {
		t.Fatalf("emergency trip: %s", out)
	}
	if len(rep.Rows) != 0 {
		t.Errorf("the emergency use still a finding: %s", out)
	}
}
