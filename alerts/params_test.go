package alerts

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"fleetmon/track"
)

// outOfArea returns the out-of-area episodes among eps.
func outOfArea(eps []Episode) []Episode {
	var out []Episode
	for _, ep := range eps {
		if ep.Rule == RuleOutOfArea {
			out = append(out, ep)
		}
	}
	return out
}

// TestOutOfAreaSameAtAnyReportInterval: the same trips reported every 5 s
// and every 30 s give the same verdict. A car that crosses the border by
// up to 300 m and turns back is beyond the margin for about 40 s: not
// out. One that waits 10 minutes out there is out, from its crossing to
// its return, whatever the interval. Counting fixes, the 5 s terminal
// made the short one 越界 and the 30 s one did not.
func TestOutOfAreaSameAtAnyReportInterval(t *testing.T) {
	w := newWorld(t, testFences(), nil)
	trip := func(every, wait time.Duration) []track.Position {
		b := newTrack(1, "2026-03-10 09:00")
		b.every = every
		b.lat, b.lon = move(homeLat, homeLon, borderM-300, 90)
		return b.park(5*time.Minute, false, 0).drive(time.Minute, 36, 90).park(wait, true, 0).
			drive(time.Minute, 36, 270).park(5*time.Minute, false, 0).out
	}
	for _, c := range []struct {
		name string
		wait time.Duration
		want int
	}{{"turns back at once", 0, 0}, {"waits 10 minutes outside", 10 * time.Minute, 1}} {
		var first []Episode
		for _, every := range []time.Duration{5 * time.Second, 10 * time.Second, 30 * time.Second} {
			got := outOfArea(w.run(t, general, trip(every, c.wait)))
			if len(got) != c.want {
				t.Errorf("%s, a fix every %s: %d out-of-area episodes, want %d: %v", c.name, every, len(got), c.want, got)
				continue
			}
			if first == nil {
				first = got
				continue
			}
			for i := range got {
				// The fixes differ: the border is crossed between two of
				// them; no more than the coarser interval apart.
				if d := got[i].Start.Sub(first[i].Start).Abs(); d > every {
					t.Errorf("%s, a fix every %s: starts %s, %s apart from a fix every 5s", c.name, every, got[i].Start, d)
				}
				if d := got[i].End.Sub(first[i].End).Abs(); d > every {
					t.Errorf("%s, a fix every %s: ends %s, %s apart from a fix every 5s", c.name, every, got[i].End, d)
				}
			}
		}
	}
}

// worldWith is newWorld with parameters given as people write them.
func worldWith(t *testing.T, params string) *world {
	t.Helper()
	w := newWorld(t, testFences(), nil)
	o, err := ParseOverrides([]byte(params))
	if err != nil {
		t.Fatal(err)
	}
	p, err := o.apply(DefaultParams())
	if err != nil {
		t.Fatal(err)
	}
	if w.cfg.Policy, err = NewPolicy(w.cfg.Tree, p, nil); err != nil {
		t.Fatal(err)
	}
	return w
}

// TestDriveDistanceOrDuration: "1 km 或 5 分钟" as deployments write it: a
// slow six-minute drive of 600 m counts, and so does a quick 1.2 km one
// of two minutes; a car idling with its GNSS wandering does not. With
// "1 km 且 5 分钟" only a drive that does both counts.
func TestDriveDistanceOrDuration(t *testing.T) {
	slow := newTrack(1, "2026-03-10 09:00").park(5*time.Minute, false, 0).drive(6*time.Minute, 6, 90).park(10*time.Minute, false, 0).out
	quick := newTrack(1, "2026-03-10 09:00").park(5*time.Minute, false, 0).drive(2*time.Minute, 36, 90).park(10*time.Minute, false, 0).out
	idle := newTrack(1, "2026-03-10 09:00").park(5*time.Minute, false, 0).park(20*time.Minute, true, 40).park(5*time.Minute, false, 0).out
	long := newTrack(1, "2026-03-10 09:00").park(5*time.Minute, false, 0).drive(8*time.Minute, 36, 90).park(10*time.Minute, false, 0).out
	for _, c := range []struct {
		params string
		want   [4]int // drives of slow, quick, idle, long
	}{
		{`{"drive.min_distance_m": "1 km", "drive.min_duration": 5, "drive.match": "或"}`, [4]int{1, 1, 0, 1}},
		{`{"drive": {"min_distance_m": 1000, "min_duration": "5 分钟", "match": "all"}}`, [4]int{0, 0, 0, 1}},
	} {
		w := worldWith(t, c.params)
		for i, ps := range [][]track.Position{slow, quick, idle, long} {
			ds, err := DrivesOf(w.cfg, general, ps)
			if err != nil {
				t.Fatal(err)
			}
			if len(ds) != c.want[i] {
				t.Errorf("%s: track %d: %d drives, want %d: %+v", c.params, i, len(ds), c.want[i], ds)
			}
		}
	}
}

