package main

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/jackc/pgx/v5"

	"fleetmon/api/uitest"
	"fleetmon/track"
)

// storeTrips stores, for the vehicle of plate, a drive at each of starts:
// parked (ACC off) five minutes before, forty reports 15 s apart at
// 40 km/h eastwards, parked again after. The positions go straight into
// the database, as the gateway would have stored them.
func storeTrips(t *testing.T, db, plate string, starts ...time.Time) {
	t.Helper()
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, db)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	var vid, term int64
	if err := conn.QueryRow(ctx, "SELECT v.id, t.id FROM vehicles v JOIN terminals t ON t.vehicle_id = v.id WHERE v.plate = $1",
		plate).Scan(&vid, &term); err != nil {
		t.Fatal(err)
	}
	for _, s := range starts {
		if _, err := conn.Exec(ctx, "SELECT ensure_month_partition('positions'::regclass, $1)", s.UTC()); err != nil {
			t.Fatal(err)
		}
		put := func(i int, at time.Time, speed float32, status int) {
			if _, err := conn.Exec(ctx, `INSERT INTO positions (vehicle_id, device_time, received_at, terminal_id, geom, speed_kmh,
					heading, altitude_m, alarm, status, fix_hash)
				VALUES ($1, $2, $2, $3, ST_SetSRID(ST_MakePoint($4, 30.2), 4326), $5, 90, 20, 0, $6, $7)`,
				vid, at, term, 115.0+float64(i)*0.0017, speed, status, at.UnixMilli()); err != nil {
				t.Fatal(err)
			}
		}
		put(0, s.Add(-5*time.Minute), 0, 2)
		for i := 1; i <= 40; i++ {
			put(i, s.Add(time.Duration(i-1)*15*time.Second), 40, 3)
		}
		put(40, s.Add(40*15*time.Second), 0, 2)
		put(40, s.Add(40*15*time.Second+5*time.Minute), 0, 2)
	}
}

// TestStatsReportInBrowser: 报表 is in the navigation; a supervisor picks
// the fourth quarter of 2026, by vehicle, and the table shows what the API
// says, the vehicle not used among the unused; the export links carry the
// same query.
func TestStatsReportInBrowser(t *testing.T) {
	ctx := uitest.Browser(t, 6*time.Minute)
	shots := uitest.ArtifactDir(t)
	db, otp, token := seedFleet(t, "plate,plate_color,terminal_phone,unit,category\n"+
		"鄂B10001,1,13800000011,湖北省/黄石市,general\n"+
		"鄂B10002,1,13800000012,湖北省/黄石市/阳新县,general\n"+
		"鄂B10003,1,13800000013,湖北省/黄石市/阳新县,general\n", "hs_super", "supervisor", "湖北省/黄石市")
	day := func(m time.Month, d, h int) time.Time { return time.Date(2026, m, d, h, 0, 0, 0, track.Beijing) }
	storeTrips(t, db, "鄂B10001", day(10, 9, 9), day(10, 9, 15), day(10, 10, 19), day(11, 2, 10))
	storeTrips(t, db, "鄂B10002", day(12, 1, 9))
	// Stored before fleetd starts: its days job takes them on its first run.
	srv := startServe(t, "--db", db, "--data-dir", t.TempDir())
	base := "http://" + srv.HTTP
	p := &uitest.Page{Ctx: ctx, T: t, Shots: shots, Detail: srv.Stderr.String}

	type figures struct {
		Plate string   `json:"plate"`
		Trips int      `json:"trips"`
		Km    float64  `json:"distance_km"`
		Odo   *float64 `json:"odometer_km"`
	}
	var rep struct {
		PendingDays int       `json:"pending_days"`
		Rows        []figures `json:"rows"`
		Total       figures   `json:"total"`
		Unused      []struct {
			Plate string `json:"plate"`
		} `json:"unused"`
	}
	for deadline := time.Now().Add(2 * time.Minute); ; {
		apiGet(t, base, token, "/api/v1/reports/stats?period=2026-Q4&by=vehicle", &rep)
		if rep.PendingDays == 0 && rep.Total.Trips == 5 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the days job: %+v", rep)
		}
		time.Sleep(time.Second)
	}
	var plates, trips, km []string
	for _, r := range rep.Rows {
		plates = append(plates, r.Plate)
		trips = append(trips, fmt.Sprint(r.Trips))
		km = append(km, fmt.Sprintf("%.2f", r.Km))
	}
	if strings.Join(trips, "|") != "4|1|0" || len(rep.Unused) != 1 || rep.Unused[0].Plate != "鄂B10003" {
		t.Fatalf("the API's report: %+v", rep)
	}

	uitest.Login(ctx, t, base, "hs_super", otp, "Huangshi-Fleet-2026!")
	p.Poll("报表 in the navigation", jsText("#nav a")+`.includes('报表')`)
	p.Follow(`#nav a[data-page=reports]`, "#go")
	p.Poll("the units listed", `document.querySelectorAll('#unit option').length === 3`)
	p.Do(chromedp.SetValue(chromedp.CSS("#kind"), "quarter"))
	p.String(`String(document.querySelector('#kind').dispatchEvent(new Event('change')))`)
	p.Do(chromedp.SetValue(chromedp.CSS("#year"), "2026"),
		chromedp.SetValue(chromedp.CSS("#part"), "4"),
		chromedp.SetValue(chromedp.CSS("#by"), "vehicle"),
		chromedp.Click(chromedp.CSS("#go")))
	p.Poll("the table's plates", jsText("#table tbody td:nth-child(2)")+` === `+jsQuote(strings.Join(plates, "|")))
	if got := p.String(jsText("#table tbody td:nth-child(3)")); got != strings.Join(trips, "|") {
		t.Errorf("trips in the table %q, the API says %q", got, strings.Join(trips, "|"))
	}
	if got := p.String(jsText("#table tbody td:nth-child(4)")); got != strings.Join(km, "|") {
		t.Errorf("km in the table %q, the API says %q", got, strings.Join(km, "|"))
	}
	if got := p.String(jsText("#table tfoot td:nth-child(3)")); got != "5" {
		t.Errorf("the total's trips %q, want 5", got)
	}
	if got := p.String(jsText("#unused")); got != "鄂B10003" {
		t.Errorf("unused %q", got)
	}
	if n := p.String(`String(document.querySelectorAll('#charts svg rect.bar').length)`); n != "6" {
		t.Errorf("%s bars in the charts, want 6", n)
	}
	if href := p.String(`document.querySelector('#xlsx').getAttribute('href')`); !strings.Contains(href, "period=2026-Q4") ||
		!strings.Contains(href, "format=xlsx") || !strings.Contains(href, "by=vehicle") {
		t.Errorf("the XLSX link %q", href)
	}
	uitest.Screenshot(ctx, t, shots, "01-quarter-by-vehicle")
}
