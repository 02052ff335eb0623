package alerts

import (
	"time"

	"fleetmon/track"
)

// The night-parking rule (夜间未入库): a vehicle with designated parking
// must be in it at the check times. A terminal that sleeps with the
// ignition off says nothing at 22:00, so the clock (parkingClock) judges
// the check as the next fix would.

// ParkingParams are for 夜间未入库: at each CheckAt (local time, every
// day), a vehicle with designated parking whose last fix before then is
// outside it gets an episode, from the check time until it is next seen
// inside.
type ParkingParams struct {
	CheckAt []Clock          `json:"check_at"`
	Exempt  []track.Category `json:"exempt,omitempty"`
}

// NightParkingState is what the night-parking rule remembers: the open
// episode, and the next check time to judge.
type NightParkingState struct {
	Parking *Episode `json:"parking,omitempty"`
	// NextCheck is the next night-parking check time.
	NextCheck time.Time `json:"next_check,omitzero"`
}

// parkingCheck runs 夜间未入库: each check time is judged from the last fix
// before it (or at it). NextCheck is kept as the first check time after
// the last fix, so that the clock (parkingClock) judges a silent vehicle's
// check exactly as its next fix would. Over a silence of days the first
// check opens the episode and it stays open until the car is seen inside:
// the later checks add nothing.
func (v *vehicle) parkingCheck(f Fix) {
	st := &v.st
	if !v.parkingApplies() {
		st.NextCheck = time.Time{}
		return
	}
	if st.Last != nil && !st.NextCheck.IsZero() && !f.Time.Before(st.NextCheck) {
		last := *st.Last
		if st.Parking == nil && !v.inParking(last) {
			st.Parking = v.parkingEpisode(last, st.NextCheck)
			v.emit(st.Parking, EpisodeOpen)
		}
		st.NextCheck = time.Time{}
	}
	if st.Parking != nil && v.inParking(f) {
		v.closeEp(st.Parking, f.Time, f)
		st.Parking = nil
	}
	if st.NextCheck.IsZero() {
		st.NextCheck = v.nextCheck(f.Time)
	}
}

func (v *vehicle) parkingApplies() bool {
	return len(v.parking) > 0 && len(v.par.Parking.CheckAt) > 0 && v.enabled(RuleNightParking)
}

// inParking says whether x is inside one of the vehicle's designated
// parking places.
func (v *vehicle) inParking(x Fix) bool {
	for _, c := range v.parking {
		if c.contains(x.Lat, x.Lon) {
			return true
		}
	}
	return false
}

// parkingEpisode is the 夜间未入库 episode of the check at check, judged
// from the last fix before it.
func (v *vehicle) parkingEpisode(last Fix, check time.Time) *Episode {
	ep := newEpisode(RuleNightParking, last, check)
	ep.Detail = "check at " + check.In(v.cal.loc).Format("15:04")
	return ep
}

// nextCheck returns the first check time after t.
func (v *vehicle) nextCheck(t time.Time) time.Time {
	lt := t.In(v.cal.loc)
	d := DateOf(lt)
	for range 2 {
		for _, c := range v.par.Parking.CheckAt {
			if ct := v.cal.at(d, c); ct.After(t) {
				return ct
			}
		}
		d = d.AddDays(1)
	}
	return v.cal.at(d, v.par.Parking.CheckAt[0])
}

// parkingClock appends the episode of the first check after the last fix,
// judged from it, as the clock sees it at asOf.
func (v *vehicle) parkingClock(dst []Episode, asOf time.Time) []Episode {
	st := &v.st
	last := *st.Last
	if v.parkingApplies() && st.Parking == nil && !st.NextCheck.IsZero() && !asOf.Before(st.NextCheck) && !v.inParking(last) {
		ep := v.parkingEpisode(last, st.NextCheck)
		v.stamp(ep, EpisodeOpen)
		dst = append(dst, *ep)
	}
	return dst
}
