package sim

import "time"

// ScriptPoint is one position of a scripted path: where the vehicle is, how fast it goes and
// when. A zero Time means "when it is sent".
type ScriptPoint struct {
	Time     time.Time
	Lat, Lon float64
	SpeedKmh float64
}

// Script is a Source that replays a fixed list of points, for tests: a path at the southern or
// western hemisphere, a car driving along a boundary, a trip outside working hours. A Script is
// not safe for concurrent use.
type Script struct {
	pts []Point
	i   int
}

// NewScript turns a scripted path into points: the heading is the bearing to the next point
// (the last point keeps the previous heading), ACC is on while SpeedKmh > 0, every fix is
// positioned, the odometer counts the distance along the path from 0, and signal and satellites
// are fixed plausible values.
func NewScript(path []ScriptPoint) *Script {
	pts := make([]Point, len(path))
	heading, mileage := 0.0, 0.0
	for i, sp := range path {
		here := LatLon{sp.Lat, sp.Lon}
		if i+1 < len(path) {
			if next := (LatLon{path[i+1].Lat, path[i+1].Lon}); next != here {
				heading = BearingDeg(here, next)
			}
		}
		if i > 0 {
			mileage += DistanceM(LatLon{path[i-1].Lat, path[i-1].Lon}, here) / 1000
		}
		pts[i] = Point{
			Time:       sp.Time,
			Lat:        sp.Lat,
			Lon:        sp.Lon,
			SpeedKmh:   sp.SpeedKmh,
			Heading:    heading,
			ACC:        sp.SpeedKmh > 0,
			Positioned: true,
			MileageKm:  mileage,
			FuelL:      40,
			Signal:     25,
			Satellites: 12,
		}
	}
	return &Script{pts: pts}
}

// Replay returns a Script that yields pts exactly as given (a zero Time is still replaced by the
// time of sending). Replay keeps pts; the caller must not modify it while the Script is in use.
func Replay(pts []Point) *Script { return &Script{pts: pts} }

// Next returns the next point, with its Time set to now when the script left it zero, and false
// when the script is exhausted.
func (s *Script) Next(now time.Time) (Point, bool) {
	if s.i >= len(s.pts) {
		return Point{}, false
	}
	p := s.pts[s.i]
	s.i++
	if p.Time.IsZero() {
		p.Time = now
	}
	return p, true
}

// Len returns the number of points not yet returned by Next.
func (s *Script) Len() int { return len(s.pts) - s.i }
