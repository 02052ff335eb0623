package api

import (
	"context"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"fleetmon/alerts"
	"fleetmon/track"
)

// seedOuting stores a morning of plate's vehicle on day: a drive east from
// 10:00 to 10:20 (every 10 s, ACC on, 36 km/h), parked with ACC off until
// 11:00 (a report a minute, one of them back-filled), then a drive on
// until 11:15. It returns where it parked.
func (f *fixture) seedOuting(plate string, day time.Time) alerts.Point {
	f.t.Helper()
	ctx := context.Background()
	if _, err := f.db.Pool.Exec(ctx, "SELECT ensure_month_partition('positions'::regclass, $1)", day); err != nil {
		f.t.Fatal(err)
	}
	// 36 km/h is 10 m/s: 100 m per report, 1e-3° of longitude ≈ 96 m here.
	_, err := f.db.Pool.Exec(ctx, `INSERT INTO positions (vehicle_id, device_time, received_at, terminal_id, geom, speed_kmh,
			heading, altitude_m, alarm, status, backfill, fix_hash)
		SELECT $1, t, t, 1, ST_SetSRID(ST_MakePoint(lon, 30.3), 4326), speed, 90, 20, 0, status, backfill, i
		FROM (
			SELECT i, $2::timestamptz + i * interval '10 seconds' AS t, 115.0 + i * 0.001 AS lon, 36::real AS speed, 3 AS status, false AS backfill
			FROM generate_series(0, 120) i
			UNION ALL
			SELECT 1000 + i, $2::timestamptz + interval '20 minutes' + i * interval '1 minute', 115.12, 0, 2, i = 10
			FROM generate_series(1, 39) i
			UNION ALL
			SELECT 2000 + i, $2::timestamptz + interval '60 minutes' + i * interval '10 seconds', 115.12 + i * 0.001, 36, 3, false
			FROM generate_series(0, 90) i
		) x(i, t, lon, speed, status, backfill)`, f.veh[plate], day.Add(10*time.Hour))
	if err != nil {
		f.t.Fatal(err)
	}
	return alerts.Point{Lat: 30.3, Lon: 115.12}
}

// outingFixture is the fixture with roles, and 鄂B00001's and 鄂B00002's
// outings (seedOuting) on day; it returns where they parked.
func outingFixture(t *testing.T) (f *fixture, day time.Time, parked alerts.Point) {
	t.Helper()
	f = newFixture(t, nil)
	setupRoles(f)
	day = trackDay.AddDate(0, 0, -5)
	parked = f.seedOuting("鄂B00001", day)
	f.seedOuting("鄂B00002", day)
	return f, day, parked
}

