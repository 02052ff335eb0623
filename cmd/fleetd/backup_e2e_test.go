package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"fleetmon/track"
	"fleetmon/track/localpg"
	"fleetmon/track/pgtest"
)

// TestPointInTimeRestore is the restore drill of docs/DEPLOY.md, with
// pgBackRest: a private PostgreSQL cluster archives its WAL into a local
// repository; reports are stored and days sealed with the seal key; a full
// backup is taken; more is written and sealed, a point in time picked, and
// more written after it. The backup is restored into a fresh data directory
// to that point and started as a cluster of its own: every row up to the
// point is there, none after, and fleetd verify --seals passes for every
// sealed day against the public key kept offline.
//
// The cluster is a plain one (localpg), not the Patroni pair of
// TestFailover: archiving and restoring work the same whoever manages the
// primary, and a plain cluster starts in a second or two where the pair
// takes tens.
func TestPointInTimeRestore(t *testing.T) {
	pgbr := needPgBackRest(t)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()

	b := newBackupDrill(t, pgbr)
	s := pgtest.NewOn(t, b.srv.ConnString())
	csv := writeFile(t, "v.csv", "plate,plate_color,terminal_phone,unit,category\n鄂B12345,1,13800000001,湖北省/黄石市,general\n")
	if code, out, errs := fleetd(t, "vehicles", "import", "--db", s.ConnString, csv); code != 0 {
		t.Fatalf("import: %d %s %s", code, out, errs)
	}
	keyPath := filepath.Join(t.TempDir(), "seal.key")
	if _, err := track.CreateSealKey(keyPath); err != nil {
		t.Fatal(err)
	}
	key, err := track.LoadSealKey(keyPath)
	if err != nil {
		t.Fatal(err)
	}
	app := s.AppPool(t)
	st := track.NewStore(app)
	st.SetSealKey(key)
	var vid, tid int64
	if err := s.Pool.QueryRow(ctx, "SELECT vehicle_id, id FROM terminals").Scan(&vid, &tid); err != nil {
		t.Fatal(err)
	}
	cst := time.FixedZone("CST", 8*3600)
	day := func(d int) time.Time { return time.Date(2026, 11, 20+d, 9, 0, 0, 0, cst) }
	// store writes ten reports received on day d (0 is 2026-11-20), the
	// k-th batch of that day, in one transaction as the writer does.
	store := func(d, k int) {
		t.Helper()
		err := pgx.BeginFunc(ctx, app, func(tx pgx.Tx) error {
			if _, err := tx.Exec(ctx, `SELECT ensure_month_partition('positions', $1)`, day(d)); err != nil {
				return err
			}
			for i := range 10 {
				at := day(d).Add(time.Duration(k*10+i) * time.Minute)
				if _, err := tx.Exec(ctx, `INSERT INTO positions (vehicle_id, device_time, received_at, terminal_id, geom, speed_kmh, heading, altitude_m, alarm, status, fix_hash)
					VALUES ($2, $1, $1, $3, ST_SetSRID(ST_MakePoint(115.04, 30.2), 4326), 30, 90, 20, 0, 3, $4)`, at, vid, tid, int64(d*1000+k*10+i)); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			t.Fatalf("store day %d batch %d: %v", d, k, err)
		}
	}
	// seal seals every day that ended before day d began, as serve's
	// hourly job does on day d.
	seal := func(d int) {
		t.Helper()
		if _, err := st.SealDays(ctx, day(d)); err != nil {
			t.Fatal(err)
		}
	}

	store(0, 0)
	seal(1)
	b.pgbackrest(ctx, "backup", "--type=full")
	store(1, 0)
	seal(2)
	store(2, 0)
	// The point in time, in whole seconds as an operator gives it: after
	// the last commit to keep, before the first to lose, by the server's
	// clock that stamps the commits.
	target := b.nextSecond(ctx)
	store(2, 1)
	seal(3)
	// check switches to a new WAL segment and waits until the old one,
	// which holds the last commits, is in the repository.
	b.pgbackrest(ctx, "check")

	restored := b.restore(ctx, target)
	cs := withHost(t, s.ConnString, restored)
	conn, err := pgx.Connect(ctx, cs)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	var before, after int
	if err := conn.QueryRow(ctx, `SELECT count(*) FILTER (WHERE received_at < $1), count(*) FILTER (WHERE received_at >= $1)
		FROM positions`, day(2).Add(10*time.Minute)).Scan(&before, &after); err != nil {
		t.Fatal(err)
	}
	if before != 30 || after != 0 {
		t.Errorf("restored to %s: %d reports up to the point (want 30), %d after it (want 0)", target.Format(time.RFC3339Nano), before, after)
	}
	rows, _ := conn.Query(ctx, `SELECT DISTINCT day::text FROM seals ORDER BY 1`)
	sealed, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(sealed, " ") != "2026-11-20 2026-11-21" {
		t.Errorf("restored seals for days %v, want 2026-11-20 and 2026-11-21 (the seal of 2026-11-22 came after the point)", sealed)
	}
	code, out, errs := fleetd(t, "verify", "--seals", "--from", "2026-11-20", "--to", "2026-11-22", "--db", cs, "--seal-pubkey", keyPath+".pub")
	if code != 0 || !strings.Contains(out, "2026-11-20 ") || !strings.Contains(out, "2026-11-21 ") || strings.Contains(out, "unsigned") {
		t.Errorf("verify --seals on the restored cluster: exit %d\n%s%s", code, out, errs)
	}

	// What the operator watches: fleetd backup status, and serve's metrics
	// of the archiver and the last backup. (Serve comes last: its seal job
	// would seal the days up to today.)
	status := []string{"backup", "status", "--backup-stanza", b.stanza, "--pgbackrest-config", b.conf}
	if code, out, errs := fleetd(t, status...); code != 0 || !strings.Contains(out, "last full backup ") || !strings.Contains(out, "OK") {
		t.Errorf("backup status: exit %d\n%s%s", code, out, errs)
	}
	if code, out, errs := fleetd(t, append(status, "--max-age", "1ms")...); code != 1 || !strings.Contains(errs, "more than --max-age") {
		t.Errorf("backup status --max-age 1ms: exit %d, want 1\n%s%s", code, out, errs)
	}
	srv := startServe(t, "--db", s.ConnString, "--data-dir", t.TempDir(), "--backup-stanza", b.stanza, "--pgbackrest-config", b.conf)
	body := scrapeUntil(t, srv.HTTP, []string{
		"fleetmon_wal_archive_enabled 1", "fleetmon_wal_archive_failures_total 0", "fleetmon_wal_archive_age_seconds ",
		`fleetmon_backup_last_success_timestamp_seconds{type="full"}`, "fleetmon_backup_age_seconds ",
	})
	if !strings.Contains(body, "fleetmon_wal_archived_total ") || strings.Contains(body, "fleetmon_wal_archived_total 0\n") {
		t.Errorf("no WAL archived, by /metrics:\n%s", grepLines(body, "fleetmon_wal"))
	}
	if strings.Contains(body, `result="error"`) {
		t.Errorf("a maintenance job failed:\n%s", grepLines(body, "fleetmon_maintenance"))
	}
}

// needPgBackRest returns pgbackrest's path, skipping the test without it
// (failing it under CI=true): scripts/deps.sh backup installs it.
func needPgBackRest(t *testing.T) string {
	t.Helper()
	p, err := exec.LookPath("pgbackrest")
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("pgbackrest not installed (CI=true: scripts/deps.sh backup must have run): %v", err)
		}
		t.Skipf("pgbackrest not installed (scripts/deps.sh backup): %v", err)
	}
	return p
}

