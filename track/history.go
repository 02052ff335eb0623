package track

import (
	"container/heap"
	"math"
	"time"
)

// Acc reports the ACC bit (JT/T 808 表 24 status bit 0).
func (p *TrackPoint) Acc() bool { return p.Status&1 != 0 }

// earthRadiusM is the mean Earth radius (IUGG), metres.
const earthRadiusM = 6371008.8

// DistanceM is the great-circle (haversine) distance between two points, in
// metres.
func DistanceM(lat1, lon1, lat2, lon2 float64) float64 {
	const rad = math.Pi / 180
	dLat, dLon := (lat2-lat1)*rad, (lon2-lon1)*rad
	a := math.Sin(dLat/2)*math.Sin(dLat/2) + math.Cos(lat1*rad)*math.Cos(lat2*rad)*math.Sin(dLon/2)*math.Sin(dLon/2)
	return 2 * earthRadiusM * math.Asin(math.Min(1, math.Sqrt(a)))
}

// nearM is DistanceM for the short steps between consecutive reports,
// which Analyze measures hundreds of thousands of times for a month: for
// points less than 0.05° apart (about 5 km) the equirectangular distance
// around their mean latitude differs from the great circle by far less
// than a millimetre, at a fraction of the cost; further apart, DistanceM.
func nearM(lat1, lon1, lat2, lon2 float64) float64 {
	dLat, dLon := lat2-lat1, lon2-lon1
	if dLat > 0.05 || dLat < -0.05 || dLon > 0.05 || dLon < -0.05 {
		return DistanceM(lat1, lon1, lat2, lon2)
	}
	const rad = math.Pi / 180
	x := dLon * rad * math.Cos((lat1+lat2)/2*rad)
	y := dLat * rad
	return earthRadiusM * math.Sqrt(x*x+y*y)
}

// AnalysisParams tunes how a track is cut into trips, stops and gaps.
// Zero values take the defaults.
type AnalysisParams struct {
	// GapAfter: consecutive reports further apart than this are a gap in
	// the data (terminal silent), shown as such and never interpolated.
	// Terminals report every 10–30 s while driving and up to every 5 min
	// parked with ACC off, so the default is 15 min.
	GapAfter time.Duration
	// MovingKmh: a report at or above this speed is movement. Default 5.
	MovingKmh float32
	// StillM: movement within this radius of where the vehicle stopped is
	// GPS drift, not a trip. Default 100 m.
	StillM float64
	// StopMin: a standstill at least this long ends a trip and is a stop.
	// Default 3 min.
	StopMin time.Duration
	// MinTripM: shorter trips are dropped (drift, a car moved in a car
	// park). Default 300 m.
	MinTripM float64
}

func (p *AnalysisParams) defaults() {
	if p.GapAfter <= 0 {
		p.GapAfter = 15 * time.Minute
	}
	if p.MovingKmh <= 0 {
		p.MovingKmh = 5
	}
	if p.StillM <= 0 {
		p.StillM = 100
	}
	if p.StopMin <= 0 {
		p.StopMin = 3 * time.Minute
	}
	if p.MinTripM <= 0 {
		p.MinTripM = 300
	}
}

// Gap is a stretch with no data: the terminal was silent (or out of
// coverage with nothing back-filled) between two reports.
type Gap struct {
	From, To time.Time
	// FromIndex is the index of the report before the gap.
	FromIndex int
	// DistanceM is the straight line between the reports either side.
	DistanceM float64
}

