package localpg

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

const (
	// Database is the database Start creates (PostGIS included) and ConnString names.
	Database = "fleetmon"
	// User is the cluster's superuser role, made by initdb whatever OS user runs the server.
	User = "fleetmon"
	// OwnerUser owns database [Database] (and so its schema public): the role that runs
	// migrations. Not a superuser.
	OwnerUser = "fleetmon_owner"
	// AppUser is the role an application runs as: it owns nothing and gets the privileges the
	// owner grants it. Not a superuser.
	AppUser = "fleetmon_app"
)

// roles are the login roles Start makes besides [User], each with a TCP password of its own.
var roles = []string{OwnerUser, AppUser}

// ErrNotInstalled is matched (errors.Is) by the errors Start returns when the PostgreSQL server
// binaries or the PostGIS extension are missing. scripts/deps.sh pg installs both.
var ErrNotInstalled = errors.New("localpg: postgresql or postgis not installed: run scripts/deps.sh pg")

// notInstalledError says what is missing and matches ErrNotInstalled.
type notInstalledError struct{ what string }

func (e *notInstalledError) Error() string {
	return "localpg: " + e.what + ": run scripts/deps.sh pg"
}

func (e *notInstalledError) Is(target error) bool { return target == ErrNotInstalled }

// Config says where the cluster lives and how to reach it.
type Config struct {
	// Dir holds the whole cluster (see the package doc for its layout). Required; a relative
	// path is made absolute, a missing directory is created. Start on a Dir that already holds
	// a cluster reuses it.
	Dir string
	// Port is the TCP port on 127.0.0.1, and the number in the Unix socket's name. 0 (the
	// default) reuses the port the cluster last ran on when that is free, else picks a free one,
	// so that clients can reconnect to the same address after Stop and Start.
	Port int
	// Logger receives lifecycle events (initdb, start, stop, crash recovery). nil discards them.
	Logger *slog.Logger
	// BinDir holds initdb, pg_ctl and postgres. "" (the default) picks the major version that
	// created Dir/pgdata, else the newest /usr/lib/postgresql/N/bin, else the directory of
	// pg_ctl in PATH.
	BinDir string
}

// Server is one running cluster. Its methods are safe for concurrent use.
type Server struct {
	dir, pgdata, runDir, logPath string
	port                         int
	password                     string            // for TCP connections; hex, so it needs no escaping
	rolePasswords                map[string]string // the same for each of roles
	bin                          binaries
	run                          runner
	log                          *slog.Logger
	adopted                      bool
}

// Adopted reports whether Start found the cluster already running (started
// by another process, such as a running fleetd serve) rather than starting
// it. A caller that adopted a cluster should leave it running.
func (s *Server) Adopted() bool { return s.adopted }

// Timeouts. pg_ctl takes the context's deadline when it has one; these apply otherwise.
const (
	// defaultStartWait covers crash recovery after a load test: replaying up to max_wal_size
	// (1 GB) of WAL takes a minute or two on a slow disk.
	defaultStartWait = 5 * time.Minute
	// defaultStopWait covers the shutdown checkpoint of the same amount of dirty buffers.
	defaultStopWait = 2 * time.Minute
	// readyWait bounds how long Start waits for an adopted cluster (started by someone else,
	// maybe still recovering) to accept connections.
	readyWait = 5 * time.Minute
)

