// Package pgtest gives each test its own PostgreSQL schema, migrated, on the
// server named by FLEETMON_TEST_DB (make test starts one), and drops it when
// the test ends. Tests in one package can run in parallel without seeing each
// other's rows.
//
// Without FLEETMON_TEST_DB a test fails under CI (CI=true) and is skipped on
// a developer machine, with a message saying how to start the server.
package pgtest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"io"
	"log/slog"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"fleetmon/track"
)

// EnvVar names the environment variable holding the test server's
// connection string.
const EnvVar = "FLEETMON_TEST_DB"

// ConnString returns the test server's connection string, or fails or skips
// the test when there is none.
func ConnString(t testing.TB) string {
	t.Helper()
	cs := os.Getenv(EnvVar)
	if cs == "" {
		msg := EnvVar + " is not set: run `make test`, or start a server with `scripts/testdb.sh start` and export what it prints"
		if os.Getenv("CI") == "true" {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	return cs
}

// Schema is a migrated schema of its own for one test.
type Schema struct {
	Name string
	// ConnString connects with search_path set to the schema.
	ConnString string
	Pool       *pgxpool.Pool
}

// New creates a fresh schema, migrates it and returns a pool whose
// connections use it. The schema is dropped when the test ends.
func New(t testing.TB) *Schema {
	t.Helper()
	return NewOn(t, ConnString(t))
}

// Keep is New for a schema that outlives the test: made and migrated if
// missing, never dropped, so that a benchmark can generate a large data set
// once and measure it over many runs (and across PostgreSQL restarts). The
// caller drops it when done (DROP SCHEMA name CASCADE).
func Keep(t testing.TB, name string) *Schema {
	t.Helper()
	return open(t, ConnString(t), name, true)
}

// NewOn is New on the server named by connString.
func NewOn(t testing.TB, connString string) *Schema {
	t.Helper()
	var b [6]byte
	_, _ = rand.Read(b[:])
	return open(t, connString, "t_"+hex.EncodeToString(b[:]), false)
}

func open(t testing.TB, connString, name string, keep bool) *Schema {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()

	admin, err := pgx.Connect(ctx, connString)
	if err != nil {
		t.Fatalf("pgtest: connect: %v", err)
	}
	defer admin.Close(ctx)
	if _, err := admin.Exec(ctx, "CREATE EXTENSION IF NOT EXISTS postgis SCHEMA public"); err != nil {
		t.Fatalf("pgtest: postgis: %v", err)
	}
	if _, err := admin.Exec(ctx, "CREATE SCHEMA IF NOT EXISTS "+pgx.Identifier{name}.Sanitize()); err != nil {
		t.Fatalf("pgtest: create schema: %v", err)
	}
	t.Cleanup(func() {
		if keep {
			return
		}
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		c, err := pgx.Connect(ctx, connString)
		if err != nil {
			t.Logf("pgtest: drop schema %s: %v", name, err)
			return
		}
		defer c.Close(ctx)
		if _, err := c.Exec(ctx, "DROP SCHEMA "+name+" CASCADE"); err != nil {
			t.Logf("pgtest: drop schema %s: %v", name, err)
		}
	})

	cfg, err := pgxpool.ParseConfig(connString)
	if err != nil {
		t.Fatalf("pgtest: parse %s: %v", EnvVar, err)
	}
	cfg.ConnConfig.RuntimeParams["search_path"] = name + ",public"
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		t.Fatalf("pgtest: pool: %v", err)
	}
	t.Cleanup(pool.Close)
	if _, err := track.Migrate(ctx, pool, slog.New(slog.NewTextHandler(io.Discard, nil))); err != nil {
		t.Fatalf("pgtest: migrate: %v", err)
	}
	return &Schema{Name: name, ConnString: withSearchPath(connString, name), Pool: pool}
}

// withSearchPath adds the schema to a connection string, URL or key=value.
func withSearchPath(cs, schema string) string {
	param := "search_path=" + schema + ",public"
	if strings.HasPrefix(cs, "postgres://") || strings.HasPrefix(cs, "postgresql://") {
		if strings.Contains(cs, "?") {
			return cs + "&" + param
		}
		return cs + "?" + param
	}
	return cs + " " + param
}
