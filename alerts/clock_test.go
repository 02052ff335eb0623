package alerts

import (
	"slices"
	"strings"
	"testing"
	"time"

	"fleetmon/track"
)

// event is one step of a clock script: positions arriving (in device
// order or late), the clock ticking at a time, or the engine restarting
// from its saved state.
type event struct {
	fixes   []track.Position
	tick    time.Time
	restart bool
}

func deliver(ps []track.Position) event { return event{fixes: ps} }
func tickAt(s string) event             { return event{tick: at(s)} }

var restart = event{restart: true}

// script runs events through an engine like the runner does and returns
// the episodes as a consumer that upserts by ID sees them at the end
// (retracted ones left out), and every emission in order.
func (w *world) script(t *testing.T, v track.Vehicle, evs []event) (final []Episode, emitted []Episode) {
	t.Helper()
	src := &memSource{}
	newEngine := func() *Engine {
		e, err := NewEngine(w.cfg, src)
		if err != nil {
			t.Fatal(err)
		}
		e.SetVehicle(v)
		return e
	}
	e := newEngine()
	view := map[string]Episode{}
	take := func(out []Episode) {
		for _, ep := range out {
			view[ep.ID] = ep
			emitted = append(emitted, ep)
		}
	}
	for _, ev := range evs {
		switch {
		case ev.restart:
			b, ok, err := e.MarshalVehicle(v.ID)
			if err != nil || !ok {
				t.Fatalf("marshal: %v %v", ok, err)
			}
			e = newEngine()
			if err := e.RestoreVehicle(v.ID, b); err != nil {
				t.Fatal(err)
			}
		case !ev.tick.IsZero():
			take(e.Tick(nil, ev.tick))
		default:
			src.ps = append(src.ps, ev.fixes...)
			ps := slices.Clone(ev.fixes)
			slices.SortStableFunc(ps, func(a, b track.Position) int { return a.Time.Compare(b.Time) })
			// As the runner does: one re-evaluation takes in what is
			// older than the last fix, the rest is fed in order.
			last, has := e.LastTime(v.ID)
			late := 0
			for has && late < len(ps) && ps[late].Time.Before(last) {
				late++
			}
			if late > 0 {
				out, err := e.Reevaluate(nil, v.ID, ps[0].Time)
				if err != nil {
					t.Fatal(err)
				}
				take(out)
			}
			for i := late; i < len(ps); i++ {
				out, err := e.Feed(nil, &ps[i])
				if err != nil {
					t.Fatal(err)
				}
				take(out)
			}
		}
	}
	for _, ep := range view {
		if ep.Status != EpisodeRetracted {
			final = append(final, ep)
		}
	}
	slices.SortFunc(final, func(a, b Episode) int {
		if c := a.Start.Compare(b.Start); c != 0 {
			return c
		}
		return cmpString(string(a.Rule), string(b.Rule))
	})
	return final, emitted
}

func names(eps []Episode) []string {
	out := []string{}
	for _, ep := range eps {
		out = append(out, describe(ep))
	}
	return out
}

type clockCase struct {
	name    string
	vehicle track.Vehicle
	events  func() []event
	// want are the episodes at the end; wantAfter, when set, those right
	// after the event of that index (e.g. the tick, before the data that
	// settles it).
	want      []string
	wantAfter map[int][]string
	// maxEmitted, when set, bounds the emissions (no flapping).
	maxEmitted int
}