// backupDrill is a private cluster archiving into a pgBackRest repository
// of its own, all under one directory that the cluster's OS user owns.
type backupDrill struct {
	t      *testing.T
	bin    string // pgbackrest
	dir    string
	conf   string // pgbackrest.conf
	srv    *localpg.Server
	cred   *syscall.Credential // the cluster's OS user, when the test runs as root
	pgBin  string              // the server's bin directory
	stanza string
}

func newBackupDrill(t *testing.T, bin string) *backupDrill {
	t.Helper()
	dir := t.TempDir()
	b := &backupDrill{t: t, bin: bin, dir: dir, conf: filepath.Join(dir, "pgbackrest.conf"), stanza: "fleetmon"}
	if os.Geteuid() == 0 {
		// As root the cluster runs as postgres (PostgreSQL refuses root),
		// and so must pgBackRest, which archive_command runs as that user
		// and which must read the data directory and write the repository.
		if err := os.Chmod(filepath.Dir(dir), 0o711); err != nil {
			t.Fatal(err)
		}
		u, err := user.Lookup("postgres")
		if err != nil {
			t.Fatal(err)
		}
		uid, _ := strconv.Atoi(u.Uid)
		gid, _ := strconv.Atoi(u.Gid)
		b.cred = &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}
		if err := os.Chown(dir, uid, gid); err != nil {
			t.Fatal(err)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	srv, err := localpg.Start(ctx, localpg.Config{Dir: filepath.Join(dir, "pg"), Logger: slog.New(slog.NewTextHandler(t.Output(), nil))})
	if errors.Is(err, localpg.ErrNotInstalled) {
		if os.Getenv("CI") == "true" {
			t.Fatal(err)
		}
		t.Skip(err)
	}
	if err != nil {
		t.Fatal(err)
	}
	b.srv = srv
	t.Cleanup(func() {
		if err := srv.Stop(context.Background()); err != nil {
			t.Errorf("stop the cluster: %v", err)
		}
	})
	pgdata := filepath.Join(srv.Dir(), "pgdata")
	ver, err := os.ReadFile(filepath.Join(pgdata, "PG_VERSION"))
	if err != nil {
		t.Fatal(err)
	}
	b.pgBin = filepath.Join("/usr/lib/postgresql", strings.TrimSpace(string(ver)), "bin")

	conf := fmt.Sprintf(`[global]
repo1-path=%[1]s/repo
repo1-retention-full=2
log-path=%[1]s/log
lock-path=%[1]s/lock
spool-path=%[1]s/spool
start-fast=y
archive-timeout=60
# lz4: the fastest of pgBackRest's compressions, for a test; docs/DEPLOY.md
# suggests zst for a real repository.
compress-type=lz4

[%[2]s]
pg1-path=%[3]s
pg1-port=%[4]d
pg1-socket-path=%[5]s
pg1-user=%[6]s
pg1-database=%[7]s
`, dir, b.stanza, pgdata, srv.Port(), filepath.Join(srv.Dir(), "run"), localpg.User, localpg.Database)
	b.writeOwned(b.conf, conf)
	b.mkdirOwned(filepath.Join(dir, "log"))

	// Archiving: the server pushes each finished WAL segment to the
	// repository. archive_mode needs a restart.
	conn, err := pgx.Connect(ctx, srv.ConnString())
	if err != nil {
		t.Fatal(err)
	}
	for _, q := range []string{
		"ALTER SYSTEM SET archive_mode = on",
		fmt.Sprintf("ALTER SYSTEM SET archive_command = 'pgbackrest --config=%s --stanza=%s archive-push %%p'", b.conf, b.stanza),
	} {
		if _, err := conn.Exec(ctx, q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	conn.Close(ctx)
	if err := srv.Restart(ctx); err != nil {
		t.Fatal(err)
	}
	b.pgbackrest(ctx, "stanza-create")
	return b
}

// nextSecond returns the server clock's next whole second, once the clock
// has passed it.
func (b *backupDrill) nextSecond(ctx context.Context) time.Time {
	b.t.Helper()
	conn, err := pgx.Connect(ctx, b.srv.ConnString())
	if err != nil {
		b.t.Fatal(err)
	}
	defer conn.Close(ctx)
	var now time.Time
	if err := conn.QueryRow(ctx, "SELECT clock_timestamp()").Scan(&now); err != nil {
		b.t.Fatal(err)
	}
	target := now.Truncate(time.Second).Add(time.Second)
	for !now.After(target) {
		time.Sleep(target.Sub(now) + time.Millisecond)
		if err := conn.QueryRow(ctx, "SELECT clock_timestamp()").Scan(&now); err != nil {
			b.t.Fatal(err)
		}
	}
	return target
}

// writeOwned writes a file the cluster's OS user owns.
func (b *backupDrill) writeOwned(path, content string) {
	b.t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		b.t.Fatal(err)
	}
	if b.cred != nil {
		if err := os.Chown(path, int(b.cred.Uid), int(b.cred.Gid)); err != nil {
			b.t.Fatal(err)
		}
	}
}

// mkdirOwned makes a directory the cluster's OS user owns.
func (b *backupDrill) mkdirOwned(path string) {
	b.t.Helper()
	if err := os.Mkdir(path, 0o700); err != nil {
		b.t.Fatal(err)
	}
	if b.cred != nil {
		if err := os.Chown(path, int(b.cred.Uid), int(b.cred.Gid)); err != nil {
			b.t.Fatal(err)
		}
	}
}

// command runs a program as the cluster's OS user.
func (b *backupDrill) command(ctx context.Context, name string, args ...string) *exec.Cmd {
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Dir = b.dir
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: b.cred}
	return cmd
}

// pgbackrest runs a pgBackRest command on the drill's stanza.
func (b *backupDrill) pgbackrest(ctx context.Context, command string, args ...string) {
	b.t.Helper()
	args = append([]string{"--config=" + b.conf, "--stanza=" + b.stanza, "--log-level-console=warn"}, args...)
	began := time.Now()
	out, err := b.command(ctx, b.bin, append(args, command)...).CombinedOutput()
	if err != nil {
		b.t.Fatalf("pgbackrest %s: %v\n%s", command, err, out)
	}
	b.t.Logf("pgbackrest %s took %v", command, time.Since(began).Round(time.Millisecond))
}

// restoredCluster is a cluster restored from the repository, on a Unix
// socket of its own.
type restoredCluster struct {
	socketDir string
	port      int
}

// restore restores the latest backup into a fresh data directory, replaying
// the archived WAL up to target, and starts it as a cluster of its own (not
// archiving: it must not write into the repository of the cluster it came
// from). It returns once the cluster has left recovery and takes writes.
func (b *backupDrill) restore(ctx context.Context, target time.Time) restoredCluster {
	b.t.Helper()
	pgdata := filepath.Join(b.dir, "restored")
	run := filepath.Join(b.dir, "restored-run")
	b.mkdirOwned(pgdata)
	b.mkdirOwned(run)
	b.pgbackrest(ctx, "restore", "--pg1-path="+pgdata, "--type=time",
		"--target="+target.UTC().Format("2006-01-02 15:04:05+00"), "--target-action=promote", "--archive-mode=off")

	// Only a Unix socket, in a directory of its own: the port is but the
	// socket's name.
	const port = 5432
	logPath := filepath.Join(b.dir, "restored.log")
	// The restored configuration still names the first cluster's port and
	// socket (localpg.conf came with the backup): the command line wins.
	opts := fmt.Sprintf("-c port=%d -c unix_socket_directories=%s -c listen_addresses='' -c shared_buffers=128MB", port, run)
	pgctl := filepath.Join(b.pgBin, "pg_ctl")
	if out, err := b.command(ctx, pgctl, "start", "-D", pgdata, "-l", logPath, "-w", "-t", "120", "-o", opts).CombinedOutput(); err != nil {
		log, _ := os.ReadFile(logPath)
		b.t.Fatalf("start the restored cluster: %v\n%s\n%s", err, out, log)
	}
	b.t.Cleanup(func() {
		if out, err := b.command(context.Background(), pgctl, "stop", "-D", pgdata, "-m", "fast", "-w").CombinedOutput(); err != nil {
			b.t.Errorf("stop the restored cluster: %v\n%s", err, out)
		}
	})
	rc := restoredCluster{socketDir: run, port: port}
	cs := fmt.Sprintf("postgres://%s@/%s?host=%s&port=%d&sslmode=disable", localpg.User, localpg.Database, url.QueryEscape(run), port)
	deadline := time.Now().Add(2 * time.Minute)
	for {
		conn, err := pgx.Connect(ctx, cs)
		if err == nil {
			var recovering bool
			err = conn.QueryRow(ctx, "SELECT pg_is_in_recovery()").Scan(&recovering)
			conn.Close(ctx)
			if err == nil && !recovering {
				return rc
			}
		}
		if time.Now().After(deadline) {
			log, _ := os.ReadFile(logPath)
			b.t.Fatalf("the restored cluster did not leave recovery: %v\n%s", err, log)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// withHost is cs (a pgtest schema's connection string) on the restored
// cluster instead.
func withHost(t *testing.T, cs string, rc restoredCluster) string {
	t.Helper()
	u, err := url.Parse(cs)
	if err != nil {
		t.Fatal(err)
	}
	q := u.Query()
	q.Set("host", rc.socketDir)
	q.Set("port", strconv.Itoa(rc.port))
	u.RawQuery = q.Encode()
	return u.String()
}