// TestReplayDetails: the replay names the approvals covering each trip, the
// geofences each stop is in, the alerts of the period and the back-filled
// points; several vehicles compare on one time axis, each audited.
func TestReplayDetails(t *testing.T) {
	f, day, parked := outingFixture(t)
	ctx := context.Background()
	as := alerts.NewStore(f.db.Pool)
	hotel, err := as.PutFence(ctx, alerts.Fence{Name: "某宾馆", Kind: alerts.FenceSensitive, Category: alerts.PlaceHotel,
		UnitID: f.units["湖北省"], Shape: alerts.Shape{Type: alerts.ShapeCircle, Center: parked, RadiusM: 150}})
	if err != nil {
		t.Fatal(err)
	}
	// A fence of another vehicle at the same place does not apply.
	if _, err := as.PutFence(ctx, alerts.Fence{Name: "别车车库", Kind: alerts.FenceParking,
		VehicleID: f.veh["鄂B00002"], Shape: alerts.Shape{Type: alerts.ShapeCircle, Center: parked, RadiusM: 150}}); err != nil {
		t.Fatal(err)
	}
	app, err := as.AddApproval(ctx, alerts.ApprovalRecord{Approval: alerts.Approval{VehicleID: f.veh["鄂B00001"],
		Start: day.Add(9*time.Hour + 50*time.Minute), End: day.Add(10*time.Hour + 30*time.Minute)}, Driver: "张三", Purpose: "会议"})
	if err != nil {
		t.Fatal(err)
	}
	ep := f.putEpisode("ep-replay", "鄂B00001", alerts.RuleSensitiveDwell, day.Add(10*time.Hour+25*time.Minute))
	f.putEpisode("ep-before", "鄂B00001", alerts.RuleSensitiveDwell, day.Add(-2*time.Hour))

	insp := f.users["hs_inspector"]
	q := url.Values{"from": {day.Add(9 * time.Hour).Format(time.RFC3339)}, "to": {day.Add(12 * time.Hour).Format(time.RFC3339)},
		"reason": {"举报 2026-31"}}
	code, body := insp.do("GET", "/api/v1/vehicles/"+strconv.FormatInt(f.veh["鄂B00001"], 10)+"/replay?"+q.Encode(), nil)
	if code != 200 {
		t.Fatalf("replay: %d %s", code, body)
	}
	rp := decodeJSON[replayJSON](t, body)
	if rp.TotalPoints != 121+39+91 || rp.BackfillPoints != 1 {
		t.Errorf("points: %d total, %d back-filled", rp.TotalPoints, rp.BackfillPoints)
	}
	if len(rp.Trips) != 2 {
		t.Fatalf("trips: %+v", rp.Trips)
	}
	if a := rp.Trips[0]; a.Approved != "full" || len(a.Approvals) != 1 || a.Approvals[0].ID != app || a.Approvals[0].Driver != "张三" {
		t.Errorf("first trip's approval: %+v", a)
	}
	if b := rp.Trips[1]; b.Approved != "none" || len(b.Approvals) != 0 {
		t.Errorf("second trip's approval: %+v", b)
	}
	var inHotel *replayStop
	for i := range rp.Stops {
		if rp.Stops[i].DurationS >= 30*60 {
			inHotel = &rp.Stops[i]
		}
	}
	if inHotel == nil || len(inHotel.Fences) != 1 || inHotel.Fences[0].ID != hotel.ID || inHotel.Fences[0].Category != "hotel" {
		t.Errorf("the 40-minute stop is in the hotel's fence only: %+v", rp.Stops)
	}
	if len(rp.Alerts) != 1 || rp.Alerts[0].ID != ep.ID || rp.Alerts[0].Rule.Name != "敏感区域停留" {
		t.Errorf("alerts of the period: %+v", rp.Alerts)
	}

	// Comparison: both vehicles on one axis; one outside the jurisdiction
	// refuses the whole request.
	q2 := url.Values{"vehicle": {strconv.FormatInt(f.veh["鄂B00001"], 10), strconv.FormatInt(f.veh["鄂B00002"], 10)}}
	for k, v := range q {
		q2[k] = v
	}
	code, body = insp.do("GET", "/api/v1/replay?"+q2.Encode(), nil)
	if code != 200 {
		t.Fatalf("comparison: %d %s", code, body)
	}
	many := decodeJSON[struct{ Vehicles []replayJSON }](t, body)
	if len(many.Vehicles) != 2 || many.Vehicles[1].Plate != "鄂B00002" || many.Vehicles[1].TotalPoints != 251 {
		t.Errorf("comparison: %+v", many)
	}
	if len(many.Vehicles[1].Stops) == 0 || len(many.Vehicles[1].Stops[0].Fences)+len(many.Vehicles[1].Stops[len(many.Vehicles[1].Stops)-1].Fences) == 0 {
		t.Errorf("鄂B00002's own parking fence and the hotel apply to it: %+v", many.Vehicles[1].Stops)
	}
	q2.Add("vehicle", strconv.FormatInt(f.veh["鄂A00003"], 10))
	if code, _ := insp.do("GET", "/api/v1/replay?"+q2.Encode(), nil); code != 404 {
		t.Errorf("comparison with a vehicle outside the jurisdiction: %d", code)
	}
	var views int
	if err := f.db.Pool.QueryRow(ctx, `SELECT count(*) FROM audit_log WHERE action = 'track.view' AND reason = '举报 2026-31'`).Scan(&views); err != nil {
		t.Fatal(err)
	}
	if views != 3 {
		t.Errorf("audited views: %d, want 1 replay + 2 compared", views)
	}

	// Every export names the alert; the report shows the approval and the
	// fence too.
	sup := f.users["yx_super"]
	for format, want := range map[string][]string{
		"csv":     {"# alert: 敏感区域停留"},
		"geojson": {`"fleetmon_alerts":[{"id":"ep-replay"`},
		"gpx":     {"<wpt ", "<name>敏感区域停留</name>"},
		"kml":     {"<Placemark><name>敏感区域停留</name>"},
		"html":    {"敏感区域停留", "某宾馆", "张三", "补传 back-filled: 1"},
	} {
		code, body := sup.do("GET", "/api/v1/vehicles/"+strconv.FormatInt(f.veh["鄂B00001"], 10)+"/export?format="+format+"&"+q.Encode(), nil)
		if code != 200 {
			t.Fatalf("%s export: %d %s", format, code, body)
		}
		for _, w := range want {
			if !strings.Contains(body, w) {
				t.Errorf("%s export lacks %q", format, w)
			}
		}
		if m, err := track.ReadManifest([]byte(body)); err != nil || m.Rows != 251 {
			t.Errorf("%s export's manifest: %v", format, err)
		}
	}
}

