package alerts

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"

	"fleetmon/track"
)

// The parameter table: every rule parameter by its dotted name
// ("drive.min_duration"), what kind of value it takes and in which unit.
// A unit's stored parameters are Overrides, the few names it sets; the
// rest it inherits from the units above it, then from the stored defaults
// (unit 0), then from DefaultParams. Input is read in people's units
// (durations as "5m", distances in metres or "1 km", speeds in km/h) and
// refused, with the valid names or values, when it names something
// unknown.

// paramKind says what a parameter's value is.
type paramKind int

const (
	// kindMinutes is a Duration that may also be written as a plain
	// number of minutes (thresholds people think of in minutes).
	kindMinutes paramKind = iota
	// kindSeconds is a Duration of seconds to a few minutes: a plain
	// number is refused, since 30 could be seconds or minutes.
	kindSeconds
	kindMetres
	kindKmh
	// kindKmhOrNull is a speed limit of a vehicle category: null leaves
	// the category to speed.default_kmh.
	kindKmhOrNull
	kindCount
	kindCategories
	kindRules
	kindClocks
	kindMatch
)

// paramUnit is the unit shown with each kind of value.
var paramUnit = map[paramKind]string{kindMinutes: "duration", kindSeconds: "duration", kindMetres: "m",
	kindKmh: "km/h", kindKmhOrNull: "km/h", kindCount: "fixes", kindCategories: "vehicle categories",
	kindRules: "rules", kindClocks: "HH:MM", kindMatch: "all|any"}

// ParamDef describes one parameter.
type ParamDef struct {
	Name string `json:"name"`
	// Unit is "duration" (a string such as "5m"), "m", "km/h", "fixes",
	// "HH:MM", "all|any", or the kind of list.
	Unit string `json:"unit"`
	// Doc says what it does, in Chinese and English.
	Doc  string `json:"doc"`
	kind paramKind
}

// VehicleCategories are the vehicle categories, as track names them.
var VehicleCategories = []track.Category{track.CategoryGeneral, track.CategoryConfidential, track.CategoryEmergency,
	track.CategoryEnforcement, track.CategorySpecial}

// RuleIDs are the rules, in the order the engine runs them.
var RuleIDs = []RuleID{RuleAfterHours, RuleHolidayUse, RuleOutOfArea, RuleProhibited, RuleSensitiveDwell,
	RuleNightParking, RuleSealedMove, RulePowerCut, RuleAntenna, RuleSilent, RuleSpeeding}

// FenceKinds are the geofence kinds.
var FenceKinds = []FenceKind{FencePermitted, FenceProhibited, FenceSensitive, FenceParking, FenceSpeedZone}

// PlaceCategories are the sensitive place categories.
var PlaceCategories = []PlaceCategory{PlaceHotel, PlaceGolf, PlaceKTVSauna, PlaceScenic, PlaceResidential}

