package track

import (
	"context"
	"time"
)

// Vehicle states as the live stream reports them. A vehicle has one at a
// time, the first that applies in this order: alarm (its terminal's alarm
// flags are set), sealed (封存), offline (nothing received for the hub's
// offline period), moving (at MovingKmh or more), parked.
const (
	StateAlarm   = "alarm"
	StateSealed  = "sealed"
	StateOffline = "offline"
	StateMoving  = "moving"
	StateParked  = "parked"
)

// MovingKmh is the speed from which the live stream calls a vehicle
// moving: below it, a parked car's GPS jitter. (The rules engine judges
// real driving with its own distance and duration thresholds.)
const MovingKmh = 3

// DefaultOfflineAfter is how long without a report makes a vehicle
// offline, unless the hub is told otherwise. Terminals report every few
// minutes while parked; set it above the fleet's parked interval.
const DefaultOfflineAfter = 10 * time.Minute

// EventState is the kind of the events the hub sends when a vehicle's
// state changes; the payload is a StateChange.
const EventState = "state"

// StateChange is the payload of an EventState event.
type StateChange struct {
	State    string `json:"state"`
	Previous string `json:"previous,omitempty"`
	// Since is when the vehicle entered State, RFC 3339 Beijing time.
	Since string `json:"since"`
}

// vehicleState is what the hub remembers of a vehicle to derive its state.
type vehicleState struct {
	state    string
	last     time.Time // device time of the newest position
	received time.Time // when fleetd read the newest report of any age
	moving   bool
	alarm    bool
	sealed   bool
	seen     bool // a position has been published
}

func (v *vehicleState) derive(now time.Time, offlineAfter time.Duration) string {
	switch {
	case v.seen && v.alarm:
		return StateAlarm
	case v.sealed:
		return StateSealed
	case !v.seen:
		return ""
	case now.Sub(v.received) > offlineAfter:
		return StateOffline
	case v.moving:
		return StateMoving
	}
	return StateParked
}

// observe updates the vehicles' states from published positions, sets
// the State of shared (the positions as subscribers get them; nil when
// there are none), and returns the changes to announce.
func (h *Hub) observe(ps []Position, shared []Live) []Event {
	h.stMu.Lock()
	defer h.stMu.Unlock()
	now := h.now()
	var evs []Event
	for i := range ps {
		p := &ps[i]
		v := h.states[p.VehicleID]
		if v == nil {
			v = &vehicleState{}
			h.states[p.VehicleID] = v
		}
		r := p.Received
		if r.IsZero() {
			r = now // a source that does not stamp its positions: they are news now
		}
		if r.After(v.received) {
			v.received = r
		}
		if !v.seen || !p.Time.Before(v.last) { // a back-fill does not say what the vehicle does now
			v.last, v.seen = p.Time, true
			v.moving, v.alarm = p.SpeedKmh >= MovingKmh, p.Alarm != 0
		}
		if ev, ok := h.transition(p.VehicleID, v, now); ok {
			evs = append(evs, ev)
		}
		if shared != nil {
			shared[i].State = v.state
		}
	}
	return evs
}

// transition moves v to its derived state, returning the event when it
// changed.
func (h *Hub) transition(id int64, v *vehicleState, now time.Time) (Event, bool) {
	s := v.derive(now, h.offlineAfter)
	if s == v.state || s == "" {
		return Event{}, false
	}
	prev := v.state
	v.state = s
	return Event{VehicleID: id, Kind: EventState, Payload: StateChange{State: s, Previous: prev,
		Since: now.In(Beijing).Format(time.RFC3339)}}, true
}

