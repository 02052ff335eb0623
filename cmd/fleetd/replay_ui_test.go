package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"

	"fleetmon/api/uitest"
	"fleetmon/cmd/fleetsim/sim"
	"fleetmon/ingest/jt808"
)

// cstZone is Beijing time, in which the page and the API show periods.
var cstZone = time.FixedZone("CST", 8*3600)

// lastWeekendCST is the page's "last weekend" shortcut: the latest Saturday
// and Sunday that are over, in Beijing time.
func lastWeekendCST(now time.Time) (time.Time, time.Time) {
	d := now.In(cstZone)
	today := time.Date(d.Year(), d.Month(), d.Day(), 0, 0, 0, 0, cstZone)
	back := (int(today.Weekday()) + 1) % 7
	if back == 0 {
		back = 7
	}
	sat := today.AddDate(0, 0, -back)
	if !sat.AddDate(0, 0, 1).Before(today) {
		sat = sat.AddDate(0, 0, -7)
	}
	return sat, sat.AddDate(0, 0, 2)
}

// driveWeekend is what the simulator drives from from to to: a 黄石市
// official car parked one to three hours at a time, stopping 20–60 minutes
// at its destinations, reporting every 10 s while driving and every minute
// while standing (as terminals do with ACC off).
func driveWeekend(from, to time.Time, seed uint64) []sim.Point {
	d := sim.NewDriver(sim.DriverConfig{Seed: seed, ParkMin: time.Hour, ParkMax: 3 * time.Hour,
		StopMin: 20 * time.Minute, StopMax: time.Hour})
	var pts []sim.Point
	for now := from; now.Before(to); {
		p, _ := d.Next(now)
		pts = append(pts, p)
		if p.SpeedKmh > 0 {
			now = now.Add(10 * time.Second)
		} else {
			now = now.Add(time.Minute)
		}
	}
	return pts
}

type span struct{ from, to int } // indices into the stored points

// expectTrack is what fleetmon's analysis must find in pts, as the
// simulator drove them: each drive from its first moving report to the
// first standing one, the standstills between (split by a gap), the gaps.
func expectTrack(t *testing.T, pts []sim.Point) (trips, stops []span, gaps []span) {
	t.Helper()
	for i := 1; i < len(pts); i++ {
		if pts[i].Time.Sub(pts[i-1].Time) > 15*time.Minute {
			gaps = append(gaps, span{i - 1, i})
		}
	}
	for i := 1; i < len(pts); i++ {
		if pts[i].SpeedKmh > 0 && pts[i-1].SpeedKmh == 0 {
			j := i
			for j < len(pts) && pts[j].SpeedKmh > 0 {
				j++
			}
			j = min(j, len(pts)-1)
			m := 0.0
			for k := i; k < j; k++ {
				m += sim.DistanceM(sim.LatLon{Lat: pts[k].Lat, Lon: pts[k].Lon}, sim.LatLon{Lat: pts[k+1].Lat, Lon: pts[k+1].Lon})
			}
			if m < 1000 {
				t.Fatalf("the simulator drove only %.0f m from %s: choose another seed", m, pts[i].Time)
			}
			trips = append(trips, span{i, j})
			i = j
		}
	}
	standing := func(a, b int) {
		for _, g := range gaps {
			if g.from >= a && g.from < b {
				stops = append(stops, span{a, g.from})
				a = g.to
			}
		}
		stops = append(stops, span{a, b})
	}
	prev := 0
	for _, tr := range trips {
		standing(prev, tr.from)
		prev = tr.to
	}
	standing(prev, len(pts)-1)
	return trips, stops, gaps
}

