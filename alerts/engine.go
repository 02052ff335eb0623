package alerts

import (
	"cmp"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"time"

	"fleetmon/track"
)

// Config is what the engine judges against. Its parts are immutable and
// may be shared by several engines (one per goroutine).
type Config struct {
	Tree      OrgTree
	Calendars *Calendars
	Fences    *FenceSet
	Policy    *Policy
	// Approvals may be nil (no approved trips).
	Approvals *Approvals
	// CheckpointEvery is the device time between two checkpoints of a
	// vehicle's state; default 30 min.
	CheckpointEvery time.Duration
	// Horizon is how far back a late fix can reach and still be
	// re-evaluated; default 48 h. Older ones get ErrTooLate.
	Horizon time.Duration
}

// Source reads stored positions back for re-evaluation (the storage step
// implements it over the positions table).
type Source interface {
	// Positions returns the vehicle's positions with after < Time <=
	// through, in any order. The engine does not retain the slice.
	Positions(vehicleID int64, after, through time.Time) ([]track.Position, error)
}

// ErrTooLate is returned for a fix older than every checkpoint of its
// vehicle; the fix is not evaluated.
var ErrTooLate = errors.New("alerts: fix older than the re-evaluation horizon")

// ErrUnknownVehicle is returned for a fix of a vehicle the engine was not
// told about (SetVehicle).
var ErrUnknownVehicle = errors.New("alerts: unknown vehicle")

// Fix is the part of a position the rules read.
type Fix struct {
	Time     time.Time `json:"t"`
	Lat      float64   `json:"lat"`
	Lon      float64   `json:"lon"`
	SpeedKmh float32   `json:"v"`
	Acc      bool      `json:"acc"`
	Alarm    uint32    `json:"alarm"`
}

func fixOf(p *track.Position) Fix {
	return Fix{Time: p.Time, Lat: p.Lat, Lon: p.Lon, SpeedKmh: p.SpeedKmh, Acc: p.Acc(), Alarm: p.Alarm}
}

// VehicleState is everything the rules remember about one vehicle: a pure
// function of the vehicle's fixes in device-time order (and the Config).
// An Episode in it with an empty Status has not been emitted yet.
type VehicleState struct {
	VehicleID int64 `json:"vehicle_id"`
	// N counts the fixes evaluated, outliers included.
	N     int        `json:"n"`
	Last  *Fix       `json:"last,omitempty"`
	Drive DriveState `json:"drive"`
	AfterHoursState
	SealedState
	Area   AreaState    `json:"area"`
	Places []PlaceState `json:"places,omitempty"`
	NightParkingState
	AlarmState
	SpeedingState
}

type checkpoint struct {
	Time  time.Time `json:"t"`
	State []byte    `json:"state"`
}

type logEntry struct {
	At time.Time `json:"at"`
	Ep Episode   `json:"ep"`
}

// vehicle is the engine's record of one vehicle: what applies to it and
// its state.
type vehicle struct {
	info      track.Vehicle
	chain     []int64
	cal       *Calendar
	par       *policyParams
	permitted []*fence
	parking   []*fence
	approvals []Approval
	fences    *FenceSet
	drives    *[]Drive
	st        VehicleState
	cps       []checkpoint
	log       []logEntry
	// ticked is the latest time the clock judged the vehicle at (Tick),
	// and clock what it said then: episodes opened by the passing of
	// time alone, not (yet) by a fix. See clock.go.
	ticked time.Time
	clock  []Episode

	// Scratch, rebuilt at will.
	cs      calStatus
	csValid bool
	out     []Episode
	hits    []*fence
}

// Engine runs the rules for many vehicles. Not safe for concurrent use.
type Engine struct {
	cfg Config
	src Source
	vs  map[int64]*vehicle
	// drives, when not nil, collects the real drives as they end
	// (RecordDrives).
	drives *[]Drive
}

// NewEngine returns an engine. src may be nil when late fixes need not be
// re-evaluated (they then get ErrTooLate).
func NewEngine(cfg Config, src Source) (*Engine, error) {
	if err := cfg.defaults(); err != nil {
		return nil, err
	}
	return &Engine{cfg: cfg, src: src, vs: map[int64]*vehicle{}}, nil
}

func (cfg *Config) defaults() error {
	if cfg.Calendars == nil || cfg.Policy == nil {
		return errors.New("alerts: engine needs Calendars and Policy")
	}
	if cfg.Fences == nil {
		cfg.Fences, _ = NewFenceSet(nil)
	}
	if cfg.CheckpointEvery <= 0 {
		cfg.CheckpointEvery = 30 * time.Minute
	}
	if cfg.Horizon <= 0 {
		cfg.Horizon = 48 * time.Hour
	}
	return nil
}

