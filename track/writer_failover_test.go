package track_test

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"fleetmon/track"
	"fleetmon/track/localpg"
	"fleetmon/track/pgha"
	"fleetmon/track/pgtest"
)

// privateServer starts a PostgreSQL of the test's own, which it may freeze.
func privateServer(t *testing.T) *localpg.Server {
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
	srv, err := localpg.Start(ctx, localpg.Config{Dir: dir, Logger: discard()})
	if errors.Is(err, localpg.ErrNotInstalled) && os.Getenv("CI") != "true" {
		t.Skipf("%v", err)
	}
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = srv.Stop(context.Background()) })
	return srv
}

// TestWriterLeavesAHungPrimary freezes (SIGSTOP) the server a write is
// waiting on, as a primary whose machine hangs looks to fleetd: its
// connections stay open and silent, and the kernel still takes new ones.
// The writer's connection string names that server first and a second,
// writable one after it, as a multi-host --db names a primary and the
// standby that takes over. The attempt's deadline must end the wait, and
// the retry must store the batch, once, on the second server while the
// first stays frozen.
func TestWriterLeavesAHungPrimary(t *testing.T) {
	first := privateServer(t)
	second := pgtest.New(t)
	ctx := context.Background()

	// The same schema on the first server, migrated, with the same vehicle.
	admin, err := pgx.Connect(ctx, first.ConnString())
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close(ctx)
	if _, err := admin.Exec(ctx, "CREATE SCHEMA "+pgx.Identifier{second.Name}.Sanitize()); err != nil {
		t.Fatal(err)
	}
	firstPool := schemaPool(t, first.ConnString(), second.Name)
	if _, err := track.Migrate(ctx, firstPool, discard()); err != nil {
		t.Fatal(err)
	}
	vid, tid := seedVehicle(t, firstPool, "鄂B12345", "13800000001")
	if v2, t2 := seedVehicle(t, second.Pool, "鄂B12345", "13800000001"); v2 != vid || t2 != tid {
		t.Fatalf("ids differ between the servers: %d/%d and %d/%d", vid, tid, v2, t2)
	}

	pool := schemaPool(t, bothHosts(t, first.ConnString(), pgtest.ConnString(t)), second.Name)
	reg := track.WriterConfig{Workers: 1}
	w := track.NewWriter(pool, reg, discard(), nil)
	wctx, stop := context.WithCancel(ctx)
	wdone := make(chan struct{})
	go func() { defer close(wdone); _ = w.Run(wctx, 0) }()
	defer func() { stop(); <-wdone }()

	// A standby holds the primary's partitions; the second server here is
	// no standby, so it gets the month's partition made beforehand (the
	// writer remembers the partitions it made).
	t0 := time.Date(2026, 11, 20, 9, 0, 0, 0, time.UTC)
	if _, err := second.Pool.Exec(ctx, "SELECT ensure_month_partition('positions'::regclass, $1)", t0); err != nil {
		t.Fatal(err)
	}
	if err := w.Write(ctx, tid, []track.Position{pos(vid, tid, t0, 30.2, 115.04)}, nil); err != nil {
		t.Fatal(err)
	}
	if n := countPositions(t, firstPool); n != 1 {
		t.Fatalf("first server holds %d positions, want 1 (the writer must start on the first host)", n)
	}

	// Hold the write on the first server with a lock, then freeze it: the
	// writer is then inside its statement, waiting for a reply that never
	// comes, as in a hang mid-commit.
	lockTx, err := admin.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := lockTx.Exec(ctx, "LOCK TABLE "+pgx.Identifier{second.Name, "vehicle_state"}.Sanitize()+" IN EXCLUSIVE MODE"); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() {
		done <- w.Write(ctx, tid, []track.Position{pos(vid, tid, t0.Add(time.Minute), 30.21, 115.04)}, nil)
	}()
	waitFor(t, "the write to wait on the lock", func() bool {
		var n int
		err := firstPool.QueryRow(ctx, `SELECT count(*) FROM pg_stat_activity
			WHERE wait_event_type = 'Lock' AND query LIKE '%INSERT INTO positions%'`).Scan(&n)
		return err == nil && n == 1
	})
	pid, err := pgha.PostmasterPID(filepath.Join(first.Dir(), "pgdata"))
	if err != nil {
		t.Fatal(err)
	}
	thaw, err := pgha.Freeze(pid)
	if err != nil {
		t.Fatal(err)
	}
	defer thaw()

	// Without a deadline the write would wait for the kernel to give up on
	// a connection that stays open: for ever on a Unix socket. The limit
	// here only turns that hang into a failure.
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("write after the first server froze: %v", err)
		}
	case <-time.After(2 * time.Minute):
		t.Fatal("the write is still waiting on the frozen server")
	}
	var n, distinct int
	if err := second.Pool.QueryRow(ctx, "SELECT count(*), count(DISTINCT device_time) FROM positions").Scan(&n, &distinct); err != nil {
		t.Fatal(err)
	}
	if n != 1 || distinct != 1 {
		t.Fatalf("second server holds %d positions (%d distinct), want the one written after the freeze", n, distinct)
	}
	thaw()
	_ = lockTx.Rollback(ctx)
}

// schemaPool opens a pool on connString whose connections use schema.
func schemaPool(t *testing.T, connString, schema string) *pgxpool.Pool {
	t.Helper()
	cfg, err := pgxpool.ParseConfig(connString)
	if err != nil {
		t.Fatal(err)
	}
	cfg.ConnConfig.RuntimeParams["search_path"] = schema + ",public"
	pool, err := pgxpool.NewWithConfig(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	return pool
}

// bothHosts returns a connection string naming a's host first and b's
// second (the same user and database on both), with a connection attempt
// bounded per host, as fleetd sets it.
func bothHosts(t *testing.T, a, b string) string {
	t.Helper()
	ca, err := pgconn.ParseConfig(a)
	if err != nil {
		t.Fatal(err)
	}
	cb, err := pgconn.ParseConfig(b)
	if err != nil {
		t.Fatal(err)
	}
	q := url.Values{}
	q.Set("host", ca.Host+","+cb.Host)
	q.Set("port", fmt.Sprintf("%d,%d", ca.Port, cb.Port))
	q.Set("sslmode", "disable")
	q.Set("connect_timeout", "1")
	q.Set("target_session_attrs", "read-write")
	return fmt.Sprintf("postgres://%s@/%s?%s", url.PathEscape(ca.User), url.PathEscape(ca.Database), q.Encode())
}

func countPositions(t *testing.T, pool *pgxpool.Pool) int {
	t.Helper()
	var n int
	if err := pool.QueryRow(context.Background(), "SELECT count(*) FROM positions").Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

func waitFor(t *testing.T, what string, ok func() bool) {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for !ok() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
