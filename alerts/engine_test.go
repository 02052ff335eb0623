package alerts

import (
	"fmt"
	"math"
	"slices"
	"strings"
	"testing"
	"time"

	"fleetmon/track"
)

var general = track.Vehicle{ID: 1, UnitID: unitBureau, Category: track.CategoryGeneral}

// describe renders an episode as "rule start–end [detail]" in local time.
func describe(ep Episode) string {
	end := "open"
	if ep.Status == EpisodeClosed {
		end = ep.End.In(shanghai).Format("01-02 15:04:05")
	}
	s := fmt.Sprintf("%s %s–%s", ep.Rule, ep.Start.In(shanghai).Format("01-02 15:04:05"), end)
	if ep.Detail != "" && ep.Rule == RuleHolidayUse {
		s += " " + ep.Detail
	}
	if ep.ApprovalID != 0 {
		s += fmt.Sprintf(" overran approval %d", ep.ApprovalID)
	}
	return s
}

type ruleCase struct {
	name      string
	vehicle   track.Vehicle
	approvals []Approval
	track     func() []track.Position
	want      []string
}

func ruleCases() []ruleCase {
	bearing := 45.0
	return []ruleCase{
		{
			name: "after hours on a workday",
			track: func() []track.Position {
				return newTrack(1, "2026-03-10 18:50").park(10*time.Minute, false, 0).
					drive(20*time.Minute, 40, bearing).park(20*time.Minute, false, 0).out
			},
			want: []string{"after_hours 03-10 18:59:30–03-10 19:19:30"},
		},
		{
			name: "drive across the end of working time counts from 17:30",
			track: func() []track.Position {
				return newTrack(1, "2026-03-10 17:10").park(10*time.Minute, false, 0).
					drive(20*time.Minute, 40, bearing).park(10*time.Minute, false, 0).out
			},
			want: []string{"after_hours 03-10 17:30:00–03-10 17:39:30"},
		},
		{
			name: "lunch break",
			track: func() []track.Position {
				return newTrack(1, "2026-03-10 11:40").park(10*time.Minute, false, 0).
					drive(20*time.Minute, 40, bearing).park(30*time.Minute, false, 0).
					drive(20*time.Minute, 40, bearing+180).park(10*time.Minute, false, 0).out
			},
			want: []string{"after_hours 03-10 12:00:00–03-10 12:09:30", "after_hours 03-10 12:39:30–03-10 12:59:30"},
		},
		{
			name: "in working hours",
			track: func() []track.Position {
				return newTrack(1, "2026-03-10 09:00").park(10*time.Minute, false, 0).
					drive(40*time.Minute, 40, bearing).park(10*time.Minute, false, 0).out
			},
		},
		{
			name: "midnight from Friday into Saturday",
			track: func() []track.Position {
				return newTrack(1, "2026-03-13 23:40").park(10*time.Minute, false, 0).
					drive(30*time.Minute, 40, bearing).park(10*time.Minute, false, 0).out
			},
			want: []string{"after_hours 03-13 23:49:30–03-14 00:00:00", "holiday_use 03-14 00:00:00–03-14 00:19:30"},
		},
		{
			name: "调休 Saturday 2026-02-14 in office hours is a workday",
			track: func() []track.Position {
				return newTrack(1, "2026-02-14 09:50").park(10*time.Minute, false, 0).
					drive(30*time.Minute, 40, bearing).park(10*time.Minute, false, 0).out
			},
		},
		{
			name: "调休 Saturday 2026-02-28 evening is after hours, not holiday",
			track: func() []track.Position {
				return newTrack(1, "2026-02-28 18:50").park(10*time.Minute, false, 0).
					drive(20*time.Minute, 40, bearing).park(10*time.Minute, false, 0).out
			},
			want: []string{"after_hours 02-28 18:59:30–02-28 19:19:30"},
		},
		{
			name: "holiday eve into 中秋节",
			track: func() []track.Position {
				return newTrack(1, "2026-09-24 23:40").park(10*time.Minute, false, 0).
					drive(30*time.Minute, 40, bearing).park(10*time.Minute, false, 0).out
			},
			want: []string{"after_hours 09-24 23:49:30–09-25 00:00:00", "holiday_use 09-25 00:00:00–09-25 00:19:30 中秋节"},
		},
		{
			name: "weekday that is a holiday (春节 Monday) in office hours",
			track: func() []track.Position {
				return newTrack(1, "2026-02-16 09:50").park(10*time.Minute, false, 0).
					drive(20*time.Minute, 40, bearing).park(10*time.Minute, false, 0).out
			},
			want: []string{"holiday_use 02-16 09:59:30–02-16 10:19:30 春节"},
		},
		{
			name: "parked overnight with GPS jitter, ACC on and off",
			track: func() []track.Position {
				return newTrack(1, "2026-03-10 18:00").park(3*time.Hour, true, 80).park(3*time.Hour, false, 300).out
			},
		},
		{
			name: "short hop under 500 m is not a drive",
			track: func() []track.Position {
				return newTrack(1, "2026-03-10 20:00").park(5*time.Minute, false, 0).
					drive(2*time.Minute, 12, bearing).park(10*time.Minute, false, 0).out
			},
		},
		{
			name:      "approved trip covers the drive",
			approvals: []Approval{{ID: 7, VehicleID: 1, Start: at("2026-03-10 18:30"), End: at("2026-03-10 20:00")}},
			track: func() []track.Position {
				return newTrack(1, "2026-03-10 18:50").park(10*time.Minute, false, 0).
					drive(20*time.Minute, 40, bearing).park(20*time.Minute, false, 0).out
			},
		},
		{
			name:      "approved trip overruns its window",
			approvals: []Approval{{ID: 7, VehicleID: 1, Start: at("2026-03-10 18:30"), End: at("2026-03-10 19:10")}},
			track: func() []track.Position {
				return newTrack(1, "2026-03-10 18:50").park(10*time.Minute, false, 0).
					drive(20*time.Minute, 40, bearing).park(20*time.Minute, false, 0).out
			},
			want: []string{"after_hours 03-10 19:10:00–03-10 19:19:30 overran approval 7"},
		},
		{
			name:    "emergency vehicle is exempt from time rules",
			vehicle: track.Vehicle{ID: 1, UnitID: unitBureau, Category: track.CategoryEmergency},
			track: func() []track.Position {
				return newTrack(1, "2026-03-14 18:50").park(10*time.Minute, false, 0).
					drive(20*time.Minute, 40, bearing).park(20*time.Minute, false, 0).out
			},
		},
		{
			name: "parked with jitter on the area border",
			track: func() []track.Position {
				b := newTrack(1, "2026-03-10 09:00")
				b.lat, b.lon = move(homeLat, homeLon, borderM, 90)
				return b.park(6*time.Hour, true, 90).out
			},
		},
		{
			name: "driving along the area border does not flap",
			track: func() []track.Position {
				b := newTrack(1, "2026-03-10 09:00")
				b.lat, b.lon = move(homeLat, homeLon, borderM, 90)
				b.lat, b.lon = move(b.lat, b.lon, 5000, 180)
				for range 60 { // 30 min north along the border, ±80 m
					b.t = b.t.Add(b.every)
					b.lat, _ = move(b.lat, b.lon, 333, 0)
					_, lon := move(b.lat, b.lon, 80*math.Sin(float64(b.t.Unix())), 90)
					b.fix(b.lat, lon, 40, true)
				}
				return b.out
			},
		},
		{
			name: "out of the permitted area and back",
			track: func() []track.Position {
				b := newTrack(1, "2026-03-10 09:00")
				b.lat, b.lon = move(homeLat, homeLon, borderM-900, 90)
				return b.park(5*time.Minute, false, 0).drive(6*time.Minute, 20, 90).
					park(10*time.Minute, true, 0).drive(6*time.Minute, 20, 270).park(10*time.Minute, false, 0).out
			},
			// 900 m inside, 167 m per fix: beyond the border at the 6th
			// fix (09:07:30), back inside at the 7th fix of the return.
			want: []string{"out_of_area 03-10 09:07:30–03-10 09:24:00"},
		},
		{
			name: "prohibited place entry",
			track: func() []track.Position {
				return newTrack(1, "2026-03-10 09:00").park(5*time.Minute, false, 0).drive(6*time.Minute, 30, 180).
					park(10*time.Minute, false, 0).drive(6*time.Minute, 30, 0).park(5*time.Minute, false, 0).out
			},
			// 250 m per fix: 2750 m (inside the 300 m circle) at 09:10:00;
			// on the way back 2500 m, outside, at 09:21:30.
			want: []string{"prohibited_entry 03-10 09:10:00–03-10 09:21:30"},
		},
		{
			name: "hotel dwell beyond 2 h",
			track: func() []track.Position {
				return newTrack(1, "2026-03-10 09:00").park(5*time.Minute, false, 0).drive(6*time.Minute, 30, 0).
					park(130*time.Minute, false, 20).drive(6*time.Minute, 30, 180).park(5*time.Minute, false, 0).out
			},
			// In the 200 m circle only at 3000 m (09:10:30); the first fix
			// back out is at 11:21:00.
			want: []string{"sensitive_dwell 03-10 09:10:30–03-10 11:21:00"},
		},
		{
			name: "hotel for an hour is allowed",
			track: func() []track.Position {
				return newTrack(1, "2026-03-10 09:00").park(5*time.Minute, false, 0).drive(6*time.Minute, 30, 0).
					park(60*time.Minute, false, 20).drive(6*time.Minute, 30, 180).park(5*time.Minute, false, 0).out
			},
		},
		{
			name: "not in the garage at 22:00",
			track: func() []track.Position {
				return newTrack(1, "2026-03-10 16:00").park(5*time.Minute, false, 0).drive(10*time.Minute, 30, 90).
					park(7*time.Hour, false, 0).out
			},
			want: []string{"night_parking 03-10 22:00:00–open"},
		},
		{
			name: "in the garage at 22:00",
			track: func() []track.Position {
				return newTrack(1, "2026-03-10 17:00").park(6*time.Hour, false, 30).out
			},
		},
		{
			name:    "sealed vehicle moves",
			vehicle: track.Vehicle{ID: 1, UnitID: unitBureau, Category: track.CategoryGeneral, Sealed: true},
			track: func() []track.Position {
				return newTrack(1, "2026-03-10 10:00").park(5*time.Minute, false, 0).
					drive(10*time.Minute, 30, bearing).park(10*time.Minute, false, 0).out
			},
			want: []string{"sealed_move 03-10 10:04:30–03-10 10:14:30"},
		},
		{
			name: "main power cut and antenna cut",
			track: func() []track.Position {
				b := newTrack(1, "2026-03-10 10:00").park(5*time.Minute, false, 0)
				b.alarm = alarmPowerOff
				b.park(3*time.Minute, false, 0)
				b.alarm = alarmAntennaOpen
				b.park(2*time.Minute, false, 0)
				b.alarm = 0
				return b.park(2*time.Minute, false, 0).out
			},
			want: []string{"power_cut 03-10 10:05:00–03-10 10:08:00", "antenna 03-10 10:08:00–03-10 10:10:00"},
		},
		{
			name: "GNSS antenna short (bit 6)",
			track: func() []track.Position {
				b := newTrack(1, "2026-03-10 10:00").park(5*time.Minute, false, 0)
				b.alarm = alarmAntennaShort
				b.park(4*time.Minute, false, 0)
				b.alarm = 0
				return b.park(2*time.Minute, false, 0).out
			},
			want: []string{"antenna 03-10 10:05:00–03-10 10:09:00"},
		},
		{
			name:    "sealed vehicle parked with GPS jitter does not move",
			vehicle: track.Vehicle{ID: 1, UnitID: unitBureau, Category: track.CategoryGeneral, Sealed: true},
			track: func() []track.Position {
				return newTrack(1, "2026-03-10 10:00").park(4*time.Hour, true, 80).out
			},
		},
		{
			name:      "approved trip that leaves its approved area",
			approvals: []Approval{{ID: 7, VehicleID: 1, Start: at("2026-03-10 18:30"), End: at("2026-03-10 20:00"), FenceID: 2}},
			track: func() []track.Position {
				return newTrack(1, "2026-03-10 18:50").park(10*time.Minute, false, 0).
					drive(20*time.Minute, 40, bearing).park(20*time.Minute, false, 0).out
			},
			want: []string{"after_hours 03-10 18:59:30–03-10 19:19:30"},
		},
		{
			name: "a tunnel: a short gap at speed is neither silent nor a stop",
			track: func() []track.Position {
				return newTrack(1, "2026-03-10 18:50").park(10*time.Minute, false, 0).drive(10*time.Minute, 60, bearing).
					blind(6*time.Minute, 60, bearing).drive(10*time.Minute, 60, bearing).park(10*time.Minute, false, 0).out
			},
			want: []string{"after_hours 03-10 18:59:30–03-10 19:25:30"},
		},
		{
			name: "silent while driving",
			track: func() []track.Position {
				return newTrack(1, "2026-03-10 10:00").park(5*time.Minute, false, 0).drive(5*time.Minute, 40, bearing).
					blind(20*time.Minute, 40, bearing).drive(5*time.Minute, 40, bearing).park(5*time.Minute, false, 0).out
			},
			want: []string{"silent 03-10 10:09:30–03-10 10:30:00"},
		},
		{
			name: "speeding for two minutes, and a 20 s burst that is not",
			track: func() []track.Position {
				return newTrack(1, "2026-03-10 10:00").park(5*time.Minute, false, 0).drive(5*time.Minute, 100, 90).
					drive(2*time.Minute, 130, 90).drive(5*time.Minute, 100, 90).drive(20*time.Second, 130, 90).
					drive(time.Minute, 100, 90).park(5*time.Minute, false, 0).out
			},
			want: []string{"speeding 03-10 10:10:00–03-10 10:12:00"},
		},
		{
			name:    "speed zone of the vehicle's own",
			vehicle: track.Vehicle{ID: 999, UnitID: unitBureau, Category: track.CategoryGeneral},
			track: func() []track.Position {
				b := newTrack(999, "2026-03-10 10:00")
				b.lat, b.lon = move(zoneLat, zoneLon, 1500, 90)
				return b.park(5*time.Minute, false, 0).drive(4*time.Minute, 50, 270).park(5*time.Minute, false, 0).out
			},
			// 417 m per fix, 1083 m from the centre at 10:05: inside the
			// 500 m circle at 10:06:00 and 10:06:30 only.
			want: []string{"speeding 03-10 10:06:00–03-10 10:07:00"},
		},
	}
}

