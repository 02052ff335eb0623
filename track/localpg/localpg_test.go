package localpg

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// testDir returns an empty directory for a cluster.
func testDir(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	if os.Geteuid() == 0 {
		// t.TempDir's parent is root's and mode 0700; as root the server runs as the OS user
		// postgres, which must be able to pass through it (search only, not list).
		if err := os.Chmod(filepath.Dir(dir), 0o711); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func testConfig(t *testing.T, dir string) Config {
	return Config{Dir: dir, Logger: slog.New(slog.NewTextHandler(t.Output(), nil))}
}

// startServer starts a cluster and stops it when the test ends. Without PostgreSQL or PostGIS
// it skips on a developer's machine and fails under CI.
func startServer(t *testing.T, cfg Config) *Server {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 3*time.Minute)
	defer cancel()
	s, err := Start(ctx, cfg)
	if errors.Is(err, ErrNotInstalled) {
		if os.Getenv("CI") == "true" {
			t.Fatalf("%v (CI=true: scripts/deps.sh pg must have run)", err)
		}
		t.Skipf("PostgreSQL with PostGIS needed: %v", err)
	}
	if err != nil {
		t.Fatalf("Start: %v", err)
	}
	t.Cleanup(func() {
		if err := s.Stop(context.Background()); err != nil {
			t.Errorf("Stop: %v", err)
		}
	})
	return s
}

func connect(t *testing.T, connString string) *pgx.Conn {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, connString)
	if err != nil {
		t.Fatalf("connect %s: %v", connString, err)
	}
	t.Cleanup(func() { conn.Close(context.Background()) })
	return conn
}

func count(t *testing.T, connString, table string) int {
	t.Helper()
	conn := connect(t, connString)
	var n int
	if err := conn.QueryRow(t.Context(), "SELECT count(*) FROM "+table).Scan(&n); err != nil {
		t.Fatalf("count %s: %v", table, err)
	}
	conn.Close(t.Context())
	return n
}

func TestStartStopStartKeepsData(t *testing.T) {
	t.Parallel()
	dir := testDir(t)
	cfg := testConfig(t, dir)
	s := startServer(t, cfg)

	conn := connect(t, s.ConnString())
	var version string
	if err := conn.QueryRow(t.Context(), "SELECT postgis_full_version()").Scan(&version); err != nil {
		t.Fatalf("postgis_full_version: %v", err)
	}
	if !strings.Contains(version, "POSTGIS=") {
		t.Errorf("postgis_full_version = %q, want POSTGIS=...", version)
	}
	t.Logf("%s", version)
	for _, q := range []string{"SHOW fsync", "SHOW synchronous_commit", "SHOW full_page_writes"} {
		var v string
		if err := conn.QueryRow(t.Context(), q).Scan(&v); err != nil || v != "on" {
			t.Errorf("%s = %q, %v; want on", q, v, err)
		}
	}
	var enc, ctype string
	if err := conn.QueryRow(t.Context(),
		"SELECT pg_encoding_to_char(encoding), datctype FROM pg_database WHERE datname = current_database()").Scan(&enc, &ctype); err != nil {
		t.Fatal(err)
	}
	if enc != "UTF8" || (ctype != "C.UTF-8" && ctype != "C") {
		t.Errorf("encoding, ctype = %s, %s; want UTF8, C.UTF-8 or C", enc, ctype)
	}
	if _, err := conn.Exec(t.Context(), `CREATE TABLE pos (id int PRIMARY KEY, geom geometry(Point, 4326));
		INSERT INTO pos VALUES (1, ST_SetSRID(ST_MakePoint(116.397, 39.909), 4326))`); err != nil {
		t.Fatalf("insert: %v", err)
	}
	conn.Close(t.Context())

	if os.Geteuid() == 0 {
		u, err := user.Lookup(serverOSUser)
		if err != nil {
			t.Fatal(err)
		}
		fi, err := os.Stat(filepath.Join(dir, "pgdata"))
		if err != nil {
			t.Fatal(err)
		}
		if uid := fi.Sys().(*syscall.Stat_t).Uid; strconv.Itoa(int(uid)) != u.Uid {
			t.Errorf("pgdata owned by uid %d, want %s (%s)", uid, u.Uid, serverOSUser)
		}
	}

	connString, port := s.ConnString(), s.Port()
	if err := s.Stop(t.Context()); err != nil {
		t.Fatalf("Stop: %v", err)
	}
	if err := s.Stop(t.Context()); err != nil {
		t.Fatalf("second Stop: %v", err)
	}
	if _, err := pgx.Connect(t.Context(), connString); err == nil {
		t.Fatal("connected to a stopped server")
	}

	s2 := startServer(t, cfg)
	if s2.Port() != port || s2.ConnString() != connString {
		t.Errorf("after restart: port %d, %s; want the same as before: %d, %s", s2.Port(), s2.ConnString(), port, connString)
	}
	conn = connect(t, s2.ConnString())
	var lon float64
	if err := conn.QueryRow(t.Context(), "SELECT ST_X(geom) FROM pos WHERE id = 1").Scan(&lon); err != nil {
		t.Fatalf("read after restart: %v", err)
	}
	if lon != 116.397 {
		t.Errorf("lon = %v, want 116.397", lon)
	}
}