// sendTrack stores pts through fleetd's gateway as a real terminal does:
// 0x0704 batches, the back-filled ones as blind-zone uploads (type 1), and
// waits until every report is acknowledged.
func sendTrack(t *testing.T, addr, phone, plate string, pts []sim.Point, backfilled func(int) bool) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	tm, err := sim.NewTerminal(sim.Config{Phone: phone, Version: jt808.Version2013, Plate: plate, PlateColor: 1})
	if err != nil {
		t.Fatal(err)
	}
	if err := tm.Connect(ctx, addr); err != nil {
		t.Fatal(err)
	}
	defer tm.Close()
	if err := tm.Login(ctx); err != nil {
		t.Fatal(err)
	}
	var live, later []sim.Point
	for i, p := range pts {
		if backfilled(i) {
			later = append(later, p)
		} else {
			live = append(live, p)
		}
	}
	for typ, batch := range [][]sim.Point{live, later} {
		for len(batch) > 0 {
			n := min(len(batch), sim.SinglePackageBatch)
			if err := tm.SendBatch(uint8(typ), batch[:n]); err != nil {
				t.Fatal(err)
			}
			batch = batch[n:]
		}
	}
	for tm.Pending() > 0 {
		select {
		case <-ctx.Done():
			t.Fatalf("%d reports of %s never acknowledged", tm.Pending(), plate)
		case <-tm.Done():
			t.Fatalf("terminal %s: %v", plate, tm.Err())
		case <-time.After(50 * time.Millisecond):
		}
	}
	if s := tm.Metrics().Snapshot(); s.Rejected != 0 || s.PositionsAcked != int64(len(pts)) {
		t.Fatalf("%s: %+v, want %d positions acknowledged", plate, s, len(pts))
	}
}

