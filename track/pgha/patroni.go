package pgha

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// Password is the superuser's (postgres) password on the test cluster's
// TCP ports. pg_hba trusts loopback anyway; the password is there for
// clients that insist on one.
const Password = "fleetmon-test"

// Node is one PostgreSQL server under its Patroni.
type Node struct {
	Name    string
	Port    int // PostgreSQL, 127.0.0.1
	APIPort int // Patroni's REST API, 127.0.0.1
	DataDir string
	cmd     *exec.Cmd
	done    chan struct{}
	log     string
}

// Cluster is etcd and two Patroni nodes on loopback: a primary and a
// synchronous standby (synchronous_mode, synchronous_commit on), so that a
// commit returns only once the standby has flushed it, and Patroni
// promotes only a standby that was synchronous.
type Cluster struct {
	t     testing.TB
	dir   string
	etcd  *exec.Cmd
	eDone chan struct{}
	Nodes []*Node
	// thaws continue frozen processes at cleanup.
	thaws []func()
}

// ErrNotInstalled is returned (and the test skipped outside CI) when
// Patroni, etcd or PostgreSQL is missing: scripts/deps.sh pg ha installs
// them.
var ErrNotInstalled = errors.New("pgha: patroni, etcd or postgresql not installed: run scripts/deps.sh pg ha")

// binDir returns the newest PostgreSQL server's bin directory.
func binDir() (string, error) {
	ms, _ := filepath.Glob("/usr/lib/postgresql/*/bin/postgres")
	best, bestV := "", 0
	for _, m := range ms {
		v, err := strconv.Atoi(filepath.Base(filepath.Dir(filepath.Dir(m))))
		if err == nil && v > bestV {
			best, bestV = filepath.Dir(m), v
		}
	}
	if best == "" {
		return "", ErrNotInstalled
	}
	return best, nil
}

// Start runs etcd and two Patroni nodes in directories of the test's own
// and returns when the first is the primary, with PostGIS in database
// "fleetmon", and the second its synchronous standby. Everything is
// killed when the test ends. Without the packages it fails the test under
// CI=true and skips it elsewhere.
func Start(t testing.TB) *Cluster {
	t.Helper()
	bin, err := binDir()
	_, perr := exec.LookPath("patroni")
	_, eerr := os.Stat("/usr/bin/etcd")
	if err != nil || perr != nil || eerr != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal(ErrNotInstalled)
		}
		t.Skip(ErrNotInstalled)
	}
	dir := t.TempDir()
	cred, err := credential(dir)
	if err != nil {
		t.Fatal(err)
	}
	c := &Cluster{t: t, dir: dir}
	t.Cleanup(c.stop)

	ePort, pPort := freePort(t), freePort(t)
	c.etcd = exec.Command("/usr/bin/etcd", "--name", "e1", "--data-dir", filepath.Join(dir, "etcd"),
		"--listen-client-urls", fmt.Sprintf("http://127.0.0.1:%d", ePort),
		"--advertise-client-urls", fmt.Sprintf("http://127.0.0.1:%d", ePort),
		"--listen-peer-urls", fmt.Sprintf("http://127.0.0.1:%d", pPort),
		"--initial-advertise-peer-urls", fmt.Sprintf("http://127.0.0.1:%d", pPort),
		"--initial-cluster", fmt.Sprintf("e1=http://127.0.0.1:%d", pPort))
	elog, err := os.Create(filepath.Join(dir, "etcd.log"))
	if err != nil {
		t.Fatal(err)
	}
	c.etcd.Stdout, c.etcd.Stderr = elog, elog
	c.etcd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := c.etcd.Start(); err != nil {
		t.Fatal(err)
	}
	c.eDone = make(chan struct{})
	go func() { _ = c.etcd.Wait(); close(c.eDone) }()
	c.waitHTTP(fmt.Sprintf("http://127.0.0.1:%d/health", ePort), "etcd", filepath.Join(dir, "etcd.log"))

	scope := "fleetmon-" + strconv.Itoa(os.Getpid()) + "-" + strconv.Itoa(ePort)
	for i := 1; i <= 2; i++ {
		n := &Node{Name: fmt.Sprintf("pg%d", i), Port: freePort(t), APIPort: freePort(t)}
		nd := filepath.Join(dir, n.Name)
		if err := os.MkdirAll(nd, 0o700); err != nil {
			t.Fatal(err)
		}
		n.DataDir = filepath.Join(nd, "data")
		conf := filepath.Join(nd, "patroni.yml")
		if err := os.WriteFile(conf, []byte(patroniConf(scope, n, nd, bin, ePort)), 0o600); err != nil {
			t.Fatal(err)
		}
		if cred != nil {
			if err := os.Chown(nd, int(cred.Uid), int(cred.Gid)); err != nil {
				t.Fatal(err)
			}
			if err := os.Chown(conf, int(cred.Uid), int(cred.Gid)); err != nil {
				t.Fatal(err)
			}
		}
		c.Nodes = append(c.Nodes, n)
		n.log = filepath.Join(nd, "patroni.log")
		if err := c.startNode(n, conf, cred); err != nil {
			t.Fatal(err)
		}
		if i == 1 {
			c.waitHTTP(fmt.Sprintf("http://127.0.0.1:%d/primary", n.APIPort), n.Name+" to lead", n.log)
			c.createDatabase(n)
		} else {
			c.waitHTTP(fmt.Sprintf("http://127.0.0.1:%d/sync", n.APIPort), n.Name+" to be the synchronous standby", n.log)
		}
	}
	return c
}

