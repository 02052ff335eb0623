package alerts

import (
	"cmp"
	"encoding/json"
	"fmt"
	"slices"
	"time"

	"fleetmon/track"
)

// Late data. A fix older than the vehicle's last one (a blind-zone
// back-fill, 0x0704) or a change of what applies (an approval added)
// re-evaluates the vehicle: the engine keeps checkpoints of the state
// every CheckpointEvery of device time back to the Horizon, and a log of
// what it emitted since the oldest, replays the positions from the
// checkpoint before the change (read back through the Source), and emits
// only the difference: changed episodes and retracted ones.

// checkpoint is the vehicle's state (JSON) after its last fix at Time.
type checkpoint struct {
	Time  time.Time `json:"t"`
	State []byte    `json:"state"`
}

// logEntry is an episode as emitted at At, the device time of the fix (or
// the tick) that emitted it.
type logEntry struct {
	At time.Time `json:"at"`
	Ep Episode   `json:"ep"`
}

// Reevaluate re-runs the vehicle from the checkpoint before from (e.g.
// after an approval was added) and appends the difference to dst.
func (e *Engine) Reevaluate(dst []Episode, vehicleID int64, from time.Time) ([]Episode, error) {
	v := e.vs[vehicleID]
	if v == nil {
		return dst, fmt.Errorf("vehicle %d: %w", vehicleID, ErrUnknownVehicle)
	}
	return e.reevaluate(dst, v, from, nil)
}

func (e *Engine) reevaluate(dst []Episode, v *vehicle, from time.Time, late *track.Position) ([]Episode, error) {
	if e.src == nil {
		return dst, fmt.Errorf("vehicle %d at %s: no source: %w", v.info.ID, from, ErrTooLate)
	}
	if v.st.Last == nil && late == nil {
		return dst, nil // nothing evaluated yet
	}
	i := v.checkpointBefore(from)
	if i < 0 {
		return dst, fmt.Errorf("vehicle %d at %s: %w", v.info.ID, from, ErrTooLate)
	}
	cp := v.cps[i]
	through := v.st.Last.Time
	if late != nil && late.Time.After(through) {
		through = late.Time
	}
	ps, err := e.src.Positions(v.info.ID, cp.Time, through)
	if err != nil {
		return dst, fmt.Errorf("re-evaluate vehicle %d from %s: %w", v.info.ID, cp.Time, err)
	}
	if late != nil && !slices.ContainsFunc(ps, func(q track.Position) bool {
		return q.Time.Equal(late.Time) && q.FixHash() == late.FixHash()
	}) {
		ps = append(ps, *late)
	}
	slices.SortStableFunc(ps, func(a, b track.Position) int {
		if c := a.Time.Compare(b.Time); c != 0 {
			return c
		}
		return cmp.Compare(a.FixHash(), b.FixHash())
	})

	// Old view: what was emitted after the checkpoint.
	old := map[string]Episode{}
	keep := 0
	for _, le := range v.log {
		if le.At.After(cp.Time) {
			old[le.Ep.ID] = le.Ep
		} else {
			v.log[keep] = le
			keep++
		}
	}
	v.log = v.log[:keep]
	var st VehicleState
	if err := json.Unmarshal(cp.State, &st); err != nil {
		return dst, fmt.Errorf("vehicle %d: checkpoint: %w", v.info.ID, err)
	}
	v.st, v.cps, v.csValid = st, v.cps[:i+1], false
	// What the clock said is in the log (old); it is said again below.
	v.clock = nil

	nw := map[string]Episode{}
	var order []string
	for k := range ps {
		if k > 0 && ps[k].Time.Equal(ps[k-1].Time) && ps[k].FixHash() == ps[k-1].FixHash() {
			continue
		}
		v.out = v.out[:0]
		e.step(v, &ps[k])
		for _, ep := range v.out {
			v.log = append(v.log, logEntry{At: ps[k].Time, Ep: ep})
			if _, seen := nw[ep.ID]; !seen {
				order = append(order, ep.ID)
			}
			nw[ep.ID] = ep
		}
	}
	if v.st.Last != nil && v.ticked.After(v.st.Last.Time) {
		v.clock = v.clockView(nil, v.ticked)
		for _, ep := range v.clock {
			v.log = append(v.log, logEntry{At: v.ticked, Ep: ep})
			if _, seen := nw[ep.ID]; !seen {
				order = append(order, ep.ID)
			}
			nw[ep.ID] = ep
		}
	}
	for _, id := range order {
		n := nw[id]
		if o, ok := old[id]; !ok || !sameEpisode(&o, &n) {
			dst = append(dst, n)
		}
	}
	open := v.open(nil)
	var gone []string
	for id := range old {
		if _, ok := nw[id]; !ok {
			gone = append(gone, id)
		}
	}
	slices.Sort(gone)
	for _, id := range gone {
		if k := slices.IndexFunc(open, func(ep Episode) bool { return ep.ID == id }); k >= 0 {
			dst = append(dst, open[k])
			continue
		}
		ep := old[id]
		if ep.Status == EpisodeRetracted {
			continue // said already
		}
		ep.Status = EpisodeRetracted
		v.log = append(v.log, logEntry{At: v.st.Last.Time, Ep: ep})
		dst = append(dst, ep)
	}
	return dst, nil
}

// checkpointMaybe saves the state before a fix at t when the last
// checkpoint is CheckpointEvery old, and drops those beyond the horizon.
func (e *Engine) checkpointMaybe(v *vehicle, t time.Time) {
	st := &v.st
	if st.Last == nil || !st.Last.Time.Before(t) {
		return
	}
	lastCP := v.cps[len(v.cps)-1].Time
	if st.Last.Time.Sub(lastCP) < e.cfg.CheckpointEvery && !lastCP.IsZero() {
		return
	}
	v.cps = append(v.cps, checkpoint{Time: st.Last.Time, State: mustJSON(st)})
	cut := 0
	for cut < len(v.cps)-1 && st.Last.Time.Sub(v.cps[cut+1].Time) > e.cfg.Horizon {
		cut++
	}
	if cut > 0 {
		v.cps = slices.Delete(v.cps, 0, cut)
		oldest := v.cps[0].Time
		v.log = slices.DeleteFunc(v.log, func(le logEntry) bool { return !le.At.After(oldest) })
	}
}

// ReachBack returns the device time a re-evaluation of the vehicle from
// from would replay after: the time of the checkpoint it restarts from,
// zero when that is the vehicle's first (everything is replayed). ok is
// false when from is out of reach (ErrTooLate) or the vehicle unknown.
func (e *Engine) ReachBack(vehicleID int64, from time.Time) (t time.Time, ok bool) {
	v := e.vs[vehicleID]
	if v == nil {
		return time.Time{}, false
	}
	i := v.checkpointBefore(from)
	if i < 0 {
		return time.Time{}, false
	}
	return v.cps[i].Time, true
}

// checkpointBefore returns the index of the last checkpoint before from,
// -1 when there is none.
func (v *vehicle) checkpointBefore(from time.Time) int {
	i := len(v.cps) - 1
	for i >= 0 && !v.cps[i].Time.Before(from) {
		i--
	}
	return i
}