func TestRules(t *testing.T) {
	for _, c := range ruleCases() {
		t.Run(c.name, func(t *testing.T) {
			v := c.vehicle
			if v.ID == 0 {
				v = general
			}
			w := newWorld(t, testFences(), c.approvals)
			ps := c.track()
			var got []string
			for _, ep := range w.run(t, v, ps) {
				got = append(got, describe(ep))
			}
			if !slices.Equal(got, c.want) {
				t.Errorf("got\n\t%s\nwant\n\t%s", strings.Join(got, "\n\t"), strings.Join(c.want, "\n\t"))
			}
		})
	}
}

// TestLateEqualsInOrder holds back a middle third of every labelled track
// (a blind zone) and delivers it last, as 0x0704 back-fills arrive: the
// episodes must be those of in-order delivery.
func TestLateEqualsInOrder(t *testing.T) {
	for _, c := range ruleCases() {
		t.Run(c.name, func(t *testing.T) {
			v := c.vehicle
			if v.ID == 0 {
				v = general
			}
			w := newWorld(t, testFences(), c.approvals)
			w.cfg.CheckpointEvery = 5 * time.Minute
			ps := c.track()
			want := w.run(t, v, ps)
			n := len(ps)
			late := slices.Concat(ps[:n/3], ps[2*n/3:], ps[n/3:2*n/3])
			for i := range late[n-n/3:] {
				late[n-n/3+i].Backfill = true
			}
			got := w.run(t, v, late)
			if d := diffEpisodes(got, want); d != "" {
				t.Error(d)
			}
		})
	}
}

