package localpg

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// binaries is one PostgreSQL installation's bin directory.
type binaries struct {
	dir   string
	major int // e.g. 15
}

func (b binaries) path(name string) string { return filepath.Join(b.dir, name) }

// debianBinGlob is where Debian's postgresql-N packages put the server binaries; they are not in
// PATH there.
const debianBinGlob = "/usr/lib/postgresql/*/bin"

// findBinaries picks the bin directory: binDir if given; else, for an existing cluster, the
// major version in its PG_VERSION; else the newest Debian one; else pg_ctl's in PATH.
func findBinaries(binDir, pgdata string) (binaries, error) {
	want := 0
	if b, err := os.ReadFile(filepath.Join(pgdata, "PG_VERSION")); err == nil {
		want = leadingInt(strings.TrimSpace(string(b)))
	}
	var candidates []string
	if binDir != "" {
		candidates = []string{binDir}
	} else {
		debian, _ := filepath.Glob(debianBinGlob) // the pattern is valid: no error
		// Newest major first: "16" before "15" before "9.6".
		slices.SortFunc(debian, func(a, b string) int {
			return leadingInt(filepath.Base(filepath.Dir(b))) - leadingInt(filepath.Base(filepath.Dir(a)))
		})
		candidates = debian
		if p, err := exec.LookPath("pg_ctl"); err == nil {
			candidates = append(candidates, filepath.Dir(p))
		}
	}

	var found []string // versions seen that do not match want
	for _, dir := range candidates {
		if !hasServerBinaries(dir) {
			continue
		}
		major, err := serverMajor(dir)
		if err != nil {
			return binaries{}, err
		}
		if want > 0 && major != want {
			found = append(found, fmt.Sprintf("%d in %s", major, dir))
			continue
		}
		return binaries{dir: dir, major: major}, nil
	}
	where := debianBinGlob + " or in PATH"
	if binDir != "" {
		where = binDir
	}
	if want > 0 {
		return binaries{}, &notInstalledError{what: fmt.Sprintf(
			"postgresql %d server, which made %s, not installed (found %v under %s)", want, pgdata, found, where)}
	}
	return binaries{}, &notInstalledError{what: "postgresql server not installed (no initdb, pg_ctl and postgres under " + where + ")"}
}

func hasServerBinaries(dir string) bool {
	for _, name := range []string{"initdb", "pg_ctl", "postgres"} {
		fi, err := os.Stat(filepath.Join(dir, name))
		if err != nil || fi.IsDir() || fi.Mode().Perm()&0o111 == 0 {
			return false
		}
	}
	return true
}

// serverMajor runs postgres --version, which prints e.g.
// "postgres (PostgreSQL) 15.18 (Debian 15.18-0+deb12u1)". PostgreSQL allows --version as root.
func serverMajor(dir string) (int, error) {
	out, err := exec.Command(filepath.Join(dir, "postgres"), "--version").Output()
	if err != nil {
		return 0, fmt.Errorf("localpg: %s/postgres --version: %w", dir, err)
	}
	_, v, ok := strings.Cut(string(out), "(PostgreSQL) ")
	if major := leadingInt(v); ok && major > 0 {
		return major, nil
	}
	return 0, fmt.Errorf("localpg: %s/postgres --version: unexpected output %q", dir, bytes.TrimSpace(out))
}

// leadingInt returns the decimal number s starts with, or 0.
func leadingInt(s string) int {
	end := 0
	for end < len(s) && s[end] >= '0' && s[end] <= '9' {
		end++
	}
	n, _ := strconv.Atoi(s[:end]) // only digits, at most a few: no error but for ""
	return n
}

// runner runs PostgreSQL's programs as the OS user that owns the cluster.
type runner struct {
	// cred is that user when it is not the current one (the current one is root); nil runs
	// commands as the current user.
	cred     *syscall.Credential
	uid, gid int
	userName string
	dir      string   // working directory, Config.Dir: reachable by the user
	env      []string // the environment without PG* variables
}

// serverOSUser runs a new cluster when root starts it. The Debian package creates it.
const serverOSUser = "postgres"