// Start starts the cluster in cfg.Dir, creating it on first use, and returns when the database
// [Database] with PostGIS accepts connections. If the cluster is already running (started by
// another Server or process) Start adopts it. ctx bounds the whole start, crash recovery
// included; cancelling it may leave a server starting in the background, which a later Start
// adopts or Stop stops.
func Start(ctx context.Context, cfg Config) (*Server, error) {
	s, err := open(cfg, true)
	if err != nil {
		return nil, err
	}
	unlock, err := lockDir(ctx, s.dir)
	if err != nil {
		return nil, err
	}
	defer unlock()

	if err := s.prepareDirs(); err != nil {
		return nil, err
	}
	if err := s.initdbIfMissing(ctx); err != nil {
		return nil, err
	}
	if s.password, err = s.loadPassword(passwordFile); err != nil {
		return nil, err
	}
	s.rolePasswords = map[string]string{}
	for _, r := range roles {
		if s.rolePasswords[r], err = s.loadPassword(passwordFile + "-" + r); err != nil {
			return nil, err
		}
	}

	pid, running, err := s.postmaster()
	if err != nil {
		return nil, err
	}
	started := false
	if running {
		if err := s.adopt(pid, cfg.Port); err != nil {
			return nil, err
		}
	} else {
		if err := s.clearStale(); err != nil {
			return nil, err
		}
		if err := s.choosePort(cfg.Port); err != nil {
			return nil, err
		}
		if err := s.startPostmaster(ctx); err != nil {
			return nil, err
		}
		started = true
	}

	if err := s.bootstrap(ctx); err != nil {
		if started {
			// Leave the directory as we found it: stopped. The bootstrap error matters more
			// than a failure to stop, which the log will show.
			stopCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), defaultStopWait)
			if stopErr := s.pgctlStop(stopCtx, "fast"); stopErr != nil {
				s.log.Error("stop after failed start", "dir", s.dir, "err", stopErr)
			}
			cancel()
		}
		return nil, err
	}
	s.log.Info("postgresql ready", "dir", s.dir, "port", s.port, "adopted", running,
		"version", s.bin.major)
	s.adopted = running
	return s, nil
}

// StopDir stops the cluster in cfg.Dir, whoever started it; it is for tools such as pgctl that
// did not keep the *Server. A Dir with no cluster, or a cluster already stopped, is not an error.
func StopDir(ctx context.Context, cfg Config) error {
	s, err := open(cfg, false)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	return s.Stop(ctx)
}

// ConnString returns the URL of database [Database] over the cluster's Unix socket as [User],
// e.g. "postgres://fleetmon@/fleetmon?host=/data/run&port=54321&sslmode=disable". It suits
// pgx.ParseConfig, pgxpool.ParseConfig, libpq and psql, and has no spaces or quotes, so a
// Makefile can pass it on. It stays the same across Stop and Restart.
func (s *Server) ConnString() string { return s.connString(Database) }

// TCPConnString returns the URL of database [Database] on 127.0.0.1:Port with [User]'s password,
// for clients that cannot use a Unix socket.
func (s *Server) TCPConnString() string {
	return fmt.Sprintf("postgres://%s:%s@127.0.0.1:%d/%s?sslmode=disable",
		User, s.password, s.port, Database)
}

// Port returns the TCP port on 127.0.0.1, which also names the Unix socket.
func (s *Server) Port() int { return s.port }

// Dir returns the absolute directory that holds the cluster.
func (s *Server) Dir() string { return s.dir }

// LogPath returns the server log's path.
func (s *Server) LogPath() string { return s.logPath }

// Stop shuts the server down in pg_ctl's fast mode: sessions are disconnected, open
// transactions roll back, and a shutdown checkpoint is written. Stopping a stopped server is
// not an error. The cluster can be started again with Restart or Start.
func (s *Server) Stop(ctx context.Context) error {
	unlock, err := lockDir(ctx, s.dir)
	if err != nil {
		return err
	}
	defer unlock()
	return s.stop(ctx, "fast")
}

// Kill shuts the server down in pg_ctl's immediate mode: every server process quits at once
// without a checkpoint, as in a crash (except that the operating system keeps what it had
// cached, which is what fsync is for). The next Restart or Start replays the WAL; every
// transaction that had committed must be there.
func (s *Server) Kill(ctx context.Context) error {
	unlock, err := lockDir(ctx, s.dir)
	if err != nil {
		return err
	}
	defer unlock()
	return s.stop(ctx, "immediate")
}

// Restart starts the server again after Stop or Kill, on the same port and socket, so that
// ConnString stays valid; if it is running it is stopped (fast) first. It returns once the
// server accepts connections.
func (s *Server) Restart(ctx context.Context) error {
	unlock, err := lockDir(ctx, s.dir)
	if err != nil {
		return err
	}
	defer unlock()
	if err := s.stop(ctx, "fast"); err != nil {
		return err
	}
	if err := s.prepareDirs(); err != nil {
		return err
	}
	return s.startPostmaster(ctx)
}