// patroniConf is a node's configuration: a short leader TTL and loop so
// that a test fails over in about 20 s (Patroni's minimum TTL), trust on
// loopback, and a synchronous standby.
func patroniConf(scope string, n *Node, nd, bin string, etcdPort int) string {
	return fmt.Sprintf(`scope: %[1]s
name: %[2]s
log:
  level: INFO
restapi:
  listen: 127.0.0.1:%[3]d
  connect_address: 127.0.0.1:%[3]d
etcd3:
  hosts: 127.0.0.1:%[4]d
bootstrap:
  dcs:
    ttl: 20
    loop_wait: 1
    retry_timeout: 5
    maximum_lag_on_failover: 1048576
    synchronous_mode: true
    postgresql:
      use_pg_rewind: false
      use_slots: true
      parameters:
        synchronous_commit: "on"
        wal_level: replica
        hot_standby: "on"
        max_wal_senders: 5
        max_replication_slots: 5
        wal_keep_size: 64MB
        fsync: "on"
  initdb:
    - encoding: UTF8
    - locale: C.UTF-8
    - data-checksums
  pg_hba:
    - local all all trust
    - host all all 127.0.0.1/32 trust
    - host replication all 127.0.0.1/32 trust
postgresql:
  listen: 127.0.0.1:%[5]d
  connect_address: 127.0.0.1:%[5]d
  data_dir: %[6]s/data
  bin_dir: %[7]s
  pgpass: %[6]s/pgpass
  basebackup:
    - checkpoint: fast
  authentication:
    superuser:
      username: postgres
      password: %[8]s
    replication:
      username: replicator
      password: %[8]s
  parameters:
    unix_socket_directories: %[6]s
    shared_buffers: 64MB
tags:
  nofailover: false
  noloadbalance: false
`, scope, n.Name, n.APIPort, etcdPort, n.Port, nd, bin, Password)
}

func (c *Cluster) startNode(n *Node, conf string, cred *syscall.Credential) error {
	f, err := os.OpenFile(n.log, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	n.cmd = exec.Command("patroni", conf)
	n.cmd.Dir = filepath.Dir(conf)
	n.cmd.Env = append(os.Environ(), "HOME="+filepath.Dir(conf))
	n.cmd.Stdout, n.cmd.Stderr = f, f
	n.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Credential: cred}
	if err := n.cmd.Start(); err != nil {
		f.Close()
		return fmt.Errorf("start patroni %s: %w", n.Name, err)
	}
	n.done = make(chan struct{})
	go func() { _ = n.cmd.Wait(); f.Close(); close(n.done) }()
	return nil
}

// credential says which user runs Patroni and PostgreSQL: the postgres
// user when the test runs as root (PostgreSQL refuses root), else the
// test's own. It opens the way to dir for that user.
func credential(dir string) (*syscall.Credential, error) {
	if os.Geteuid() != 0 {
		return nil, nil
	}
	u, err := user.Lookup("postgres")
	if err != nil {
		return nil, fmt.Errorf("pgha: as root the cluster runs as postgres: %w", err)
	}
	uid, _ := strconv.Atoi(u.Uid)
	gid, _ := strconv.Atoi(u.Gid)
	for p := filepath.Dir(dir); p != "/"; p = filepath.Dir(p) {
		st, err := os.Stat(p)
		if err != nil {
			return nil, err
		}
		if st.Mode().Perm()&0o001 == 0 {
			if err := os.Chmod(p, st.Mode().Perm()|0o011); err != nil {
				return nil, err
			}
		}
	}
	if err := os.Chmod(dir, 0o711); err != nil {
		return nil, err
	}
	return &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}, nil
}