// TestReplayInBrowser is issue 6's browser test: a simulated weekend of
// 鄂B12345 goes through fleetd's gateway (with a gap in the data and a
// blind-zone back-fill), an inspector logs in, opens the replay from the
// live map, replays last weekend with a reason, and finds the trips and
// stops the simulator drove; plays, scrubs and steps; compares a second
// car; exports every format, and each verifies with fleetd verify; asks
// who else was at a Saturday-night stop (area search) and opens the visit's
// replay; and verifies the report on the verify page, where a hand-edited
// file fails.
// Screenshots are kept in test-artifacts/TestReplayInBrowser/.
func TestReplayInBrowser(t *testing.T) {
	ctx := uitest.Browser(t, 4*time.Minute)
	shots := uitest.ArtifactDir(t)
	db, otp, token := seedFleet(t, "plate,plate_color,terminal_phone,unit,category\n"+
		"鄂B12345,1,13900000001,湖北省/黄石市,general\n"+
		"鄂B54321,1,13900000002,湖北省/黄石市/阳新县,general\n", "jw_inspector", "inspector", "湖北省/黄石市")
	srv := startServe(t, "--db", db, "--data-dir", t.TempDir())
	base := "http://" + srv.HTTP

	// The weekend as driven, then as stored: the terminal is silent for 40
	// minutes in the middle of a long park, and one trip reaches fleetd
	// only later, from the terminal's blind-zone storage.
	sat, mon := lastWeekendCST(time.Now())
	// Seed 87 drives no trip shorter than a kilometre (shorter ones are
	// car-park moves the analysis leaves out).
	driven := driveWeekend(sat, mon, 87)
	var pts []sim.Point
	var silentFrom time.Time
	for i := 1; i < len(driven) && silentFrom.IsZero(); i++ {
		if driven[i].SpeedKmh == 0 && driven[i-1].SpeedKmh > 0 {
			j := i
			for j < len(driven) && driven[j].SpeedKmh == 0 {
				j++
			}
			if j < len(driven) && driven[j].Time.Sub(driven[i].Time) > 100*time.Minute {
				silentFrom = driven[i].Time.Add(30 * time.Minute)
			}
		}
	}
	if silentFrom.IsZero() {
		t.Fatal("no park long enough for a gap: choose another seed")
	}
	for _, p := range driven {
		if p.Time.Before(silentFrom) || !p.Time.Before(silentFrom.Add(40*time.Minute)) {
			pts = append(pts, p)
		}
	}
	trips, stops, gaps := expectTrack(t, pts)
	if len(trips) < 3 || len(gaps) != 1 {
		t.Fatalf("the simulated weekend has %d trips and %d gaps: choose another seed", len(trips), len(gaps))
	}
	bf := trips[1]
	sendTrack(t, srv.JT808, "13900000001", "鄂B12345", pts, func(i int) bool { return i >= bf.from && i <= bf.to })
	// The car compared with it drove on Saturday morning only.
	other := driveWeekend(sat.Add(8*time.Hour), sat.Add(12*time.Hour), 7)
	sendTrack(t, srv.JT808, "13900000002", "鄂B54321", other, func(int) bool { return false })
	waitRulesEngine(t, base, len(pts)+len(other))
	t.Logf("weekend %s: %d positions stored, %d trips, %d stops, %d back-filled", sat.Format(time.DateOnly), len(pts), len(trips), len(stops), bf.to-bf.from+1)

	pg := &uitest.Page{Ctx: ctx, T: t, Shots: shots, Detail: func() string { return "fleetd:\n" + srv.Stderr.String() }}
	poll, do, eval, str, insertText := pg.Poll, pg.Do, pg.Eval, pg.String, uitest.InsertText
	clockMs := func() int64 {
		var ms string
		eval(`document.querySelector('#clock').dataset.ms`, &ms)
		var n int64
		fmt.Sscan(ms, &n)
		return n
	}
	marker := func(plate string) sim.LatLon {
		var ll struct{ Lat, Lon string }
		eval(fmt.Sprintf(`(() => { const el = [...document.querySelectorAll('.rp-vehicle-icon')].find(e => e.textContent.includes(%q)); return {Lat: el.dataset.lat, Lon: el.dataset.lon} })()`, plate), &ll)
		var p sim.LatLon
		fmt.Sscan(ll.Lat, &p.Lat)
		fmt.Sscan(ll.Lon, &p.Lon)
		return p
	}
	near := func(what string, got sim.LatLon, want sim.Point, within float64) {
		t.Helper()
		if d := sim.DistanceM(got, sim.LatLon{Lat: want.Lat, Lon: want.Lon}); d > within {
			t.Errorf("%s: at %.6f,%.6f, %.0f m from where the simulator was (%.6f,%.6f at %s)", what, got.Lat, got.Lon, d, want.Lat, want.Lon, want.Time)
		}
	}

	// The inspector logs in, picks the car on the live map and follows its
	// replay link.
	uitest.Login(ctx, t, base, "jw_inspector", otp, "Inspector-Jiwei-2026!")
	poll("the car listed", `document.querySelector('#vehicles li[data-plate="鄂B12345"]') !== null`)
	do(chromedp.Click(chromedp.CSS(`#vehicles li[data-plate="鄂B12345"]`)))
	poll("the replay link", `document.querySelector('#d-replay').href.includes('/ui/replay.html?vehicle=')`)
	do(chromedp.Navigate(str(`document.querySelector('#d-replay').href`)), chromedp.WaitVisible(chromedp.CSS("#v-search")))
	poll("the car chosen on the replay page", `[...document.querySelectorAll('#v-chosen li')].map(li => li.textContent).join() === '鄂B12345×'`)

	// Last weekend, and no replay without a reason.
	do(chromedp.Click(chromedp.CSS("#p-weekend")))
	poll("last weekend", fmt.Sprintf(`document.querySelector('#p-from').value === %q && document.querySelector('#p-to').value === %q`,
		sat.Format("2006-01-02T15:04"), mon.Format("2006-01-02T15:04")))
	do(chromedp.Click(chromedp.CSS("#go")))
	poll("a reason asked", `document.querySelector('#toast').textContent === '请填写查看事由'`)
	reason := "举报核查：周六晚是否在宾馆"
	do(chromedp.Click(chromedp.CSS("#reason")), insertText(reason), chromedp.Click(chromedp.CSS("#go")))
	poll("the replay shown", fmt.Sprintf(`document.querySelector('#summary [data-field=counts]')?.textContent.startsWith('%d / %d /')`, len(trips), len(stops)))

	// Trips, stops and the gap are those the simulator drove.
	var rows []map[string]string
	eval(`[...document.querySelectorAll('#trips tr[data-start]')].map(tr => ({...tr.dataset}))`, &rows)
	if len(rows) != len(trips) {
		t.Fatalf("%d trips shown, the simulator drove %d", len(rows), len(trips))
	}
	at := func(s string) time.Time {
		v, err := time.Parse(time.RFC3339, s)
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	for i, tr := range trips {
		if !at(rows[i]["start"]).Equal(pts[tr.from].Time) || !at(rows[i]["end"]).Equal(pts[tr.to].Time) {
			t.Errorf("trip %d shown %s – %s, driven %s – %s", i+1, rows[i]["start"], rows[i]["end"], pts[tr.from].Time, pts[tr.to].Time)
		}
	}
	rows = nil
	eval(`[...document.querySelectorAll('#stops tr[data-from]')].map(tr => ({...tr.dataset}))`, &rows)
	if len(rows) != len(stops) {
		t.Fatalf("%d stops shown, the simulator stood %d times", len(rows), len(stops))
	}
	for i, st := range stops {
		if !at(rows[i]["from"]).Equal(pts[st.from].Time) || !at(rows[i]["to"]).Equal(pts[st.to].Time) {
			t.Errorf("stop %d shown %s – %s, stood %s – %s", i+1, rows[i]["from"], rows[i]["to"], pts[st.from].Time, pts[st.to].Time)
		}
		var ll sim.LatLon
		fmt.Sscan(rows[i]["lat"], &ll.Lat)
		fmt.Sscan(rows[i]["lon"], &ll.Lon)
		// A stop is where the car stood, give or take the analysis's
		// average, which counts the next trip's first report (up to a
		// minute's drive away) with the standing ones.
		near(fmt.Sprintf("stop %d", i+1), ll, pts[st.from+1], 40)
	}
	rows = nil
	eval(`[...document.querySelectorAll('#gaps tr[data-from]')].map(tr => ({...tr.dataset}))`, &rows)
	if len(rows) != 1 || !at(rows[0]["from"]).Equal(pts[gaps[0].from].Time) || !at(rows[0]["to"]).Equal(pts[gaps[0].to].Time) {
		t.Errorf("gaps shown %v, want %s – %s", rows, pts[gaps[0].from].Time, pts[gaps[0].to].Time)
	}
	if got := str(`document.querySelector('#summary [data-field=backfill]').textContent`); got != fmt.Sprint(bf.to-bf.from+1) {
		t.Errorf("back-filled points shown: %s, want %d", got, bf.to-bf.from+1)
	}
	// On the map: the gap's two ends marked and not joined, back-fills
	// dashed, a marker per stop and per alert, the speed chart.
	var n struct{ GapEnds, Backfill, Stops, Alerts, AlertRows, Chart int }
	eval(`({GapEnds: document.querySelectorAll('path.rp-gap-end').length, Backfill: document.querySelectorAll('path.rp-backfill').length,
		Stops: document.querySelectorAll('.rp-stop').length, Alerts: document.querySelectorAll('.rp-alert').length,
		AlertRows: document.querySelectorAll('#alerts tr[data-rule]').length, Chart: document.querySelectorAll('#chart canvas').length})`, &n)
	if n.GapEnds != 2 || n.Backfill == 0 || n.Stops != len(stops) || n.Alerts != n.AlertRows || n.Chart == 0 {
		t.Errorf("on the map: %+v (want 2 gap ends, back-fills, %d stops, a marker per alert row, the chart)", n, len(stops))
	}
	// The alerts are those the rules engine keeps for the weekend: driving
	// an official car on days off is 节假日用车.
	var alerts struct {
		Total int `json:"total"`
	}
	apiGet(t, base, token, fmt.Sprintf("/api/v1/alerts?vehicle=%s&from=%s&to=%s", str(`new URLSearchParams(location.search).get('vehicle')`),
		url.QueryEscape(sat.Format(time.RFC3339)), url.QueryEscape(mon.Format(time.RFC3339))), &alerts)
	if alerts.Total != n.AlertRows {
		t.Errorf("%d alerts in the table, the API lists %d", n.AlertRows, alerts.Total)
	}
	uitest.Screenshot(ctx, t, shots, "1-weekend")

	// Play: the clock runs and the car moves; + is faster; space pauses.
	t0 := clockMs()
	do(chromedp.KeyEvent(" "))
	poll("playing", `document.querySelector('#play').textContent === '暂停'`)
	do(chromedp.KeyEvent("+"))
	poll("×16", `document.querySelector('#speed').value === '16'`)
	poll("the clock runs", fmt.Sprintf(`Number(document.querySelector('#clock').dataset.ms) > %d`, t0+10*60000))
	do(chromedp.KeyEvent(" "))
	poll("paused", `document.querySelector('#play').textContent === '播放'`)
	uitest.Screenshot(ctx, t, shots, "2-playing")

	// A trip row jumps the playback to its start, where the car was then;
	// → steps 16 minutes on.
	do(chromedp.Click(chromedp.CSS(`#trips tr[data-index="2"]`)))
	if got := clockMs(); got != pts[trips[2].from].Time.UnixMilli() {
		t.Errorf("trip 3 jumped to %d, want %d", got, pts[trips[2].from].Time.UnixMilli())
	}
	near("the car at trip 3's start", marker("鄂B12345"), pts[trips[2].from], 5)
	do(chromedp.KeyEvent(kb.ArrowRight))
	if got, want := clockMs(), pts[trips[2].from].Time.UnixMilli()+16*60000; got != want {
		t.Errorf("→ stepped to %d, want %d", got, want)
	}
	// The scrubber to the middle of the fourth stop: the car stands there.
	st := stops[3]
	mid := pts[st.from].Time.Add(pts[st.to].Time.Sub(pts[st.from].Time) / 2)
	str(fmt.Sprintf(`(() => { const s = document.querySelector('#scrub'); s.value = %d; s.dispatchEvent(new Event('input')); return s.value })()`, mid.UnixMilli()))
	near("the car during stop 4", marker("鄂B12345"), pts[st.from+1], 15)
	poll("stop 4 highlighted", `document.querySelector('#stops tr[data-index="3"]').classList.contains('current')`)
	// In the gap the car is greyed where it was last seen.
	g := gaps[0]
	str(fmt.Sprintf(`(() => { const s = document.querySelector('#scrub'); s.value = %d; s.dispatchEvent(new Event('input')); return s.value })()`,
		pts[g.from].Time.Add(10*time.Minute).UnixMilli()))
	poll("greyed in the gap", `document.querySelector('.rp-vehicle').classList.contains('in-gap')`)
	near("the car in the gap", marker("鄂B12345"), pts[g.from], 1)
	uitest.Screenshot(ctx, t, shots, "3-scrubbed")

	// Every export, downloaded as the inspector's browser does.
	dl := t.TempDir()
	do(uitest.DownloadTo(dl))
	formats := []string{"csv", "geojson", "gpx", "kml", "html"}
	for _, f := range formats {
		do(chromedp.Click(chromedp.CSS(fmt.Sprintf(`a.export[data-format=%q]`, f))))
	}
	files := uitest.WaitDownloads(t, dl, formats)
	for _, f := range files {
		if code, out, errs := fleetd(t, "verify", "--db", db, f); code != 0 {
			t.Errorf("fleetd verify %s: %d\n%s%s", filepath.Base(f), code, out, errs)
		}
	}
	report, _ := os.ReadFile(files[4])
	for _, want := range []string{"鄂B12345", reason, "jw_inspector"} {
		if !strings.Contains(string(report), want) {
			t.Errorf("the evidence report does not name %q", want)
		}
	}

	// Compare with 鄂B54321, found by typing its plate as Chinese input does.
	do(chromedp.Click(chromedp.CSS("#v-search")), insertText("鄂b5432"))
	poll("鄂B54321 found", `document.querySelector('#v-results li[data-plate="鄂B54321"]') !== null`)
	do(chromedp.Click(chromedp.CSS(`#v-results li[data-plate="鄂B54321"]`)), chromedp.Click(chromedp.CSS("#go")))
	poll("both on one axis", `document.querySelectorAll('.rp-vehicle').length === 2 && document.querySelectorAll('#active option').length === 2`)
	str(fmt.Sprintf(`(() => { const s = document.querySelector('#scrub'); s.value = %d; s.dispatchEvent(new Event('input')); return s.value })()`,
		other[len(other)/2].Time.UnixMilli()))
	near("鄂B54321 on the shared axis", marker("鄂B54321"), other[len(other)/2], 5)
	uitest.Screenshot(ctx, t, shots, "4-compare")

	// Who else was at the car's Saturday-night stop? The stop's link opens
	// the area search with a circle around it over the stop's time: the
	// car, arriving and leaving as it did, and no other.
	night := -1
	for i, st := range stops {
		if pts[st.from].Time.After(sat.Add(18*time.Hour)) && st.to < len(pts) && pts[st.to].SpeedKmh > 0 {
			night = i
			break
		}
	}
	if night < 0 {
		t.Fatal("the car never stopped on Saturday night: choose another seed")
	}
	st = stops[night]
	do(chromedp.Navigate(str(fmt.Sprintf(`document.querySelector('#stops tr[data-index="%d"] a.who-else').href`, night))),
		chromedp.WaitVisible(chromedp.CSS("#reason")))
	poll("the circle drawn", `document.querySelector('#area-desc').textContent.includes('半径 150 米')`)
	do(chromedp.Click(chromedp.CSS("#reason")), insertText("举报称该车周六晚停在宾馆：同一时段还有谁"), chromedp.Click(chromedp.CSS("#go")))
	poll("vehicles found", `document.querySelector('#found').textContent !== ''`)
	rows = nil
	eval(`[...document.querySelectorAll('#results tr[data-plate]')].map(tr => ({...tr.dataset}))`, &rows)
	if len(rows) != 1 || rows[0]["plate"] != "鄂B12345" || !at(rows[0]["arrival"]).Equal(pts[st.from].Time) || !at(rows[0]["departure"]).Equal(pts[st.to-1].Time) {
		t.Errorf("area search around stop %d found %v, want 鄂B12345 from %s to %s", night+1, rows, pts[st.from].Time, pts[st.to-1].Time)
	}
	uitest.Screenshot(ctx, t, shots, "5-area-search")
	do(chromedp.Navigate(str(`document.querySelector('#results tr[data-plate] a.replay-link').href`)), chromedp.WaitVisible(chromedp.CSS("#v-search")))
	poll("the visit's replay", fmt.Sprintf(`[...document.querySelectorAll('#v-chosen li')].map(li => li.textContent).join() === '鄂B12345×' && document.querySelector('#p-from').value === %q`,
		strings.TrimSuffix(pts[st.from].Time.Add(-time.Hour).In(cstZone).Format("2006-01-02T15:04:05"), ":00")))

	// The verify page: the report is intact; a CSV edited by hand is not.
	do(chromedp.Navigate(base+"/ui/verify.html"), chromedp.WaitVisible(chromedp.CSS("#file")),
		chromedp.SetUploadFiles(chromedp.CSS("#file"), []string{files[4]}),
		chromedp.Click(chromedp.CSS("#reason")), insertText("核验导出的证据报告"), chromedp.Click(chromedp.CSS("#go")))
	poll("the report intact", `document.querySelector('#verdict').dataset.intact === 'true'`)
	uitest.Screenshot(ctx, t, shots, "6-verify-intact")
	csvFile, _ := os.ReadFile(files[0])
	lines := strings.Split(string(csvFile), "\n")
	cols := strings.Split(lines[5], ",")
	cols[2] = cols[2] + "1" // a latitude nudged
	lines[5] = strings.Join(cols, ",")
	edited := filepath.Join(t.TempDir(), "edited.csv")
	if err := os.WriteFile(edited, []byte(strings.Join(lines, "\n")), 0o644); err != nil {
		t.Fatal(err)
	}
	do(chromedp.SetUploadFiles(chromedp.CSS("#file"), []string{edited}), chromedp.Click(chromedp.CSS("#go")))
	poll("the edited file caught", `document.querySelector('#verdict').dataset.intact === 'false' && document.querySelector('#differences tr[data-what=file_altered]') !== null`)
	uitest.Screenshot(ctx, t, shots, "7-verify-edited")
}

// waitRulesEngine waits (a minute at most) until fleetd's rules engine has
// evaluated n positions (fleetmon_alerts_positions_total on /metrics, open
// to loopback), so that the alerts of what was sent are stored.
func waitRulesEngine(t *testing.T, base string, n int) {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for {
		resp, err := http.Get(base + "/metrics")
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		var done float64
		for _, line := range strings.Split(string(body), "\n") {
			if strings.HasPrefix(line, "fleetmon_alerts_positions_total") {
				var v float64
				fmt.Sscan(line[strings.LastIndexByte(line, ' ')+1:], &v)
				done += v
			}
		}
		if done >= float64(n) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("the rules engine evaluated %.0f positions of %d", done, n)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// apiGet reads a JSON answer with a bearer token.
func apiGet(t *testing.T, base, token, path string, v any) {
	t.Helper()
	req, _ := http.NewRequest("GET", base+path, nil)
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("GET %s: %d", path, resp.StatusCode)
	}
	if err := json.NewDecoder(resp.Body).Decode(v); err != nil {
		t.Fatal(err)
	}
}