// open resolves cfg into a Server without starting anything. With create it makes Dir;
// without, a missing Dir/pgdata is reported as fs.ErrNotExist.
func open(cfg Config, create bool) (*Server, error) {
	if cfg.Dir == "" {
		return nil, errors.New("localpg: config: Dir is empty")
	}
	if cfg.Port < 0 || cfg.Port > 65535 {
		return nil, fmt.Errorf("localpg: config: port %d out of range", cfg.Port)
	}
	dir, err := filepath.Abs(cfg.Dir)
	if err != nil {
		return nil, fmt.Errorf("localpg: resolve dir %q: %w", cfg.Dir, err)
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	s := &Server{
		dir:     dir,
		pgdata:  filepath.Join(dir, "pgdata"),
		runDir:  filepath.Join(dir, "run"),
		logPath: filepath.Join(dir, "postgresql.log"),
		port:    cfg.Port,
		log:     log,
	}
	// The socket's path, .s.PGSQL.<port> in runDir, must fit sockaddr_un.sun_path (108 bytes
	// with its NUL on Linux); 5 digits is the longest port.
	if n := len(s.runDir) + len("/.s.PGSQL.65535"); n > 107 {
		return nil, fmt.Errorf("localpg: dir %s is too long for a Unix socket path (%d bytes, max 107): choose a shorter Dir", dir, n)
	}
	if create {
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return nil, fmt.Errorf("localpg: create dir: %w", err)
		}
	} else if _, err := os.Stat(filepath.Join(s.pgdata, "PG_VERSION")); err != nil {
		return nil, fmt.Errorf("localpg: no cluster in %s: %w", dir, err)
	}
	if s.bin, err = findBinaries(cfg.BinDir, s.pgdata); err != nil {
		return nil, err
	}
	if s.run, err = newRunner(s.dir, s.pgdata); err != nil {
		return nil, err
	}
	return s, nil
}

// prepareDirs makes the socket directory and the log file, owned by the server's user, and
// checks that this user can reach Dir.
func (s *Server) prepareDirs() error {
	if err := s.run.chown(s.dir); err != nil {
		return err
	}
	if err := s.run.checkReach(s.dir); err != nil {
		return err
	}
	if err := os.MkdirAll(s.runDir, 0o700); err != nil {
		return fmt.Errorf("localpg: create socket dir: %w", err)
	}
	// MkdirAll keeps the mode of an existing directory; the socket's privacy rests on this one.
	if err := os.Chmod(s.runDir, 0o700); err != nil {
		return fmt.Errorf("localpg: chmod socket dir: %w", err)
	}
	if err := s.run.chown(s.runDir); err != nil {
		return err
	}
	f, err := os.OpenFile(s.logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return fmt.Errorf("localpg: create log: %w", err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("localpg: create log: %w", err)
	}
	return s.run.chown(s.logPath)
}

// initdbIfMissing makes Dir/pgdata unless it holds a cluster. initdb writes into
// Dir/pgdata.init, which is renamed into place only when complete, so that an initdb killed
// half-way is redone rather than mistaken for a cluster.
func (s *Server) initdbIfMissing(ctx context.Context) error {
	if _, err := os.Stat(filepath.Join(s.pgdata, "PG_VERSION")); err == nil {
		return nil
	} else if !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("localpg: stat cluster: %w", err)
	}
	if entries, err := os.ReadDir(s.pgdata); err == nil && len(entries) > 0 {
		return fmt.Errorf("localpg: %s is not empty but holds no cluster (no PG_VERSION): move it away", s.pgdata)
	}
	tmp := s.pgdata + ".init"
	if err := os.RemoveAll(tmp); err != nil {
		return fmt.Errorf("localpg: remove half-made cluster: %w", err)
	}
	s.log.Info("initdb", "dir", s.pgdata, "bin", s.bin.dir, "user", s.run.userName)

	args := []string{
		"-D", tmp,
		"--username=" + User,
		"--encoding=UTF8",
		// Trust on the Unix socket only: its directory is mode 0700. TCP needs the password.
		"--auth-local=trust",
		"--auth-host=scram-sha-256",
		// Checksums make a durability test notice a torn or corrupt page instead of reading it.
		"--data-checksums",
		"--no-instructions",
	}
	// C.UTF-8 classifies non-ASCII characters (plates, place names); plain C is the fallback
	// for a system without that locale. Both sort by code point.
	out, err := s.run.output(ctx, s.bin.path("initdb"), append(args, "--locale=C.UTF-8")...)
	if err != nil {
		s.log.Warn("initdb with locale C.UTF-8 failed, retrying with C", "err", err,
			"output", lastLines(out, 5))
		if rmErr := os.RemoveAll(tmp); rmErr != nil {
			return fmt.Errorf("localpg: remove half-made cluster: %w", rmErr)
		}
		out, err = s.run.output(ctx, s.bin.path("initdb"), append(args, "--locale=C")...)
	}
	if err != nil {
		return fmt.Errorf("localpg: initdb: %w: %s", err, lastLines(out, 10))
	}

	conf := filepath.Join(tmp, "postgresql.conf")
	f, err := os.OpenFile(conf, os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		return fmt.Errorf("localpg: open postgresql.conf: %w", err)
	}
	_, werr := f.WriteString("\n# Added by fleetmon track/localpg; that file is rewritten on every start.\ninclude = '" + localConf + "'\n")
	if cerr := f.Close(); werr == nil {
		werr = cerr
	}
	if werr != nil {
		return fmt.Errorf("localpg: append to postgresql.conf: %w", werr)
	}
	if err := os.Rename(tmp, s.pgdata); err != nil {
		return fmt.Errorf("localpg: move new cluster into place: %w", err)
	}
	return syncDir(s.dir)
}