func TestParseOverrides(t *testing.T) {
	for _, c := range []struct {
		in, want, err string
	}{
		{in: `{"drive.min_duration": "5m"}`, want: `{"drive.min_duration":"5m"}`},
		{in: `{"drive": {"min_duration": 5}}`, want: `{"drive.min_duration":"5m"}`},
		{in: `{"drive.min_duration": 1.5}`, want: `{"drive.min_duration":"1m30s"}`},
		{in: `{"drive.min_duration": "90 秒", "drive.min_distance_m": "1.2 公里"}`, want: `{"drive.min_distance_m":1200,"drive.min_duration":"1m30s"}`},
		{in: `{"places": {"dwell": {"hotel": "2 小时"}}}`, want: `{"places.dwell.hotel":"2h"}`},
		{in: `{"speed.limit_kmh.emergency": null, "time.exempt": ["应急保障用车"]}`, want: `{"speed.limit_kmh.emergency":null,"time.exempt":["emergency"]}`},
		{in: `{"area.outside": "45s", "parking.check_at": ["22:00", "23:30"]}`, want: `{"area.outside":"45s","parking.check_at":["22:00","23:30"]}`},
		// Seconds or minutes? Refused.
		{in: `{"speed.min_duration": 30}`, err: `"30s" 或 "30m"`},
		{in: `{"drive.min_duration": "5"}`, err: "没有单位"},
		// The old API's nanoseconds.
		{in: `{"time": {"min_violation": 300000000000}}`, err: "像是纳秒"},
		{in: `{"drive.min_durration": "5m"}`, err: `未知参数 "drive.min_durration" (unknown parameter)；可用 (valid)：drive.min_distance_m, drive.min_duration,`},
		{in: `{"drive": {"fixes": 3}}`, err: `未知参数 "drive.fixes"`},
		{in: `{"area.fixes": 3}`, err: `未知参数 "area.fixes"`},
		{in: `{"disabled": ["speeding", "overspeed"]}`, err: `未知规则 "overspeed" (unknown rule)；可用 (valid)：after_hours, holiday_use,`},
		{in: `{"area.exempt": ["tank"]}`, err: `未知车辆类别 "tank" (unknown vehicle category)；可用 (valid)：general, confidential`},
		{in: `{"drive.match": "maybe"}`, err: `可用 (valid)：all, any`},
	} {
		o, err := ParseOverrides([]byte(c.in))
		if c.err != "" {
			if err == nil || !strings.Contains(err.Error(), c.err) {
				t.Errorf("%s: error %v, want one saying %s", c.in, err, c.err)
			}
			continue
		}
		if err != nil {
			t.Errorf("%s: %v", c.in, err)
			continue
		}
		if got, _ := json.Marshal(o); string(got) != c.want {
			t.Errorf("%s: %s, want %s", c.in, got, c.want)
		}
	}
	var unknown *UnknownNameError
	if _, err := ParseOverrides([]byte(`{"x": 1}`)); !errors.As(err, &unknown) || len(unknown.Valid) != len(paramDefs) {
		t.Errorf("unknown name: %v", err)
	}
}

// TestLegacyStoredParams: parameters stored before they were inherited one
// by one are a whole Params with durations in nanoseconds; they read as
// the unit setting every one of them, with the same values.
func TestLegacyStoredParams(t *testing.T) {
	old := `{"drive":{"min_distance_m":800,"min_duration":180000000000,"moving_kmh":5,"stop_radius_m":100,"stop_duration":300000000000,"max_plausible_kmh":250},
		"time":{"min_violation":60000000000,"exempt":["emergency","confidential"]},"area":{"fixes":3,"margin_m":100},
		"places":{"fixes":2,"dwell":{"golf":600000000000,"hotel":7200000000000}},"parking":{"check_at":["22:00"]},
		"evasion":{"silent_after":600000000000,"silent_min_distance_m":1000},"speed":{"default_kmh":120,"min_duration":30000000000}}`
	o, err := parseOverrides([]byte(old), true)
	if err != nil {
		t.Fatal(err)
	}
	p, err := o.apply(DefaultParams())
	if err != nil {
		t.Fatal(err)
	}
	if p.Drive.MinDistanceM != 800 || p.Drive.MinDuration.D() != 3*time.Minute || p.Places.Dwell[PlaceHotel].D() != 2*time.Hour ||
		p.Speed.MinDuration.D() != 30*time.Second || p.Area.Outside.D() != time.Minute {
		t.Errorf("legacy params read as %+v", p)
	}
	if _, err := ParseOverrides([]byte(old)); err == nil {
		t.Error("the API took nanoseconds")
	}
}

