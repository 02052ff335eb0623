package main

import (
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"fleetmon/track/pgtest"
)

// TestServeMaintenanceMetrics: serve runs its maintenance jobs at start,
// and /metrics says how each went, so an operator can alert on one that
// keeps failing.
func TestServeMaintenanceMetrics(t *testing.T) {
	db := pgtest.New(t).ConnString
	srv := startServe(t, "--db", db, "--data-dir", t.TempDir(), "--raw-retention", "8760h")
	want := []string{
		`fleetmon_maintenance_runs_total{job="seal",result="ok"} 1`,
		`fleetmon_maintenance_runs_total{job="footprints",result="ok"} 1`,
		`fleetmon_maintenance_runs_total{job="compact",result="ok"} 1`,
		`fleetmon_maintenance_runs_total{job="prune",result="ok"} 1`,
		`fleetmon_maintenance_last_success_timestamp_seconds{job="seal"}`,
	}
	body := scrapeUntil(t, srv.HTTP, want)
	if strings.Contains(body, `result="error"`) {
		t.Errorf("a maintenance job failed on a fresh database:\n%s", grepLines(body, "fleetmon_maintenance"))
	}
}

// scrapeUntil reads /metrics from the server at addr until it holds every
// line of want (the jobs behind them run in the background), or for 30 s;
// it fails the test for each still missing, and returns the last read.
func scrapeUntil(t *testing.T, addr string, want []string) string {
	t.Helper()
	var body string
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		resp, err := http.Get("http://" + addr + "/metrics")
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		body = string(b)
		missing := false
		for _, w := range want {
			missing = missing || !strings.Contains(body, w)
		}
		if !missing {
			break
		}
	}
	for _, w := range want {
		if !strings.Contains(body, w) {
			t.Errorf("/metrics lacks %s", w)
		}
	}
	return body
}

func grepLines(s, sub string) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if strings.Contains(l, sub) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}