// TestKillKeepsCommitted crashes the server (immediate shutdown, no checkpoint) and checks that
// every committed row survives WAL replay.
func TestKillKeepsCommitted(t *testing.T) {
	t.Parallel()
	s := startServer(t, testConfig(t, testDir(t)))
	conn := connect(t, s.ConnString())
	const rows = 500
	if _, err := conn.Exec(t.Context(), "CREATE TABLE t (id int PRIMARY KEY)"); err != nil {
		t.Fatal(err)
	}
	for i := range rows {
		if _, err := conn.Exec(t.Context(), "INSERT INTO t VALUES ($1)", i); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.Kill(t.Context()); err != nil {
		t.Fatalf("Kill: %v", err)
	}
	if err := conn.Ping(t.Context()); err == nil {
		t.Fatal("connection still alive after Kill")
	}
	if err := s.Restart(t.Context()); err != nil {
		t.Fatalf("Restart: %v", err)
	}
	if n := count(t, s.ConnString(), "t"); n != rows {
		t.Errorf("after crash recovery: %d rows, want %d", n, rows)
	}
	log, err := os.ReadFile(s.LogPath())
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(log), "not properly shut down") {
		t.Errorf("server log shows no crash recovery:\n%s", lastLines(log, 20))
	}
}

// TestStalePIDFile starts a cluster whose postmaster.pid names a live process that is not a
// postmaster: the PID reuse after a crash that makes PostgreSQL refuse to start by itself.
func TestStalePIDFile(t *testing.T) {
	t.Parallel()
	dir := testDir(t)
	cfg := testConfig(t, dir)
	s := startServer(t, cfg)
	pidFile := filepath.Join(dir, "pgdata", "postmaster.pid")
	pidData, err := os.ReadFile(pidFile)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Stop(t.Context()); err != nil {
		t.Fatal(err)
	}

	// The same file with this test's PID: alive, and as root not even signalable by postgres.
	_, rest, _ := strings.Cut(string(pidData), "\n")
	stale := fmt.Sprintf("%d\n%s", os.Getpid(), rest)
	if err := os.WriteFile(pidFile, []byte(stale), 0o600); err != nil {
		t.Fatal(err)
	}
	lock := filepath.Join(dir, "run", fmt.Sprintf(".s.PGSQL.%d.lock", s.Port()))
	if err := os.WriteFile(lock, []byte(stale), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := s.run.chown(pidFile); err != nil {
		t.Fatal(err)
	}

	s2 := startServer(t, cfg)
	if n := count(t, s2.ConnString(), "pg_extension WHERE extname = 'postgis'"); n != 1 {
		t.Errorf("postgis extensions = %d, want 1", n)
	}
}

// TestPostmasterKilled SIGKILLs the postmaster, leaving its pid file, as an OOM kill would.
func TestPostmasterKilled(t *testing.T) {
	t.Parallel()
	cfg := testConfig(t, testDir(t))
	s := startServer(t, cfg)
	conn := connect(t, s.ConnString())
	if _, err := conn.Exec(t.Context(), "CREATE TABLE t AS SELECT 1 AS x"); err != nil {
		t.Fatal(err)
	}
	pid, running, err := s.postmaster()
	if err != nil || !running {
		t.Fatalf("postmaster() = %d, %v, %v; want running", pid, running, err)
	}
	if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for isPostmaster(pid, s.pgdata, s.run.uid) {
		if time.Now().After(deadline) {
			t.Fatal("postmaster still alive 10s after SIGKILL")
		}
		time.Sleep(20 * time.Millisecond)
	}
	s2 := startServer(t, cfg)
	if n := count(t, s2.ConnString(), "t"); n != 1 {
		t.Errorf("rows = %d, want 1", n)
	}
}

// TestStartWaitsForKilledPostmastersBackends: after the postmaster is SIGKILLed its backends
// stay attached to its shared memory until they notice, and PostgreSQL will not start until
// they have gone. On a loaded machine that takes seconds; here a backend is stopped (SIGSTOP)
// so that it cannot notice until it is continued, and Start must wait for it, not fail.
func TestStartWaitsForKilledPostmastersBackends(t *testing.T) {
	t.Parallel()
	cfg := testConfig(t, testDir(t))
	s := startServer(t, cfg)
	conn := connect(t, s.ConnString())
	var backend int
	if err := conn.QueryRow(t.Context(), "SELECT pg_backend_pid()").Scan(&backend); err != nil {
		t.Fatal(err)
	}
	pid, running, err := s.postmaster()
	if err != nil || !running {
		t.Fatalf("postmaster() = %d, %v, %v; want running", pid, running, err)
	}
	if err := syscall.Kill(backend, syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	continued := make(chan struct{})
	defer func() { <-continued }()
	if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
		close(continued)
		t.Fatal(err)
	}
	for isPostmaster(pid, s.pgdata, s.run.uid) {
		time.Sleep(20 * time.Millisecond)
	}
	go func() {
		defer close(continued)
		time.Sleep(3 * time.Second) // Start meanwhile finds the shared memory in use
		_ = syscall.Kill(backend, syscall.SIGCONT)
	}()
	s2 := startServer(t, cfg)
	if n := count(t, s2.ConnString(), "pg_database WHERE datname = 'fleetmon'"); n != 1 {
		t.Errorf("databases named fleetmon = %d, want 1", n)
	}
}

func TestStartAdoptsRunning(t *testing.T) {
	t.Parallel()
	cfg := testConfig(t, testDir(t))
	s1 := startServer(t, cfg)
	s2 := startServer(t, cfg)
	if s1.ConnString() != s2.ConnString() {
		t.Errorf("adopted ConnString %s, want %s", s2.ConnString(), s1.ConnString())
	}
	connect(t, s2.ConnString())

	cfg.Port = s1.Port() + 1
	if _, err := Start(t.Context(), cfg); err == nil || !strings.Contains(err.Error(), "already runs") {
		t.Errorf("Start on another port of a running cluster: err = %v, want already runs", err)
	}
}

func TestTCPNeedsPassword(t *testing.T) {
	t.Parallel()
	s := startServer(t, testConfig(t, testDir(t)))
	conn := connect(t, s.TCPConnString())
	var addr string
	if err := conn.QueryRow(t.Context(), "SELECT host(inet_server_addr())").Scan(&addr); err != nil {
		t.Fatal(err)
	}
	if addr != "127.0.0.1" {
		t.Errorf("server address = %s, want 127.0.0.1", addr)
	}
	noPassword := fmt.Sprintf("postgres://%s@127.0.0.1:%d/%s?sslmode=disable", User, s.Port(), Database)
	if c, err := pgx.Connect(t.Context(), noPassword); err == nil {
		c.Close(t.Context())
		t.Error("TCP connection without password accepted")
	}
}

func TestStopDir(t *testing.T) {
	t.Parallel()
	dir := testDir(t)
	if err := StopDir(t.Context(), Config{Dir: dir}); err != nil {
		t.Errorf("StopDir on an empty dir: %v", err)
	}
	s := startServer(t, testConfig(t, dir))
	if err := StopDir(t.Context(), Config{Dir: dir}); err != nil {
		t.Fatalf("StopDir: %v", err)
	}
	if _, running, _ := s.postmaster(); running {
		t.Error("postmaster still running after StopDir")
	}
}

func TestMissingBinaries(t *testing.T) {
	t.Parallel()
	_, err := Start(t.Context(), Config{Dir: t.TempDir(), BinDir: t.TempDir()})
	if !errors.Is(err, ErrNotInstalled) {
		t.Fatalf("err = %v, want ErrNotInstalled", err)
	}
	if !strings.Contains(err.Error(), "scripts/deps.sh") {
		t.Errorf("err = %q, want a hint to run scripts/deps.sh", err)
	}
}

func TestConfigErrors(t *testing.T) {
	t.Parallel()
	for _, cfg := range []Config{
		{},
		{Dir: t.TempDir(), Port: 70000},
		{Dir: "/" + strings.Repeat("d", 100)},
	} {
		if _, err := Start(t.Context(), cfg); err == nil || !strings.HasPrefix(err.Error(), "localpg: ") {
			t.Errorf("Start(%+v) err = %v, want a localpg error", cfg, err)
		}
	}
}

// TestConnStringParses checks that the socket URL survives pgx's parser with awkward paths.
func TestConnStringParses(t *testing.T) {
	t.Parallel()
	for _, dir := range []string{"/data/fleetmon", "/tmp/a b/c&d=e?f#g%h", "/x/数据"} {
		s := &Server{runDir: filepath.Join(dir, "run"), port: 54321, password: "00ff"}
		cfg, err := pgx.ParseConfig(s.ConnString())
		if err != nil {
			t.Errorf("ParseConfig(%s): %v", s.ConnString(), err)
			continue
		}
		if cfg.Host != s.runDir || cfg.Port != 54321 || cfg.Database != Database || cfg.User != User {
			t.Errorf("ParseConfig(%s) = host %q port %d db %q user %q; want %q 54321 %q %q",
				s.ConnString(), cfg.Host, cfg.Port, cfg.Database, cfg.User, s.runDir, Database, User)
		}
		if strings.ContainsAny(s.ConnString(), " '\"") {
			t.Errorf("ConnString %q has a space or quote", s.ConnString())
		}
		tcp, err := pgx.ParseConfig(s.TCPConnString())
		if err != nil || tcp.Host != "127.0.0.1" || tcp.Password != "00ff" {
			t.Errorf("ParseConfig(%s) = %+v, %v", s.TCPConnString(), tcp, err)
		}
	}
}

func TestLeadingInt(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]int{"15": 15, "9.6": 9, "16beta1": 16, "": 0, "x": 0} {
		if got := leadingInt(in); got != want {
			t.Errorf("leadingInt(%q) = %d, want %d", in, got, want)
		}
	}
}