// Trip is a drive, from the first movement to the standstill that ends it.
type Trip struct {
	StartIndex, EndIndex int
	Start, End           time.Time
	StartLat, StartLon   float64
	EndLat, EndLon       float64
	// Departed is when the drive began, as near as the reports tell: the
	// first moving report's distance from where the vehicle stood, covered
	// at that report's speed, before Start; never before the last
	// standing report (terminals report seldom while standing, so the two
	// can be a minute apart).
	Departed time.Time
	// DistanceM is along the reports from where the vehicle stood (the
	// report before Start) to End; OdometerKm from the odometer item when every
	// report of the trip carries it (else NaN).
	DistanceM  float64
	OdometerKm float64
	// MaxSpeedKmh is the highest speed a report of the trip gave.
	MaxSpeedKmh float32
	// AvgSpeedKmh is DistanceM over the time it took, Departed to End.
	// Over Start to End it would leave out the drive to the first moving
	// report, which DistanceM includes, and could exceed MaxSpeedKmh.
	AvgSpeedKmh float64
	// HasGap is true when the data of the trip has a gap; the trip is then
	// cut at the gap.
	HasGap bool
}

// Duration is the trip's length in time.
func (t *Trip) Duration() time.Duration { return t.End.Sub(t.Start) }

// Stop is a standstill between trips (or at either end of the period) of at
// least StopMin.
type Stop struct {
	StartIndex, EndIndex int
	From, To             time.Time
	// Lat, Lon is the mean position of the standstill.
	Lat, Lon float64
}

// Duration is the stop's length in time.
func (s *Stop) Duration() time.Duration { return s.To.Sub(s.From) }

// Analysis is what a track says about its period.
type Analysis struct {
	Trips []Trip
	Stops []Stop
	Gaps  []Gap
	// DistanceM is along all reports, gaps excluded; GapDistanceM the
	// straight lines across gaps (the least the vehicle moved unseen).
	DistanceM, GapDistanceM float64
	// OdometerKm is the odometer's advance over the period (last − first
	// report carrying it; NaN without two such reports). An odometer that
	// goes backwards (replaced terminal) counts from there.
	OdometerKm float64
}