// TestParamsInheritedOneByOne: a unit overrides only what it sets; each
// parameter comes from the nearest unit that sets it, then the stored
// defaults, then fleetmon's own.
func TestParamsInheritedOneByOne(t *testing.T) {
	const province, city, county = 1, 2, 3
	tree := Parents{county: city, city: province}
	layers := map[int64]Overrides{}
	for u, js := range map[int64]string{
		0:        `{"speed.default_kmh": 100}`,
		province: `{"drive.min_duration": "5m", "drive.min_distance_m": 2000}`,
		county:   `{"drive.min_distance_m": "1 km"}`,
	} {
		o, err := ParseOverrides([]byte(js))
		if err != nil {
			t.Fatal(err)
		}
		layers[u] = o
	}
	_, eff, err := Effective(tree, layers, county)
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	for _, e := range eff {
		got[e.Name] = fmt.Sprintf("%s from %s %d", e.Value, e.Source.Kind, e.Source.UnitID)
	}
	for name, want := range map[string]string{
		"drive.min_distance_m": "1000 from unit 3",
		"drive.min_duration":   `"5m" from unit 1`,
		"speed.default_kmh":    "100 from defaults 0",
		"drive.stop_duration":  `"5m" from builtin 0`,
		"area.outside":         `"1m" from builtin 0`,
	} {
		if got[name] != want {
			t.Errorf("%s: %s, want %s", name, got[name], want)
		}
	}

	def, err := layers[0].apply(DefaultParams())
	if err != nil {
		t.Fatal(err)
	}
	units := map[int64]Overrides{province: layers[province], county: layers[county]}
	pol, err := NewPolicy(tree, def, units)
	if err != nil {
		t.Fatal(err)
	}
	for u, want := range map[int64]DriveParams{
		county:   {MinDistanceM: 1000, MinDuration: Duration(5 * time.Minute)},
		city:     {MinDistanceM: 2000, MinDuration: Duration(5 * time.Minute)},
		province: {MinDistanceM: 2000, MinDuration: Duration(5 * time.Minute)},
		99:       {MinDistanceM: 500, MinDuration: Duration(3 * time.Minute)},
	} {
		p := pol.forUnit(u)
		if p.Drive.MinDistanceM != want.MinDistanceM || p.Drive.MinDuration != want.MinDuration || p.Speed.DefaultKmh != 100 {
			t.Errorf("unit %d: drive %+v, speed %+v", u, p.Drive, p.Speed)
		}
	}
}

func TestDurationText(t *testing.T) {
	for d, want := range map[time.Duration]string{0: "0s", 90 * time.Second: "1m30s", 2 * time.Hour: "2h",
		90 * time.Minute: "1h30m", 30 * time.Second: "30s", 1500 * time.Millisecond: "1.5s"} {
		if got := Duration(d).String(); got != want {
			t.Errorf("%v: %q, want %q", d, got, want)
		}
		back, err := ParseDuration(want)
		if err != nil || back.D() != d {
			t.Errorf("%q reads back as %v, %v", want, back, err)
		}
	}
}

// TestOutOfAreaByDistance: with area.outside_distance_m, a car that
// drives far beyond the border is out before area.outside has passed.
func TestOutOfAreaByDistance(t *testing.T) {
	trip := func() []track.Position {
		b := newTrack(1, "2026-03-10 09:00")
		b.every = 10 * time.Second
		b.lat, b.lon = move(homeLat, homeLon, borderM-300, 90)
		return b.park(5*time.Minute, false, 0).drive(90*time.Second, 36, 90).drive(90*time.Second, 36, 270).park(5*time.Minute, false, 0).out
	}
	for _, c := range []struct {
		params string
		want   int
	}{
		{`{"area.outside": "10m"}`, 0},
		{`{"area.outside": "10m", "area.outside_distance_m": 300}`, 1},
	} {
		if got := outOfArea(worldWith(t, c.params).run(t, general, trip())); len(got) != c.want {
			t.Errorf("%s: %d out-of-area episodes, want %d", c.params, len(got), c.want)
		}
	}
}
