package alerts

import (
	"slices"
	"time"

	"fleetmon/track"
)

// The sealed-vehicle rule (封存车辆移动): a vehicle sealed (封存) must not
// be driven at all; any real drive while it is sealed is an episode, open
// from the drive's start (or the seal's, when the car was sealed during the
// drive) until the drive ends (or the seal does). Whether the vehicle is
// sealed is judged at each fix's device time by the seal periods of its
// history, never by whether it is sealed now: a drive from before a seal,
// or after an unseal, is no misuse, however late it is judged.

// SealedState is what the sealed-vehicle rule remembers: the episode of
// the current drive, and the drive's distance when it opened.
type SealedState struct {
	Sealed      *Episode `json:"sealed,omitempty"`
	SealedFromM float64  `json:"sealed_from_m,omitempty"`
}

// Seals indexes the vehicles' seal periods by vehicle. Immutable once
// built; a nil *Seals has none.
type Seals struct {
	byVehicle map[int64][]track.SealPeriod
}

// NewSeals indexes seal periods (track.SealPeriods makes them from a
// vehicle's seal history).
func NewSeals(ps []track.SealPeriod) *Seals {
	s := &Seals{byVehicle: map[int64][]track.SealPeriod{}}
	for _, p := range ps {
		s.byVehicle[p.VehicleID] = append(s.byVehicle[p.VehicleID], p)
	}
	for _, l := range s.byVehicle {
		slices.SortFunc(l, func(a, b track.SealPeriod) int { return a.From.Compare(b.From) })
	}
	return s
}

func (s *Seals) of(vehicleID int64) []track.SealPeriod {
	if s == nil {
		return nil
	}
	return s.byVehicle[vehicleID]
}

// sealAt returns the seal period covering t, if any.
func (v *vehicle) sealAt(t time.Time) (track.SealPeriod, bool) {
	for _, p := range v.seals {
		if p.Covers(t) {
			return p, true
		}
	}
	return track.SealPeriod{}, false
}

// sealedReal opens the episode when a drive that started while the
// vehicle was sealed becomes real, from the drive's start.
func (v *vehicle) sealedReal() {
	d := &v.st.Drive
	if _, ok := v.sealAt(d.Start.Time); ok && v.enabled(RuleSealedMove) {
		v.sealedOpen(d.Start, d.Start.Time, 0, d.MaxSpeedKmh)
	}
}

// sealedOpen opens the episode at start (at fix at), the drive having
// gone fromM metres by then.
func (v *vehicle) sealedOpen(at Fix, start time.Time, fromM float64, maxKmh float32) {
	st := &v.st
	ep := newEpisode(RuleSealedMove, at, start)
	ep.DistanceM, ep.MaxSpeedKmh = st.Drive.DistM-fromM, maxKmh
	v.emit(ep, EpisodeOpen)
	st.Sealed, st.SealedFromM = ep, fromM
}

// sealedDriving follows a real drive at fix f: the episode's distance and
// top speed while the vehicle stays sealed; its end when the seal ended
// since the last fix; its start when the vehicle was sealed since.
func (v *vehicle) sealedDriving(f Fix) {
	st := &v.st
	d := &st.Drive
	p, sealed := v.sealAt(f.Time)
	switch s := st.Sealed; {
	case s != nil && sealed:
		s.DistanceM, s.MaxSpeedKmh = d.DistM-st.SealedFromM, max(s.MaxSpeedKmh, f.SpeedKmh)
	case s != nil:
		last := *st.Last
		end := last.Time
		if q, ok := v.sealAt(s.Start); ok && !q.To.IsZero() && q.To.After(end) {
			end = q.To
		}
		v.closeEp(s, end, last)
		st.Sealed, st.SealedFromM = nil, 0
	case sealed && v.enabled(RuleSealedMove):
		start := p.From
		if start.Before(d.Start.Time) {
			start = d.Start.Time
		}
		v.sealedOpen(f, start, d.DistM, f.SpeedKmh)
	}
}

// sealedEnded closes the episode with the drive, at end (the time the car
// stopped, at).
func (v *vehicle) sealedEnded(end time.Time, at Fix) {
	st := &v.st
	if s := st.Sealed; s != nil {
		s.DistanceM = max(st.Drive.StillDistM-st.SealedFromM, 0)
		v.closeEp(s, end, at)
		st.Sealed, st.SealedFromM = nil, 0
	}
}