// Analyze cuts pts (in time order) into trips, stops and gaps.
func Analyze(pts []TrackPoint, params AnalysisParams) Analysis {
	params.defaults()
	a := Analysis{OdometerKm: math.NaN()}
	if len(pts) == 0 {
		return a
	}
	// Odometer, tolerant of resets.
	var odo float64
	var lastOdo = math.NaN()
	seenOdo := 0
	for i := range pts {
		if !pts[i].HasMileage {
			continue
		}
		if !math.IsNaN(lastOdo) && pts[i].MileageKm >= lastOdo {
			odo += pts[i].MileageKm - lastOdo
		}
		lastOdo = pts[i].MileageKm
		seenOdo++
	}
	if seenOdo >= 2 {
		a.OdometerKm = odo
	}

	// Trips: a state machine over the reports.
	var (
		inTrip     bool
		trip       Trip
		anchor     = 0 // where the current standstill began (index)
		stillSince = -1
		odoOK      bool
	)
	endTrip := func(end int) {
		trip.EndIndex = end
		trip.End, trip.EndLat, trip.EndLon = pts[end].Time, pts[end].Lat, pts[end].Lon
		if d := trip.End.Sub(trip.Departed).Hours(); d > 0 {
			trip.AvgSpeedKmh = trip.DistanceM / 1000 / d
		}
		trip.OdometerKm = math.NaN()
		if odoOK && pts[trip.StartIndex].HasMileage && pts[end].HasMileage && pts[end].MileageKm >= pts[trip.StartIndex].MileageKm {
			trip.OdometerKm = pts[end].MileageKm - pts[trip.StartIndex].MileageKm
		}
		if trip.DistanceM >= params.MinTripM {
			a.Trips = append(a.Trips, trip)
		}
		inTrip = false
	}
	for i := 1; i < len(pts); i++ {
		prev, p := &pts[i-1], &pts[i]
		dt := p.Time.Sub(prev.Time)
		step := nearM(prev.Lat, prev.Lon, p.Lat, p.Lon)
		if dt > params.GapAfter {
			a.Gaps = append(a.Gaps, Gap{From: prev.Time, To: p.Time, FromIndex: i - 1, DistanceM: step})
			a.GapDistanceM += step
			if inTrip {
				trip.HasGap = true
				endTrip(i - 1)
			}
			anchor, stillSince = i, -1
			continue
		}
		a.DistanceM += step
		moving := p.SpeedKmh >= params.MovingKmh || nearM(pts[anchor].Lat, pts[anchor].Lon, p.Lat, p.Lon) > params.StillM
		if !inTrip {
			if moving && (p.Acc() || p.SpeedKmh >= params.MovingKmh) {
				inTrip = true
				odoOK = true
				// The trip starts with the first report that moves, from where
				// the vehicle stood (the report before).
				trip = Trip{StartIndex: i, Start: p.Time, Departed: departed(prev, p, step, float64(params.MovingKmh)), StartLat: prev.Lat, StartLon: prev.Lon}
				trip.DistanceM = step
				trip.MaxSpeedKmh = max(prev.SpeedKmh, p.SpeedKmh)
				stillSince = -1
			} else {
				continue
			}
			continue
		}
		trip.DistanceM += step
		trip.MaxSpeedKmh = max(trip.MaxSpeedKmh, p.SpeedKmh)
		odoOK = odoOK && p.HasMileage
		if p.SpeedKmh < params.MovingKmh && (stillSince < 0 || nearM(pts[stillSince].Lat, pts[stillSince].Lon, p.Lat, p.Lon) <= params.StillM) {
			if stillSince < 0 {
				stillSince = i
			}
			if p.Time.Sub(pts[stillSince].Time) >= params.StopMin || (!p.Acc() && p.Time.Sub(pts[stillSince].Time) >= time.Minute) {
				// The trip ended when the standstill began.
				trip.DistanceM -= distanceAlong(pts, stillSince, i)
				endTrip(stillSince)
				anchor, stillSince = stillSince, -1
			}
		} else {
			stillSince = -1
		}
	}
	if inTrip {
		endTrip(len(pts) - 1)
	}

	// Stops: the standstills between trips, at least StopMin long and not
	// across a gap.
	// to is the next trip's first report when toMoves: the vehicle has
	// left by then, so it ends the stop's time but not its place.
	cut := func(from, to int, toMoves bool) {
		for from < to {
			// Split at gaps.
			end := to
			for _, g := range a.Gaps {
				if g.FromIndex >= from && g.FromIndex < end {
					end = g.FromIndex
					break
				}
			}
			if pts[end].Time.Sub(pts[from].Time) >= params.StopMin {
				last := end
				if toMoves && end == to && last > from {
					last--
				}
				var lat, lon float64
				for k := from; k <= last; k++ {
					lat += pts[k].Lat
					lon += pts[k].Lon
				}
				n := float64(last - from + 1)
				a.Stops = append(a.Stops, Stop{StartIndex: from, EndIndex: end, From: pts[from].Time, To: pts[end].Time,
					Lat: lat / n, Lon: lon / n})
			}
			from = end + 1
		}
	}
	prevEnd := 0
	for _, t := range a.Trips {
		cut(prevEnd, t.StartIndex, true)
		prevEnd = t.EndIndex
	}
	cut(prevEnd, len(pts)-1, false)
	return a
}

// departed estimates when a vehicle standing at prev left, p being its
// first moving report stepM away: the time that distance takes at p's
// speed before p, but not before prev.
func departed(prev, p *TrackPoint, stepM, movingKmh float64) time.Time {
	if float64(p.SpeedKmh) < movingKmh {
		return prev.Time
	}
	d := p.Time.Add(-time.Duration(stepM / (float64(p.SpeedKmh) / 3.6) * float64(time.Second)))
	if d.Before(prev.Time) {
		return prev.Time
	}
	return d
}

func distanceAlong(pts []TrackPoint, from, to int) float64 {
	var d float64
	for k := from + 1; k <= to; k++ {
		d += nearM(pts[k-1].Lat, pts[k-1].Lon, pts[k].Lat, pts[k].Lon)
	}
	return d
}