func diffEpisodes(got, want []Episode) string {
	var b strings.Builder
	if len(got) != len(want) {
		fmt.Fprintf(&b, "%d episodes, want %d\n", len(got), len(want))
	}
	for i := range max(len(got), len(want)) {
		switch {
		case i >= len(got):
			fmt.Fprintf(&b, "missing %s\n", describe(want[i]))
		case i >= len(want):
			fmt.Fprintf(&b, "extra %s\n", describe(got[i]))
		case !sameEpisode(&got[i], &want[i]):
			fmt.Fprintf(&b, "got  %+v\nwant %+v\n", got[i], want[i])
		}
	}
	return b.String()
}

// TestBackfillAfterHoursTrip is the blind-zone case spelled out: the
// middle of an evening trip is uploaded an hour later.
func TestBackfillAfterHoursTrip(t *testing.T) {
	w := newWorld(t, testFences(), nil)
	ps := newTrack(1, "2026-03-10 18:50").park(10*time.Minute, false, 0).
		drive(30*time.Minute, 40, 45).park(60*time.Minute, false, 0).out
	var live, blind []track.Position
	for _, p := range ps {
		if p.Time.After(at("2026-03-10 19:05")) && p.Time.Before(at("2026-03-10 19:25")) {
			p.Backfill = true
			blind = append(blind, p)
		} else {
			live = append(live, p)
		}
	}
	got := w.run(t, general, slices.Concat(live, blind))
	want := w.run(t, general, ps)
	if d := diffEpisodes(got, want); d != "" {
		t.Fatal(d)
	}
	if len(got) != 1 || describe(got[0]) != "after_hours 03-10 18:59:30–03-10 19:29:30" {
		t.Fatalf("got %v", got)
	}
}

