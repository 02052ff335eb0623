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

// Params are the thresholds of every rule for one unit (and the units
// below it that have none of their own). Durations are time.Duration
// (nanoseconds in JSON); distances metres; speeds km/h.
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
			MinDuration:     3 * time.Minute,
			MovingKmh:       5, // below it a GNSS speed is noise
			StopRadiusM:     100,
			StopDuration:    5 * time.Minute,
			MaxPlausibleKmh: 250,
		},
		Time: TimeParams{MinViolation: time.Minute, Exempt: timeExempt},
		// 3 fixes at the usual 10–30 s interval is 30–90 s; 100 m is above
		// the error of a civil GNSS fix in a city.
		Area: AreaParams{Fixes: 3, MarginM: 100},
		Places: PlaceParams{Fixes: 2, Dwell: map[PlaceCategory]time.Duration{
			PlaceHotel:       2 * time.Hour,
			PlaceGolf:        10 * time.Minute,
			PlaceKTVSauna:    10 * time.Minute,
			PlaceScenic:      time.Hour,
			PlaceResidential: time.Hour,
		}},
		Parking: ParkingParams{CheckAt: []Clock{22 * 60}},
		Evasion: EvasionParams{SilentAfter: 10 * time.Minute, SilentMinDistanceM: 1000},
		Speed:   SpeedParams{DefaultKmh: 120, MinDuration: 30 * time.Second},
	}
}

func (p *Params) validate() error {
	d := p.Drive
	switch {
	case d.MinDistanceM <= 0 || d.MinDuration <= 0 || d.StopRadiusM <= 0 || d.StopDuration <= 0 || d.MaxPlausibleKmh <= 0:
		return fmt.Errorf("alerts: params: drive thresholds must be positive")
	case p.Area.Fixes < 1 || p.Places.Fixes < 1:
		return fmt.Errorf("alerts: params: debounce needs at least 1 fix")
	case p.Area.MarginM < 0 || p.Time.MinViolation < 0 || p.Speed.MinDuration < 0:
		return fmt.Errorf("alerts: params: negative threshold")
	}
	for _, c := range p.Parking.CheckAt {
		if c < 0 || c >= 24*60 {
			return fmt.Errorf("alerts: params: check time %s", c)
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

// Policy resolves a unit's parameters: its own, else its nearest
// ancestor's, else the default. Immutable and safe for concurrent use.
type Policy struct {
	tree  OrgTree
	def   *policyParams
	units map[int64]*policyParams
}

// NewPolicy checks and compiles the parameters.
func NewPolicy(tree OrgTree, def Params, units map[int64]Params) (*Policy, error) {
	d, err := compileParams(def)
	if err != nil {
		return nil, err
	}
	p := &Policy{tree: tree, def: d, units: map[int64]*policyParams{}}
	for u, up := range units {
		c, err := compileParams(up)
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