func clockCases() []clockCase {
	return []clockCase{
		{
			name: "silent outside the garage at 22:00",
			events: func() []event {
				b := newTrack(1, "2026-03-10 16:00").park(5*time.Minute, false, 0).drive(10*time.Minute, 30, 90).
					park(10*time.Minute, false, 0) // then the terminal sleeps
				return []event{deliver(b.out), tickAt("2026-03-10 21:59:59"), tickAt("2026-03-10 22:01"), tickAt("2026-03-10 23:00")}
			},
			wantAfter: map[int][]string{1: {}},
			want:      []string{"night_parking 03-10 22:00:00–open"},
		},
		{
			name: "silent inside the garage at 22:00",
			events: func() []event {
				b := newTrack(1, "2026-03-10 17:00").park(time.Hour, false, 30)
				return []event{deliver(b.out), tickAt("2026-03-10 22:01"), tickAt("2026-03-12 22:01")}
			},
		},
		{
			name: "silent for days outside: one episode from the first check, closed back home",
			events: func() []event {
				b := newTrack(1, "2026-03-10 16:00").park(5*time.Minute, false, 0).drive(10*time.Minute, 30, 90).
					park(10*time.Minute, false, 0)
				back := newTrack(1, "2026-03-13 09:00").park(10*time.Minute, false, 0)
				return []event{deliver(b.out), tickAt("2026-03-11 22:01"), tickAt("2026-03-12 22:01"), deliver(back.out)}
			},
			wantAfter: map[int][]string{2: {"night_parking 03-10 22:00:00–open"}},
			want:      []string{"night_parking 03-10 22:00:00–03-13 09:00:00"},
		},
		{
			name: "terminal silent while driving, back far away",
			events: func() []event {
				b := newTrack(1, "2026-03-10 10:00").park(5*time.Minute, false, 0).drive(5*time.Minute, 40, 45)
				n := len(b.out)
				b.blind(20*time.Minute, 40, 45).drive(5*time.Minute, 40, 45).park(5*time.Minute, false, 0)
				return []event{deliver(b.out[:n]), tickAt("2026-03-10 10:15"), tickAt("2026-03-10 10:25"), deliver(b.out[n:])}
			},
			wantAfter: map[int][]string{1: {}, 2: {"silent 03-10 10:09:30–open"}},
			want:      []string{"silent 03-10 10:09:30–03-10 10:30:00"},
		},
		{
			name: "terminal silent while driving, back where it stopped (an underground car park)",
			events: func() []event {
				b := newTrack(1, "2026-03-10 10:00").park(5*time.Minute, false, 0).drive(5*time.Minute, 40, 45)
				n := len(b.out)
				b.jump("2026-03-10 11:00").park(10*time.Minute, false, 0)
				return []event{deliver(b.out[:n]), tickAt("2026-03-10 10:30"), deliver(b.out[n:])}
			},
			wantAfter: map[int][]string{1: {"silent 03-10 10:09:30–open"}},
		},
		{
			name: "blind-zone back-fill shows the car did park before 22:00",
			events: func() []event {
				// Drives home from 21:30; the last live fix is 21:44:30,
				// moving, outside; the rest (into the garage, parked) is
				// in the terminal's buffer until the morning.
				b := newTrack(1, "2026-03-10 21:20")
				b.lat, b.lon = move(homeLat, homeLon, 5000, 90)
				b.park(10*time.Minute, false, 0).drive(15*time.Minute, 18, 270) // to 500 m east
				n := len(b.out)
				b.drive(5*time.Minute, 6, 270).park(30*time.Minute, false, 0)
				morning := newTrack(1, "2026-03-11 07:50").park(10*time.Minute, false, 0)
				blind := slices.Clone(b.out[n:])
				for i := range blind {
					blind[i].Backfill = true
				}
				return []event{deliver(b.out[:n]), tickAt("2026-03-10 22:01"), deliver(morning.out), tickAt("2026-03-11 08:01"), deliver(blind)}
			},
			wantAfter: map[int][]string{
				1: {"after_hours 03-10 21:29:30–open", "silent 03-10 21:44:30–open", "night_parking 03-10 22:00:00–open"},
				2: {"after_hours 03-10 21:29:30–03-10 21:44:30", "night_parking 03-10 22:00:00–03-11 07:50:00"},
			},
			want: []string{"after_hours 03-10 21:29:30–03-10 21:49:00"},
		},
		{
			name: "buffered reports uploaded in order after the clock said silent",
			events: func() []event {
				b := newTrack(1, "2026-03-10 10:00").park(5*time.Minute, false, 0).drive(5*time.Minute, 40, 45)
				n := len(b.out)
				b.drive(50*time.Minute, 40, 45).park(5*time.Minute, false, 0)
				return []event{deliver(b.out[:n]), tickAt("2026-03-10 10:25"), deliver(b.out[n:]), tickAt("2026-03-10 11:30")}
			},
			wantAfter:  map[int][]string{1: {"silent 03-10 10:09:30–open"}},
			maxEmitted: 2, // the silence, then its retraction: nothing per report
		},
		{
			name: "silent at a hotel beyond the dwell time",
			events: func() []event {
				b := newTrack(1, "2026-03-10 09:00").park(5*time.Minute, false, 0).drive(6*time.Minute, 30, 0).
					park(5*time.Minute, false, 20) // then the terminal sleeps in the hotel's car park
				n := len(b.out)
				b.jump("2026-03-10 14:30").drive(6*time.Minute, 30, 180).park(5*time.Minute, false, 0)
				return []event{deliver(b.out[:n]), tickAt("2026-03-10 11:00"), tickAt("2026-03-10 11:15"), deliver(b.out[n:])}
			},
			wantAfter: map[int][]string{1: {}, 2: {"sensitive_dwell 03-10 09:10:30–open"}},
			want:      []string{"sensitive_dwell 03-10 09:10:30–03-10 14:30:00"},
		},
		{
			name: "restart between ticks repeats nothing",
			events: func() []event {
				b := newTrack(1, "2026-03-10 16:00").park(5*time.Minute, false, 0).drive(10*time.Minute, 30, 90).
					park(10*time.Minute, false, 0)
				return []event{deliver(b.out), tickAt("2026-03-10 22:01"), restart, tickAt("2026-03-10 22:02"), restart, tickAt("2026-03-10 23:02")}
			},
			want: []string{"night_parking 03-10 22:00:00–open"},
		},
		{
			name:    "emergency vehicle has no night check but can still go silent",
			vehicle: track.Vehicle{ID: 1, UnitID: unitBureau, Category: track.CategoryEmergency},
			events: func() []event {
				b := newTrack(1, "2026-03-10 21:40").park(5*time.Minute, false, 0).drive(10*time.Minute, 30, 90)
				return []event{deliver(b.out), tickAt("2026-03-10 23:00")}
			},
			want: []string{"silent 03-10 21:54:30–open"},
		},
	}
}

