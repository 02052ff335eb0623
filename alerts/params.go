package alerts

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"slices"
	"time"

	"fleetmon/track"
)

// Params are the thresholds of every rule for one unit. Durations are
// Duration (strings such as "5m" in JSON); distances metres; speeds km/h.
// A unit sets only some of them (Overrides, paramdefs.go) and inherits the
// rest down the unit tree.
type Params struct {
	Drive   DriveParams   `json:"drive"`
	Time    TimeParams    `json:"time"`
	Area    AreaParams    `json:"area"`
	Places  PlaceParams   `json:"places"`
	Parking ParkingParams `json:"parking"`
	Evasion EvasionParams `json:"evasion"`
	Speed   SpeedParams   `json:"speed"`
	// Disabled rules are not evaluated.
	Disabled []RuleID `json:"disabled,omitempty"`
}

// DefaultParams returns the thresholds used where a unit sets none.
func DefaultParams() Params {
	timeExempt := []track.Category{track.CategoryEmergency, track.CategoryConfidential}
	return Params{
		Drive: DriveParams{
			MinDistanceM:    500,
			MinDuration:     Duration(3 * time.Minute),
			Match:           DriveMatchAll,
			MovingKmh:       5, // below it a GNSS speed is noise
			StopRadiusM:     100,
			StopDuration:    Duration(5 * time.Minute),
			MaxPlausibleKmh: 250,
		},
		Time: TimeParams{MinViolation: Duration(time.Minute), Exempt: timeExempt},
		// A minute outside is what 3 fixes were at the usual 30 s interval;
		// 100 m is above the error of a civil GNSS fix in a city.
		Area: AreaParams{Outside: Duration(time.Minute), MarginM: 100},
		Places: PlaceParams{Fixes: 2, Dwell: map[PlaceCategory]Duration{
			PlaceHotel:       Duration(2 * time.Hour),
			PlaceGolf:        Duration(10 * time.Minute),
			PlaceKTVSauna:    Duration(10 * time.Minute),
			PlaceScenic:      Duration(time.Hour),
			PlaceResidential: Duration(time.Hour),
		}},
		Parking: ParkingParams{CheckAt: []Clock{22 * 60}},
		Evasion: EvasionParams{SilentAfter: Duration(10 * time.Minute), SilentMinDistanceM: 1000},
		Speed:   SpeedParams{DefaultKmh: 120, MinDuration: Duration(30 * time.Second)},
	}
}

func (p *Params) validate() error {
	d := p.Drive
	bad := func(name, zh, en string) error {
		return fmt.Errorf("%s: %s (%s)", name, zh, en)
	}
	switch {
	case d.MinDistanceM <= 0:
		return bad("drive.min_distance_m", "须大于 0", "must be positive")
	case d.MinDuration <= 0:
		return bad("drive.min_duration", "须大于 0", "must be positive")
	case d.StopRadiusM <= 0:
		return bad("drive.stop_radius_m", "须大于 0", "must be positive")
	case d.StopDuration <= 0:
		return bad("drive.stop_duration", "须大于 0", "must be positive")
	case d.MaxPlausibleKmh <= 0:
		return bad("drive.max_plausible_kmh", "须大于 0", "must be positive")
	case d.Match != "" && d.Match != DriveMatchAll && d.Match != DriveMatchAny:
		return bad("drive.match", "须为 all 或 any", "want all or any")
	case p.Places.Fixes < 1:
		return bad("places.fixes", "至少 1 个定位点", "debounce needs at least 1 fix")
	case p.Area.Outside < 0 || p.Area.OutsideDistanceM < 0 || p.Area.MarginM < 0:
		return bad("area", "不能为负", "negative threshold")
	case p.Time.MinViolation < 0 || p.Speed.MinDuration < 0 || p.Evasion.SilentAfter < 0:
		return bad("time.min_violation, speed.min_duration, evasion.silent_after", "不能为负", "negative threshold")
	}
	for _, c := range p.Parking.CheckAt {
		if c < 0 || c >= 24*60 {
			return bad("parking.check_at", "时刻无效 "+c.String(), "bad time of day")
		}
	}
	return nil
}

// policyParams is a Params compiled: its version and the JSON of each
// rule's own parameters, recorded with each episode.
type policyParams struct {
	Params
	version  string
	ruleJSON map[RuleID]string
}

func (p *policyParams) enabled(r RuleID, c track.Category) bool {
	if slices.Contains(p.Disabled, r) {
		return false
	}
	var ex []track.Category
	switch r {
	case RuleAfterHours, RuleHolidayUse:
		ex = p.Time.Exempt
	case RuleOutOfArea:
		ex = p.Area.Exempt
	case RuleProhibited, RuleSensitiveDwell:
		ex = p.Places.Exempt
	case RuleNightParking:
		ex = p.Parking.Exempt
	}
	return !slices.Contains(ex, c)
}

func compileParams(p Params) (*policyParams, error) {
	if err := p.validate(); err != nil {
		return nil, err
	}
	p.Parking.CheckAt = slices.Clone(p.Parking.CheckAt)
	slices.Sort(p.Parking.CheckAt)
	all, _ := json.Marshal(p)
	sum := sha256.Sum256(all)
	c := &policyParams{Params: p, version: hex.EncodeToString(sum[:6]), ruleJSON: map[RuleID]string{}}
	js := func(v ...any) string { b, _ := json.Marshal(v); return string(b) }
	c.ruleJSON[RuleAfterHours] = js(p.Drive, p.Time)
	c.ruleJSON[RuleHolidayUse] = c.ruleJSON[RuleAfterHours]
	c.ruleJSON[RuleSealedMove] = js(p.Drive)
	c.ruleJSON[RuleOutOfArea] = js(p.Area)
	c.ruleJSON[RuleProhibited] = js(p.Places)
	c.ruleJSON[RuleSensitiveDwell] = js(p.Places)
	c.ruleJSON[RuleNightParking] = js(p.Parking)
	c.ruleJSON[RulePowerCut] = "[]"
	c.ruleJSON[RuleAntenna] = "[]"
	c.ruleJSON[RuleSilent] = js(p.Evasion, p.Drive.MovingKmh)
	c.ruleJSON[RuleSpeeding] = js(p.Speed)
	return c, nil
}

// Policy resolves a unit's parameters: each one from the nearest unit up
// its chain that sets it, else the defaults. Immutable and safe for
// concurrent use.
type Policy struct {
	tree  OrgTree
	def   *policyParams
	units map[int64]*policyParams
}

// NewPolicy checks and compiles the parameters: def for every unit, and
// over it the overrides of each unit and of the units above it.
func NewPolicy(tree OrgTree, def Params, units map[int64]Overrides) (*Policy, error) {
	d, err := compileParams(def)
	if err != nil {
		return nil, err
	}
	p := &Policy{tree: tree, def: d, units: map[int64]*policyParams{}}
	// A unit without overrides has its nearest such ancestor's
	// parameters: only units with overrides need compiling.
	for u := range units {
		chain := Chain(tree, u)
		eff := def
		for i := len(chain) - 1; i >= 0; i-- {
			if eff, err = units[chain[i]].apply(eff); err != nil {
				return nil, fmt.Errorf("unit %d: %w", chain[i], err)
			}
		}
		c, err := compileParams(eff)
		if err != nil {
			return nil, fmt.Errorf("unit %d: %w", u, err)
		}
		p.units[u] = c
	}
	return p, nil
}

// forUnit returns the parameters that apply to unit.
func (p *Policy) forUnit(unit int64) *policyParams {
	return inherited(p.tree, unit, p.units, p.def)
}