// localConf is the file in PGDATA that Start rewrites on every start.
const localConf = "localpg.conf"

// writeConf writes localConf for the chosen port.
func (s *Server) writeConf() error {
	conf := fmt.Sprintf(`# Written by fleetmon track/localpg on every start: change localpg.Config, not this file.
listen_addresses = '127.0.0.1'
port = %d
unix_socket_directories = %s
# The directory is mode 0700 already; the socket says the same.
unix_socket_permissions = 0700
# Room for the hot index pages of a city's fleet (the positions and raw_frames keys of the
# current month) on a small machine.
shared_buffers = '1GB'
# fleetd writes tens of thousands of rows a second at peak. With the default max_wal_size
# (1GB) that forced a checkpoint every minute or two, each followed by a burst of full-page
# writes that stalled commits (p99 acknowledgement 1.3 s in a 5-minute load test): spread them.
max_wal_size = '8GB'
min_wal_size = '1GB'
checkpoint_timeout = '15min'
checkpoint_completion_target = 0.9
log_checkpoints = on
# Durability is what the tests built on this package check: never trade it for speed here.
fsync = on
synchronous_commit = on
full_page_writes = on
# Times are converted at the boundary in Go; the server's own zone only affects text output.
timezone = 'UTC'
log_timezone = 'UTC'
`, s.port, confQuote(s.runDir))
	path := filepath.Join(s.pgdata, localConf)
	if err := os.WriteFile(path+".tmp", []byte(conf), 0o600); err != nil {
		return fmt.Errorf("localpg: write %s: %w", localConf, err)
	}
	if err := s.run.chown(path + ".tmp"); err != nil {
		return err
	}
	if err := os.Rename(path+".tmp", path); err != nil {
		return fmt.Errorf("localpg: write %s: %w", localConf, err)
	}
	return nil
}

// lastPort returns the port in localConf from the previous start, or 0.
func (s *Server) lastPort() int {
	b, err := os.ReadFile(filepath.Join(s.pgdata, localConf))
	if err != nil {
		return 0
	}
	for line := range strings.Lines(string(b)) {
		k, v, ok := strings.Cut(line, "=")
		if !ok || strings.TrimSpace(k) != "port" {
			continue
		}
		if p, err := strconv.Atoi(strings.TrimSpace(v)); err == nil {
			return p
		}
	}
	return 0
}

// choosePort settles s.port for a start: the requested one, else the last one if free, else a
// free one. Another program may take a picked port before the server binds it; the start then
// fails with PostgreSQL's "could not bind" in the error.
func (s *Server) choosePort(requested int) error {
	if requested > 0 {
		s.port = requested
		return nil
	}
	if last := s.lastPort(); last > 0 && portFree(last) {
		s.port = last
		return nil
	}
	p, err := freePort()
	if err != nil {
		return err
	}
	s.port = p
	return nil
}

