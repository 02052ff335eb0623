package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"fleetmon/ingest/jt808"
	"fleetmon/ingest/mqtttest"
	"fleetmon/track"
	"fleetmon/track/pgha"
)

// TestFailover runs two fleetd nodes on a PostgreSQL primary with a
// synchronous standby under Patroni, with terminals reporting at a steady
// rate, and takes the primary away mid-run: killed (SIGKILL of Patroni,
// the postmaster and every backend, as a machine losing power), and
// frozen (SIGSTOP of the same: connections stay open and silent, as a
// machine that hangs or drops off the network). Patroni promotes the
// standby; the nodes, never restarted, must find it by themselves
// (multi-host --db) and acknowledge again, and every report acknowledged,
// before or after, must be stored exactly once on the new primary.
func TestFailover(t *testing.T) {
	for _, c := range []struct {
		name   string
		freeze bool
	}{
		{"primary_killed", false},
		{"primary_frozen", true},
	} {
		t.Run(c.name, func(t *testing.T) { failover(t, c.freeze) })
	}
}

// failoverTerminal is one terminal's run: what was acknowledged and when.
type failoverTerminal struct {
	phone, plate string
	acked        []time.Time // device times acknowledged
	ackAt        []time.Time // wall times of the acknowledgements
	err          error
}

