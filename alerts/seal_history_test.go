package alerts

import (
	"context"
	"slices"
	"testing"
	"time"

	"fleetmon/track"
)

// TestSealHistory: a vehicle sealed on day 10 and unsealed on day 12 is
// flagged for driving on day 11 and for neither day 9 nor day 13: live,
// with each seal and unseal recorded while the runner runs (no restart),
// and after re-evaluating the whole period, also once the vehicle is
// unsealed and sealed again today. The history keeps every entry. The
// runner runs with the production defaults.
func TestSealHistory(t *testing.T) {
	g := newRig(t)
	ctx := context.Background()
	ts := track.NewStore(g.store.pool)
	now := time.Now().In(shanghai)
	base := time.Date(now.Year(), now.Month(), now.Day(), 0, 0, 0, 0, shanghai).AddDate(0, 0, -20)
	day := func(n int, hour int) time.Time { return base.AddDate(0, 0, n).Add(time.Duration(hour) * time.Hour) }
	drive := func(n int) []track.Position {
		return newTrack(g.car, day(n, 10).Format("2006-01-02 15:04")).park(5*time.Minute, false, 0).
			drive(15*time.Minute, 40, 90).park(10*time.Minute, false, 0).out
	}
	r, _ := g.start(RunnerConfig{})
	written := 0
	judge := func(n int) {
		t.Helper()
		ps := drive(n)
		g.write(ps)
		written += len(ps)
		waitCount(t, func() float64 { return g.metric(r, "fleetmon_alerts_positions_total", "live") }, float64(written))
	}
	sealedMoves := func() []string {
		var out []string
		for _, ep := range g.stored(g.car) {
			if ep.Rule == RuleSealedMove {
				out = append(out, ep.Start.In(shanghai).Format("2006-01-02"))
			}
		}
		slices.Sort(out)
		return out
	}
	record := func(sealed bool, at time.Time, reason string) bool {
		t.Helper()
		_, changed, err := ts.SetSeal(ctx, track.All, g.car, track.SealChange{Sealed: sealed, At: at, Reason: reason, ActorName: "admin"})
		if err != nil {
			t.Fatal(err)
		}
		if err := r.Reload(ctx); err != nil {
			t.Fatal(err)
		}
		return changed
	}
	day11 := []string{day(11, 0).Format("2006-01-02")}

	judge(9)
	if !record(true, day(10, 9), "待处置，封存") {
		t.Fatal("sealing recorded nothing")
	}
	if record(true, day(10, 9), "待处置，封存") {
		t.Error("the same seal repeated was recorded again")
	}
	judge(11)
	if got := sealedMoves(); !slices.Equal(got, day11) {
		t.Fatalf("live, sealed on day 10: sealed moves on %v, want %v (day 11 only)", got, day11)
	}
	if !record(false, day(12, 9), "处置完毕，启封") {
		t.Fatal("unsealing recorded nothing")
	}
	judge(13)
	if got := sealedMoves(); !slices.Equal(got, day11) {
		t.Fatalf("live, unsealed on day 12: sealed moves on %v, want %v", got, day11)
	}

	reevaluate := func(when string) {
		t.Helper()
		d, err := r.Reevaluate(ctx, g.car, day(8, 0), day(15, 0), true)
		if err != nil {
			t.Fatal(err)
		}
		for _, c := range d.Changes {
			if (c.New != nil && c.New.Rule == RuleSealedMove) || (c.Old != nil && c.Old.Rule == RuleSealedMove) {
				t.Errorf("re-evaluation %s changes a sealed move: %s %+v %+v", when, c.Kind, c.Old, c.New)
			}
		}
		if got := sealedMoves(); !slices.Equal(got, day11) {
			t.Errorf("after re-evaluation %s: sealed moves on %v, want %v", when, got, day11)
		}
	}
	reevaluate("after the unseal")
	// Sealed again today: the drives of days 9 and 13 were not made
	// while it was sealed, and stay unflagged.
	record(true, now.Add(-time.Minute), "再次封存")
	reevaluate("after sealing again today")

	es, err := ts.SealHistory(ctx, track.All, g.car)
	if err != nil {
		t.Fatal(err)
	}
	if len(es) != 3 || !es[0].Sealed || es[1].Sealed || !es[2].Sealed || es[0].Reason != "待处置，封存" || es[0].ActorName != "admin" {
		t.Errorf("history %+v, want seal, unseal, seal", es)
	}
	ps := track.SealPeriods(es)
	if len(ps) != 2 || !ps[0].From.Equal(day(10, 9)) || !ps[0].To.Equal(day(12, 9)) || !ps[1].To.IsZero() {
		t.Errorf("periods %+v, want day 10 09:00 to day 12 09:00, and from today on", ps)
	}
}

// TestSealedDuringDrive: a seal that starts during a drive starts the
// episode with it, and an unseal during a drive ends it then.
func TestSealedDuringDrive(t *testing.T) {
	w := newWorld(t, nil, nil)
	v := track.Vehicle{ID: 1, UnitID: unitBureau, Category: track.CategoryGeneral}
	ps := newTrack(1, "2026-03-10 10:00").park(5*time.Minute, false, 0).
		drive(30*time.Minute, 40, 90).park(10*time.Minute, false, 0).out
	for _, c := range []struct {
		name     string
		from, to string
		want     []string
	}{
		{"sealed during the drive", "2026-03-10 10:20", "", []string{"sealed_move 03-10 10:20:00–03-10 10:34:30"}},
		{"unsealed during the drive", "2026-03-01 00:00", "2026-03-10 10:20", []string{"sealed_move 03-10 10:04:30–03-10 10:20:00"}},
		{"sealed after the drive", "2026-03-10 11:00", "", nil},
		{"unsealed before the drive", "2026-03-01 00:00", "2026-03-10 09:00", nil},
	} {
		p := track.SealPeriod{VehicleID: 1, From: at(c.from)}
		if c.to != "" {
			p.To = at(c.to)
		}
		cfg := w.cfg
		cfg.Seals = NewSeals([]track.SealPeriod{p})
		var got []string
		for _, ep := range (&world{cfg}).run(t, v, ps) {
			if ep.Rule == RuleSealedMove {
				got = append(got, describe(ep))
			}
		}
		if !slices.Equal(got, c.want) {
			t.Errorf("%s: %v, want %v", c.name, got, c.want)
		}
	}
}
