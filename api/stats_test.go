package api

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/xuri/excelize/v2"

	"fleetmon/alerts"
	"fleetmon/track"
)

// genPos is one generated report.
type genPos struct {
	at       time.Time
	lat, lon float64
	speed    float32
	status   int // bit 0: ACC
	mileage  float64
}

// genDay generates one vehicle's day: parked (ACC off) with a report every
// 5 minutes from 06:00 to 22:00, and a trip at each of starts (minutes
// after midnight): ACC on, a report every 15 s at 40 km/h northwards with
// a minute's stop at a traffic light half way, then parked where it ended.
// odo is the odometer, moved on by the distance driven.
func genDay(day time.Time, starts []int, lat, lon, odo *float64) []genPos {
	var out []genPos
	park := func(at time.Time) {
		out = append(out, genPos{at: at, lat: *lat, lon: *lon, status: 2, mileage: math.Round(*odo*10) / 10})
	}
	t := day.Add(6 * time.Hour)
	end := day.Add(22 * time.Hour)
	next := 0
	for t.Before(end) {
		if next < len(starts) && !t.Before(day.Add(time.Duration(starts[next])*time.Minute)) {
			next++
			for i := range 44 {
				speed := float32(40)
				if i >= 20 && i < 24 {
					speed = 0 // the traffic light
				} else {
					nlat := *lat + 0.0015
					*odo += track.DistanceM(*lat, *lon, nlat, *lon) / 1000
					*lat = nlat
				}
				t = t.Add(15 * time.Second)
				out = append(out, genPos{at: t, lat: *lat, lon: *lon, speed: speed, status: 3, mileage: math.Round(*odo*10) / 10})
			}
			t = t.Add(15 * time.Second)
			park(t)
			t = t.Add(5 * time.Minute)
			continue
		}
		park(t)
		t = t.Add(5 * time.Minute)
	}
	return out
}

// indepFigures are a vehicle's figures computed here, straight from the
// generated reports, without the production code: a trip runs from the
// first report at speed to the first report with ACC off; the distance is
// along consecutive reports of a day less than 15 minutes apart; the
// odometer is the last reading less the first.
type indepFigures struct {
	trips, daysUsed, usedWorking, afterHours, holiday int
	distM, odoKm                                      float64
	driving                                           time.Duration
}

func independent(cal *alerts.Calendar, pts []genPos) indepFigures {
	var f indepFigures
	used := map[alerts.Date]bool{}
	var tripStart time.Time
	inTrip := false
	for i, p := range pts {
		if i > 0 {
			q := pts[i-1]
			if alerts.DateOf(q.at.In(cst)) == alerts.DateOf(p.at.In(cst)) && p.at.Sub(q.at) <= 15*time.Minute {
				f.distM += track.DistanceM(q.lat, q.lon, p.lat, p.lon)
			}
		}
		switch {
		case !inTrip && p.speed >= 5:
			inTrip, tripStart = true, p.at
		case inTrip && p.status&1 == 0:
			inTrip = false
			f.trips++
			f.driving += p.at.Sub(tripStart)
			d := alerts.DateOf(tripStart.In(cst))
			used[d] = true
			kind, _ := cal.DayKind(d)
			within := false
			for _, wp := range cal.WorkingPeriods(d) {
				within = within || !tripStart.Before(wp.Start) && !p.at.After(wp.End)
			}
			switch {
			case !kind.Working():
				f.holiday++
			case !within:
				f.afterHours++
			}
		}
	}
	for d := range used {
		f.daysUsed++
		if k, _ := cal.DayKind(d); k.Working() {
			f.usedWorking++
		}
	}
	if len(pts) > 0 {
		f.odoKm = pts[len(pts)-1].mileage - pts[0].mileage
	}
	return f
}

