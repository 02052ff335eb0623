package alerts

import (
	"testing"
	"time"
)

// TestCompareTrip: a trip of two drives with a stop between, the first
// leaving ten minutes early, and a drive besides it that morning; an
// approval issued before the car moved is in time, one issued after it
// moved (even before its window opened) is not, and an undriven one is
// late only when issued after its window.
func TestCompareTrip(t *testing.T) {
	day := time.Date(2026, 11, 23, 0, 0, 0, 0, time.FixedZone("CST", 8*3600))
	at := func(h, m int) time.Time { return day.Add(time.Duration(h)*time.Hour + time.Duration(m)*time.Minute) }
	a := Approval{ID: 7, VehicleID: 1, Start: at(14, 0), End: at(17, 0)}
	ds := []Drive{
		{VehicleID: 1, Start: at(15, 0), End: at(16, 30), EndLat: 30.1, EndLon: 115.1, DistanceM: 30000},
		{VehicleID: 1, Start: at(13, 50), End: at(14, 30), EndLat: 30.2, EndLon: 115.2, DistanceM: 20000},
		{VehicleID: 1, Start: at(8, 0), End: at(8, 20), DistanceM: 5000},
		{VehicleID: 2, Start: at(14, 0), End: at(15, 0), DistanceM: 9000},
		{VehicleID: 1, Start: at(0, 0).Add(-time.Hour), End: at(0, 0).Add(-30 * time.Minute)},
	}
	c := CompareTrip(a, at(13, 45), ds, at(0, 0), at(24, 0))
	if len(c.Drives) != 2 || c.StartedInWindow || !c.EndedInWindow || c.DistanceM != 50000 ||
		c.Driving.D() != 130*time.Minute || c.Span.D() != 160*time.Minute || c.IssuedAfter {
		t.Fatalf("trip %+v", c)
	}
	if len(c.Stops) != 1 || !c.Stops[0].Start.Equal(at(14, 30)) || !c.Stops[0].End.Equal(at(15, 0)) || c.Stops[0].Lat != 30.2 {
		t.Errorf("stops %+v", c.Stops)
	}
	if len(c.Besides) != 1 || !c.Besides[0].Start.Equal(at(8, 0)) {
		t.Errorf("besides %+v", c.Besides)
	}
	if c := CompareTrip(a, at(13, 55), ds, at(0, 0), at(24, 0)); !c.IssuedAfter {
		t.Error("an approval issued after the car left is in time")
	}
	undriven := Approval{ID: 8, VehicleID: 3, Start: at(9, 0), End: at(10, 0)}
	if c := CompareTrip(undriven, at(9, 30), ds, at(0, 0), at(24, 0)); c.IssuedAfter || len(c.Drives) != 0 || c.StartedInWindow {
		t.Errorf("undriven, issued during its window: %+v", c)
	}
	if c := CompareTrip(undriven, at(10, 30), ds, at(0, 0), at(24, 0)); !c.IssuedAfter {
		t.Error("undriven, issued after its window: in time")
	}
	ds[0].Ongoing = true
	if c := CompareTrip(a, at(13, 0), ds, at(0, 0), at(24, 0)); c.EndedInWindow {
		t.Error("a trip whose data ends while driving ended in its window")
	}
}
