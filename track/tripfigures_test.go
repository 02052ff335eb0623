package track_test

import (
	"testing"
	"time"

	"fleetmon/cmd/fleetsim/sim"
	"fleetmon/track"
)

// TestTripAverageWithinMaximum: a weekend as the simulator drives it
// (reports every 10 s while moving, every minute while standing): no
// trip's average speed exceeds its highest reported speed. The distance
// of a trip runs from where the car stood (the last standing report) to
// its end; its average is that distance over the time between the same
// reports, not over the time from the first moving report, which leaves
// out up to a minute of driving that the distance includes.
func TestTripAverageWithinMaximum(t *testing.T) {
	from := time.Date(2026, 11, 21, 0, 0, 0, 0, time.FixedZone("CST", 8*3600))
	trips := 0
	for seed := uint64(1); seed <= 40; seed++ {
		d := sim.NewDriver(sim.DriverConfig{Seed: seed, ParkMin: time.Hour, ParkMax: 3 * time.Hour,
			StopMin: 20 * time.Minute, StopMax: time.Hour})
		var pts []track.TrackPoint
		for now := from; now.Before(from.Add(48 * time.Hour)); {
			p, _ := d.Next(now)
			pts = append(pts, track.TrackPoint{Time: p.Time, Lat: p.Lat, Lon: p.Lon, SpeedKmh: float32(p.SpeedKmh), Status: 1})
			if p.SpeedKmh > 0 {
				now = now.Add(10 * time.Second)
			} else {
				now = now.Add(time.Minute)
			}
		}
		for _, tr := range track.Analyze(pts, track.AnalysisParams{}).Trips {
			trips++
			if tr.AvgSpeedKmh > float64(tr.MaxSpeedKmh) {
				t.Errorf("seed %d, trip %s – %s: %.0f m in %s, average %.1f km/h above the maximum %.1f km/h",
					seed, tr.Start.Format("01-02 15:04:05"), tr.End.Format("15:04:05"), tr.DistanceM, tr.Duration(), tr.AvgSpeedKmh, tr.MaxSpeedKmh)
			}
		}
	}
	if trips < 40 {
		t.Fatalf("only %d trips driven", trips)
	}
}