func insertGen(t *testing.T, f *fixture, vid int64, pts []genPos, received time.Time) {
	t.Helper()
	ctx := context.Background()
	for i, p := range pts {
		// A partition per month of UTC or local time: ensure it for each day.
		if i == 0 || p.at.YearDay() != pts[i-1].at.YearDay() {
			if _, err := f.db.Pool.Exec(ctx, "SELECT ensure_month_partition('positions'::regclass, $1)", p.at.UTC()); err != nil {
				t.Fatal(err)
			}
		}
	}
	var sb strings.Builder
	args := []any{vid}
	flush := func() {
		if len(args) == 1 {
			return
		}
		q := `INSERT INTO positions (vehicle_id, device_time, received_at, terminal_id, geom, speed_kmh, heading, altitude_m,
			alarm, status, backfill, mileage_km, fix_hash) VALUES ` + sb.String() + ` ON CONFLICT DO NOTHING`
		if _, err := f.db.Pool.Exec(ctx, q, args...); err != nil {
			t.Fatal(err)
		}
		sb.Reset()
		args = []any{vid}
	}
	for _, p := range pts {
		rec := p.at.Add(time.Second)
		if !received.IsZero() {
			rec = received
		}
		n := len(args)
		if n > 1 {
			sb.WriteString(",")
		}
		fmt.Fprintf(&sb, "($1, $%d, $%d, 1, ST_SetSRID(ST_MakePoint($%d, $%d), 4326), $%d, 0, 20, 0, $%d, $%d, $%d, $%d)",
			n+1, n+2, n+3, n+4, n+5, n+6, n+7, n+8, n+9)
		args = append(args, p.at, rec, p.lon, p.lat, p.speed, p.status, !received.IsZero(), p.mileage, p.at.UnixMilli())
		if len(args) > 900 {
			flush()
		}
	}
	flush()
}

type statsJSON struct {
	Period      string `json:"period"`
	By          string `json:"by"`
	PendingDays int    `json:"pending_days"`
	Rows        []struct {
		Unit      string `json:"unit"`
		VehicleID int64  `json:"vehicle_id"`
		Plate     string `json:"plate"`
		statsFigures
	} `json:"rows"`
	Total  statsFigures   `json:"total"`
	Unused []statsVehicle `json:"unused"`
}

