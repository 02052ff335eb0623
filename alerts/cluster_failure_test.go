package alerts

import (
	"context"
	"slices"
	"testing"
	"time"

	"fleetmon/track"
)

// leaseHolders counts the shard locks held in the database, by anyone.
func (g *rig) leaseHolders(c *Cluster) int {
	g.t.Helper()
	c.mu.Lock()
	ns := c.nsShard // set again by each connection
	c.mu.Unlock()
	var n int
	if err := g.store.pool.QueryRow(context.Background(), `SELECT count(*) FROM pg_locks
		WHERE locktype = 'advisory' AND granted AND objsubid = 2 AND classid = $1::bigint::oid`, ns).Scan(&n); err != nil {
		g.t.Fatal(err)
	}
	return n
}

// sharing starts nodes a and b and waits until they run two shards each.
func (g *rig) sharing() (a, b *node) {
	g.t.Helper()
	a = g.node("a")
	settle(g.t, "a to take every shard", func() bool { return a.shards() == 4 })
	b = g.node("b")
	settle(g.t, "a and b to share", func() bool { return a.shards() == 2 && b.shards() == 2 })
	return a, b
}

// statesSaved waits until n vehicles' states are saved by a cluster node.
func (g *rig) statesSaved(n int) {
	g.t.Helper()
	settle(g.t, "states saved", func() bool {
		var got int
		_ = g.store.pool.QueryRow(context.Background(),
			"SELECT count(*) FROM alert_engine_state WHERE processed_xid IS NOT NULL").Scan(&got)
		return got == n
	})
}

// die kills node n as when its host vanishes: its runners stop at once,
// writing nothing, and PostgreSQL ends its lease session, and with it
// the locks.
func (g *rig) die(n *node) {
	g.t.Helper()
	n.c.mu.Lock()
	pid := n.c.conn.PgConn().PID()
	for _, lr := range n.c.running {
		lr.cancel(errAbandoned)
	}
	n.c.mu.Unlock()
	if _, err := g.store.pool.Exec(context.Background(), "SELECT pg_terminate_backend($1)", pid); err != nil {
		g.t.Fatal(err)
	}
	n.stop()
}

// TestClusterPausedNodeLosesLease: a node freezes mid-trip (SIGSTOP, a VM
// paused, a CPU starved): it holds the lease connection open but says
// nothing on it, and its runners' writes wait. The database ends its
// lease session after the production LeaseTimeout, the other node takes
// its shards and judges what follows; when the frozen node wakes up, the
// writes it had pending are refused, and it joins again. Every episode is
// stored once, as by an uninterrupted run.
func TestClusterPausedNodeLosesLease(t *testing.T) {
	g := newRig(t)
	ctx := context.Background()
	a, b := g.sharing()

	car, sealed := g.carTrack(), g.sealedTrack()
	wantCar, wantSealed := g.expect(car), g.expect(sealed)
	g.write(car[:len(car)/2])
	g.write(sealed[:len(sealed)/2])
	g.statesSaved(2)

	// a freezes: nothing it does on the lease connection gets through.
	a.c.mu.Lock()
	frozen := true
	defer func() {
		if frozen {
			a.c.mu.Unlock()
		}
	}()
	g.write(car[len(car)/2 : 3*len(car)/4])
	deadline := time.Now().Add(2 * time.Minute) // the production LeaseTimeout, and slack for a loaded machine
	for b.shards() != 4 || g.leaseHolders(b.c) != 4 {
		if time.Now().After(deadline) {
			t.Fatalf("the frozen node's shards were not taken over: b runs %d, %d held", b.shards(), g.leaseHolders(b.c))
		}
		time.Sleep(100 * time.Millisecond)
	}
	g.write(car[3*len(car)/4:])
	g.write(sealed[len(sealed)/2:])
	g.waitFor(g.car, wantCar)
	g.waitFor(g.sealed, wantSealed)

	// a wakes up: its runners judged the same positions meanwhile, but the
	// lease is gone, so what they write is refused; it joins again.
	frozen = false
	a.c.mu.Unlock()
	settle(t, "a and b to share again", func() bool {
		return a.shards() == 2 && b.shards() == 2 && g.leaseHolders(a.c) == 4
	})
	g.waitFor(g.car, wantCar)
	g.waitFor(g.sealed, wantSealed)
	all, err := g.store.Episodes(ctx, EpisodeFilter{WithRetracted: true})
	if err != nil {
		t.Fatal(err)
	}
	if len(all) != len(wantCar)+len(wantSealed) {
		t.Errorf("%d rows, want %d: %v", len(all), len(wantCar)+len(wantSealed), storedNames(all))
	}
}