// Simplify returns the indexes of at most maxPoints reports that keep the
// track's shape (Douglas–Peucker, top down: the report furthest from the
// simplified line is added first), in order. The first and last reports
// and those either side of a gap are always kept, so gaps stay visible.
// Reports closer than toleranceM to the simplified line are dropped even
// under the budget.
func Simplify(pts []TrackPoint, maxPoints int, toleranceM float64, gaps []Gap) []int {
	n := len(pts)
	if n <= 2 || n <= maxPoints && toleranceM <= 0 {
		idx := make([]int, n)
		for i := range idx {
			idx[i] = i
		}
		return idx
	}
	keep := make([]bool, n)
	keep[0], keep[n-1] = true, true
	kept := 2
	anchors := []int{0}
	for _, g := range gaps {
		for _, k := range []int{g.FromIndex, g.FromIndex + 1} {
			if k > 0 && k < n-1 && !keep[k] {
				keep[k] = true
				kept++
				anchors = append(anchors, k)
			}
		}
	}
	anchors = append(anchors, n-1)
	// Local metres around the first point: fine for a city-sized track.
	// Computed once: every level of the split scans the points again.
	lat0 := pts[0].Lat * math.Pi / 180
	kx, ky := math.Cos(lat0)*earthRadiusM*math.Pi/180, earthRadiusM*math.Pi/180
	xs, ys := make([]float64, n), make([]float64, n)
	for i := range pts {
		xs[i], ys[i] = pts[i].Lon*kx, pts[i].Lat*ky
	}
	// furthest compares squared distances (no square root, no Hypot, in
	// the loop that dominates a month's display track) and returns the
	// distance of the furthest point.
	furthest := func(a, b int) (int, float64) {
		ax, ay := xs[a], ys[a]
		dx, dy := xs[b]-ax, ys[b]-ay
		l2 := dx*dx + dy*dy
		best, bestD2 := -1, -1.0
		for i := a + 1; i < b; i++ {
			px, py := xs[i]-ax, ys[i]-ay
			var d2 float64
			if l2 == 0 {
				d2 = px*px + py*py
			} else {
				t := (px*dx + py*dy) / l2
				if t < 0 {
					t = 0
				} else if t > 1 {
					t = 1
				}
				ex, ey := px-t*dx, py-t*dy
				d2 = ex*ex + ey*ey
			}
			if d2 > bestD2 {
				best, bestD2 = i, d2
			}
		}
		return best, math.Sqrt(bestD2)
	}
	h := &segHeap{}
	for k := 1; k < len(anchors); k++ {
		a, b := anchors[k-1], anchors[k]
		if b-a > 1 {
			if i, d := furthest(a, b); i >= 0 {
				heap.Push(h, seg{a, b, i, d})
			}
		}
	}
	for h.Len() > 0 && kept < maxPoints {
		s := heap.Pop(h).(seg)
		if s.d <= toleranceM {
			break
		}
		keep[s.at] = true
		kept++
		for _, ab := range [2][2]int{{s.a, s.at}, {s.at, s.b}} {
			if ab[1]-ab[0] > 1 {
				if i, d := furthest(ab[0], ab[1]); i >= 0 {
					heap.Push(h, seg{ab[0], ab[1], i, d})
				}
			}
		}
	}
	idx := make([]int, 0, kept)
	for i, k := range keep {
		if k {
			idx = append(idx, i)
		}
	}
	return idx
}

type seg struct {
	a, b, at int
	d        float64
}

type segHeap []seg

func (h segHeap) Len() int           { return len(h) }
func (h segHeap) Less(i, j int) bool { return h[i].d > h[j].d }
func (h segHeap) Swap(i, j int)      { h[i], h[j] = h[j], h[i] }
func (h *segHeap) Push(x any)        { *h = append(*h, x.(seg)) }
func (h *segHeap) Pop() any {
	old := *h
	x := old[len(old)-1]
	*h = old[:len(old)-1]
	return x
}
