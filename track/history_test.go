package track_test

import (
	"math"
	"math/rand/v2"
	"testing"
	"time"

	"fleetmon/track"
)

// weekend builds a labelled track: parked at the depot (with GPS jitter)
// from Friday 18:00, a drive to a hotel about 8 km away on Saturday 20:00,
// parked there overnight with the terminal silent from 23:00 to 01:00, a
// drive back on Sunday 09:00, parked until Sunday 20:00.
func weekend() []track.TrackPoint {
	rng := rand.New(rand.NewPCG(7, 7))
	var pts []track.TrackPoint
	depot := [2]float64{30.2000, 115.0400}
	hotel := [2]float64{30.2700, 115.0700}
	odo := 1000.0
	park := func(at [2]float64, from, to time.Time, skip func(time.Time) bool) {
		for t := from; t.Before(to); t = t.Add(time.Minute) {
			if skip != nil && skip(t) {
				continue
			}
			// ±10 m of jitter, ACC off, speed 0 or a phantom 1-2 km/h.
			pts = append(pts, track.TrackPoint{Time: t, Lat: at[0] + (rng.Float64()-0.5)*2e-4,
				Lon: at[1] + (rng.Float64()-0.5)*2e-4, SpeedKmh: float32(rng.IntN(3)), Status: 2,
				MileageKm: odo, HasMileage: true})
		}
	}
	drive := func(a, b [2]float64, from time.Time, minutes int) time.Time {
		steps := minutes * 6 // every 10 s
		d := track.DistanceM(a[0], a[1], b[0], b[1])
		for i := 0; i <= steps; i++ {
			f := float64(i) / float64(steps)
			if i > 0 {
				odo += d / float64(steps) / 1000
			}
			pts = append(pts, track.TrackPoint{Time: from.Add(time.Duration(i) * 10 * time.Second),
				Lat: a[0] + (b[0]-a[0])*f, Lon: a[1] + (b[1]-a[1])*f, SpeedKmh: 40, Status: 3,
				MileageKm: odo, HasMileage: true})
		}
		return from.Add(time.Duration(steps)*10*time.Second + time.Minute)
	}
	fri := time.Date(2026, 11, 20, 18, 0, 0, 0, beijing)
	sat20 := time.Date(2026, 11, 21, 20, 0, 0, 0, beijing)
	park(depot, fri, sat20, nil)
	arrive := drive(depot, hotel, sat20, 12)
	sun9 := time.Date(2026, 11, 22, 9, 0, 0, 0, beijing)
	silentFrom, silentTo := time.Date(2026, 11, 21, 23, 0, 0, 0, beijing), time.Date(2026, 11, 22, 1, 0, 0, 0, beijing)
	park(hotel, arrive, sun9, func(t time.Time) bool { return !t.Before(silentFrom) && t.Before(silentTo) })
	back := drive(hotel, depot, sun9, 12)
	park(depot, back, time.Date(2026, 11, 22, 20, 0, 0, 0, beijing), nil)
	return pts
}

func TestAnalyzeWeekend(t *testing.T) {
	pts := weekend()
	a := track.Analyze(pts, track.AnalysisParams{})
	if len(a.Trips) != 2 {
		t.Fatalf("trips = %d, want 2: %+v", len(a.Trips), a.Trips)
	}
	want := track.DistanceM(30.2, 115.04, 30.27, 115.07)
	for i, tr := range a.Trips {
		if math.Abs(tr.DistanceM-want) > 50 {
			t.Errorf("trip %d distance %.0f m, want %.0f", i, tr.DistanceM, want)
		}
		if d := tr.Duration(); d < 11*time.Minute || d > 13*time.Minute {
			t.Errorf("trip %d duration %v, want ~12 min", i, d)
		}
		if tr.MaxSpeedKmh != 40 || math.Abs(tr.AvgSpeedKmh-want/1000/tr.Duration().Hours()) > 0.1 {
			t.Errorf("trip %d speeds max %v avg %.1f", i, tr.MaxSpeedKmh, tr.AvgSpeedKmh)
		}
		if math.Abs(tr.OdometerKm*1000-want) > 50 {
			t.Errorf("trip %d odometer %.3f km, want %.3f", i, tr.OdometerKm, want/1000)
		}
	}
	if got := a.Trips[0].Start.In(beijing).Format("01-02 15:04"); got != "11-21 19:59" && got != "11-21 20:00" {
		t.Errorf("first trip starts %s", got)
	}
	// Stops: the depot until Saturday evening, the hotel in two parts (the
	// gap is shown, not bridged), the depot again.
	if len(a.Stops) != 4 {
		t.Fatalf("stops = %d, want 4: %+v", len(a.Stops), a.Stops)
	}
	hotel := a.Stops[1]
	if track.DistanceM(hotel.Lat, hotel.Lon, 30.27, 115.07) > 30 || hotel.To.In(beijing).Hour() != 22 {
		t.Errorf("hotel stop before the gap: %+v", hotel)
	}
	if len(a.Gaps) != 1 || a.Gaps[0].To.Sub(a.Gaps[0].From) < 2*time.Hour {
		t.Fatalf("gaps = %+v, want the 2 h silence", a.Gaps)
	}
	if math.Abs(a.OdometerKm*1000-2*want) > 100 {
		t.Errorf("odometer %.3f km, want %.3f", a.OdometerKm, 2*want/1000)
	}
}

