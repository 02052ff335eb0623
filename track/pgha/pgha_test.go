package pgha_test

import (
	"context"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"fleetmon/track/pgha"
)

// TestClusterStartsSynchronous checks the harness itself: a primary whose
// commits wait for the standby, which is the synchronous one.
func TestClusterStartsSynchronous(t *testing.T) {
	c := pgha.Start(t)
	if p := c.Primary(); p != 0 {
		t.Fatalf("primary %d, want 0", p)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, c.ConnString())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	var names, commit, state string
	if err := conn.QueryRow(ctx, `SELECT current_setting('synchronous_standby_names'), current_setting('synchronous_commit'),
		(SELECT sync_state FROM pg_stat_replication LIMIT 1)`).Scan(&names, &commit, &state); err != nil {
		t.Fatal(err)
	}
	if names == "" || commit != "on" || state != "sync" {
		t.Fatalf("synchronous_standby_names %q, synchronous_commit %q, standby %q: want a synchronous standby", names, commit, state)
	}
}