// TestBackfillRetractsSilence: live, a gap while driving looks like a
// terminal switched off; the back-fill shows it was a tunnel.
func TestBackfillRetractsSilence(t *testing.T) {
	w := newWorld(t, testFences(), nil)
	ps := newTrack(1, "2026-03-10 10:00").park(5*time.Minute, false, 0).
		drive(30*time.Minute, 40, 45).park(5*time.Minute, false, 0).out
	var live, blind []track.Position
	for _, p := range ps {
		if p.Time.After(at("2026-03-10 10:10")) && p.Time.Before(at("2026-03-10 10:25")) {
			blind = append(blind, p)
		} else {
			live = append(live, p)
		}
	}
	src := &memSource{}
	e, _ := NewEngine(w.cfg, src)
	e.SetVehicle(general)
	var all []Episode
	for _, p := range slices.Concat(live, blind) {
		src.ps = append(src.ps, p)
		out, err := e.Feed(nil, &p)
		if err != nil {
			t.Fatal(err)
		}
		all = append(all, out...)
	}
	// Each back-filled fix shortens the gap, so the silence is replaced
	// by a shorter one until the gap is under SilentAfter; in the end
	// every silence is retracted.
	view := map[string]Episode{}
	for _, ep := range all {
		if ep.Rule != RuleSilent {
			t.Fatalf("unexpected %s", describe(ep))
		}
		view[ep.ID] = ep
	}
	if all[0].Status != EpisodeClosed || len(view) < 2 {
		t.Fatalf("live silence not seen: %v", all)
	}
	for _, ep := range view {
		if ep.Status != EpisodeRetracted {
			t.Errorf("not retracted: %s", describe(ep))
		}
	}
}