// paramDefs is the table, in the order parameters are listed.
var paramDefs = func() []ParamDef {
	d := func(name string, k paramKind, doc string) ParamDef {
		return ParamDef{Name: name, Unit: paramUnit[k], Doc: doc, kind: k}
	}
	defs := []ParamDef{
		d("drive.min_distance_m", kindMetres, "行驶算数的距离 distance from its start that makes a drive real"),
		d("drive.min_duration", kindMinutes, "行驶算数的时长 duration that makes a drive real"),
		d("drive.match", kindMatch, "all: 距离且时长 (distance and duration); any: 距离或时长 (distance or duration, \"1 km 或 5 分钟\")"),
		d("drive.moving_kmh", kindKmh, "低于此速度视为静止 speed below which a GNSS speed is noise"),
		d("drive.stop_radius_m", kindMetres, "停车半径 radius a parked car stays within"),
		d("drive.stop_duration", kindMinutes, "停留多久算行驶结束 stay within the stop radius this long and the drive has ended"),
		d("drive.max_plausible_kmh", kindKmh, "超过此速度的跳点视为漂移 jumps implying more are GNSS outliers"),
		d("time.min_violation", kindMinutes, "非工作时间用车的最短时长 shortest after-hours or holiday drive reported"),
		d("time.exempt", kindCategories, "免检车辆类别 vehicle categories exempt from the working-time rules"),
		d("area.outside", kindSeconds, "越界须在界外持续的时间 time beyond the margin before a car is out (and inside before it is back)"),
		d("area.outside_distance_m", kindMetres, "或在界外行驶的距离 or distance gone beyond the margin (0: time only)"),
		d("area.margin_m", kindMetres, "边界容差 margin beyond the border (GNSS error)"),
		d("area.exempt", kindCategories, "免检车辆类别 vehicle categories exempt from 越界"),
		d("places.fixes", kindCount, "进入禁入/敏感区域的确认定位点数 consecutive fixes inside a place before the car is in"),
	}
	for _, c := range PlaceCategories {
		defs = append(defs, d("places.dwell."+string(c), kindMinutes, "敏感区域停留上限 longest stay at a sensitive place of this category"))
	}
	defs = append(defs,
		d("places.exempt", kindCategories, "免检车辆类别 vehicle categories exempt from the place rules"),
		d("parking.check_at", kindClocks, "夜间未入库检查时刻 times of day the night-parking check runs"),
		d("parking.exempt", kindCategories, "免检车辆类别 vehicle categories exempt from 夜间未入库"),
		d("evasion.silent_after", kindMinutes, "行驶中离线多久算离线 silence while in use that counts (0: off)"),
		d("evasion.silent_min_distance_m", kindMetres, "离线前后位移 distance between the fixes around the silence"),
		d("speed.default_kmh", kindKmh, "默认限速 speed limit of a category without its own (0: none)"),
	)
	for _, c := range VehicleCategories {
		defs = append(defs, d("speed.limit_kmh."+string(c), kindKmhOrNull, "该类别车辆限速 speed limit of this vehicle category (null: speed.default_kmh)"))
	}
	return append(defs,
		d("speed.min_duration", kindSeconds, "超速持续多久算超速 time above the limit before it is 超速"),
		d("disabled", kindRules, "停用的规则 rules not evaluated"),
	)
}()

// ParamDefs returns the parameter table.
func ParamDefs() []ParamDef { return slices.Clone(paramDefs) }

func paramDef(name string) (ParamDef, bool) {
	i := slices.IndexFunc(paramDefs, func(d ParamDef) bool { return d.Name == name })
	if i < 0 {
		return ParamDef{}, false
	}
	return paramDefs[i], true
}

// ParamNames returns every parameter name.
func ParamNames() []string {
	out := make([]string, len(paramDefs))
	for i, d := range paramDefs {
		out[i] = d.Name
	}
	return out
}

// Overrides are the parameters one unit (or the stored defaults) sets, by
// name, each value in its canonical JSON (durations as strings such as
// "5m"). Names it leaves out are inherited.
type Overrides map[string]json.RawMessage

// UnknownNameError is a name that is not one of the valid ones.
type UnknownNameError struct {
	What  string // "参数 parameter", "字段 field", "属性 property", ...
	Name  string
	Valid []string
}

func (e *UnknownNameError) Error() string {
	return fmt.Sprintf("未知%s %q (unknown %s)；可用 (valid)：%s", zhPart(e.What), e.Name, enPart(e.What),
		strings.Join(e.Valid, ", "))
}

// zhPart and enPart split a "中文 English" label.
func zhPart(s string) string { zh, _, _ := strings.Cut(s, " "); return zh }
func enPart(s string) string {
	if _, en, ok := strings.Cut(s, " "); ok {
		return en
	}
	return s
}

