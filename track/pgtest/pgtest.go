// Package pgtest gives each test its own PostgreSQL schema, migrated, on the
// server named by FLEETMON_TEST_DB (make test starts one), and drops it when
// the test ends. Tests in one package can run in parallel without seeing each
// other's rows.
//
// Each schema is migrated by the server's login (the owner of what the
// migrations make) and granted to the runtime role [AppRole], as fleetd
// migrate --runtime-role does: Schema.AppConnString connects as that role,
// so that tests can run what fleetd serve runs with serve's privileges.
// The role is made on first use, without a password: the test server
// trusts its Unix socket.
//
// Without FLEETMON_TEST_DB a test fails under CI (CI=true) and is skipped on
// a developer machine, with a message saying how to start the server.
package pgtest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"log/slog"
	"net/url"
	"os"
	"strings"
	"sync"
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

// AppRole is the runtime role every test schema is granted to.
const AppRole = "fleetmon_app"

// Schema is a migrated schema of its own for one test.
type Schema struct {
	Name string
	// ConnString connects with search_path set to the schema, as the owner.
	ConnString string
	Pool       *pgxpool.Pool
	// AppConnString is ConnString as AppRole: what fleetd serve connects as.
	AppConnString string
}

// AppPool opens a pool on AppConnString, closed when the test ends.
func (s *Schema) AppPool(t testing.TB) *pgxpool.Pool {
	t.Helper()
	pool, err := pgxpool.New(context.Background(), s.AppConnString)
	if err != nil {
		t.Fatalf("pgtest: runtime pool: %v", err)
	}
	t.Cleanup(pool.Close)
	return pool
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
	// A kept schema may hold a large data set that a new migration
	// rewrites (an index rebuilt over a month of a city's fleet).
	limit := time.Minute
	if keep {
		limit = time.Hour
	}
	ctx, cancel := context.WithTimeout(context.Background(), limit)
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
	if err := ensureRole(ctx, admin, AppRole); err != nil {
		t.Fatalf("pgtest: %v", err)
	}
	if err := track.GrantRuntime(ctx, pool, AppRole); err != nil {
		t.Fatalf("pgtest: %v", err)
	}
	appCS, err := asUser(connString, AppRole)
	if err != nil {
		t.Fatalf("pgtest: %v", err)
	}
	sc := &Schema{Name: name, ConnString: withSearchPath(connString, name), Pool: pool,
		AppConnString: withSearchPath(appCS, name)}
	runtimeOf.Store(sc.ConnString, sc.AppConnString)
	return sc
}

// runtimeOf maps each schema's ConnString to its AppConnString.
var runtimeOf sync.Map

// RuntimeConnString returns the AppConnString of the schema whose
// ConnString is cs, or "" when cs is not one: for helpers that start
// fleetd serve, which runs as the runtime role in production.
func RuntimeConnString(cs string) string {
	v, _ := runtimeOf.Load(cs)
	s, _ := v.(string)
	return s
}

// ensureRole makes the login role if it is missing. Tests in several
// packages start at once: an advisory lock orders them.
func ensureRole(ctx context.Context, c *pgx.Conn, role string) error {
	return pgx.BeginFunc(ctx, c, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, "SELECT pg_advisory_xact_lock(hashtext('fleetmon.pgtest.role'))"); err != nil {
			return fmt.Errorf("lock for role %s: %w", role, err)
		}
		var has bool
		if err := tx.QueryRow(ctx, "SELECT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = $1)", role).Scan(&has); err != nil {
			return fmt.Errorf("look up role %s: %w", role, err)
		}
		if has {
			return nil
		}
		if _, err := tx.Exec(ctx, "CREATE ROLE "+pgx.Identifier{role}.Sanitize()+" LOGIN NOSUPERUSER NOINHERIT"); err != nil {
			return fmt.Errorf("create role %s: %w", role, err)
		}
		return nil
	})
}

// asUser returns the connection string cs with its user replaced by user
// and its password removed.
func asUser(cs, user string) (string, error) {
	if strings.HasPrefix(cs, "postgres://") || strings.HasPrefix(cs, "postgresql://") {
		u, err := url.Parse(cs)
		if err != nil {
			return "", fmt.Errorf("parse %s: %w", EnvVar, err)
		}
		u.User = url.User(user)
		return u.String(), nil
	}
	var kept []string
	for _, f := range strings.Fields(cs) {
		if !strings.HasPrefix(f, "user=") && !strings.HasPrefix(f, "password=") {
			kept = append(kept, f)
		}
	}
	return strings.Join(append(kept, "user="+user), " "), nil
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
