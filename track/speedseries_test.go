package track_test

import (
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"fleetmon/track"
)

// TestSpeedExtremaKeepsPeaks: a day of reports every 10 s reduced to 1,000
// buckets keeps the fastest and slowest report, every bucket's extremes,
// and stays in time order within its budget.
func TestSpeedExtremaKeepsPeaks(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 3))
	t0 := time.Date(2026, 11, 21, 0, 0, 0, 0, time.UTC)
	pts := make([]track.TrackPoint, 8640)
	peak := 5000
	for i := range pts {
		pts[i] = track.TrackPoint{Time: t0.Add(time.Duration(i) * 10 * time.Second), SpeedKmh: float32(30 + rng.IntN(10))}
	}
	pts[peak].SpeedKmh = 46.9
	pts[peak+1].SpeedKmh = 0
	idx := track.SpeedExtrema(pts, 1000)
	if len(idx) > 2002 || !slices.IsSorted(idx) || idx[0] != 0 || idx[len(idx)-1] != len(pts)-1 {
		t.Fatalf("%d indexes, sorted %v", len(idx), slices.IsSorted(idx))
	}
	if !slices.Contains(idx, peak) || !slices.Contains(idx, peak+1) {
		t.Errorf("the 46.9 km/h peak or the standstill after it is dropped")
	}
	// Simplify, as the map's display track, would drop it: the road is
	// one point.
	if slices.Contains(track.Simplify(pts, 2000, 2, nil), peak) {
		t.Log("Simplify kept the peak this time")
	}
}
