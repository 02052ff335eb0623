package main

import (
	"context"
	"fmt"
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

	"fleetmon/track/pgha"
)

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

// backupDrill is a cluster archiving into a pgBackRest repository of its
// own, in a directory that the cluster's OS user owns.
type backupDrill struct {
	t          *testing.T
	bin        string // pgbackrest
	dir        string
	conf       string // pgbackrest.conf
	stanza     string
	cred       *syscall.Credential // the cluster's OS user, when the test runs as root
	pgBin      string              // the server's bin directory
	connString string              // the primary's superuser
	user       string              // the superuser's name
}

// pgHost is one PostgreSQL server of a stanza.
type pgHost struct {
	dataDir, socketDir string
	port               int
}

// newDrill makes the drill's directory. As root the cluster runs as
// postgres (PostgreSQL refuses root), and so must pgBackRest: archive_command
// runs it as that user, and it must read the data directory and write the
// repository.
func newDrill(t *testing.T, bin string) *backupDrill {
	t.Helper()
	dir := t.TempDir()
	b := &backupDrill{t: t, bin: bin, dir: dir, conf: filepath.Join(dir, "pgbackrest.conf"), stanza: "fleetmon"}
	if os.Geteuid() == 0 {
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
	b.mkdirOwned(filepath.Join(dir, "log"))
	return b
}

// configure writes pgbackrest.conf for a stanza of the hosts, and takes the
// server binaries' directory from the first one's data directory.
func (b *backupDrill) configure(user string, hosts ...pgHost) {
	b.t.Helper()
	b.user = user
	ver, err := os.ReadFile(filepath.Join(hosts[0].dataDir, "PG_VERSION"))
	if err != nil {
		b.t.Fatal(err)
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
# No compression, to spare the test's shared cores; docs/DEPLOY.md suggests
# zst for a real repository.
compress-type=none
process-max=2

[%[2]s]
`, b.dir, b.stanza)
	for i, h := range hosts {
		conf += fmt.Sprintf("pg%[1]d-path=%[2]s\npg%[1]d-port=%[3]d\npg%[1]d-socket-path=%[4]s\npg%[1]d-user=%[5]s\n",
			i+1, h.dataDir, h.port, h.socketDir, user)
	}
	b.writeOwned(b.conf, conf)
}

// archiveCommand is the archive_command that pushes a WAL segment into
// the drill's repository.
func (b *backupDrill) archiveCommand() string {
	return fmt.Sprintf("pgbackrest --config=%s --stanza=%s archive-push %%p", b.conf, b.stanza)
}

// newPatroniDrill is a drill on the Patroni pair (track/pgha), archiving
// set through Patroni, the stanza naming both nodes.
func newPatroniDrill(t *testing.T, bin string) *backupDrill {
	t.Helper()
	b := newDrill(t, bin)
	cl := pgha.Start(t)
	b.connString = cl.ConnString()
	var hosts []pgHost
	for i, n := range cl.Nodes {
		hosts = append(hosts, pgHost{dataDir: n.DataDir, socketDir: cl.SocketDir(i), port: n.Port})
	}
	b.configure("postgres", hosts...)
	if err := cl.ConfigureRestart(map[string]string{"archive_mode": "on", "archive_command": b.archiveCommand()}); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	b.pgbackrest(ctx, "stanza-create")
	return b
}

// nextSecond returns the server clock's next whole second, once the clock
// has passed it.
func (b *backupDrill) nextSecond(ctx context.Context) time.Time {
	b.t.Helper()
	conn, err := pgx.Connect(ctx, b.connString)
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
	socketDir, user string
	port            int
}

// connString names database fleetmon on the restored cluster, with
// search_path set to schema.
func (rc restoredCluster) connString(schema string) string {
	return fmt.Sprintf("postgres://%s@/fleetmon?host=%s&port=%d&sslmode=disable&search_path=%s,public",
		rc.user, url.QueryEscape(rc.socketDir), rc.port, schema)
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
	// The restored configuration is Patroni's: it names the first node's
	// port and socket, and a synchronous standby that is not there (every
	// commit would wait for it). The command line wins, as docs/DEPLOY.md
	// says.
	opts := fmt.Sprintf("-c port=%d -c unix_socket_directories=%s -c listen_addresses='' -c synchronous_standby_names=''", port, run)
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
	rc := restoredCluster{socketDir: run, user: b.user, port: port}
	cs := rc.connString("public")
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