func (c *Cluster) createDatabase(n *Node) {
	c.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	conn, err := pgx.Connect(ctx, n.connString("postgres"))
	if err != nil {
		c.t.Fatal(err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, "CREATE DATABASE fleetmon"); err != nil {
		c.t.Fatal(err)
	}
	db, err := pgx.Connect(ctx, n.connString("fleetmon"))
	if err != nil {
		c.t.Fatal(err)
	}
	defer db.Close(ctx)
	if _, err := db.Exec(ctx, "CREATE EXTENSION postgis"); err != nil {
		c.t.Fatal(err)
	}
}

func (n *Node) connString(db string) string {
	return fmt.Sprintf("postgres://postgres:%s@127.0.0.1:%d/%s?sslmode=disable&connect_timeout=2", Password, n.Port, db)
}

// ConnString names database fleetmon on both nodes, as fleetd's
// multi-host --db does.
func (c *Cluster) ConnString() string {
	hosts := make([]string, len(c.Nodes))
	for i, n := range c.Nodes {
		hosts[i] = fmt.Sprintf("127.0.0.1:%d", n.Port)
	}
	return fmt.Sprintf("postgres://postgres:%s@%s/fleetmon?sslmode=disable", Password, strings.Join(hosts, ","))
}

// NodeConnString names database fleetmon on node i alone.
func (c *Cluster) NodeConnString(i int) string { return c.Nodes[i].connString("fleetmon") }

// Primary returns the index of the node that is the writable primary now,
// or -1, asking each node's Patroni.
func (c *Cluster) Primary() int {
	for i, n := range c.Nodes {
		if httpOK(fmt.Sprintf("http://127.0.0.1:%d/primary", n.APIPort)) {
			return i
		}
	}
	return -1
}

// processes returns node i's Patroni and PostgreSQL processes: Patroni
// starts the postmaster detached (it is not Patroni's child), so it is
// found through its pid file.
func (c *Cluster) processes(i int) []int {
	n := c.Nodes[i]
	pids := Tree(n.cmd.Process.Pid)
	// The pid file may be stale (the node was killed before): the pid is
	// taken only while it is still this data directory's postmaster.
	if pm, err := PostmasterPID(n.DataDir); err == nil && !slices.Contains(pids, pm) && runsIn(pm, n.DataDir) {
		pids = append(pids, Tree(pm)...)
	}
	return pids
}

// runsIn says whether process pid has dataDir on its command line.
func runsIn(pid int, dataDir string) bool {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
	return err == nil && strings.Contains(string(b), dataDir)
}

// Kill ends node i's Patroni, PostgreSQL and every backend with SIGKILL,
// as when its machine loses power.
func (c *Cluster) Kill(i int) error {
	if err := Signal(c.processes(i), syscall.SIGKILL); err != nil {
		return err
	}
	<-c.Nodes[i].done
	return nil
}

// Freeze stops node i's Patroni, PostgreSQL and every backend (SIGSTOP),
// as when its machine hangs; they continue when the test ends.
func (c *Cluster) Freeze(i int) error {
	pids := c.processes(i)
	err := Signal(pids, syscall.SIGSTOP)
	c.thaws = append(c.thaws, func() { _ = Signal(pids, syscall.SIGCONT) })
	return err
}

// WaitPrimary waits until a node other than old is the writable primary
// and returns it.
func (c *Cluster) WaitPrimary(old int, limit time.Duration) (int, error) {
	deadline := time.Now().Add(limit)
	for time.Now().Before(deadline) {
		for i, n := range c.Nodes {
			if i != old && httpOK(fmt.Sprintf("http://127.0.0.1:%d/primary", n.APIPort)) {
				return i, nil
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	return -1, fmt.Errorf("no new primary after %v", limit)
}

func (c *Cluster) stop() {
	for _, thaw := range c.thaws {
		thaw()
	}
	for i, n := range c.Nodes {
		if n.cmd != nil && n.cmd.Process != nil {
			_ = Signal(c.processes(i), syscall.SIGKILL)
			<-n.done
		}
	}
	if c.etcd != nil && c.etcd.Process != nil {
		_ = c.etcd.Process.Kill()
		<-c.eDone
	}
	if c.t.Failed() {
		for _, n := range c.Nodes {
			if b, err := os.ReadFile(n.log); err == nil {
				c.t.Logf("%s's log:\n%s", n.Name, tail(string(b), 4000))
			}
		}
	}
}

func tail(s string, n int) string {
	if len(s) > n {
		return s[len(s)-n:]
	}
	return s
}

func (c *Cluster) waitHTTP(url, what, logPath string) {
	c.t.Helper()
	deadline := time.Now().Add(2 * time.Minute)
	for !httpOK(url) {
		if time.Now().After(deadline) {
			b, _ := os.ReadFile(logPath)
			c.t.Fatalf("pgha: timed out waiting for %s; log:\n%s", what, tail(string(b), 4000))
		}
		time.Sleep(100 * time.Millisecond)
	}
}

var client = &http.Client{Timeout: 500 * time.Millisecond}

func httpOK(url string) bool {
	resp, err := client.Get(url)
	if err != nil {
		return false
	}
	resp.Body.Close()
	return resp.StatusCode == http.StatusOK
}

func freePort(t testing.TB) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}
