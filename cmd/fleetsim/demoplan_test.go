package main

import (
	"encoding/json"
	"testing"
	"time"

	"fleetmon/alerts"
	"fleetmon/cmd/fleetsim/sim"
)

// TestDemoCalendarAnyTimeOfDay compiles the demo calendars with the server's own calendar code
// (the test may import it; fleetsim itself does not) for a start at every half hour of a
// working day, a weekend and a national holiday: the off-duty unit is outside working time, on
// a working day (so that its cars' drives are after-hours use, not holiday use), from the start
// for five hours; the on-duty units are in working time throughout.
func TestDemoCalendarAnyTimeOfDay(t *testing.T) {
	for _, day := range []string{"2026-12-03", "2026-12-05", "2026-10-01"} {
		d0, err := time.ParseInLocation(time.DateOnly, day, cst)
		if err != nil {
			t.Fatal(err)
		}
		for start := d0; start.Before(d0.Add(24 * time.Hour)); start = start.Add(30*time.Minute + 7*time.Second) {
			for _, onDuty := range []bool{false, true} {
				b, err := json.Marshal(demoCalendar(start, onDuty))
				if err != nil {
					t.Fatal(err)
				}
				var spec alerts.CalendarSpec
				if err := json.Unmarshal(b, &spec); err != nil {
					t.Fatalf("%s: %v\n%s", start, err, b)
				}
				cal, err := alerts.NewCalendar(spec, alerts.DefaultHolidays())
				if err != nil {
					t.Fatalf("%s: %v\n%s", start, err, b)
				}
				for at := start; at.Before(start.Add(5 * time.Hour)); at = at.Add(5 * time.Minute) {
					kind, _ := cal.DayKind(alerts.DateOf(at.In(cst)))
					if w := cal.IsWorkingTime(at); w != onDuty || !kind.Working() {
						t.Fatalf("started %s, on duty %v: at %s working time %v, day %s\n%s", start, onDuty, at, w, kind, b)
					}
				}
			}
		}
	}
}

// TestLastNight: the night the overnight car's positions are dated into is the latest 22:00 in
// China at least half an hour past, so that all of them are in the past.
func TestLastNight(t *testing.T) {
	for _, tc := range []struct{ now, want string }{
		{"2026-12-03T23:57:00+08:00", "2026-12-03T22:00:00+08:00"},
		{"2026-12-03T22:29:00+08:00", "2026-12-02T22:00:00+08:00"},
		{"2026-12-03T22:30:00+08:00", "2026-12-03T22:00:00+08:00"},
		{"2026-12-04T09:00:00+08:00", "2026-12-03T22:00:00+08:00"},
		{"2026-12-04T01:00:00Z", "2026-12-03T22:00:00+08:00"},
	} {
		now, _ := time.Parse(time.RFC3339, tc.now)
		want, _ := time.Parse(time.RFC3339, tc.want)
		if got := lastNight(now); !got.Equal(want) {
			t.Errorf("lastNight(%s) = %s, want %s", tc.now, got, tc.want)
		}
	}
	vs, err := sim.NewFleet(sim.FleetConfig{Count: 20, Seed: 1})
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	pts := newPlan(vs).nightPositions(now)
	check := lastNight(now)
	if len(pts) == 0 || !pts[0].Time.Before(check) || !pts[len(pts)-1].Time.After(check) || pts[len(pts)-1].Time.After(now) {
		t.Errorf("night positions from %s to %s for the check at %s, now %s", pts[0].Time, pts[len(pts)-1].Time, check, now)
	}
}

// TestPlanRoles: the default demo fleet has a car for each kind of misuse, and the off-duty
// unit's cars of categories the working-time rules exempt are not named as misused.
func TestPlanRoles(t *testing.T) {
	vs, err := sim.NewFleet(sim.FleetConfig{Count: 20, Seed: 1})
	if err != nil {
		t.Fatal(err)
	}
	p := newPlan(vs)
	for _, r := range []role{roleAfterHours, roleSealed, roleSpeeder, roleLeaver, roleOvernight} {
		if len(p.plates(r)) == 0 {
			t.Errorf("no car for %s", ruleZh[r])
		}
	}
	for i, v := range vs {
		if p.roles[i] == roleAfterHours && (v.UnitIndex != offDutyUnit || timeExempt(v.Category)) {
			t.Errorf("%s (%s, unit %d) named as driving after hours", v.Plate, v.Category, v.UnitIndex)
		}
	}
	if got := commonUnit(p.units); got != "湖北省/黄石市" {
		t.Errorf("common unit %q", got)
	}
}
