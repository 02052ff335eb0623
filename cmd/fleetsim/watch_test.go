package main

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"
)

// TestWatchCommand runs watch against a websocket server that speaks the
// live stream's messages with positions stamped 20 ms in the past.
func TestWatchCommand(t *testing.T) {
	const perClient = 30
	up := websocket.Upgrader{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/api/v1/live" || r.Header.Get("Authorization") != "Bearer s3cret" {
			http.Error(w, "no", http.StatusUnauthorized)
			return
		}
		c, err := up.Upgrade(w, r, nil)
		if err != nil {
			return
		}
		defer c.Close()
		// The snapshot carries no stamps and is not counted.
		_ = c.WriteJSON(map[string]any{"type": "snapshot", "positions": []map[string]any{{"vehicle_id": 1}}})
		for i := 0; i < perClient; i += 3 {
			ps := make([]map[string]any, 3)
			for j := range ps {
				ps[j] = map[string]any{"vehicle_id": j, "received": time.Now().Add(-20 * time.Millisecond).Format("2006-01-02T15:04:05.000Z07:00")}
			}
			if c.WriteJSON(map[string]any{"type": "positions", "positions": ps}) != nil {
				return
			}
		}
		_ = c.WriteJSON(map[string]any{"type": "positions", "positions": []map[string]any{{"vehicle_id": 9}}}) // unstamped
		<-r.Context().Done()
	}))
	defer srv.Close()

	var out, errb bytes.Buffer
	code := run(context.Background(), []string{"watch", "--url", srv.URL, "--token", "s3cret", "--clients", "4",
		"--warmup", "0s", "--duration", "1s", "--json"}, &out, &errb)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errb.String())
	}
	var rep watchReport
	if err := json.Unmarshal(out.Bytes(), &rep); err != nil {
		t.Fatalf("report: %v\n%s", err, out.String())
	}
	if rep.Positions != 4*perClient || rep.Unstamped != 4 || rep.ClientsFailed != 0 {
		t.Errorf("positions %d unstamped %d failed %d, want %d, 4, 0", rep.Positions, rep.Unstamped, rep.ClientsFailed, 4*perClient)
	}
	// Every position was stamped 20 ms before it was sent: no percentile can be less.
	if rep.P50Ms < 20 || rep.P99Ms < rep.P50Ms || rep.MaxMs < 20 {
		t.Errorf("latencies p50 %v p99 %v max %v: want ≥ 20 ms and ordered", rep.P50Ms, rep.P99Ms, rep.MaxMs)
	}

	// A wrong token: every client fails, and watch says so.
	out.Reset()
	errb.Reset()
	code = run(context.Background(), []string{"watch", "--url", srv.URL, "--token", "wrong", "--clients", "2", "--warmup", "0s", "--duration", "1s"}, &out, &errb)
	if code == 0 || !strings.Contains(errb.String(), "could not connect") {
		t.Errorf("wrong token: exit %d, stderr %q", code, errb.String())
	}
}