// newRunner settles who runs the server: the current user, or, for root, the owner of pgdata
// or else serverOSUser.
func newRunner(dir, pgdata string) (runner, error) {
	r := runner{dir: dir, env: childEnv(), uid: os.Geteuid(), gid: os.Getegid()}
	if r.uid != 0 {
		r.userName = strconv.Itoa(r.uid)
		if u, err := user.Current(); err == nil {
			r.userName = u.Username
		}
		return r, nil
	}

	fi, err := os.Stat(pgdata)
	switch {
	case err == nil:
		st, ok := fi.Sys().(*syscall.Stat_t)
		if !ok {
			return runner{}, fmt.Errorf("localpg: stat %s: no owner information", pgdata)
		}
		if st.Uid == 0 {
			return runner{}, fmt.Errorf("localpg: %s is owned by root, and PostgreSQL refuses to run as root: chown -R %s: it", pgdata, serverOSUser)
		}
		r.uid, r.gid = int(st.Uid), int(st.Gid)
		r.userName = strconv.Itoa(r.uid)
		if u, err := user.LookupId(r.userName); err == nil {
			r.userName = u.Username
		}
	case errors.Is(err, fs.ErrNotExist):
		u, err := user.Lookup(serverOSUser)
		if err != nil {
			return runner{}, &notInstalledError{what: fmt.Sprintf(
				"running as root needs the OS user %q to run the server, which the postgresql package creates (%v)", serverOSUser, err)}
		}
		r.userName = u.Username
		if r.uid, err = strconv.Atoi(u.Uid); err != nil {
			return runner{}, fmt.Errorf("localpg: user %s: uid %q: %w", serverOSUser, u.Uid, err)
		}
		if r.gid, err = strconv.Atoi(u.Gid); err != nil {
			return runner{}, fmt.Errorf("localpg: user %s: gid %q: %w", serverOSUser, u.Gid, err)
		}
	default:
		return runner{}, fmt.Errorf("localpg: stat cluster: %w", err)
	}
	// No supplementary groups: the server needs none, and root's must not leak to it.
	r.cred = &syscall.Credential{Uid: uint32(r.uid), Gid: uint32(r.gid), Groups: []uint32{}}
	return r, nil
}

// childEnv is this process's environment without the PG* variables (PGPORT, PGDATA, PGHOST...)
// that would change what the programs do, and with English, byte-wise messages so that errors
// read the same everywhere. The cluster's own locale is set by initdb's flags.
func childEnv() []string {
	env := slices.DeleteFunc(os.Environ(), func(kv string) bool {
		return strings.HasPrefix(kv, "PG") || strings.HasPrefix(kv, "LC_") || strings.HasPrefix(kv, "LANG")
	})
	return append(env, "LC_ALL=C")
}

// output runs a program and returns its combined output.
func (r runner) output(ctx context.Context, path string, args ...string) ([]byte, error) {
	cmd := exec.CommandContext(ctx, path, args...)
	cmd.Dir = r.dir
	cmd.Env = r.env
	if r.cred != nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: r.cred}
	}
	// pg_ctl start redirects the server's stdio to the log, so nothing should hold the output
	// pipe after pg_ctl exits; if something does, stop waiting for it after a while.
	cmd.WaitDelay = 10 * time.Second
	return cmd.CombinedOutput()
}

// chown gives path to the server's user when that is not the current user.
func (r runner) chown(path string) error {
	if r.cred == nil {
		return nil
	}
	if err := os.Lchown(path, r.uid, r.gid); err != nil {
		return fmt.Errorf("localpg: chown %s to %s: %w", path, r.userName, err)
	}
	return nil
}

// checkReach checks that the server's user may search every directory above dir. Only root
// runs the server as someone else, so only then can this fail.
func (r runner) checkReach(dir string) error {
	if r.cred == nil {
		return nil
	}
	for p := filepath.Dir(dir); ; p = filepath.Dir(p) {
		fi, err := os.Stat(p)
		if err != nil {
			return fmt.Errorf("localpg: stat %s: %w", p, err)
		}
		st, ok := fi.Sys().(*syscall.Stat_t)
		perm := fi.Mode().Perm()
		if ok && !(perm&0o001 != 0 ||
			int(st.Uid) == r.uid && perm&0o100 != 0 ||
			int(st.Gid) == r.gid && perm&0o010 != 0) {
			return fmt.Errorf("localpg: OS user %s runs the server but cannot reach %s: %s (mode %04o) needs search permission for it (chmod o+x %s), or choose another Dir",
				r.userName, dir, p, perm, p)
		}
		if p == filepath.Dir(p) {
			return nil
		}
	}
}

