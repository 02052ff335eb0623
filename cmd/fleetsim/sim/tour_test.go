package sim

import (
	"math"
	"testing"
	"time"
)

// TestTour: a tour stands (ACC off) for its wait, then drives its route at its speed by the
// clock, however often it is asked, sends one arrival point with the speed driven, and hands
// over to Then.
func TestTour(t *testing.T) {
	n := HuangshiNetwork()
	route := n.RouteOf(Node(3, 3), Node(3, 5), Node(3, 3))
	total := 0.0
	for i := 1; i < len(route); i++ {
		total += DistanceM(route[i-1], route[i])
	}
	then := NewScript([]ScriptPoint{{Lat: 1, Lon: 2}})
	tour := &Tour{Route: route, Wait: 20 * time.Second, SpeedKmh: 36, Then: then} // 10 m/s
	t0 := time.Date(2026, 12, 3, 16, 0, 0, 0, time.UTC)
	p, _ := tour.Next(t0)
	if p.ACC || p.SpeedKmh != 0 || p.Lat != route[0].Lat {
		t.Fatalf("before the wait: %+v", p)
	}
	p, _ = tour.Next(t0.Add(50 * time.Second)) // 300 m along
	if !p.ACC || p.SpeedKmh != 36 {
		t.Fatalf("driving: %+v", p)
	}
	if d := DistanceM(route[0], LatLon{p.Lat, p.Lon}); math.Abs(d-300) > 30 {
		t.Errorf("after 30 s at 10 m/s: %.0f m from the start", d)
	}
	end := t0.Add(20*time.Second + time.Duration(total/10*float64(time.Second)) + time.Second)
	p, _ = tour.Next(end)
	if !p.ACC || p.SpeedKmh != 36 || DistanceM(route[len(route)-1], LatLon{p.Lat, p.Lon}) > 1 {
		t.Fatalf("arrival: %+v", p)
	}
	if p, _ = tour.Next(end.Add(5 * time.Second)); p.Lat != 1 || p.Lon != 2 {
		t.Fatalf("after the tour, Then: %+v", p)
	}
}
