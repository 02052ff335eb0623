package alerts

import (
	"context"
	"testing"
	"time"
)

// TestProgress: the hand-overs not judged yet are counted, with the time
// of the oldest, until they are judged in any grouping.
func TestProgress(t *testing.T) {
	var p progress
	t0 := time.Date(2026, 1, 5, 8, 0, 0, 0, time.UTC)
	if n, oldest := p.pending(); n != 0 || !oldest.IsZero() {
		t.Fatalf("empty: %d %v", n, oldest)
	}
	p.hand(3, t0)
	p.hand(2, t0.Add(time.Second))
	p.hand(4, t0.Add(2*time.Second))
	p.judge(4) // the first hand-over and half the second
	if n, oldest := p.pending(); n != 5 || !oldest.Equal(t0.Add(time.Second)) {
		t.Errorf("after 4 judged: %d %v", n, oldest)
	}
	p.judge(5)
	if n, oldest := p.pending(); n != 0 || !oldest.IsZero() || len(p.marks) != 0 {
		t.Errorf("all judged: %d %v %v", n, oldest, p.marks)
	}
}

// TestClusterStatus: a cluster node's status counts the positions of its
// shards committed and not read yet; once it says it caught up, the
// episodes are stored, without waiting for them.
func TestClusterStatus(t *testing.T) {
	g := newRig(t)
	ctx := context.Background()
	a := g.node("a")
	settle(t, "a to take every shard", func() bool { return a.shards() == 4 })
	car, sealed := g.carTrack(), g.sealedTrack()
	wantCar, wantSealed := g.expect(car), g.expect(sealed)
	g.write(car)
	g.write(sealed)
	var st Status
	settle(t, "a to catch up", func() bool {
		var err error
		if st, err = a.c.Status(ctx); err != nil {
			t.Fatal(err)
		}
		return st.CaughtUp
	})
	if st.Shards != 4 || st.Pending != 0 || !st.OldestPending.IsZero() || st.ClockRan.IsZero() {
		t.Errorf("caught up: %+v", st)
	}
	g.check(g.car, wantCar)
	g.check(g.sealed, wantSealed)
}