// SetSealed records that a vehicle is sealed (封存) or no longer is, and
// announces its new state.
func (h *Hub) SetSealed(vehicleID int64, sealed bool) {
	h.stMu.Lock()
	v := h.states[vehicleID]
	if v == nil {
		v = &vehicleState{}
		h.states[vehicleID] = v
	}
	v.sealed = sealed
	ev, changed := h.transition(vehicleID, v, h.now())
	if !sealed && !v.seen && v.state == StateSealed {
		// Unsealed and never seen: no state to announce but "not sealed".
		v.state = ""
		ev, changed = Event{VehicleID: vehicleID, Kind: EventState, Payload: StateChange{Previous: StateSealed,
			Since: h.now().In(Beijing).Format(time.RFC3339)}}, true
	}
	h.stMu.Unlock()
	if changed {
		h.PublishEvent(ev)
	}
}

// SyncSealed makes the hub's seals those of sealed (every vehicle's, as
// stored), announcing each vehicle whose seal changed: for seals made
// elsewhere, e.g. through another node's API.
func (h *Hub) SyncSealed(sealed map[int64]bool) {
	h.stMu.Lock()
	var changed []int64
	for id, v := range h.states {
		if v.sealed != sealed[id] {
			changed = append(changed, id)
		}
	}
	for id, s := range sealed {
		if _, known := h.states[id]; s && !known {
			changed = append(changed, id)
		}
	}
	h.stMu.Unlock()
	for _, id := range changed {
		h.SetSealed(id, sealed[id])
	}
}

// State returns a vehicle's current state, "" when the hub knows nothing
// of it.
func (h *Hub) State(vehicleID int64) string {
	h.stMu.Lock()
	defer h.stMu.Unlock()
	if v := h.states[vehicleID]; v != nil {
		return v.state
	}
	return ""
}

// Sweep marks the vehicles that have gone silent offline now; WatchStates
// calls it periodically.
func (h *Hub) Sweep() {
	h.stMu.Lock()
	now := h.now()
	var evs []Event
	for id, v := range h.states {
		if v.state == StateOffline || !v.seen {
			continue
		}
		if ev, ok := h.transition(id, v, now); ok {
			evs = append(evs, ev)
		}
	}
	h.stMu.Unlock()
	for _, e := range evs {
		h.PublishEvent(e)
	}
}

// WatchStates marks silent vehicles offline every interval (a tenth of
// the offline period, at least a second) until ctx ends.
func (h *Hub) WatchStates(ctx context.Context) {
	every := max(h.offlineAfter/10, time.Second)
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-t.C:
			h.Sweep()
		case <-ctx.Done():
			return
		}
	}
}

// Seed is what the hub is told of a vehicle at start: its latest stored
// report (zero Time when it has none) and whether it is sealed.
type Seed struct {
	VehicleID int64
	Time      time.Time // device time of the latest report
	Received  time.Time
	SpeedKmh  float32
	Alarm     uint32
	Sealed    bool
}

// Seed gives the hub the vehicles' stored states, so that a vehicle that
// last reported before fleetd started still goes offline on time. It
// announces nothing; call it before serving.
func (h *Hub) Seed(seeds []Seed) {
	h.stMu.Lock()
	defer h.stMu.Unlock()
	now := h.now()
	for _, s := range seeds {
		v := &vehicleState{sealed: s.Sealed, last: s.Time, received: s.Received, seen: !s.Time.IsZero(),
			moving: s.SpeedKmh >= MovingKmh, alarm: s.Alarm != 0}
		v.state = v.derive(now, h.offlineAfter)
		h.states[s.VehicleID] = v
	}
}

// StateOf is a vehicle's state: the hub's when it knows the vehicle,
// otherwise derived from a stored latest report.
func (h *Hub) StateOf(vehicleID int64, latest time.Time, speedKmh float32, alarm uint32, sealed bool) string {
	h.stMu.Lock()
	defer h.stMu.Unlock()
	if v := h.states[vehicleID]; v != nil && v.state != "" {
		return v.state
	}
	v := vehicleState{sealed: sealed, last: latest, received: latest, seen: !latest.IsZero(),
		moving: speedKmh >= MovingKmh, alarm: alarm != 0}
	return v.derive(h.now(), h.offlineAfter)
}