// ParseOverrides reads parameters as people send them: an object of
// dotted names ({"drive.min_duration": "5m"}), or nested as Params nests
// them ({"drive": {"min_duration": "5m"}}), or both. Durations are
// strings with their unit, or a number of minutes where the parameter is
// one people write in minutes; distances are metres (a number, or a
// string such as "1 km"). An unknown name is refused with the valid ones.
func ParseOverrides(b []byte) (Overrides, error) {
	return parseOverrides(b, false)
}

// parseOverrides also reads what the store holds: with legacy set, a
// number where a duration is wanted is nanoseconds, as time.Duration wrote
// it before durations were strings, and parameters that no longer exist
// are dropped (area.fixes: the out-of-area debounce is a time now).
func parseOverrides(b []byte, legacy bool) (Overrides, error) {
	var top map[string]json.RawMessage
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	if err := dec.Decode(&top); err != nil {
		return nil, fmt.Errorf("参数须为 JSON 对象 (parameters must be a JSON object): %w", err)
	}
	out := Overrides{}
	var walk func(prefix string, m map[string]json.RawMessage) error
	walk = func(prefix string, m map[string]json.RawMessage) error {
		keys := make([]string, 0, len(m))
		for k := range m {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		for _, k := range keys {
			name, raw := prefix+k, m[k]
			if def, ok := paramDef(name); ok {
				v, err := normalise(def, raw, legacy)
				if err != nil {
					return fmt.Errorf("%s: %w", name, err)
				}
				if _, dup := out[name]; dup {
					return fmt.Errorf("%s: 重复设置 (set twice)", name)
				}
				out[name] = v
				continue
			}
			if legacy && name == "area.fixes" {
				continue
			}
			var sub map[string]json.RawMessage
			if isGroup(name) && json.Unmarshal(raw, &sub) == nil {
				if err := walk(name+".", sub); err != nil {
					return err
				}
				continue
			}
			return &UnknownNameError{What: "参数 parameter", Name: name, Valid: ParamNames()}
		}
		return nil
	}
	if err := walk("", top); err != nil {
		return nil, err
	}
	return out, nil
}

// isGroup reports whether name is a prefix of parameter names (such as
// "drive" or "places.dwell").
func isGroup(name string) bool {
	return slices.ContainsFunc(paramDefs, func(d ParamDef) bool { return strings.HasPrefix(d.Name, name+".") })
}

// maxMinutes bounds a duration written as a number of minutes: a larger
// number is almost surely nanoseconds from a client of the old API.
const maxMinutes = 60 * 24 * 366

// normalise checks one value against its parameter and returns its
// canonical JSON.
func normalise(def ParamDef, raw json.RawMessage, legacy bool) (json.RawMessage, error) {
	var v any
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	if err := dec.Decode(&v); err != nil {
		return nil, err
	}
	js := func(x any) (json.RawMessage, error) { b, err := json.Marshal(x); return b, err }
	num, isNum := v.(json.Number)
	str, isStr := v.(string)
	switch def.kind {
	case kindMinutes, kindSeconds:
		switch {
		case isStr:
			d, err := ParseDuration(str)
			if err != nil {
				return nil, err
			}
			return js(d)
		case isNum && legacy:
			n, err := num.Int64()
			if err != nil {
				return nil, fmt.Errorf("stored duration %s is not nanoseconds", num)
			}
			return js(Duration(n))
		case isNum && def.kind == kindMinutes:
			m, err := num.Float64()
			switch {
			case err != nil || m < 0:
				return nil, fmt.Errorf("分钟数 %s 无效 (not a number of minutes ≥ 0)", num)
			case m > maxMinutes:
				return nil, fmt.Errorf("数字按分钟计，%s 分钟超过一年，像是纳秒；请写成 \"5m\" 这样的时长 (a plain number is minutes; %s looks like nanoseconds: write a duration such as \"5m\")", num, num)
			}
			return js(Duration(math.Round(m * 60e9)))
		case isNum:
			return nil, fmt.Errorf("数字 %s 不明确，请写明单位，如 \"%ss\" 或 \"%sm\" (ambiguous number: write %ss for seconds or %sm for minutes)", num, num, num, num, num)
		}
		return nil, fmt.Errorf("须为时长，如 \"5m\"、\"90s\" (want a duration such as \"5m\" or \"90s\")")
	case kindMetres:
		if isStr {
			m, err := ParseDistance(str)
			if err != nil {
				return nil, err
			}
			return js(m)
		}
		if f, err := num.Float64(); isNum && err == nil && f >= 0 {
			return js(f)
		}
		return nil, fmt.Errorf("须为米数 ≥ 0，或 \"1 km\" 这样的距离 (want metres ≥ 0, or a distance such as \"1 km\")")
	case kindKmh, kindKmhOrNull:
		if v == nil && def.kind == kindKmhOrNull {
			return json.RawMessage("null"), nil
		}
		if f, err := num.Float64(); isNum && err == nil && f >= 0 && f < 1000 {
			return js(f)
		}
		return nil, fmt.Errorf("须为 km/h 数 (want a speed in km/h, 0 to 999)")
	case kindCount:
		if n, err := num.Int64(); isNum && err == nil && n >= 1 && n <= 100 {
			return js(n)
		}
		return nil, fmt.Errorf("须为 1 到 100 的整数 (want a whole number from 1 to 100)")
	case kindMatch:
		switch strings.ToLower(strings.TrimSpace(str)) {
		case "all", "and", "且", "和", "并且":
			return js(DriveMatchAll)
		case "any", "or", "或", "或者":
			return js(DriveMatchAny)
		}
		return nil, &UnknownNameError{What: "取值 value", Name: fmt.Sprint(v), Valid: []string{DriveMatchAll, DriveMatchAny}}
	case kindCategories, kindRules, kindClocks:
		var list []string
		if err := json.Unmarshal(raw, &list); err != nil || v == nil {
			return nil, fmt.Errorf("须为字符串数组 (want an array of strings)")
		}
		out := []string{}
		for _, s := range list {
			switch def.kind {
			case kindCategories:
				c, ok := track.ParseCategory(strings.TrimSpace(s))
				if !ok {
					return nil, &UnknownNameError{What: "车辆类别 vehicle category", Name: s, Valid: stringsOf(VehicleCategories)}
				}
				s = string(c)
			case kindRules:
				if !slices.Contains(RuleIDs, RuleID(s)) {
					return nil, &UnknownNameError{What: "规则 rule", Name: s, Valid: stringsOf(RuleIDs)}
				}
			case kindClocks:
				c, err := ParseClock(strings.TrimSpace(s))
				if err != nil || c >= 24*60 {
					return nil, fmt.Errorf("时刻 %q 无效，须为 HH:MM (want a time of day HH:MM)", s)
				}
				s = c.String()
			}
			if !slices.Contains(out, s) {
				out = append(out, s)
			}
		}
		return js(out)
	}
	return nil, fmt.Errorf("no kind for %s", def.Name)
}

func stringsOf[T ~string](xs []T) []string {
	out := make([]string, len(xs))
	for i, x := range xs {
		out[i] = string(x)
	}
	return out
}

// ParseDistance reads a distance as people write it: "500 m", "1 km",
// "1.5 公里", "800 米", or a bare number of metres.
func ParseDistance(s string) (float64, error) {
	in := strings.Join(strings.Fields(strings.ToLower(s)), "")
	mult := 1.0
	for _, u := range []struct {
		suffix string
		m      float64
	}{{"公里", 1000}, {"千米", 1000}, {"km", 1000}, {"米", 1}, {"m", 1}} {
		if strings.HasSuffix(in, u.suffix) {
			in, mult = strings.TrimSuffix(in, u.suffix), u.m
			break
		}
	}
	f, err := strconv.ParseFloat(in, 64)
	if err != nil || f < 0 || math.IsInf(f, 0) {
		return 0, fmt.Errorf("无法识别的距离 %q (not a distance): write one such as \"500 m\" or \"1 km\"", s)
	}
	return f * mult, nil
}

// apply returns p with the overrides set.
func (o Overrides) apply(p Params) (Params, error) {
	if len(o) == 0 {
		return p, nil
	}
	b, err := json.Marshal(p)
	if err != nil {
		return p, err
	}
	var tree map[string]any
	if err := json.Unmarshal(b, &tree); err != nil {
		return p, err
	}
	for name, raw := range o {
		var v any
		if err := json.Unmarshal(raw, &v); err != nil {
			return p, fmt.Errorf("%s: %w", name, err)
		}
		path := strings.Split(name, ".")
		m := tree
		for _, k := range path[:len(path)-1] {
			sub, ok := m[k].(map[string]any)
			if !ok {
				sub = map[string]any{}
				m[k] = sub
			}
			m = sub
		}
		if last := path[len(path)-1]; v == nil {
			delete(m, last)
		} else {
			m[last] = v
		}
	}
	if b, err = json.Marshal(tree); err != nil {
		return p, err
	}
	var out Params
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&out); err != nil {
		return p, fmt.Errorf("alerts: params: %w", err)
	}
	return out, nil
}

