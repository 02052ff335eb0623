package api

import (
	"context"
	"fmt"
	"log/slog"
	"math"
	"math/rand/v2"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"fleetmon/api/uitest"
	"fleetmon/track"
	"fleetmon/track/pgtest"
)

// BenchmarkLiveMapFrames measures how smooth the live map stays with
// 10,000 vehicles moving: the real page in headless Chromium, logged in to
// a real API server whose live hub gets every vehicle's position once a
// second (10,000 positions/s, published in tenths), as fleetd's writer
// publishes committed positions. It reports the animation frame intervals
// (requestAnimationFrame deltas) over 10 s, zoomed out (clustered) and
// zoomed in (every vehicle drawn alone), and the same with no positions
// arriving as the baseline. Run it with
//
//	go test -run '^$' -bench LiveMapFrames -benchtime 1x ./api
func BenchmarkLiveMapFrames(b *testing.B) {
	const vehicles = 10000
	const window = 10 * time.Second
	if uiBuilt == nil {
		b.Fatal("the UI is not built: run make ui")
	}
	ctx := uitest.Browser(b, 5*time.Minute)
	db := pgtest.New(b)
	store := track.NewStore(db.Pool)
	var csv strings.Builder
	csv.WriteString("plate,plate_color,terminal_phone,unit,category\n")
	for i := range vehicles {
		fmt.Fprintf(&csv, "鄂B%05d,1,1390%07d,湖北省/黄石市/单位%02d,general\n", i, i, i%20)
	}
	vs, err := track.ParseVehicleCSV(strings.NewReader(csv.String()))
	if err != nil {
		b.Fatal(err)
	}
	if _, _, err := store.ImportVehicles(context.Background(), vs); err != nil {
		b.Fatal(err)
	}
	all, _, err := store.VehiclesIn(context.Background(), track.All, track.VehicleFilter{Limit: vehicles})
	if err != nil || len(all) != vehicles {
		b.Fatalf("vehicles: %d %v", len(all), err)
	}
	hub := track.NewHub(nil)
	srv := New(Config{KDF: KDF{Time: 1, MemoryKiB: 64, Threads: 1}, Live: hub}, store, nil, nil, slog.New(slog.DiscardHandler))
	ts := httptest.NewServer(srv)
	defer ts.Close()
	_, otp, err := srv.acct.CreateUser(context.Background(), nil, "", "bench_admin", RoleAdmin, 0)
	if err != nil {
		b.Fatal(err)
	}

	// Vehicles start scattered over 黄石市 and drive straight on at
	// 40 km/h (about 11 m, 0.0001°, a second).
	rng := rand.New(rand.NewPCG(1, 2))
	type car struct{ lat, lon, dLat, dLon float64 }
	cars := make([]car, vehicles)
	for i := range cars {
		h := rng.Float64() * 2 * math.Pi
		cars[i] = car{29.8 + rng.Float64()*0.6, 114.8 + rng.Float64()*0.6, 1e-4 * math.Cos(h), 1e-4 * math.Sin(h)}
	}
	pubCtx, stopPub := context.WithCancel(context.Background())
	var pub sync.WaitGroup
	var moving sync.Mutex // held while positions must not flow
	publish := func(tenth int) {
		ps := make([]track.Position, 0, vehicles/10)
		now := time.Now()
		for i := tenth; i < vehicles; i += 10 {
			c := &cars[i]
			c.lat += c.dLat
			c.lon += c.dLon
			ps = append(ps, track.Position{VehicleID: all[i].ID, Time: now, Received: now, Lat: c.lat, Lon: c.lon,
				SpeedKmh: 40, Heading: int16(math.Mod(math.Atan2(c.dLon, c.dLat)*180/math.Pi+360, 360)), Status: 3})
		}
		hub.Publish(ps)
	}
	pub.Add(1)
	go func() {
		defer pub.Done()
		tick := time.NewTicker(100 * time.Millisecond)
		defer tick.Stop()
		for n := 0; ; n++ {
			select {
			case <-pubCtx.Done():
				return
			case <-tick.C:
			}
			moving.Lock()
			publish(n % 10)
			moving.Unlock()
		}
	}()
	defer func() { stopPub(); pub.Wait() }()

	shots := uitest.ArtifactDir(b)
	uitest.Login(ctx, b, ts.URL, "bench_admin", otp, "Bench-Frames-2026!")
	wait := func(cond string) {
		b.Helper()
		if _, err := chromedp.Run(ctx, chromedp.Poll[any](cond, chromedp.WithPollingTimeout(60*time.Second))); err != nil {
			b.Fatalf("%s: %v", cond, err)
		}
	}
	wait(`document.querySelector('#count').textContent.startsWith('10000 /')`)
	wait(`document.querySelectorAll('#vehicles li[data-state=moving]').length === 200`)
	frames := func(name string) {
		b.Helper()
		js := fmt.Sprintf(`new Promise(resolve => {
			const d = []; let last = performance.now(); const end = last + %d;
			function f(t) { d.push(t - last); last = t; if (t < end) requestAnimationFrame(f); else resolve(d); }
			requestAnimationFrame(f);
		})`, window.Milliseconds())
		d, err := chromedp.Run(ctx, chromedp.Evaluate[[]float64](js, chromedp.EvalAwaitPromise))
		if err != nil || len(d) < 10 {
			b.Fatalf("frames: %d %v", len(d), err)
		}
		d = d[1:] // the first delta is from before the first frame
		slices.Sort(d)
		q := func(p float64) float64 { return d[min(len(d)-1, int(p*float64(len(d))))] }
		b.ReportMetric(q(0.5), name+"-p50-ms")
		b.ReportMetric(q(0.95), name+"-p95-ms")
		b.ReportMetric(q(0.99), name+"-p99-ms")
		b.ReportMetric(float64(len(d))/window.Seconds(), name+"-fps")
		b.Logf("%s: %d frames in %v: p50 %.1f ms, p95 %.1f ms, p99 %.1f ms, max %.1f ms",
			name, len(d), window, q(0.5), q(0.95), q(0.99), d[len(d)-1])
		uitest.Screenshot(ctx, b, shots, name)
	}
	// zoomIn zooms in with the zoom control, as a user would (the map is
	// not reachable from outside the page's module), until the scale bar
	// shows 300 m or less: zoom 15 at this latitude.
	zoomIn := func() {
		b.Helper()
		for range 20 {
			scale, err := chromedp.Run(ctx, chromedp.Evaluate[string](`document.querySelector('.leaflet-control-scale-line').textContent`))
			if err != nil {
				b.Fatal(err)
			}
			var m int
			if _, err := fmt.Sscanf(scale, "%d m", &m); err == nil && strings.HasSuffix(scale, " m") && m <= 300 {
				return
			}
			if err := chromedp.Do(ctx, chromedp.Click(chromedp.CSS(".leaflet-control-zoom-in")), chromedp.Sleep(500*time.Millisecond)); err != nil {
				b.Fatal(err)
			}
		}
		b.Fatal("could not zoom in")
	}
	b.ResetTimer()
	for b.Loop() {
		frames("out-moving")
		moving.Lock()
		frames("out-idle")
		moving.Unlock()
		zoomIn()
		frames("in-moving")
		moving.Lock()
		frames("in-idle")
		moving.Unlock()
	}
}