// postmaster reads PGDATA/postmaster.pid and says whether that process is this cluster's live
// postmaster. A PID that now belongs to another program (after a crash and a reboot, or in a
// container) is what makes PostgreSQL refuse to start with "lock file already exists".
func (s *Server) postmaster() (pid int, running bool, err error) {
	b, err := os.ReadFile(filepath.Join(s.pgdata, "postmaster.pid"))
	if errors.Is(err, fs.ErrNotExist) {
		return 0, false, nil
	}
	if err != nil {
		return 0, false, fmt.Errorf("localpg: read postmaster.pid: %w", err)
	}
	first, _, _ := strings.Cut(string(b), "\n")
	pid, err = strconv.Atoi(strings.TrimSpace(first))
	if err != nil || pid <= 0 {
		return 0, false, nil // torn or empty: no postmaster finished writing it
	}
	return pid, isPostmaster(pid, s.pgdata, s.run.uid), nil
}

// isPostmaster says whether process pid is a postgres of uid running in pgdata.
func isPostmaster(pid int, pgdata string, uid int) bool {
	if _, err := os.Stat("/proc/self/stat"); err != nil {
		// No /proc (not Linux): a live PID is all we can see. Say yes and let PostgreSQL
		// decide; it refuses to start over a live postmaster.
		err := syscall.Kill(pid, 0)
		return err == nil || errors.Is(err, syscall.EPERM)
	}
	proc := "/proc/" + strconv.Itoa(pid)
	status, err := os.ReadFile(proc + "/status")
	if err != nil {
		return false // gone
	}
	if procField(status, "Name:") != "postgres" && procField(status, "Name:") != "postmaster" {
		return false
	}
	if uids := strings.Fields(procField(status, "Uid:")); len(uids) < 2 || uids[1] != strconv.Itoa(uid) {
		return false // effective uid: a postgres of another user runs another cluster
	}
	want, err := filepath.EvalSymlinks(pgdata)
	if err != nil {
		want = pgdata
	}
	// The postmaster chdirs to its data directory. Reading another user's cwd link needs
	// CAP_SYS_PTRACE, which root lacks in many containers; fall back on the command line,
	// where pg_ctl puts -D <pgdata>.
	if cwd, err := os.Readlink(proc + "/cwd"); err == nil {
		return cwd == want
	}
	cmdline, err := os.ReadFile(proc + "/cmdline")
	if err != nil {
		return false
	}
	args := strings.Split(strings.TrimRight(string(cmdline), "\x00"), "\x00")
	for i, a := range args {
		if a == "-D" && i+1 < len(args) && (args[i+1] == pgdata || args[i+1] == want) {
			return true
		}
	}
	return false
}

// procField returns the value of a "Key:\tvalue" line in a /proc status file.
func procField(status []byte, key string) string {
	for line := range strings.Lines(string(status)) {
		if v, ok := strings.CutPrefix(line, key); ok {
			return strings.TrimSpace(v)
		}
	}
	return ""
}

// pidFilePort reads the port from postmaster.pid, whose fourth line it is.
func (s *Server) pidFilePort() (int, error) {
	b, err := os.ReadFile(filepath.Join(s.pgdata, "postmaster.pid"))
	if err != nil {
		return 0, fmt.Errorf("localpg: read postmaster.pid: %w", err)
	}
	lines := strings.Split(string(b), "\n")
	if len(lines) < 4 {
		return 0, fmt.Errorf("localpg: postmaster.pid has %d lines, want at least 4", len(lines))
	}
	port, err := strconv.Atoi(strings.TrimSpace(lines[3]))
	if err != nil {
		return 0, fmt.Errorf("localpg: postmaster.pid port %q: %w", lines[3], err)
	}
	return port, nil
}

