package sim

import (
	"math"
	"reflect"
	"testing"
	"time"
)

// drive runs a driver for the given simulated span, with the interval chosen by step, and
// returns its points.
func drive(d *Driver, start time.Time, span time.Duration, step func(i int) time.Duration) []Point {
	var pts []Point
	for i, t := 0, start; t.Sub(start) < span; i++ {
		p, ok := d.Next(t)
		if !ok {
			panic("driver ended")
		}
		pts = append(pts, p)
		t = t.Add(step(i))
	}
	return pts
}

func TestDriverPlausible(t *testing.T) {
	start := time.Date(2025, 3, 4, 7, 30, 0, 0, time.FixedZone("CST", 8*3600))
	steps := map[string]func(int) time.Duration{
		"5s":        func(int) time.Duration { return 5 * time.Second },
		"1s":        func(int) time.Duration { return time.Second },
		"irregular": func(i int) time.Duration { return time.Duration(1+(i*7)%30) * time.Second },
	}
	for name, step := range steps {
		for seed := uint64(1); seed <= 6; seed++ {
			cfg := DriverConfig{Seed: seed, Depot: int(seed), ParkMin: time.Minute, ParkMax: 10 * time.Minute}
			d := NewDriver(cfg)
			pts := drive(d, start, 8*time.Hour, step)
			cfg.setDefaults()
			checkTrack(t, name, cfg, pts)
		}
	}
}

func checkTrack(t *testing.T, name string, cfg DriverConfig, pts []Point) {
	t.Helper()
	const (
		// The city grid spans about ±3.5 km around the centre; allow for the wobble.
		latLo, latHi = centreLat - 0.04, centreLat + 0.04
		lonLo, lonHi = centreLon - 0.045, centreLon + 0.045
	)
	var driving, parkedAfterDriving int
	moved := false
	for i, p := range pts {
		if p.Lat < latLo || p.Lat > latHi || p.Lon < lonLo || p.Lon > lonHi {
			t.Fatalf("%s seed %d point %d: %.6f,%.6f outside 黄石市", name, cfg.Seed, i, p.Lat, p.Lon)
		}
		if p.Heading < 0 || p.Heading > 359 || p.Heading != math.Trunc(p.Heading) {
			t.Fatalf("%s seed %d point %d: heading %v not an integer in 0–359", name, cfg.Seed, i, p.Heading)
		}
		if !p.Positioned || p.Satellites == 0 || p.Signal == 0 {
			t.Fatalf("%s seed %d point %d: fix not plausible: %+v", name, cfg.Seed, i, p)
		}
		switch {
		case p.SpeedKmh == 0:
			if p.ACC {
				t.Fatalf("%s seed %d point %d: ACC on at speed 0 (vehicles park with the engine off)", name, cfg.Seed, i)
			}
			if moved {
				parkedAfterDriving++
			}
		case p.SpeedKmh < cfg.MinSpeedKmh || p.SpeedKmh > cfg.MaxSpeedKmh:
			t.Fatalf("%s seed %d point %d: speed %.1f km/h outside %v–%v", name, cfg.Seed, i, p.SpeedKmh, cfg.MinSpeedKmh, cfg.MaxSpeedKmh)
		default:
			if !p.ACC {
				t.Fatalf("%s seed %d point %d: moving with ACC off", name, cfg.Seed, i)
			}
			driving++
			moved = true
		}
		if i == 0 {
			continue
		}
		q := pts[i-1]
		dt := p.Time.Sub(q.Time).Seconds()
		gap := DistanceM(LatLon{q.Lat, q.Lon}, LatLon{p.Lat, p.Lon})
		// Parked fixes jitter up to JitterM around the spot, on both ends.
		limit := p.SpeedKmh/3.6*dt*1.001 + 2*cfg.JitterM + 0.01
		if gap > limit {
			t.Fatalf("%s seed %d points %d–%d: %.1f m apart in %.0f s at %.1f km/h (limit %.1f m)",
				name, cfg.Seed, i-1, i, gap, dt, p.SpeedKmh, limit)
		}
		if p.MileageKm < q.MileageKm || p.MileageKm-q.MileageKm > p.SpeedKmh/3.6*dt/1000+1e-9 {
			t.Fatalf("%s seed %d point %d: odometer %.3f -> %.3f km at %.1f km/h", name, cfg.Seed, i, q.MileageKm, p.MileageKm, p.SpeedKmh)
		}
	}
	// Eight hours with parks of at most 10 minutes and stops of at most 15: several trips.
	if driving < len(pts)/10 {
		t.Errorf("%s seed %d: only %d of %d points driving", name, cfg.Seed, driving, len(pts))
	}
	if parkedAfterDriving == 0 {
		t.Errorf("%s seed %d: never stopped after driving", name, cfg.Seed)
	}
}