// TestVerifyEvidenceAPI: an uploaded export verifies while nothing changed;
// a line edited in the file and a row edited in the database are each
// named; the check is audited with its reason and refused outside the
// jurisdiction.
func TestVerifyEvidenceAPI(t *testing.T) {
	f, day, _ := outingFixture(t)
	ctx := context.Background()
	sup, insp, wh := f.users["yx_super"], f.users["hs_inspector"], f.users["wh_inspector"]
	q := url.Values{"from": {day.Add(9 * time.Hour).Format(time.RFC3339)}, "to": {day.Add(12 * time.Hour).Format(time.RFC3339)},
		"reason": {"专项检查"}}
	files := map[string]string{}
	for _, format := range []string{"csv", "geojson", "gpx", "kml", "html"} {
		code, body := sup.do("GET", "/api/v1/vehicles/"+strconv.FormatInt(f.veh["鄂B00001"], 10)+"/export?format="+format+"&"+q.Encode(), nil)
		if code != 200 {
			t.Fatalf("%s export: %d", format, code)
		}
		files[format] = body
	}
	type answer struct {
		Intact             bool   `json:"intact"`
		ManifestConsistent bool   `json:"manifest_consistent"`
		FileChecked        bool   `json:"file_checked"`
		Format             string `json:"format"`
		Rows               int    `json:"rows"`
		FileRows           *int   `json:"file_rows"`
		Differences        []differenceJSON
	}
	verify := func(c *client, file string) (int, answer, string) {
		t.Helper()
		code, body := c.do("POST", verifyPath+"?reason="+url.QueryEscape("核验 2026-31"), file)
		var a answer
		if code == 200 {
			a = decodeJSON[answer](t, body)
		}
		return code, a, body
	}
	if code, _ := insp.do("POST", verifyPath, files["csv"]); code != 400 {
		t.Errorf("verify without a reason: %d", code)
	}
	if code, _, body := verify(wh, files["csv"]); code != 404 {
		t.Errorf("verify outside the jurisdiction: %d %s", code, body)
	}
	if code, _, body := verify(insp, "no manifest here"); code != 422 {
		t.Errorf("verify a file without a manifest: %d %s", code, body)
	}
	for format, file := range files {
		code, a, body := verify(insp, file)
		if code != 200 || !a.Intact || a.Format != format || a.Rows != 251 || a.FileChecked != (format != "html") ||
			(a.FileChecked && *a.FileRows != 251) {
			t.Errorf("%s untouched: %d %s", format, code, body)
		}
	}

	// One line of each row format edited by hand, its manifest left alone.
	at := day.Add(10*time.Hour + 10*time.Second).In(cst)
	edits := map[string][2]string{
		"csv":     {at.Format(time.RFC3339) + ",", at.Add(time.Hour).Format(time.RFC3339) + ","},
		"geojson": {`"coordinates":[115.001,30.3]`, `"coordinates":[115.201,30.3]`},
		"gpx":     {`lon="115.001"`, `lon="115.201"`},
		"kml":     {"115.001,30.3,20\n", "115.201,30.3,20\n"},
	}
	for format, e := range edits {
		if !strings.Contains(files[format], e[0]) {
			t.Fatalf("%s: %q not in the export", format, e[0])
		}
		code, a, body := verify(insp, strings.Replace(files[format], e[0], e[1], 1))
		if code != 200 || a.Intact || !a.ManifestConsistent || len(a.Differences) != 1 || a.Differences[0].What != "file_altered" ||
			a.Differences[0].Time != formatTime(at) {
			t.Errorf("%s with an edited line: %d %s", format, code, body)
		}
	}
	// A row edited in the database: the stored row is named as altered.
	if _, err := f.db.Pool.Exec(ctx, "UPDATE positions SET speed_kmh = 99 WHERE vehicle_id = $1 AND device_time = $2",
		f.veh["鄂B00001"], at); err != nil {
		t.Fatal(err)
	}
	for format, file := range files {
		code, a, body := verify(insp, file)
		if code != 200 || a.Intact || len(a.Differences) != 1 || a.Differences[0].What != "altered" {
			t.Errorf("%s after a database edit: %d %s", format, code, body)
		}
	}
	var n int
	if err := f.db.Pool.QueryRow(ctx, `SELECT count(*) FROM audit_log WHERE action = 'evidence.verify' AND reason = '核验 2026-31'
		AND vehicle_id = $1 AND detail->>'file_sha256' <> ''`, f.veh["鄂B00001"]).Scan(&n); err != nil {
		t.Fatal(err)
	}
	if n != 5+4+5 {
		t.Errorf("audited verifications: %d, want 14", n)
	}
}