// SetConfig replaces the configuration (after a calendar, fence, params or
// approval was edited) and re-applies it to every registered vehicle. The
// vehicles' states are kept: fixes already evaluated keep their verdicts
// until they are re-evaluated.
func (e *Engine) SetConfig(cfg Config) error {
	if err := cfg.defaults(); err != nil {
		return err
	}
	e.cfg = cfg
	for _, v := range e.vs {
		e.SetVehicle(v.info)
	}
	return nil
}

// Vehicle returns what the engine knows about a registered vehicle.
func (e *Engine) Vehicle(id int64) (track.Vehicle, bool) {
	v := e.vs[id]
	if v == nil {
		return track.Vehicle{}, false
	}
	return v.info, true
}

// LastTime returns the device time of the vehicle's last evaluated fix,
// and false when it has none (or is not registered).
func (e *Engine) LastTime(vehicleID int64) (time.Time, bool) {
	v := e.vs[vehicleID]
	if v == nil || v.st.Last == nil {
		return time.Time{}, false
	}
	return v.st.Last.Time, true
}

// SetVehicle registers a vehicle or updates what applies to it (unit,
// category, sealed); its state is kept.
func (e *Engine) SetVehicle(info track.Vehicle) {
	v := e.vs[info.ID]
	if v == nil {
		v = &vehicle{st: VehicleState{VehicleID: info.ID}}
		e.vs[info.ID] = v
		v.cps = []checkpoint{{State: mustJSON(&v.st)}}
	}
	v.info = info
	v.chain = Chain(e.cfg.Tree, info.UnitID)
	v.cal = e.cfg.Calendars.For(info.UnitID)
	v.par = e.cfg.Policy.forUnit(info.UnitID)
	v.permitted = e.cfg.Fences.nearest(FencePermitted, info.ID, v.chain)
	v.parking = e.cfg.Fences.nearest(FenceParking, info.ID, v.chain)
	v.fences = e.cfg.Fences
	v.drives = e.drives
	v.approvals = nil
	if e.cfg.Approvals != nil {
		v.approvals = e.cfg.Approvals.byVehicle[info.ID]
	}
	v.csValid = false
}

func mustJSON(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		panic("alerts: state does not marshal: " + err.Error()) // a defect: the state is plain data
	}
	return b
}