func TestClockChecks(t *testing.T) {
	for _, c := range clockCases() {
		t.Run(c.name, func(t *testing.T) {
			v := c.vehicle
			if v.ID == 0 {
				v = general
			}
			if v.Category == track.CategoryEmergency {
				// Exempt from the night check in this world's params.
				w := newWorld(t, testFences(), nil)
				p := DefaultParams()
				p.Parking.Exempt = []track.Category{track.CategoryEmergency}
				pol, err := NewPolicy(w.cfg.Tree, p, nil)
				if err != nil {
					t.Fatal(err)
				}
				w.cfg.Policy = pol
				c.check(t, w, v)
				return
			}
			c.check(t, newWorld(t, testFences(), nil), v)
		})
	}
}

func (c clockCase) check(t *testing.T, w *world, v track.Vehicle) {
	t.Helper()
	evs := c.events()
	for i := range evs {
		if want, ok := c.wantAfter[i]; ok {
			got, _ := w.script(t, v, evs[:i+1])
			if !slices.Equal(names(got), want) {
				t.Errorf("after event %d:\n\t%s\nwant\n\t%s", i, strings.Join(names(got), "\n\t"), strings.Join(want, "\n\t"))
			}
		}
	}
	got, emitted := w.script(t, v, evs)
	want := c.want
	if want == nil {
		want = []string{}
	}
	if !slices.Equal(names(got), want) {
		t.Errorf("at the end:\n\t%s\nwant\n\t%s", strings.Join(names(got), "\n\t"), strings.Join(want, "\n\t"))
	}
	if c.maxEmitted > 0 && len(emitted) > c.maxEmitted {
		t.Errorf("%d emissions, want at most %d: %v", len(emitted), c.maxEmitted, names(emitted))
	}
	// The clock only says earlier what the data says: the same data in
	// order, without a clock, followed by the last tick, ends the same.
	var all []track.Position
	var last time.Time
	for _, ev := range evs {
		all = append(all, ev.fixes...)
		if ev.tick.After(last) {
			last = ev.tick
		}
	}
	slices.SortStableFunc(all, func(a, b track.Position) int { return a.Time.Compare(b.Time) })
	plain := []event{deliver(all)}
	if !last.IsZero() && last.After(all[len(all)-1].Time) {
		plain = append(plain, event{tick: last})
	}
	ref, _ := w.script(t, v, plain)
	if d := diffEpisodes(got, ref); d != "" {
		t.Errorf("differs from the data in order:\n%s", d)
	}
	// A check done once is never said again unchanged (restarts and
	// repeated ticks included).
	for i := 1; i < len(emitted); i++ {
		for k := range i {
			if emitted[k].ID == emitted[i].ID && sameEpisode(&emitted[k], &emitted[i]) && emitted[k].Status == emitted[i].Status {
				if k == i-1 || !slices.ContainsFunc(emitted[k+1:i], func(ep Episode) bool { return ep.ID == emitted[i].ID }) {
					t.Errorf("emitted twice: %s", describe(emitted[i]))
				}
			}
		}
	}
}
