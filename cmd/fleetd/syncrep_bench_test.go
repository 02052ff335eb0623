package main

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	"fleetmon/ingest/jt808"
	"fleetmon/track/pgha"
)

// TestSyncReplicationCost measures what the synchronous standby costs the
// terminals: acknowledged reports per second and the time from sending a
// report to its 0x8001, against fleetd's own single PostgreSQL (what
// fleetd serve runs without --db) and against a Patroni pair whose
// standby must flush every commit before it returns, one after the other
// in one run on the same machine. It logs the figures for BENCHMARKS.md
// and asserts none; it runs only with FLEETMON_BENCH=syncrep.
func TestSyncReplicationCost(t *testing.T) {
	if os.Getenv("FLEETMON_BENCH") != "syncrep" {
		t.Skip("a benchmark: FLEETMON_BENCH=syncrep go test -run TestSyncReplicationCost -v ./cmd/fleetd")
	}
	const terminals = 64
	const runFor = 20 * time.Second
	csv := "plate,plate_color,terminal_phone,unit,category\n"
	for i := range terminals {
		csv += fmt.Sprintf("鄂D%05d,1,1390000%04d,湖北省/黄石市,general\n", i+1, i+1)
	}
	vehicles := writeFile(t, "v.csv", csv)
	for _, c := range []struct {
		name string
		args func(t *testing.T, data string) []string
	}{
		{"single primary (private PostgreSQL)", func(t *testing.T, data string) []string {
			if os.Geteuid() == 0 {
				// As root, PostgreSQL runs as the postgres user, who must reach data.
				if err := os.Chmod(filepath.Dir(data), 0o711); err != nil {
					t.Fatal(err)
				}
			}
			if code, out, errs := fleetd(t, "vehicles", "import", "--data-dir", data, vehicles); code != 0 {
				t.Fatalf("import: %d %s %s", code, out, errs)
			}
			return []string{"--data-dir", data}
		}},
		{"Patroni pair, synchronous standby", func(t *testing.T, data string) []string {
			cl := pgha.Start(t)
			if code, out, errs := fleetd(t, "vehicles", "import", "--db", cl.ConnString(), vehicles); code != 0 {
				t.Fatalf("import: %d %s %s", code, out, errs)
			}
			return []string{"--db", cl.ConnString(), "--data-dir", data}
		}},
	} {
		t.Run(c.name, func(t *testing.T) {
			srv := startServeAs(t, c.args(t, t.TempDir())...)
			acks, lat := syncRepLoad(t, srv.JT808, terminals, runFor)
			slices.Sort(lat)
			pct := func(p float64) float64 { return lat[int(p*float64(len(lat)-1))].Seconds() * 1000 }
			t.Logf("%s: %d terminals back to back for %v: %.0f acknowledged reports/s; ack latency p50 %.1f ms, p99 %.1f ms, max %.1f ms",
				c.name, terminals, runFor, float64(acks)/runFor.Seconds(), pct(0.5), pct(0.99), pct(1))
			srv.Stop()
		})
	}
}

// syncRepLoad logs terminals in and has each send a report as soon as the
// previous one is acknowledged, for d; it returns the acknowledgements and
// each one's latency.
func syncRepLoad(t *testing.T, addr string, terminals int, d time.Duration) (int, []time.Duration) {
	tms := make([]*terminal, terminals)
	for i := range tms {
		tms[i] = dialTerminal(t, addr, fmt.Sprintf("1390000%04d", i+1))
		tms[i].login(fmt.Sprintf("鄂D%05d", i+1))
	}
	var mu sync.Mutex
	var lat []time.Duration
	var wg sync.WaitGroup
	t0 := time.Now().Add(-3 * time.Hour).Truncate(time.Hour)
	stop := time.Now().Add(d)
	errs := make([]error, terminals)
	for i, tm := range tms {
		wg.Go(func() {
			var mine []time.Duration
			for k := 0; time.Now().Before(stop); k++ {
				loc := jt808.Location{Status: jt808.StatusACC | jt808.StatusFixed, LatE6: uint32((30.2 + float64(k)*0.00001) * 1e6),
					LonE6: uint32((115.0 + float64(i)*0.01) * 1e6), SpeedDeciKmh: 360,
					Time: jt808.NewBCDTime(t0.Add(time.Duration(k) * time.Second))}
				sent := time.Now()
				if _, err := tm.tryExchange(jt808.IDLocation, loc.AppendTo(nil, jt808.Version2013)); err != nil {
					errs[i] = err
					return
				}
				mine = append(mine, time.Since(sent))
			}
			mu.Lock()
			lat = append(lat, mine...)
			mu.Unlock()
		})
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	return len(lat), lat
}