// clearStale removes a postmaster.pid whose postmaster is gone, and the socket directory's
// leftovers (sockets and their lock files, which carry the same stale PID). Only call it when
// postmaster says no postmaster runs.
func (s *Server) clearStale() error {
	pidFile := filepath.Join(s.pgdata, "postmaster.pid")
	if b, err := os.ReadFile(pidFile); err == nil {
		first, _, _ := strings.Cut(string(b), "\n")
		s.log.Warn("removing stale postmaster.pid: its process is not this cluster's postmaster",
			"dir", s.pgdata, "pid", strings.TrimSpace(first))
		if err := os.Remove(pidFile); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("localpg: remove stale postmaster.pid: %w", err)
		}
	}
	entries, err := os.ReadDir(s.runDir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("localpg: read socket dir: %w", err)
	}
	for _, e := range entries {
		if !strings.HasPrefix(e.Name(), ".s.PGSQL.") {
			continue
		}
		if err := os.Remove(filepath.Join(s.runDir, e.Name())); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("localpg: remove stale socket file: %w", err)
		}
	}
	return nil
}

// lockFile serialises Start, Stop, Kill and Restart on one Dir.
const lockFile = "localpg.lock"

// lockDir takes Dir's flock, waiting until ctx is done. flock locks belong to an open file,
// so this excludes other goroutines of this process as well as other processes.
func lockDir(ctx context.Context, dir string) (unlock func(), err error) {
	f, err := os.OpenFile(filepath.Join(dir, lockFile), os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return nil, fmt.Errorf("localpg: open lock: %w", err)
	}
	for {
		err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
		if err == nil {
			return func() {
				// Closing the file releases the lock.
				_ = f.Close()
			}, nil
		}
		if !errors.Is(err, syscall.EWOULDBLOCK) && !errors.Is(err, syscall.EINTR) {
			_ = f.Close()
			return nil, fmt.Errorf("localpg: lock %s: %w", dir, err)
		}
		select {
		case <-ctx.Done():
			_ = f.Close()
			return nil, fmt.Errorf("localpg: wait for lock on %s: %w", dir, ctx.Err())
		// A start takes seconds; a twentieth of that is prompt enough.
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// portFree says whether 127.0.0.1:port can be bound now.
func portFree(port int) bool {
	l, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)))
	if err != nil {
		return false
	}
	_ = l.Close()
	return true
}

// freePort asks the kernel for a free port on 127.0.0.1.
func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("localpg: pick a free port: %w", err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	if err := l.Close(); err != nil {
		return 0, fmt.Errorf("localpg: pick a free port: %w", err)
	}
	return port, nil
}

// syncDir fsyncs a directory so that a rename in it survives a crash.
func syncDir(dir string) error {
	f, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("localpg: sync %s: %w", dir, err)
	}
	err = f.Sync()
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("localpg: sync %s: %w", dir, err)
	}
	return nil
}

// readTail returns up to the last 8 KiB of a file, enough for the lines around a failed start.
func readTail(path string) []byte {
	const tail = 8 << 10
	f, err := os.Open(path)
	if err != nil {
		return nil
	}
	defer f.Close()
	if fi, err := f.Stat(); err == nil && fi.Size() > tail {
		if _, err := f.Seek(-tail, io.SeekEnd); err != nil {
			return nil
		}
	}
	b, _ := io.ReadAll(f) // best effort: this only decorates an error message
	return b
}

// logSize returns the size of the file at path, 0 when there is none.
func logSize(path string) int64 {
	fi, err := os.Stat(path)
	if err != nil {
		return 0
	}
	return fi.Size()
}

// readFrom returns the file at path from offset on (at most its last 64 KiB), nil when it
// cannot be read.
func readFrom(path string, offset int64) []byte {
	f, err := os.Open(path)
	if err != nil {
		return nil
	}
	defer f.Close()
	if fi, err := f.Stat(); err == nil && fi.Size()-offset > 64<<10 {
		offset = fi.Size() - 64<<10
	}
	if _, err := f.Seek(offset, io.SeekStart); err != nil {
		return nil
	}
	b, _ := io.ReadAll(f)
	return b
}

// lastLines returns the last n non-empty lines of b, joined by newlines.
func lastLines(b []byte, n int) string {
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
