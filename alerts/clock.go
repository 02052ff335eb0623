package alerts

import (
	"slices"
	"time"
)

// The clock-driven checks. Some rules depend on the absence of data: a
// vehicle not back in its garage at 22:00 whose terminal is silent (it
// sleeps with the ignition off, or was unplugged), a terminal that falls
// silent while the car is driving (离线 — the usual way to evade
// monitoring), a car asleep in a hotel's car park beyond the dwell time.
// Judged only when the next fix arrives, they could come hours or days
// late, or never. Tick judges them as of a time instead.
//
// What the clock says is a view, never part of VehicleState: clockView
// computes, from the state after the last fix and a time asOf, the
// episodes the next fix would open if it came at asOf and showed nothing
// new — the same episodes, with the same IDs, as the fix path (a check at
// 22:00 is judged from the last fix before it either way). The view is
// emitted as it changes (Tick), and reconciled when a fix comes (Feed):
// what the fix confirms is carried on by the fix path, what it does not
// (a silent terminal that reappears next to where it stopped: it was in
// an underground car park) is retracted. Checkpoints never hold the view,
// so a re-evaluation after a back-fill replays the fixes and then
// recomputes the view at the latest tick: a back-fill that shows the car
// did park before 22:00 retracts the alert, as late data does for every
// rule. The latest tick time and the view are saved with the vehicle
// (MarshalVehicle), so a restart neither repeats nor forgets them.

// Tick judges the clock-driven checks of every registered vehicle as of
// asOf (device time: the caller leaves room for reports still on their
// way) and appends what changed to dst: episodes opened because time has
// passed without data, and retractions of ones a configuration change no
// longer supports. A tick earlier than a previous one changes nothing.
// The episodes appended are the caller's.
func (e *Engine) Tick(dst []Episode, asOf time.Time) []Episode {
	for _, v := range e.vs {
		dst = e.tickVehicle(dst, v, asOf)
	}
	return dst
}

// TickVehicle is Tick for one vehicle.
func (e *Engine) TickVehicle(dst []Episode, vehicleID int64, asOf time.Time) []Episode {
	if v := e.vs[vehicleID]; v != nil {
		dst = e.tickVehicle(dst, v, asOf)
	}
	return dst
}

func (e *Engine) tickVehicle(dst []Episode, v *vehicle, asOf time.Time) []Episode {
	if !asOf.After(v.ticked) {
		return dst
	}
	v.ticked = asOf
	if v.st.Last == nil || !asOf.After(v.st.Last.Time) {
		return dst
	}
	v.out = v.out[:0]
	v.settle(true)
	for i := range v.out {
		v.log = append(v.log, logEntry{At: asOf, Ep: v.out[i]})
	}
	return append(dst, v.out...)
}

// settle recomputes the clock's view at v.ticked after the state moved
// and reconciles it with the previous view. The episodes in v.out
// (emitted by the fix path meanwhile) carry on those of the previous view
// they confirm; one emitted again unchanged is dropped from v.out, said
// once already. Old view episodes neither the fix path nor the new view
// holds are retracted. With open (a tick), new view episodes are emitted;
// without (a fix), they wait for the next tick: a terminal uploading an
// hour of buffered reports in order would otherwise see the clock open
// and retract a silence at every one of them.
func (v *vehicle) settle(open bool) {
	old := v.clock
	var view []Episode
	if v.st.Last != nil && v.ticked.After(v.st.Last.Time) {
		view = v.clockView(nil, v.ticked)
	}
	if len(old) == 0 && (len(view) == 0 || !open) {
		v.clock = nil
		return
	}
	idIn := func(eps []Episode, id string) int {
		return slices.IndexFunc(eps, func(ep Episode) bool { return ep.ID == id })
	}
	// Old view episodes the fix path emitted (confirmed), dropping those
	// it emitted unchanged.
	var confirmed []string
	n := 0
	for _, ep := range v.out {
		k := idIn(old, ep.ID)
		if k >= 0 {
			confirmed = append(confirmed, ep.ID)
			if sameEpisode(&old[k], &ep) {
				continue
			}
		}
		v.out[n] = ep
		n++
	}
	v.out = v.out[:n]
	for i := range old {
		if idIn(view, old[i].ID) >= 0 || slices.Contains(confirmed, old[i].ID) {
			continue
		}
		ep := old[i]
		ep.Status = EpisodeRetracted
		v.out = append(v.out, ep)
	}
	keep := view[:0]
	for i := range view {
		k := idIn(old, view[i].ID)
		switch {
		case k < 0 && !open:
			continue // for the next tick
		case k < 0 || !sameEpisode(&old[k], &view[i]):
			v.out = append(v.out, view[i])
		}
		keep = append(keep, view[i])
	}
	v.clock = keep
}

// clockView appends to dst the episodes the next fix would open if it
// came at asOf and showed nothing new. It reads the state and changes
// nothing.
func (v *vehicle) clockView(dst []Episode, asOf time.Time) []Episode {
	// 夜间未入库: the first check after the last fix, judged from it.
	dst = v.parkingClock(dst, asOf)
	// 离线: silent since a fix that showed the car in use.
	dst = v.silentClock(dst, asOf)
	// 敏感区域停留: still at the place, as far as the data says.
	return v.placesClock(dst, asOf)
}