// Feed evaluates one position and appends the episodes it opened, closed,
// changed or retracted to dst. A position older than the vehicle's last
// one is late: the vehicle is re-evaluated from the checkpoint before it,
// with positions read from the Source, and only the difference is
// emitted. The episodes appended are the caller's.
func (e *Engine) Feed(dst []Episode, p *track.Position) ([]Episode, error) {
	v := e.vs[p.VehicleID]
	if v == nil {
		return dst, fmt.Errorf("vehicle %d: %w", p.VehicleID, ErrUnknownVehicle)
	}
	if v.st.Last != nil && p.Time.Before(v.st.Last.Time) {
		return e.reevaluate(dst, v, p.Time, p)
	}
	if v.st.Last != nil && *v.st.Last == fixOf(p) {
		return dst, nil // a resent report: evaluated already
	}
	v.out = v.out[:0]
	e.step(v, p)
	if len(v.clock) > 0 || v.ticked.After(p.Time) {
		v.settle(false)
	}
	for i := range v.out {
		v.log = append(v.log, logEntry{At: p.Time, Ep: v.out[i]})
	}
	return append(dst, v.out...), nil
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
	i := len(v.cps) - 1
	for i >= 0 && !v.cps[i].Time.Before(from) {
		i--
	}
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

// Open appends the vehicle's open episodes to dst.
func (e *Engine) Open(dst []Episode, vehicleID int64) []Episode {
	if v := e.vs[vehicleID]; v != nil {
		return v.open(dst)
	}
	return dst
}

func (v *vehicle) open(dst []Episode) []Episode {
	add := func(ep *Episode) {
		if ep != nil && ep.Status == EpisodeOpen {
			dst = append(dst, *ep)
		}
	}
	st := &v.st
	add(st.TimeRun)
	add(st.Sealed)
	add(st.Area.Ep)
	for i := range st.Places {
		add(st.Places[i].Ep)
	}
	add(st.Parking)
	add(st.Power)
	add(st.Antenna)
	add(st.Speed)
	return append(dst, v.clock...)
}

// State returns a copy of the vehicle's state.
func (e *Engine) State(vehicleID int64) (VehicleState, bool) {
	v := e.vs[vehicleID]
	if v == nil {
		return VehicleState{}, false
	}
	var st VehicleState
	_ = json.Unmarshal(mustJSON(&v.st), &st)
	return st, true
}

type savedVehicle struct {
	State       VehicleState `json:"state"`
	Checkpoints []checkpoint `json:"checkpoints"`
	Log         []logEntry   `json:"log"`
	Ticked      time.Time    `json:"ticked,omitzero"`
	Clock       []Episode    `json:"clock,omitempty"`
}

// MarshalState serialises every vehicle's state, checkpoints and recent
// emissions, for a restart.
func (e *Engine) MarshalState() ([]byte, error) {
	m := map[int64]savedVehicle{}
	for id, v := range e.vs {
		m[id] = savedVehicle{v.st, v.cps, v.log, v.ticked, v.clock}
	}
	return json.Marshal(m)
}

// RestoreState loads what MarshalState saved, for vehicles already
// registered with SetVehicle; others are ignored.
func (e *Engine) RestoreState(b []byte) error {
	var m map[int64]savedVehicle
	if err := json.Unmarshal(b, &m); err != nil {
		return fmt.Errorf("alerts: restore state: %w", err)
	}
	for id, s := range m {
		if v := e.vs[id]; v != nil {
			v.st, v.cps, v.log, v.csValid = s.State, s.Checkpoints, s.Log, false
			v.ticked, v.clock = s.Ticked, s.Clock
		}
	}
	return nil
}

// MarshalVehicle serialises one vehicle's state, checkpoints and recent
// emissions (the unit MarshalState is made of), for saving vehicles
// separately. It returns false for a vehicle not registered.
func (e *Engine) MarshalVehicle(vehicleID int64) ([]byte, bool, error) {
	v := e.vs[vehicleID]
	if v == nil {
		return nil, false, nil
	}
	b, err := json.Marshal(savedVehicle{v.st, v.cps, v.log, v.ticked, v.clock})
	return b, true, err
}

// RestoreVehicle loads what MarshalVehicle saved into a registered
// vehicle.
func (e *Engine) RestoreVehicle(vehicleID int64, b []byte) error {
	v := e.vs[vehicleID]
	if v == nil {
		return fmt.Errorf("vehicle %d: %w", vehicleID, ErrUnknownVehicle)
	}
	var s savedVehicle
	if err := json.Unmarshal(b, &s); err != nil {
		return fmt.Errorf("alerts: restore vehicle %d: %w", vehicleID, err)
	}
	if len(s.Checkpoints) == 0 {
		return fmt.Errorf("alerts: restore vehicle %d: no checkpoint", vehicleID)
	}
	v.st, v.cps, v.log, v.csValid = s.State, s.Checkpoints, s.Log, false
	v.ticked, v.clock = s.Ticked, s.Clock
	return nil
}

// step evaluates one fix in order, appending emissions to v.out.
func (e *Engine) step(v *vehicle, p *track.Position) {
	st := &v.st
	f := fixOf(p)
	e.checkpointMaybe(v, f.Time)
	st.N++
	par := v.par
	v.alarms(f)
	if st.Last != nil {
		last := *st.Last
		dt := f.Time.Sub(last.Time).Hours()
		d := DistanceM(last.Lat, last.Lon, f.Lat, f.Lon)
		// A jump faster than any car is a GNSS outlier: skip it for the
		// positional rules, and keep judging from the last good fix.
		if d > par.Drive.StopRadiusM && (dt <= 0 || d/1000/dt > par.Drive.MaxPlausibleKmh) {
			return
		}
	}
	v.silent(f)
	v.drive(f)
	v.area(f)
	v.places(f)
	v.parkingCheck(f)
	st.Last = &f
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

// emit stamps ep with the common fields, marks it with status and appends
// a copy to v.out.
func (v *vehicle) emit(ep *Episode, status EpisodeStatus) {
	v.stamp(ep, status)
	v.out = append(v.out, *ep)
}

// stamp sets ep's status and the fields every episode of the vehicle
// carries: ids, its deterministic ID and what it was judged with.
func (v *vehicle) stamp(ep *Episode, status EpisodeStatus) {
	ep.Status = status
	ep.VehicleID = v.info.ID
	ep.UnitID = v.info.UnitID
	ep.ID = episodeID(ep.VehicleID, ep.Rule, ep.FenceID, ep.Start)
	ep.ParamsVersion = v.par.version
	ep.Params = v.par.ruleJSON[ep.Rule]
	switch ep.Rule {
	case RuleAfterHours, RuleHolidayUse, RuleNightParking:
		ep.CalendarVersion = v.cal.version
	}
}

func (v *vehicle) enabled(r RuleID) bool { return v.par.enabled(r, v.info.Category) }

func newEpisode(r RuleID, at Fix, start time.Time) *Episode {
	return &Episode{Rule: r, Start: start, StartLat: at.Lat, StartLon: at.Lon, MaxSpeedKmh: at.SpeedKmh}
}

func (v *vehicle) closeEp(ep *Episode, end time.Time, at Fix) {
	ep.End, ep.EndLat, ep.EndLon = end, at.Lat, at.Lon
	v.emit(ep, EpisodeClosed)
}
