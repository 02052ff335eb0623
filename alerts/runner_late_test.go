package alerts

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	"fleetmon/track"
)

// settled waits until r has judged everything committed so far and
// stored its episodes (Status), and returns the status.
func (g *rig) settled(r *Runner) Status {
	g.t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		st, err := r.Status(context.Background())
		if err != nil {
			g.t.Fatal(err)
		}
		if st.CaughtUp {
			return st
		}
		if time.Now().After(deadline) {
			g.t.Fatalf("rules not caught up: %+v", st)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// writeAll stores ps in one write, as a terminal uploads its blind-zone
// buffer: the rules take them in one step, so that no tick of the wall
// clock falls between two of them (it would judge the car silent since
// the last one, and the next retract it: a row in the table).
func (g *rig) writeAll(ps []track.Position) {
	g.t.Helper()
	ps = slices.Clone(ps)
	for i := range ps {
		ps[i].TerminalID, ps[i].Received, ps[i].FrameID = g.carTerm, time.Now(), track.NewFrameID()
	}
	if err := g.w.Write(context.Background(), g.carTerm, ps, nil); err != nil {
		g.t.Fatal(err)
	}
}

// monthLate is a working day at least 30 days ago: reports made then and
// arriving now are a month late (a terminal with an expired SIM, a car in
// an underground garage, a node restored from a backlog).
func monthLate() time.Time { return latestWorkday(time.Now().AddDate(0, 0, -30)) }

// lateTrip is a trip out and back from the yard from 20:05 to 20:30 on
// day, ending parked in the garage, so that the wall clock's checks have
// nothing to say about it.
func (g *rig) lateTrip(day time.Time) []track.Position {
	return newTrack(g.car, day.Format("2006-01-02 ")+"20:05").park(5*time.Minute, false, 0).
		drive(10*time.Minute, 40, 45).drive(10*time.Minute, 40, 225).park(10*time.Minute, false, 0).out
}

// approve stores an approval of the car for day's from to to ("15:04").
func (g *rig) approve(day time.Time, from, to string) int64 {
	g.t.Helper()
	d := day.Format("2006-01-02 ")
	id, err := g.store.AddApproval(context.Background(), ApprovalRecord{
		Approval: Approval{VehicleID: g.car, Start: at(d + from), End: at(d + to)},
		Driver:   "张三", Purpose: "接待", Approver: "李四",
	})
	if err != nil {
		g.t.Fatal(err)
	}
	return id
}

// judgedLate runs a runner with the production defaults and the wall
// clock over trip, uploaded in one write, and returns the car's episode
// rows, retracted ones included, once the runner has caught up.
func (g *rig) judgedLate(trip []track.Position) []StoredEpisode {
	g.t.Helper()
	r, stop := g.start(RunnerConfig{})
	g.writeAll(trip)
	g.settled(r)
	stop()
	all, err := g.store.Episodes(context.Background(), EpisodeFilter{VehicleID: g.car, WithRetracted: true})
	if err != nil {
		g.t.Fatal(err)
	}
	return all
}

// TestRunnerApprovalMonthLate: an approved evening trip reported a month
// after it was made raises nothing, with the production defaults and the
// wall clock: the approval that covered it is loaded for its device
// times, however long ago they are.
func TestRunnerApprovalMonthLate(t *testing.T) {
	g := newRig(t)
	day := monthLate()
	g.approve(day, "20:00", "21:00")
	trip := g.lateTrip(day)
	if want := g.expect(trip); len(want) != 0 {
		t.Fatalf("labelled trip: %v", episodeNames(want))
	}
	if all := g.judgedLate(trip); len(all) != 0 {
		t.Errorf("an approved trip a month late raised %v", storedNames(all))
	}
}

// TestRunnerApprovalOverrunMonthLate: a trip that overran its approval by
// ten minutes, reported a month late, raises the overrun alone: an
// after-hours episode from the approval's end, naming it, not one for the
// whole trip.
func TestRunnerApprovalOverrunMonthLate(t *testing.T) {
	g := newRig(t)
	day := monthLate()
	id := g.approve(day, "20:00", "20:20")
	trip := g.lateTrip(day)
	want := g.expect(trip)
	md := day.Format("01-02")
	if got := episodeNames(want); len(got) != 1 ||
		!strings.HasPrefix(got[0], "after_hours "+md+" 20:20:00–"+md+" 20:") || want[0].ApprovalID != id {
		t.Fatalf("labelled trip: %v, want the overrun of approval %d from 20:20", got, id)
	}
	if got := storedNames(g.judgedLate(trip)); !slices.Equal(got, episodeNames(want)) {
		t.Errorf("stored %v, want the overrun alone: %v", got, episodeNames(want))
	}
}