func TestTooLate(t *testing.T) {
	w := newWorld(t, testFences(), nil)
	w.cfg.Horizon = time.Hour
	w.cfg.CheckpointEvery = 10 * time.Minute
	ps := newTrack(1, "2026-03-10 10:00").park(3*time.Hour, false, 0).out
	src := &memSource{ps: ps}
	e, _ := NewEngine(w.cfg, src)
	e.SetVehicle(general)
	for i := 1; i < len(ps); i++ {
		if _, err := e.Feed(nil, &ps[i]); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := e.Feed(nil, &ps[0]); err == nil || !strings.Contains(err.Error(), "horizon") {
		t.Fatalf("err = %v, want ErrTooLate", err)
	}
}

// TestStateSurvivesRestart serialises the engine mid-trip and carries on
// in a new one.
func TestStateSurvivesRestart(t *testing.T) {
	w := newWorld(t, testFences(), nil)
	ps := newTrack(1, "2026-03-10 18:50").park(10*time.Minute, false, 0).
		drive(20*time.Minute, 40, 45).park(20*time.Minute, false, 0).out
	want := w.run(t, general, ps)

	src := &memSource{ps: ps}
	e1, _ := NewEngine(w.cfg, src)
	e1.SetVehicle(general)
	view := map[string]Episode{}
	feed := func(e *Engine, ps []track.Position) {
		for i := range ps {
			out, err := e.Feed(nil, &ps[i])
			if err != nil {
				t.Fatal(err)
			}
			for _, ep := range out {
				view[ep.ID] = ep
			}
		}
	}
	feed(e1, ps[:35])
	if open := e1.Open(nil, 1); len(open) != 1 || open[0].Rule != RuleAfterHours {
		t.Fatalf("open mid-trip: %v", open)
	}
	b, err := e1.MarshalState()
	if err != nil {
		t.Fatal(err)
	}
	e2, _ := NewEngine(w.cfg, src)
	e2.SetVehicle(general)
	if err := e2.RestoreState(b); err != nil {
		t.Fatal(err)
	}
	feed(e2, ps[35:])
	var got []Episode
	for _, ep := range view {
		got = append(got, ep)
	}
	if d := diffEpisodes(got, want); d != "" {
		t.Fatal(d)
	}
	if got[0].CalendarVersion == "" || got[0].ParamsVersion == "" || !strings.Contains(got[0].Params, "min_distance_m") {
		t.Errorf("episode lacks what it was judged against: %+v", got[0])
	}
}