func TestAnalyzeJitterIsNotATrip(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 1))
	var pts []track.TrackPoint
	t0 := time.Date(2026, 11, 21, 0, 0, 0, 0, beijing)
	for i := range 2000 {
		// ACC on all night (a terminal wired wrong), 30 m of jitter, phantom speeds.
		pts = append(pts, track.TrackPoint{Time: t0.Add(time.Duration(i) * 30 * time.Second),
			Lat: 30.2 + (rng.Float64()-0.5)*5e-4, Lon: 115 + (rng.Float64()-0.5)*5e-4, SpeedKmh: float32(rng.IntN(4)), Status: 3})
	}
	if a := track.Analyze(pts, track.AnalysisParams{}); len(a.Trips) != 0 || len(a.Stops) != 1 {
		t.Fatalf("jitter: %d trips, %d stops; want 0 and 1", len(a.Trips), len(a.Stops))
	}
}

func TestSimplifyKeepsShapeAndGaps(t *testing.T) {
	pts := weekend()
	a := track.Analyze(pts, track.AnalysisParams{})
	idx := track.Simplify(pts, 200, 5, a.Gaps)
	if len(idx) > 200 || idx[0] != 0 || idx[len(idx)-1] != len(pts)-1 {
		t.Fatalf("simplified to %d points, first %d last %d", len(idx), idx[0], idx[len(idx)-1])
	}
	has := map[int]bool{}
	for i, k := range idx {
		has[k] = true
		if i > 0 && k <= idx[i-1] {
			t.Fatal("indexes not increasing")
		}
	}
	if g := a.Gaps[0].FromIndex; !has[g] || !has[g+1] {
		t.Error("the reports either side of the gap were dropped")
	}
	// The far end of the drive (the hotel) is kept: shape, not thinning.
	far := 0.0
	for _, k := range idx {
		far = math.Max(far, pts[k].Lat)
	}
	if far < 30.2695 {
		t.Errorf("furthest point kept at lat %v: the trip's end was lost", far)
	}
}

// BenchmarkAnalyzeMonth: 30 days of one vehicle at 10 s (259,200 reports):
// trips, stops and gaps, then a display track of at most 2,000 points.
func BenchmarkAnalyzeMonth(b *testing.B) {
	rng := rand.New(rand.NewPCG(3, 3))
	pts := make([]track.TrackPoint, 30*24*360)
	t0 := time.Date(2026, 10, 1, 0, 0, 0, 0, beijing)
	lat, lon := 30.2, 115.0
	for i := range pts {
		hour := (i / 360) % 24
		moving := hour >= 8 && hour < 18 && (i/60)%3 != 0
		if moving {
			lat += (rng.Float64() - 0.3) * 2e-3
			lon += (rng.Float64() - 0.5) * 2e-3
		}
		sp := float32(0)
		if moving {
			sp = 40
		}
		pts[i] = track.TrackPoint{Time: t0.Add(time.Duration(i) * 10 * time.Second), Lat: lat, Lon: lon, SpeedKmh: sp, Status: 3}
	}
	b.ResetTimer()
	for range b.N {
		a := track.Analyze(pts, track.AnalysisParams{})
		_ = track.Simplify(pts, 2000, 2, a.Gaps)
	}
}

// TestNearDistance: the fast distance Analyze uses between consecutive
// reports agrees with the great circle to a millimetre per kilometre up to
// its 0.05° limit, and is the great circle beyond.
func TestNearDistance(t *testing.T) {
	for _, c := range [][4]float64{
		{30.2, 115.0, 30.2, 115.0001}, {30.2, 115.0, 30.2009, 115.0}, {30.2, 115.0, 30.24, 115.049},
		{-33.9, 151.2, -33.92, 151.23}, {30.2, 115.0, 30.6, 114.3}, {59.9, 10.7, 59.94, 10.74},
	} {
		want := track.DistanceM(c[0], c[1], c[2], c[3])
		got := track.NearM(c[0], c[1], c[2], c[3])
		if math.Abs(got-want) > 1e-6*want+1e-6 {
			t.Errorf("%v: %.6f m, great circle %.6f m", c, got, want)
		}
	}
}

// TestAnalyzeStopPlace: a stop is where the vehicle stood, not pulled
// towards the first report of the next trip (a terminal reporting once a
// minute is already far away by then).
func TestAnalyzeStopPlace(t *testing.T) {
	t0 := time.Date(2026, 11, 21, 10, 0, 0, 0, beijing)
	var pts []track.TrackPoint
	at := func(min int, lat, lon float64, kmh float32) {
		pts = append(pts, track.TrackPoint{Time: t0.Add(time.Duration(min) * time.Minute), Lat: lat, Lon: lon, SpeedKmh: kmh, Status: 3})
	}
	for m := 0; m <= 10; m++ { // a drive east, 1 km a minute
		at(m, 30.2, 115.0+float64(m)*0.0104, 60)
	}
	stand := [2]float64{30.2, 115.0 + 10*0.0104}
	for m := 11; m <= 18; m++ { // stands 8 minutes
		at(m, stand[0], stand[1], 0)
	}
	for m := 19; m <= 30; m++ { // drives on: the next report is 1 km away
		at(m, 30.2, stand[1]+float64(m-18)*0.0104, 60)
	}
	a := track.Analyze(pts, track.AnalysisParams{})
	if len(a.Trips) != 2 || len(a.Stops) != 1 {
		t.Fatalf("%d trips, %d stops; want 2 and 1: %+v", len(a.Trips), len(a.Stops), a.Stops)
	}
	if d := track.DistanceM(a.Stops[0].Lat, a.Stops[0].Lon, stand[0], stand[1]); d > 5 {
		t.Errorf("stop placed %.0f m from where the vehicle stood", d)
	}
}