// startPostmaster writes localConf and runs pg_ctl start, waiting until the server accepts
// connections (crash recovery included).
func (s *Server) startPostmaster(ctx context.Context) error {
	if err := s.writeConf(); err != nil {
		return err
	}
	s.log.Info("starting postgresql", "dir", s.pgdata, "port", s.port)
	began := time.Now()
	for {
		from := logSize(s.logPath)
		out, err := s.run.output(ctx, s.bin.path("pg_ctl"), "start",
			"-D", s.pgdata, "-l", s.logPath, "-w", "-t", waitSeconds(ctx, defaultStartWait), "-s")
		if err == nil {
			break
		}
		// A postmaster that was killed (SIGKILL, the OOM killer) leaves its backends behind for
		// a moment, attached to its shared memory, and PostgreSQL refuses to start until they
		// have noticed and exited: on a loaded machine that takes seconds. Wait for them.
		if bytes.Contains(readFrom(s.logPath, from), []byte(shmInUse)) && time.Since(began) < orphanWait && ctx.Err() == nil {
			s.log.Warn("the killed postmaster's processes still hold its shared memory; waiting for them to exit", "dir", s.pgdata)
			select {
			case <-ctx.Done():
			case <-time.After(500 * time.Millisecond):
			}
			continue
		}
		return fmt.Errorf("localpg: pg_ctl start: %w: %s\n%s: %s", err, lastLines(out, 5),
			s.logPath, lastLines(readTail(s.logPath), 15))
	}
	s.log.Info("postgresql started", "port", s.port, "took", time.Since(began).Round(time.Millisecond))
	return nil
}

// shmInUse is what PostgreSQL logs when it will not start because processes of a killed
// postmaster still use its shared memory, and orphanWait how long Start waits for them.
const (
	shmInUse   = "pre-existing shared memory block"
	orphanWait = time.Minute
)

// stop runs pg_ctl stop in mode ("fast" or "immediate") if a postmaster runs in the cluster.
func (s *Server) stop(ctx context.Context, mode string) error {
	_, running, err := s.postmaster()
	if err != nil {
		return err
	}
	if !running {
		return s.clearStale()
	}
	return s.pgctlStop(ctx, mode)
}

func (s *Server) pgctlStop(ctx context.Context, mode string) error {
	s.log.Info("stopping postgresql", "dir", s.pgdata, "mode", mode)
	out, err := s.run.output(ctx, s.bin.path("pg_ctl"), "stop",
		"-D", s.pgdata, "-m", mode, "-w", "-t", waitSeconds(ctx, defaultStopWait), "-s")
	if err != nil {
		return fmt.Errorf("localpg: pg_ctl stop -m %s: %w: %s", mode, err, lastLines(out, 5))
	}
	return nil
}

// adopt takes over a postmaster that already runs in the cluster.
func (s *Server) adopt(pid, requested int) error {
	port, err := s.pidFilePort()
	if err != nil {
		return err
	}
	if requested > 0 && requested != port {
		return fmt.Errorf("localpg: cluster in %s already runs (pid %d) on port %d, not the requested %d: stop it first",
			s.dir, pid, port, requested)
	}
	s.port = port
	s.log.Info("adopting running postgresql", "pid", pid, "port", port)
	return nil
}

// waitSeconds is pg_ctl's -t: the time left before ctx's deadline, else def.
func waitSeconds(ctx context.Context, def time.Duration) string {
	d := def
	if dl, ok := ctx.Deadline(); ok {
		d = time.Until(dl)
	}
	secs := int((d + time.Second - 1) / time.Second)
	return strconv.Itoa(max(secs, 1))
}

// confQuote quotes a postgresql.conf string value.
func confQuote(v string) string { return "'" + strings.ReplaceAll(v, "'", "''") + "'" }

// queryEscapePath percent-encodes a path for a URL query value, keeping its slashes readable.
// A space becomes %20, not "+", which libpq-style parsers (pgx's included) keep as a plus.
func queryEscapePath(p string) string {
	const hexDigits = "0123456789ABCDEF"
	var b strings.Builder
	for i := range len(p) {
		c := p[i]
		if 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || strings.IndexByte("-._~/", c) >= 0 {
			b.WriteByte(c)
			continue
		}
		b.WriteByte('%')
		b.WriteByte(hexDigits[c>>4])
		b.WriteByte(hexDigits[c&0xf])
	}
	return b.String()
}