// TestAreaSearchAPI: the vehicles of the caller's jurisdiction that were
// inside a drawn circle or a geofence, with their visits; audited with the
// reason and the vehicles found.
func TestAreaSearchAPI(t *testing.T) {
	f, day, parked := outingFixture(t)
	ctx := context.Background()
	if _, err := track.NewStore(f.db.Pool).SummariseFootprints(ctx, day.Add(10*time.Hour+40*time.Minute)); err != nil {
		t.Fatal(err)
	}
	fence, err := alerts.NewStore(f.db.Pool).PutFence(ctx, alerts.Fence{Name: "某会所", Kind: alerts.FenceSensitive,
		Category: alerts.PlaceKTVSauna, UnitID: f.units["湖北省/黄石市"], Shape: alerts.Shape{Type: alerts.ShapeCircle, Center: parked, RadiusM: 150}})
	if err != nil {
		t.Fatal(err)
	}
	circle := map[string]any{"from": day.Format(time.RFC3339), "to": day.AddDate(0, 0, 1).Format(time.RFC3339), "reason": "举报 2026-40",
		"area": map[string]any{"type": "Point", "coordinates": []float64{parked.Lon, parked.Lat}}, "radius_m": 150}
	type answer struct {
		Items []areaVehicleJSON
		Total int
	}
	search := func(c *client, body map[string]any) (int, answer, string) {
		t.Helper()
		code, resp := c.do("POST", "/api/v1/area-search", body)
		var a answer
		if code == 200 {
			a = decodeJSON[answer](t, resp)
		}
		return code, a, resp
	}
	code, a, body := search(f.users["hs_inspector"], circle)
	if code != 200 || a.Total != 2 || a.Items[0].Plate != "鄂B00001" || len(a.Items[0].Visits) != 1 {
		t.Fatalf("inspector's circle: %d %s", code, body)
	}
	v := a.Items[0].Visits[0]
	// The drive's report 10 s before parking is 96 m away: inside too.
	if v.Arrival != formatTime(day.Add(10*time.Hour+19*time.Minute+50*time.Second)) || v.DwellS != 2420 || v.EnteredAfter == nil || v.LeftBefore == nil {
		t.Errorf("the visit: %+v", v)
	}
	if code, a, body := search(f.users["yx_super"], circle); code != 200 || a.Total != 1 || a.Items[0].Plate != "鄂B00001" {
		t.Errorf("阳新县's supervisor sees its own vehicle only: %d %s", code, body)
	}
	if code, a, body := search(f.users["wh_inspector"], circle); code != 200 || a.Total != 0 {
		t.Errorf("武汉市's inspector sees none: %d %s", code, body)
	}
	byFence := map[string]any{"from": circle["from"], "to": circle["to"], "reason": "举报 2026-41", "fence_id": fence.ID}
	if code, a, body := search(f.users["hs_inspector"], byFence); code != 200 || a.Total != 2 {
		t.Errorf("by fence: %d %s", code, body)
	}
	if code, _, body := search(f.users["wh_inspector"], byFence); code != 404 {
		t.Errorf("a fence outside the jurisdiction: %d %s", code, body)
	}
	noReason := map[string]any{"from": circle["from"], "to": circle["to"], "fence_id": fence.ID}
	if code, _, body := search(f.users["hs_inspector"], noReason); code != 400 || errorCode(body) != "reason_required" {
		t.Errorf("without a reason: %d %s", code, body)
	}
	bad := map[string]any{"from": circle["from"], "to": circle["to"], "reason": "r", "area": map[string]any{"type": "Point", "coordinates": []float64{115, 30}}}
	if code, _, body := search(f.users["hs_inspector"], bad); code != 400 || errorCode(body) != "bad_area" {
		t.Errorf("a point without a radius: %d %s", code, body)
	}
	var n int
	if err := f.db.Pool.QueryRow(ctx, `SELECT count(*) FROM audit_log WHERE action = 'area.search' AND reason = '举报 2026-40'
		AND detail->>'vehicle_count' = '2' AND detail->'vehicles' @> to_jsonb($1::bigint) AND period_from = $2`,
		f.veh["鄂B00002"], day).Scan(&n); err != nil {
		t.Fatal(err)
	}
	if n != 1 {
		t.Errorf("audited inspector's circle searches naming both vehicles: %d", n)
	}
}