func TestDriverReturnsToDepot(t *testing.T) {
	cfg := DriverConfig{Seed: 42, Depot: 1, ParkMin: time.Minute, ParkMax: 2 * time.Minute}
	d := NewDriver(cfg)
	depot := HuangshiNetwork().Nodes[HuangshiNetwork().Depots[1]]
	start := time.Unix(1_700_000_000, 0)
	pts := drive(d, start, 12*time.Hour, func(int) time.Duration { return 5 * time.Second })
	left, back := false, 0
	for _, p := range pts {
		dist := DistanceM(depot, LatLon{p.Lat, p.Lon})
		if dist > 500 {
			left = true
		}
		if left && dist < 20 && p.SpeedKmh == 0 {
			back++
			left = false
		}
	}
	if back < 3 {
		t.Fatalf("returned to the depot %d times in 12 h, want several", back)
	}
}

func TestDriverDeterministic(t *testing.T) {
	start := time.Unix(1_700_000_000, 0)
	step := func(int) time.Duration { return 3 * time.Second }
	a := drive(NewDriver(DriverConfig{Seed: 7}), start, 2*time.Hour, step)
	b := drive(NewDriver(DriverConfig{Seed: 7}), start, 2*time.Hour, step)
	if !reflect.DeepEqual(a, b) {
		t.Fatal("same seed gave different tracks")
	}
	c := drive(NewDriver(DriverConfig{Seed: 8}), start, 2*time.Hour, step)
	if reflect.DeepEqual(a, c) {
		t.Fatal("different seeds gave the same track")
	}
}

func TestNetworkConnected(t *testing.T) {
	n := HuangshiNetwork()
	if len(n.Nodes) < 24 {
		t.Fatalf("%d nodes, want a few dozen", len(n.Nodes))
	}
	for i := range n.Nodes {
		p := n.shortestPath(n.Depots[0], i)
		if len(p) == 0 || p[0] != n.Depots[0] || p[len(p)-1] != i {
			t.Fatalf("no path from depot to node %d: %v", i, p)
		}
		for j := 1; j < len(p); j++ {
			if d := DistanceM(n.Nodes[p[j-1]], n.Nodes[p[j]]); d > 2000 {
				t.Fatalf("road %d–%d is %.0f m long", p[j-1], p[j], d)
			}
		}
	}
}

func TestBearing(t *testing.T) {
	o := LatLon{0, 0}
	for _, tc := range []struct {
		to   LatLon
		want float64
	}{
		{LatLon{1, 0}, 0}, {LatLon{0, 1}, 90}, {LatLon{-1, 0}, 180}, {LatLon{0, -1}, 270},
	} {
		if got := BearingDeg(o, tc.to); math.Abs(got-tc.want) > 1e-9 {
			t.Errorf("bearing to %v = %v, want %v", tc.to, got, tc.want)
		}
	}
	// One degree of latitude is about 111.2 km.
	if d := DistanceM(LatLon{30, 115}, LatLon{31, 115}); math.Abs(d-111195) > 10 {
		t.Errorf("1° of latitude = %.0f m", d)
	}
}

func TestScriptSouthWest(t *testing.T) {
	// Around Buenos Aires: south and west.
	t0 := time.Date(2024, 6, 1, 9, 0, 0, 0, time.UTC)
	s := NewScript([]ScriptPoint{
		{Time: t0, Lat: -34.6037, Lon: -58.3816, SpeedKmh: 0},
		{Time: t0.Add(10 * time.Second), Lat: -34.6030, Lon: -58.3816, SpeedKmh: 30},
		{Time: t0.Add(20 * time.Second), Lat: -34.6030, Lon: -58.3806, SpeedKmh: 35},
		{Time: t0.Add(30 * time.Second), Lat: -34.6030, Lon: -58.3806, SpeedKmh: 0},
	})
	if s.Len() != 4 {
		t.Fatalf("Len = %d", s.Len())
	}
	var pts []Point
	for {
		p, ok := s.Next(time.Now())
		if !ok {
			break
		}
		pts = append(pts, p)
	}
	if len(pts) != 4 {
		t.Fatalf("%d points", len(pts))
	}
	if pts[0].Heading != 0 || math.Abs(pts[1].Heading-90) > 0.1 || pts[3].Heading != pts[2].Heading {
		t.Errorf("headings %v %v %v %v", pts[0].Heading, pts[1].Heading, pts[2].Heading, pts[3].Heading)
	}
	if pts[0].ACC || !pts[1].ACC || pts[3].ACC {
		t.Errorf("ACC follows speed")
	}
	if !pts[0].Time.Equal(t0) || pts[3].MileageKm < 0.15 {
		t.Errorf("time %v mileage %v", pts[0].Time, pts[3].MileageKm)
	}
}