// TestStatsMatchIndependentFigures: the statistics of a generated October
// (国庆 and its make-up workdays in it) equal what the test computes from
// the same reports by itself; a day uploaded late changes them; the same
// reports stored again, and every day summarised again, change nothing;
// the XLSX says what the JSON says, with no cell a formula.
func TestStatsMatchIndependentFigures(t *testing.T) {
	f, _ := alertFixture(t, nil)
	ctx := context.Background()
	admin := f.users["admin"]
	cal, err := alerts.NewCalendar(alerts.CalendarSpec{Week: alerts.StandardWeek()}, nil)
	if err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(7, 20))
	oct := time.Date(2026, 10, 1, 0, 0, 0, 0, cst)
	plates := []string{"鄂B00001", "鄂B00002"}
	gen := map[string][]genPos{}
	lateDay := 12 // 鄂B00001's 12 October comes later
	var late []genPos
	for _, plate := range plates {
		lat, lon, odo := 30.2, 115.0, 1000.0+rng.Float64()*100
		for d := range 31 {
			var starts []int
			for _, m := range []int{7 * 60, 9 * 60, 15 * 60, 18 * 60} {
				if rng.IntN(3) > 0 {
					starts = append(starts, m)
				}
			}
			if rng.IntN(6) == 0 {
				starts = nil // a day not driven
			}
			pts := genDay(oct.AddDate(0, 0, d), starts, &lat, &lon, &odo)
			if plate == "鄂B00001" && d+1 == lateDay {
				late = genDay(oct.AddDate(0, 0, d), []int{9 * 60, 19 * 60}, &lat, &lon, &odo)
				continue
			}
			gen[plate] = append(gen[plate], pts...)
		}
		insertGen(t, f, f.veh[plate], gen[plate], time.Time{})
	}
	// Alerts: two after-hours, one confirmed; a retracted one not counted.
	f.putEpisode("s1", "鄂B00001", alerts.RuleAfterHours, oct.Add(3*24*time.Hour+19*time.Hour))
	f.putEpisode("s2", "鄂B00001", alerts.RuleAfterHours, oct.Add(5*24*time.Hour+19*time.Hour))
	f.putEpisode("s3", "鄂B00002", alerts.RuleSpeeding, oct.Add(8*24*time.Hour+10*time.Hour))
	ret := f.putEpisode("s4", "鄂B00002", alerts.RuleSpeeding, oct.Add(9*24*time.Hour+10*time.Hour))
	ret.Status = alerts.EpisodeRetracted
	if _, err := alerts.NewStore(f.db.Pool).UpsertEpisodes(ctx, []alerts.Episode{ret}); err != nil {
		t.Fatal(err)
	}
	if ok, err := alerts.NewStore(f.db.Pool).SetVerification(ctx, "s2", alerts.VerificationConfirmed); !ok || err != nil {
		t.Fatal(ok, err)
	}
	summarise := func() {
		t.Helper()
		if _, err := f.store.SummariseDays(ctx, time.Date(2026, 11, 22, 9, 0, 0, 0, cst)); err != nil {
			t.Fatal(err)
		}
	}
	get := func(query string) statsJSON {
		t.Helper()
		code, body := admin.do("GET", "/api/v1/reports/stats?"+query, nil)
		if code != 200 {
			t.Fatalf("stats %s: %d %s", query, code, body)
		}
		return decodeJSON[statsJSON](t, body)
	}
	check := func(what string) statsJSON {
		t.Helper()
		rep := get("period=2026-10&by=vehicle")
		if rep.PendingDays != 0 || len(rep.Rows) != 3 {
			t.Fatalf("%s: %d rows, %d days pending", what, len(rep.Rows), rep.PendingDays)
		}
		var trips int
		for _, r := range rep.Rows {
			want := independent(cal, gen[r.Plate])
			trips += want.trips
			got := r.statsFigures
			if got.Trips != want.trips || got.DaysUsed != want.daysUsed || got.UsedWorkingDays != want.usedWorking ||
				got.AfterHoursTrips != want.afterHours || got.HolidayTrips != want.holiday ||
				math.Abs(got.DistanceKm-want.distM/1000) > 0.006 || math.Abs(got.DrivingH-want.driving.Hours()) > 0.006 {
				t.Errorf("%s: %s: got %+v, want %+v", what, r.Plate, got, want)
			}
			if len(gen[r.Plate]) > 0 && (got.OdometerKm == nil || math.Abs(*got.OdometerKm-want.odoKm) > 0.006) {
				t.Errorf("%s: %s: odometer %v, want %.2f", what, r.Plate, got.OdometerKm, want.odoKm)
			}
			// October 2026: 22 weekdays, 国庆 takes 5 of them (1–7
			// October), and the make-up Saturday and Sunday add 2.
			var wd int
			for d := range 31 {
				if k, _ := cal.DayKind(alerts.DateOf(oct.AddDate(0, 0, d))); k.Working() {
					wd++
				}
			}
			if got.WorkingDays != wd {
				t.Errorf("%s: %s: %d working days, want %d", what, r.Plate, got.WorkingDays, wd)
			}
		}
		if rep.Total.Trips != trips || rep.Total.UnusedVehicles != 1 || len(rep.Unused) != 1 || rep.Unused[0].Plate != "鄂A00003" {
			t.Errorf("%s: total %+v, unused %+v", what, rep.Total, rep.Unused)
		}
		if rep.Total.Alerts["after_hours"] != 2 || rep.Total.Alerts["speeding"] != 1 ||
			rep.Total.Verification["confirmed"] != 1 || rep.Total.Verification["open"] != 2 {
			t.Errorf("%s: alerts %v, verification %v", what, rep.Total.Alerts, rep.Total.Verification)
		}
		return rep
	}
	summarise()
	first := check("first")

	// The 12th arrives a month late (a blind-zone upload).
	insertGen(t, f, f.veh["鄂B00001"], late, time.Date(2026, 11, 20, 10, 0, 0, 0, cst))
	if rep := get("period=2026-10&by=vehicle"); rep.PendingDays != 0 {
		t.Logf("before the job: %d days pending", rep.PendingDays)
	}
	summarise()
	gen["鄂B00001"] = mergeGen(gen["鄂B00001"], late)
	second := check("after the late day")
	if second.Total.Trips != first.Total.Trips+2 {
		t.Errorf("the late day's two trips: %d then %d", first.Total.Trips, second.Total.Trips)
	}

	// The same reports again, and every day summarised again.
	insertGen(t, f, f.veh["鄂B00001"], late, time.Date(2026, 11, 21, 10, 0, 0, 0, cst))
	insertGen(t, f, f.veh["鄂B00002"], gen["鄂B00002"][:500], time.Time{})
	if _, err := f.db.Pool.Exec(ctx, "DELETE FROM vehicle_days_progress"); err != nil {
		t.Fatal(err)
	}
	summarise()
	summarise()
	check("after duplicates")

	// By unit: the subtree rows add up to the total.
	byUnit := get("period=2026-Q4&by=unit&unit=" + strconv.FormatInt(f.units["湖北省"], 10))
	var sum int
	for _, r := range byUnit.Rows {
		sum += r.Trips
	}
	if sum != byUnit.Total.Trips || len(byUnit.Rows) != 2 || byUnit.Total.Trips < second.Total.Trips {
		t.Errorf("by unit: %+v", byUnit)
	}
	// Jurisdiction: 武汉's supervisor sees 武汉's vehicle only, and not 黄石.
	wh := f.users["wh_super"]
	if code, body := wh.do("GET", "/api/v1/reports/stats?period=2026-10&by=vehicle", nil); code != 200 ||
		!strings.Contains(body, "鄂A00003") || strings.Contains(body, "鄂B0000") {
		t.Errorf("武汉: %d %s", code, body)
	}
	if code, _ := wh.do("GET", "/api/v1/reports/stats?period=2026-10&unit="+strconv.FormatInt(f.units["湖北省/黄石市"], 10), nil); code != 404 {
		t.Errorf("武汉 asking for 黄石: %d", code)
	}
	for _, bad := range []string{"period=2026-13", "period=26-Q1", "period=2026-Q5", "period=2026&by=car", "period=2026&format=pdf"} {
		if code, _ := admin.do("GET", "/api/v1/reports/stats?"+bad, nil); code != 400 {
			t.Errorf("%s: %d", bad, code)
		}
	}
	var audited int
	if err := f.db.Pool.QueryRow(ctx, "SELECT count(*) FROM audit_log WHERE action = 'report.stats'").Scan(&audited); err != nil || audited < 5 {
		t.Errorf("audited %d report views: %v", audited, err)
	}

	// XLSX, read back; a unit named like a formula stays text.
	if _, err := f.db.Pool.Exec(ctx, "UPDATE units SET name = '=HYPERLINK(\"x\")' WHERE id = $1", f.units["湖北省"]); err != nil {
		t.Fatal(err)
	}
	resp := admin.raw("GET", "/api/v1/reports/stats?period=2026-10&by=vehicle&format=xlsx", nil)
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	x, err := excelize.OpenReader(bytes.NewReader(b))
	if err != nil {
		t.Fatalf("xlsx (%d, %s): %v", resp.StatusCode, resp.Header.Get("Content-Type"), err)
	}
	defer x.Close()
	rows, err := x.GetRows("统计")
	if err != nil || len(rows) != 2+3+1 {
		t.Fatalf("xlsx rows %v: %v", rows, err)
	}
	if rows[1][1] != "车牌" || rows[1][2] != "出车次数" || rows[5][0] != "合计" || rows[5][2] != strconv.Itoa(second.Total.Trips) {
		t.Errorf("xlsx: %q", rows)
	}
	for i, r := range rows[2:5] {
		want := second.Rows[i]
		if r[1] != want.Plate || r[2] != strconv.Itoa(want.Trips) || !strings.HasPrefix(r[0], "'=HYPERLINK") {
			t.Errorf("xlsx row %q, want %s with %d trips", r, want.Plate, want.Trips)
		}
		if fm, _ := x.GetCellFormula("统计", fmt.Sprintf("A%d", i+3)); fm != "" {
			t.Errorf("xlsx A%d is a formula: %s", i+3, fm)
		}
	}
	if un, _ := x.GetRows("未使用车辆"); len(un) != 2 || un[1][0] != "鄂A00003" {
		t.Errorf("xlsx unused: %q", un)
	}
	// The printable page: a table with the total, its style allowed by
	// hash and nothing else.
	resp = admin.raw("GET", "/api/v1/reports/stats?period=2026-10&by=vehicle&format=html", nil)
	b, _ = io.ReadAll(resp.Body)
	resp.Body.Close()
	if !strings.Contains(string(b), "<td>合计</td>") || !strings.Contains(resp.Header.Get("Content-Security-Policy"), "style-src 'sha256-") ||
		!strings.Contains(string(b), "@page") {
		t.Errorf("html: %s %s", resp.Header.Get("Content-Security-Policy"), b)
	}
}

// mergeGen merges two reports lists in time order.
func mergeGen(a, b []genPos) []genPos {
	out := make([]genPos, 0, len(a)+len(b))
	i, j := 0, 0
	for i < len(a) || j < len(b) {
		if j == len(b) || i < len(a) && a[i].at.Before(b[j].at) {
			out = append(out, a[i])
			i++
		} else {
			out = append(out, b[j])
			j++
		}
	}
	return out
}
