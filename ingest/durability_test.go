package ingest_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"fleetmon/ingest"
	"fleetmon/ingest/jt808"
	"fleetmon/track/localpg"
	"fleetmon/track/pgtest"
)

// privateCluster starts a PostgreSQL of the test's own, which it may stop.
func privateCluster(t *testing.T) *localpg.Server {
	t.Helper()
	dir := t.TempDir()
	if os.Geteuid() == 0 {
		// As root the server runs as the postgres user, who must reach dir.
		if err := os.Chmod(filepath.Dir(dir), 0o711); err != nil {
			t.Fatal(err)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	srv, err := localpg.Start(ctx, localpg.Config{Dir: dir, Logger: logger(t)})
	if errors.Is(err, localpg.ErrNotInstalled) && os.Getenv("CI") != "true" {
		t.Skipf("%v", err)
	}
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = srv.Stop(context.Background()) })
	return srv
}

// TestDatabaseOutageLosesNothingAcknowledged kills PostgreSQL (an immediate
// shutdown: no checkpoint, as in a crash) while terminals report, keeps it
// down for 30 s, and starts it again. Acknowledgements must stop while it is
// down, resume by themselves when it is back, and every report ever
// acknowledged must be stored, once.
func TestDatabaseOutageLosesNothingAcknowledged(t *testing.T) {
	if testing.Short() {
		t.Skip("30 s outage")
	}
	outage := 30 * time.Second
	if d, err := time.ParseDuration(os.Getenv("FLEETMON_TEST_OUTAGE")); err == nil {
		outage = d
	}
	pg := privateCluster(t)
	schema := pgtest.NewOn(t, pg.ConnString())
	var csv = "plate,plate_color,terminal_phone,unit,category\n"
	const terminals = 20
	for i := range terminals {
		csv += fmt.Sprintf("鄂B%05d,1,1380000%04d,湖北省/黄石市,general\n", i, i)
	}
	g := startGateway(t, schema.Pool, ingest.Config{}, csv)

	type ack struct {
		phone string
		at    time.Time
	}
	var (
		mu        sync.Mutex
		acked     []ack
		down      atomic.Bool
		ackedDown atomic.Int64 // acks of reports first sent while the database was down
		stop      = make(chan struct{})
		wg        sync.WaitGroup
	)
	base := time.Date(2026, 11, 22, 8, 0, 0, 0, cst)
	for i := range terminals {
		phone := fmt.Sprintf("1380000%04d", i)
		tm := dial(t, g.addr, phone, jt808.Version2013)
		tm.login(fmt.Sprintf("鄂B%05d", i))
		wg.Add(1)
		go func() {
			defer wg.Done()
			for k := 0; ; k++ {
				select {
				case <-stop:
					return
				default:
				}
				at := base.Add(time.Duration(k) * time.Second)
				h := tm.header(jt808.IDLocation)
				frame := jt808.AppendFrame(nil, &h, location(at, 30.2, 115.04, 30).AppendTo(nil, jt808.Version2013))
				sentDown := down.Load()
				// Send, and resend on a 2 s timeout as terminals do, until acknowledged.
				for {
					if _, err := tm.conn.Write(frame); err != nil {
						t.Errorf("terminal %s: write: %v", phone, err)
						return
					}
					f, err := waitAck(tm, h.Serial, 2*time.Second)
					if err != nil {
						continue
					}
					if f != 0 {
						t.Errorf("terminal %s: result %d", phone, f)
						return
					}
					break
				}
				if sentDown && down.Load() {
					ackedDown.Add(1)
				}
				mu.Lock()
				acked = append(acked, ack{phone, at})
				mu.Unlock()
				time.Sleep(50 * time.Millisecond)
			}
		}()
	}

	time.Sleep(2 * time.Second)
	ctx := context.Background()
	if err := pg.Kill(ctx); err != nil {
		t.Fatal(err)
	}
	// Only now is the database certainly down: a report sent before Kill
	// returned may have been committed, and acknowledged, legitimately.
	down.Store(true)
	mu.Lock()
	before := len(acked)
	mu.Unlock()
	time.Sleep(outage)
	mu.Lock()
	during := len(acked) - before
	mu.Unlock()
	// From here on the database may accept writes at any moment.
	down.Store(false)
	if err := pg.Restart(ctx); err != nil {
		t.Fatal(err)
	}
	// Acknowledgements resume by themselves.
	mu.Lock()
	atRestart := len(acked)
	mu.Unlock()
	deadline := time.Now().Add(time.Minute)
	for {
		mu.Lock()
		n := len(acked)
		mu.Unlock()
		if n >= atRestart+terminals*10 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("acknowledgements did not resume: %d in the minute after restart", n-atRestart)
		}
		time.Sleep(100 * time.Millisecond)
	}
	close(stop)
	wg.Wait()

	// A write under way at the kill may have committed just before it; none
	// started after the kill can be acknowledged before the restart.
	if during > terminals || ackedDown.Load() > 0 {
		t.Errorf("acknowledged while the database was down: %d (%d first sent during the outage)", during, ackedDown.Load())
	}
	mu.Lock()
	defer mu.Unlock()
	if len(acked) < terminals*20 {
		t.Fatalf("only %d reports acknowledged: the load did not run", len(acked))
	}
	rows, err := schema.Pool.Query(ctx, `SELECT t.phone, p.device_time, count(*) OVER (PARTITION BY p.vehicle_id, p.device_time)
		FROM positions p JOIN terminals t ON t.vehicle_id = p.vehicle_id`)
	if err != nil {
		t.Fatal(err)
	}
	stored := map[ack]int{}
	for rows.Next() {
		var a ack
		var n int
		if err := rows.Scan(&a.phone, &a.at, &n); err != nil {
			t.Fatal(err)
		}
		stored[ack{a.phone, a.at.In(cst)}] = n
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	lost := 0
	for _, a := range acked {
		switch n := stored[ack{a.phone, a.at}]; n {
		case 1:
		case 0:
			lost++
		default:
			t.Errorf("%s %v stored %d times", a.phone, a.at, n)
		}
	}
	if lost > 0 {
		t.Fatalf("%d of %d acknowledged reports lost", lost, len(acked))
	}
	t.Logf("%d reports acknowledged and stored once; %d acknowledged during the %v outage", len(acked), during, outage)
}

// waitAck reads replies until the 0x8001 for serial arrives (acks of older
// serials, for resends, are skipped) and returns its result.
func waitAck(tm *terminal, serial uint16, d time.Duration) (uint8, error) {
	deadline := time.Now().Add(d)
	for {
		f, err := tm.tryReply(time.Until(deadline))
		if err != nil {
			return 0, err
		}
		var r jt808.PlatformReply
		if f.Header.ID != jt808.IDPlatformReply || r.Decode(f.Body, &f.Header) != nil {
			continue
		}
		if r.ReplySerial == serial {
			return r.Result, nil
		}
	}
}
