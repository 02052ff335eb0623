package sim

import (
	"math"
	"time"
)

// Tour is a Source that waits parked at the start of a fixed route, then drives it at a steady
// speed, timed by the clock passed to Next rather than by how often it is called, and at its end
// hands over to Then (or stands there, ACC off, when Then is nil). The demo uses tours for the
// cars whose misuse it shows: a drive that starts within a minute and lasts long enough for the
// rules to call it a real drive, on a route chosen to cross a border or to speed. A Tour is not
// safe for concurrent use.
type Tour struct {
	// Route is the path, first point the start; at least one point.
	Route []LatLon
	// Wait is how long the car stands at Route[0] (ACC off) before it drives.
	Wait time.Duration
	// SpeedKmh is the speed it drives at.
	SpeedKmh float64
	// Then takes over once the route is driven; nil: the car stands at its end.
	Then Source

	started bool
	t0      time.Time
	cum     []float64 // distance along Route to each point, metres
	done    bool      // the arrival point was sent
}

// RouteOf returns the points of the shortest roads through the network's nodes stops, in order
// (each leg's end is the next one's start and is listed once).
func (n *Network) RouteOf(stops ...int) []LatLon {
	var out []LatLon
	for i, s := range stops {
		if i == 0 {
			out = append(out, n.Nodes[s])
			continue
		}
		for _, v := range n.shortestPath(stops[i-1], s)[1:] {
			out = append(out, n.Nodes[v])
		}
	}
	return out
}

// Node returns the index of the grid intersection at row r and column c of HuangshiNetwork
// (rows from south to north, columns from west to east, both from 0).
func Node(r, c int) int { return r*gridN + c }

// GridOf returns the row and column of HuangshiNetwork's intersection node (see Node).
func GridOf(node int) (r, c int) { return node / gridN, node % gridN }

// Next returns where the car is at now.
func (t *Tour) Next(now time.Time) (Point, bool) {
	if !t.started {
		t.started, t.t0 = true, now
		t.cum = make([]float64, len(t.Route))
		for i := 1; i < len(t.Route); i++ {
			t.cum[i] = t.cum[i-1] + DistanceM(t.Route[i-1], t.Route[i])
		}
	}
	total := t.cum[len(t.cum)-1]
	elapsed := now.Sub(t.t0) - t.Wait
	if elapsed < 0 {
		return t.point(now, t.Route[0], 0, 0, false, 0), true
	}
	along := t.SpeedKmh / 3.6 * elapsed.Seconds()
	if along >= total {
		if t.done && t.Then != nil {
			return t.Then.Next(now)
		}
		// The arrival point still carries the speed driven; the ones after it stand.
		speed := 0.0
		if !t.done {
			speed = t.SpeedKmh
		}
		t.done = true
		end := len(t.Route) - 1
		return t.point(now, t.Route[end], t.heading(end), speed, speed > 0, total), true
	}
	i := 0
	for i+1 < len(t.cum) && t.cum[i+1] <= along {
		i++
	}
	f := (along - t.cum[i]) / (t.cum[i+1] - t.cum[i])
	a, b := t.Route[i], t.Route[i+1]
	at := LatLon{a.Lat + (b.Lat-a.Lat)*f, a.Lon + (b.Lon-a.Lon)*f}
	return t.point(now, at, BearingDeg(a, b), t.SpeedKmh, true, along), true
}

// heading is the bearing of the leg that ends at point i (0 for a route of one point).
func (t *Tour) heading(i int) float64 {
	if i == 0 {
		return 0
	}
	return BearingDeg(t.Route[i-1], t.Route[i])
}

func (t *Tour) point(now time.Time, at LatLon, heading, speed float64, acc bool, alongM float64) Point {
	h := math.Round(heading)
	if h >= 360 {
		h = 0
	}
	return Point{
		Time: now, Lat: at.Lat, Lon: at.Lon, AltitudeM: 30,
		SpeedKmh: speed, Heading: h, ACC: acc, Positioned: true,
		MileageKm: 20000 + alongM/1000, FuelL: 40, Signal: 25, Satellites: 12,
	}
}
