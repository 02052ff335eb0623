package alerts

import (
	"errors"
	"fmt"
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
	// Seals may be nil (no vehicle ever sealed).
	Seals *Seals
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
// An Episode in it with an empty Status has not been emitted yet. Each
// rule's part is declared in the rule's file; the parts without a name of
// their own are embedded so that their fields stay at the top level of the
// saved JSON, where states saved by earlier builds have them.
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
	seals     []track.SealPeriod
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
// category, seal periods); its state is kept.
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
	v.seals = e.cfg.Seals.of(info.ID)
	v.csValid = false
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

// step evaluates one fix in order, appending emissions to v.out. Every
// rule is a method of the vehicle that takes the fix and judges it
// against its own part of the state, with st.Last the previous good fix;
// the rules run in a fixed order so that what they emit does too.
func (e *Engine) step(v *vehicle, p *track.Position) {
	st := &v.st
	f := fixOf(p)
	e.checkpointMaybe(v, f.Time)
	st.N++
	v.alarms(f) // the terminal's own alarm bits hold even on an outlier
	if v.outlier(f) {
		return
	}
	v.silent(f)
	v.drive(f)
	v.area(f)
	v.places(f)
	v.parkingCheck(f)
	st.Last = &f
}

// outlier says whether f is a jump from the last good fix faster than any
// car: a GNSS outlier, skipped by the positional rules, which keep judging
// from the last good fix.
func (v *vehicle) outlier(f Fix) bool {
	if v.st.Last == nil {
		return false
	}
	last := *v.st.Last
	P := v.par.Drive
	dt := f.Time.Sub(last.Time).Hours()
	d := DistanceM(last.Lat, last.Lon, f.Lat, f.Lon)
	return d > P.StopRadiusM && (dt <= 0 || d/1000/dt > P.MaxPlausibleKmh)
}

// enabled says whether rule r applies to the vehicle: not disabled by its
// unit's parameters, and its category not exempt.
func (v *vehicle) enabled(r RuleID) bool { return v.par.enabled(r, v.info.Category) }