// TestClusterLeaseConnectionBroken: a node's lease session ends (the
// server restarted it, a network blip) and a runner's write is the first
// to notice. The node must drop the shards whose lease went with the
// session and take them again, not connect anew with their runners still
// running: those can no longer write, and the shards would be judged by
// nobody while the other nodes count them as this node's.
func TestClusterLeaseConnectionBroken(t *testing.T) {
	g := newRig(t)
	ctx := context.Background()
	a := g.node("a")
	settle(t, "a to take every shard", func() bool { return a.shards() == 4 && g.leaseHolders(a.c) == 4 })

	// Hold the lease connection while its session is ended, so that the
	// runner's write (below) notices first, not the node's own round.
	a.c.mu.Lock()
	pid := a.c.conn.PgConn().PID()
	if _, err := g.store.pool.Exec(ctx, "SELECT pg_terminate_backend($1, 10000)", pid); err != nil {
		a.c.mu.Unlock()
		t.Fatal(err)
	}
	a.c.mu.Unlock()
	shard := int(uint64(g.sealed) % 4)
	err := fencedWriter{lease: a.c, shard: shard}.saveStates(ctx, []SavedState{{VehicleID: g.sealed, State: []byte("{}")}})
	if err == nil {
		t.Fatal("a write through a lease whose session ended went through")
	}

	settle(t, "a to hold every shard again", func() bool { return a.shards() == 4 && g.leaseHolders(a.c) == 4 })
	sealed := g.sealedTrack()
	want := g.expect(sealed)
	g.write(sealed)
	g.waitFor(g.sealed, want)
}

// TestClusterHandoverVehicleAddedLater: a vehicle is added while the
// nodes run (a CSV import by another process tells none of them), so the
// node that judges it finds it when the feed first brings it. That node
// dies mid-trip after saving the vehicle's state; the node that takes the
// shard did not know the vehicle either, and must resume it from the saved
// state, not judge it afresh from mid-trip (which opened the drive's
// episode a second time).
func TestClusterHandoverVehicleAddedLater(t *testing.T) {
	g := newRig(t)
	ctx := context.Background()
	a, b := g.sharing()

	ts := track.NewStore(g.store.pool)
	if _, _, err := ts.ImportVehicles(ctx, []track.VehicleImport{{Line: 2, Plate: "苏A00003", PlateColor: 1,
		TerminalPhone: "13800000003", UnitPath: []string{"江苏省", "南京市", "市机关事务管理局"}, Category: track.CategoryGeneral}}); err != nil {
		t.Fatal(err)
	}
	var vid, tid int64
	if err := g.store.pool.QueryRow(ctx, `SELECT v.id, t.id FROM vehicles v JOIN terminals t ON t.vehicle_id = v.id
		WHERE v.plate = '苏A00003'`).Scan(&vid, &tid); err != nil {
		t.Fatal(err)
	}
	write := func(ps []track.Position) {
		t.Helper()
		for len(ps) > 0 {
			chunk := slices.Clone(ps[:min(len(ps), 4)])
			ps = ps[len(chunk):]
			for i := range chunk {
				chunk[i].TerminalID, chunk[i].Received, chunk[i].FrameID = tid, time.Now(), track.NewFrameID()
			}
			if err := g.w.Write(ctx, tid, chunk, nil); err != nil {
				t.Fatal(err)
			}
		}
	}
	// An evening drive, not approved: judged after hours.
	ps := newTrack(vid, "2026-03-10 18:50").park(10*time.Minute, false, 0).
		drive(20*time.Minute, 40, 45).park(10*time.Minute, false, 0).out
	want := g.expect(ps)
	write(ps[:len(ps)/2])
	settle(t, "the move stored and the state saved", func() bool {
		var n int
		_ = g.store.pool.QueryRow(ctx, "SELECT count(*) FROM alert_engine_state WHERE vehicle_id = $1 AND processed_xid IS NOT NULL", vid).Scan(&n)
		return n == 1 && len(g.stored(vid)) > 0
	})

	// The vehicle's node dies.
	owner, other := a, b
	b.c.mu.Lock()
	if _, ok := b.c.running[int(uint64(vid)%4)]; ok {
		owner, other = b, a
	}
	b.c.mu.Unlock()
	g.die(owner)
	settle(t, "the other node to take every shard", func() bool { return other.shards() == 4 })

	write(ps[len(ps)/2:])
	g.waitFor(vid, want)
	all, err := g.store.Episodes(ctx, EpisodeFilter{VehicleID: vid, WithRetracted: true})
	if err != nil {
		t.Fatal(err)
	}
	if len(all) != len(want) {
		t.Errorf("%d rows, want %d: %v", len(all), len(want), storedNames(all))
	}
}
