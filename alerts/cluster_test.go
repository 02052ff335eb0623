package alerts

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"fleetmon/track"
)

// node runs a Cluster for a test until stop.
type node struct {
	c    *Cluster
	stop func()
}

func (g *rig) node(id string) *node {
	g.t.Helper()
	return g.nodeSaving(id, 300*time.Millisecond)
}

// nodeSaving is node with the engines' state saved every stateEvery.
func (g *rig) nodeSaving(id string, stateEvery time.Duration) *node {
	g.t.Helper()
	return g.nodeAt(id, stateEvery, testRunnerConfig().Clock.Now())
}

// nodeAt is nodeSaving with the clock-driven checks' clock standing at now.
func (g *rig) nodeAt(id string, stateEvery time.Duration, now time.Time) *node {
	g.t.Helper()
	c, err := NewCluster(g.store, ClusterConfig{NodeID: id, Shards: 4, Poll: 50 * time.Millisecond,
		Rebalance: 100 * time.Millisecond, Runner: func() RunnerConfig {
			rc := testRunnerConfig()
			rc.StateEvery = stateEvery
			rc.Clock.Now = func() time.Time { return now }
			return rc
		}()}, testLog().With("node", id), prometheus.NewRegistry())
	if err != nil {
		g.t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- c.Run(ctx) }()
	var once atomic.Bool
	stop := func() {
		if once.Swap(true) {
			return
		}
		cancel()
		if err := <-done; err != nil {
			g.t.Errorf("node %s: %v", id, err)
		}
	}
	g.t.Cleanup(stop)
	return &node{c: c, stop: stop}
}

func (n *node) shards() int { return int(testutil.ToFloat64(n.c.leases)) }

func settle(t *testing.T, what string, ok func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !ok() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestClusterHandover runs the rules on two nodes sharing the shards;
// one dies (its lease connection is cut, then it stops, writing nothing)
// mid-trip. The other takes its shards and the episodes end as those of
// an uninterrupted run: none missing, none twice.
func TestClusterHandover(t *testing.T) {
	g := newRig(t)
	ctx := context.Background()
	a, b := g.sharing()

	car, sealed := g.carTrack(), g.sealedTrack()
	wantCar, wantSealed := g.expect(car), g.expect(sealed)
	g.write(car[:len(car)/2])
	g.write(sealed[:len(sealed)/2])
	// Let the states be saved mid-trip, with what was read so far.
	g.statesSaved(2)
	g.write(car[len(car)/2 : 3*len(car)/4])

	// a dies: PostgreSQL ends its session (as when its host vanishes), and
	// with it the locks; its runners can no longer write.
	g.die(a)
	settle(t, "b to take every shard", func() bool { return b.shards() == 4 })

	g.write(car[3*len(car)/4:])
	g.write(sealed[len(sealed)/2:])
	g.waitFor(g.car, wantCar)
	g.waitFor(g.sealed, wantSealed)
	all, err := g.store.Episodes(ctx, EpisodeFilter{WithRetracted: true})
	if err != nil {
		t.Fatal(err)
	}
	if len(all) != len(wantCar)+len(wantSealed) {
		t.Errorf("%d rows, want %d: %v", len(all), len(wantCar)+len(wantSealed), storedNames(all))
	}

	// A node joining takes its share back; b hands over cleanly.
	c := g.node("c")
	settle(t, "b and c to share", func() bool { return b.shards() == 2 && c.shards() == 2 })
	b.stop()
	settle(t, "c to take every shard", func() bool { return c.shards() == 4 })
	g.waitFor(g.car, wantCar)
	g.waitFor(g.sealed, wantSealed)
}

// TestClusterHandoverBeforeStateSaved: a node dies before it saved any
// state, so the node that takes its shards replays what the vehicles sent
// from the start. The reports were made weeks before they arrived (the
// rig's tracks moved 40 days back; a terminal back from weeks offline sends
// such a backlog): they are replayed by when they arrived, whenever they
// were made, and the verdicts are those of an uninterrupted run.
func TestClusterHandoverBeforeStateSaved(t *testing.T) {
	g := newRig(t)
	ctx := context.Background()
	// The clock-driven checks stand at the start of the tracks' day, as
	// the rig's do, so that only the positions make verdicts.
	const back = 40
	then := testRunnerConfig().Clock.Now().AddDate(0, 0, -back)
	a := g.nodeAt("a", time.Hour, then)
	settle(t, "a to take every shard", func() bool { return a.shards() == 4 })

	car, sealed := daysEarlier(g.carTrack(), back), daysEarlier(g.sealedTrack(), back)
	wantCar, wantSealed := g.expect(car), g.expect(sealed)
	g.write(car[:len(car)/2])
	g.write(sealed[:len(sealed)/2])
	// a has judged the first halves (the sealed car's move is stored)...
	settle(t, "a to store the sealed car's move", func() bool { return len(g.stored(g.sealed)) > 0 })
	var saved int
	if err := g.store.pool.QueryRow(ctx, "SELECT count(*) FROM alert_engine_state").Scan(&saved); err != nil || saved != 0 {
		t.Fatalf("%d states saved (%v), want none", saved, err)
	}
	// ...and dies before saving any state.
	g.die(a)

	b := g.nodeAt("b", 300*time.Millisecond, then)
	settle(t, "b to take every shard", func() bool { return b.shards() == 4 })
	g.write(car[len(car)/2:])
	g.write(sealed[len(sealed)/2:])
	g.waitFor(g.car, wantCar)
	g.waitFor(g.sealed, wantSealed)
}

// TestClusterFence: a write for a shard the node does not hold is refused.
func TestClusterFence(t *testing.T) {
	g := newRig(t)
	a := g.node("a")
	settle(t, "a to take every shard", func() bool { return a.shards() == 4 })
	ep := Episode{ID: "x", VehicleID: g.car, UnitID: g.bureau, Rule: RuleSealedMove, Status: EpisodeOpen,
		Start: at("2026-03-10 10:00"), StartLat: homeLat, StartLon: homeLon}
	write := func(shard int) error {
		return a.c.fenced(context.Background(), shard, func(q querier) error {
			_, err := upsertEpisodesOn(context.Background(), q, []Episode{ep})
			return err
		})
	}
	if err := write(7); !errors.Is(err, errLeaseLost) {
		t.Fatalf("write for a shard never held: %v", err)
	}
	// The node believes it holds shard 1, but its session does not (the
	// lock was released behind its back): the check in the transaction
	// refuses the write.
	a.c.mu.Lock()
	if _, err := a.c.conn.Exec(context.Background(), "SELECT pg_advisory_unlock($1::int, 1)", a.c.nsShard); err != nil {
		a.c.mu.Unlock()
		t.Fatal(err)
	}
	a.c.mu.Unlock()
	if err := write(1); !errors.Is(err, errLeaseLost) {
		t.Fatalf("write without the lock: %v", err)
	}
	if eps := g.stored(g.car); len(eps) != 0 {
		t.Fatalf("episodes written without a lease: %v", storedNames(eps))
	}
}

// daysEarlier moves a track n days back in device time: reports made long
// before they arrive.
func daysEarlier(ps []track.Position, n int) []track.Position {
	for i := range ps {
		ps[i].Time = ps[i].Time.AddDate(0, 0, -n)
	}
	return ps
}