// Values returns each parameter of p by name, in the table's order, as
// canonical JSON (null for a category speed limit p does not set).
func (p Params) Values() []json.RawMessage {
	b, _ := json.Marshal(p)
	var tree map[string]any
	_ = json.Unmarshal(b, &tree)
	out := make([]json.RawMessage, len(paramDefs))
	for i, d := range paramDefs {
		var v any = tree
		for _, k := range strings.Split(d.Name, ".") {
			m, _ := v.(map[string]any)
			v = m[k]
		}
		if v == nil {
			switch d.kind {
			case kindCategories, kindRules, kindClocks:
				v = []any{}
			}
		}
		out[i], _ = json.Marshal(v)
	}
	return out
}

// ParamSource says where a unit's parameter comes from.
type ParamSource struct {
	// Kind is "unit" (a unit's own, UnitID set: the unit itself or one
	// above it), "defaults" (the stored defaults for every unit) or
	// "builtin" (fleetmon's own).
	Kind   string `json:"kind"`
	UnitID int64  `json:"unit_id,omitempty"`
}

// EffectiveParam is one parameter as it applies to a unit.
type EffectiveParam struct {
	ParamDef
	Value  json.RawMessage `json:"value"`
	Source ParamSource     `json:"source"`
}

// Effective returns the parameters that apply to unit (0: the defaults
// every unit starts from) given the stored overrides (layers[0] the
// stored defaults, layers[u] unit u's own), each with where it comes
// from, and the compiled Params.
func Effective(tree OrgTree, layers map[int64]Overrides, unit int64) (Params, []EffectiveParam, error) {
	chain := []int64{0}
	if unit != 0 {
		chain = append(Chain(tree, unit), 0)
	}
	p := DefaultParams()
	src := map[string]ParamSource{}
	for i := len(chain) - 1; i >= 0; i-- {
		u := chain[i]
		var err error
		if p, err = layers[u].apply(p); err != nil {
			return p, nil, fmt.Errorf("unit %d: %w", u, err)
		}
		for name := range layers[u] {
			if u == 0 {
				src[name] = ParamSource{Kind: "defaults"}
			} else {
				src[name] = ParamSource{Kind: "unit", UnitID: u}
			}
		}
	}
	if err := p.validate(); err != nil {
		return p, nil, err
	}
	vals := p.Values()
	out := make([]EffectiveParam, len(paramDefs))
	for i, d := range paramDefs {
		s, ok := src[d.Name]
		if !ok {
			s = ParamSource{Kind: "builtin"}
		}
		out[i] = EffectiveParam{ParamDef: d, Value: vals[i], Source: s}
	}
	return p, out, nil
}