func failover(t *testing.T, freeze bool) {
	cl := pgha.Start(t)
	broker := mqtttest.Start(t)
	db := cl.ConnString()

	const terminals = 6
	t0 := time.Now().Add(-24 * time.Hour).Truncate(time.Hour)
	// The first car is sealed since before its drive: the rules, run by
	// both nodes on the database that fails over, must report its move
	// exactly once, and nothing for the others.
	csv := "plate,plate_color,terminal_phone,unit,category,sealed,sealed_at,seal_reason\n"
	runs := make([]*failoverTerminal, terminals)
	for i := range runs {
		runs[i] = &failoverTerminal{phone: fmt.Sprintf("1390000%04d", i+1), plate: fmt.Sprintf("鄂C%05d", i+1)}
		seal := ",,"
		if i == 0 {
			seal = "是," + t0.Add(-time.Hour).In(track.Beijing).Format("2006-01-02 15:04") + ",封存待处置"
		}
		csv += fmt.Sprintf("%s,1,%s,湖北省/黄石市,general,%s\n", runs[i].plate, runs[i].phone, seal)
	}
	if code, out, errs := fleetd(t, "vehicles", "import", "--db", db, writeFile(t, "v.csv", csv)); code != 0 {
		t.Fatalf("import: %d %s %s", code, out, errs)
	}
	nodes := []*nodeProc{startNode(t, "n1", db, broker.URL), startNode(t, "n2", db, broker.URL)}
	addrs := func() []string { return []string{nodes[0].JT808, nodes[1].JT808} }

	// Each terminal reports every 100 ms (device time 10 s apart), sending
	// again what was not acknowledged, until it has had enough reports
	// acknowledged after the new primary took over.
	const afterFailover = 30
	var (
		mu       sync.Mutex
		promoted time.Time // when the new primary was seen writable
	)
	enoughAfter := func(r *failoverTerminal) bool {
		mu.Lock()
		defer mu.Unlock()
		if promoted.IsZero() {
			return false
		}
		n := 0
		for _, at := range r.ackAt {
			if at.After(promoted) {
				n++
			}
		}
		return n >= afterFailover
	}
	deadline := time.Now().Add(4 * time.Minute)
	var wg sync.WaitGroup
	for i, r := range runs {
		wg.Go(func() {
			p, _ := jt808.ParsePhone(r.phone, jt808.Version2013)
			ro := &roamer{phone: p, plate: r.plate, nodes: addrs, at: i}
			defer func() {
				if ro.c != nil {
					ro.c.Close()
				}
			}()
			for k := 0; !enoughAfter(r); k++ {
				// 36 km/h northwards: 0.0009° of latitude (100 m) each 10 s. The
				// sealed car's move must be a drive at the defaults (500 m and 3
				// minutes) however few reports a loaded machine gets in before the
				// failover: the 30 acknowledged after it are enough by themselves.
				dt := t0.Add(time.Duration(k) * 10 * time.Second)
				loc := jt808.Location{Status: jt808.StatusACC | jt808.StatusFixed, LatE6: uint32((30.2 + float64(k)*0.0009) * 1e6),
					LonE6: uint32((115.0 + float64(i)*0.01) * 1e6), SpeedDeciKmh: 360, Time: jt808.NewBCDTime(dt)}
				// report gives up after its own attempts; a terminal keeps
				// its report and tries again.
				for {
					err := ro.report(&loc)
					if err == nil {
						break
					}
					if time.Now().After(deadline) {
						r.err = err
						return
					}
					time.Sleep(200 * time.Millisecond)
				}
				mu.Lock()
				r.acked = append(r.acked, dt)
				r.ackAt = append(r.ackAt, time.Now())
				mu.Unlock()
				time.Sleep(100 * time.Millisecond)
			}
		})
	}

	// Let the reports flow, then take the primary away.
	time.Sleep(3 * time.Second)
	old := cl.Primary()
	if old < 0 {
		t.Fatal("no primary")
	}
	lost := time.Now()
	var err error
	if freeze {
		err = cl.Freeze(old)
	} else {
		err = cl.Kill(old)
	}
	if err != nil {
		t.Fatal(err)
	}
	newp, err := cl.WaitPrimary(old, 2*time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	promoted = time.Now()
	mu.Unlock()
	wg.Wait()
	for _, r := range runs {
		if r.err != nil {
			t.Fatalf("terminal %s: %v", r.plate, r.err)
		}
	}
	for _, n := range nodes {
		select {
		case <-n.done:
			t.Fatalf("node %s exited during the failover; stderr:\n%s", n.id, n.stderr.String())
		default:
		}
	}

	// Every acknowledged report is on the new primary, once.
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	conn, err := pgx.Connect(ctx, cl.NodeConnString(newp))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	for _, r := range runs {
		rows, _ := conn.Query(ctx, `SELECT p.device_time FROM positions p JOIN vehicles v ON v.id = p.vehicle_id
			WHERE v.plate = $1 ORDER BY p.device_time`, r.plate)
		stored, err := pgx.CollectRows(rows, pgx.RowTo[time.Time])
		if err != nil {
			t.Fatal(err)
		}
		for i := 1; i < len(stored); i++ {
			if stored[i].Equal(stored[i-1]) {
				t.Errorf("%s: report of %s stored twice", r.plate, stored[i])
			}
		}
		for _, dt := range r.acked {
			if _, found := slices.BinarySearchFunc(stored, dt, func(a, b time.Time) int { return a.Compare(b) }); !found {
				t.Errorf("%s: acknowledged report of %s is not on the new primary", r.plate, dt)
			}
		}
	}
	// Every verdict exactly once: the sealed car's move, one episode
	// across the failover, once both nodes have judged everything
	// committed.
	waitUntil(t, 2*time.Minute, "both nodes' rules to catch up", func() bool {
		for _, n := range nodes {
			body := scrape(t, n.HTTP)
			if !strings.Contains(body, "\nfleetmon_alerts_caught_up 1\n") || !strings.Contains(body, "\nfleetmon_alerts_pending_positions 0\n") {
				return false
			}
		}
		return true
	})
	qctx, qcancel := context.WithTimeout(context.Background(), time.Minute)
	defer qcancel()
	rows, err := conn.Query(qctx, `SELECT v.plate || ' ' || e.rule FROM episodes e JOIN vehicles v ON v.id = e.vehicle_id
		WHERE e.status <> 'retracted' AND e.rule = 'sealed_move' ORDER BY 1`)
	if err != nil {
		t.Fatal(err)
	}
	moves, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{runs[0].plate + " sealed_move"}; !slices.Equal(moves, want) {
		t.Errorf("sealed moves %v, want %v", moves, want)
	}

	// What a benchmark would measure, logged: no assertion on times.
	var pause time.Duration
	var resumed []float64 // per terminal: its first acknowledgement after the promotion, in s after it
	for _, r := range runs {
		for i := 1; i < len(r.ackAt); i++ {
			pause = max(pause, r.ackAt[i].Sub(r.ackAt[i-1]))
		}
		for _, at := range r.ackAt {
			if at.After(promoted) {
				resumed = append(resumed, at.Sub(promoted).Seconds())
				break
			}
		}
	}
	slices.Sort(resumed)
	t.Logf("new primary writable %.1f s after the old one was lost; terminals' first acknowledgements %.1f s (first) to %.1f s (last) after that; longest pause in a terminal's acknowledgements %.1f s",
		promoted.Sub(lost).Seconds(), resumed[0], resumed[len(resumed)-1], pause.Seconds())
	for _, n := range nodes {
		n.stop()
	}
}

// scrape returns a node's /metrics page ("" when it does not answer).
func scrape(t *testing.T, addr string) string {
	t.Helper()
	resp, err := http.Get("http://" + addr + "/metrics")
	if err != nil {
		return ""
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return string(b)
}
