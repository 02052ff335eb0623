package alerts

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"log/slog"
	"sort"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/prometheus/client_golang/prometheus"
)

// ClusterConfig configures a Cluster. Zero values take the defaults.
type ClusterConfig struct {
	// NodeID names this node; unique per node (a second node with the same
	// id waits until the first is gone). Required.
	NodeID string
	// Shards is how many parts the vehicles are split into (by id), each
	// run by one node at a time. Every node of a cluster must use the same
	// number. Default 32: enough to spread over a dozen nodes.
	Shards int
	// Poll is how often the node running a shard reads the positions
	// committed since (by any node). It is the alerts' added latency.
	// Default 500 ms.
	Poll time.Duration
	// Rebalance is how often the node counts the nodes and takes or hands
	// back shards so that each runs its share. Default 2 s.
	Rebalance time.Duration
	// LeaseTimeout is how long the database keeps the leases of a node
	// that stopped talking to it: frozen (SIGSTOP, a VM paused, a CPU
	// starved of time), or stuck in a transaction. PostgreSQL then ends the node's lease session, and
	// with it the locks, so that the others take its shards; when the
	// node wakes up, its writes are refused (the lease is checked in each
	// write's transaction) and it joins again. It must exceed Rebalance,
	// the longest the lease connection is idle while the node is well,
	// plus the drain of a hand-over (Runner.DrainTimeout). Default 30 s.
	LeaseTimeout time.Duration
	// Runner tunes each shard's runner (its Shards is 1).
	Runner RunnerConfig
}

func (c *ClusterConfig) defaults() {
	if c.Shards <= 0 {
		c.Shards = 32
	}
	if c.Poll <= 0 {
		c.Poll = 500 * time.Millisecond
	}
	if c.Rebalance <= 0 {
		c.Rebalance = 2 * time.Second
	}
	if c.LeaseTimeout <= 0 {
		c.LeaseTimeout = 30 * time.Second
	}
	c.Runner.Shards = 1
	c.Runner.defaults()
}

// dbCallTimeout bounds each database call of the cluster's leases and
// feed: a primary that hangs keeps the lease connection open and silent,
// and without a deadline the node would neither notice nor move to the new
// primary after a failover. On expiry pgx closes the connection, which
// marks the lease connection broken: the node drops its shards and takes
// them again wherever it can connect.
const dbCallTimeout = 5 * time.Second

// errLeaseLost refuses a write for a shard this node no longer holds.
var errLeaseLost = errors.New("alerts: this node no longer holds the shard")

// leaseWriter runs f in a transaction on the connection that holds shard's
// lease, after checking that it still does; errLeaseLost otherwise.
type leaseWriter interface {
	fenced(ctx context.Context, shard int, f func(querier) error) error
}

// Cluster runs the rules on one of several fleetd nodes sharing a
// database: the vehicles are split into Shards by id, and each shard is
// run by the one node holding its lease, a PostgreSQL session advisory
// lock held on a connection of the node's own. The node evaluates its
// shards' vehicles from the positions table (whichever node committed
// them) in commit order, after each vehicle's saved state. Every episode
// and state it writes goes through that same connection, in a transaction
// that first checks the lock: a node that lost its lease (its connection
// broke, or it handed the shard over) cannot write. When a node dies,
// PostgreSQL ends its session and releases its locks; the others take its
// shards and resume each vehicle from its saved state, replaying what was
// committed after it, so nothing is missed, and an episode written twice is
// the same row (episodes are upserted by their deterministic id).
//
// Every Rebalance the node counts the live nodes (each holds a lock of
// its own) and takes free shards up to its share, ceil(Shards/nodes), or
// hands back what is beyond it (evaluating what it read, storing episodes
// and state first).
//
// Reload, Reevaluate and Run are safe for concurrent use; Run is called
// once.
type Cluster struct {
	store *Store
	cfg   ClusterConfig
	log   *slog.Logger
	m     *runnerMetrics
	base  *Runner // for Reevaluate, never run
	tell  []EpisodeListener

	// mu guards the lease connection and what it holds.
	mu      sync.Mutex
	conn    *pgx.Conn
	broken  bool
	held    map[int]bool
	nsShard int64
	nsNode  int64
	nodeKey int64

	running map[int]*leased // guarded by mu too

	loadMu  sync.Mutex
	loaded  *Loaded
	leases  prometheus.Gauge
	changes *prometheus.CounterVec
}

type leased struct {
	r *Runner
	// cancel ends the runner's context: with cause errAbandoned when the
	// lease is lost (it writes nothing more), nil when handed back.
	cancel context.CancelCauseFunc
	done   chan struct{}
}

// NewCluster returns a cluster node over store; its runners tell what
// they decided to each of tell, in order. Metrics are registered on reg
// when not nil.
func NewCluster(store *Store, cfg ClusterConfig, log *slog.Logger, reg prometheus.Registerer, tell ...EpisodeListener) (*Cluster, error) {
	cfg.defaults()
	if cfg.NodeID == "" {
		return nil, errors.New("alerts: cluster: no node id")
	}
	c := &Cluster{store: store, cfg: cfg, log: log, tell: tell, held: map[int]bool{}, running: map[int]*leased{}}
	c.m = newRunnerMetrics(reg, func() float64 { return 0 }) // a cluster's runners read the database, not a queue
	// base serves Reevaluate and is never run (its feed is never read).
	// Re-evaluation is an administrator's decision, not a running
	// engine's: it writes directly, whoever holds the lease.
	c.base = newRunner(store, cfg.Runner, log, c.m, tell, commitOrderFeed{shards: 1}, plainWriter{store}, nil)
	c.leases = prometheus.NewGauge(prometheus.GaugeOpts{
		Name: "fleetmon_alerts_cluster_shards",
		Help: "Shards of the vehicles whose rules this node runs.",
	})
	c.changes = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "fleetmon_alerts_cluster_lease_changes_total",
		Help: "Shard leases taken, handed back, or lost with the lease connection.",
	}, []string{"change"})
	if reg != nil {
		reg.MustRegister(c.leases, c.changes)
	}
	return c, nil
}

// Reevaluate is Runner.Reevaluate: it reads and, with apply, writes
// directly (an administrator's decision, not a running engine's).
func (c *Cluster) Reevaluate(ctx context.Context, vehicleID int64, from, to time.Time, apply bool) (*Diff, error) {
	return c.base.Reevaluate(ctx, vehicleID, from, to, apply)
}

// Reload reads the configuration again and hands it to this node's
// runners (the other nodes must be told separately).
func (c *Cluster) Reload(ctx context.Context) error {
	l, err := c.base.load(ctx)
	if err != nil {
		return fmt.Errorf("alerts: reload: %w", err)
	}
	c.loadMu.Lock()
	defer c.loadMu.Unlock()
	c.loaded = l
	for _, lr := range c.snapshot() {
		lr.r.give(l)
	}
	return nil
}

func (c *Cluster) snapshot() []*leased {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make([]*leased, 0, len(c.running))
	for _, lr := range c.running {
		out = append(out, lr)
	}
	return out
}

func (c *Cluster) hash(s string) int64 {
	h := fnv.New32a()
	h.Write([]byte(s))
	return int64(h.Sum32() & 0x7fffffff)
}

// Run takes and runs this node's share of the shards until ctx ends; then
// it hands them back cleanly. While the database is unreachable it
// retries; it returns an error only when ctx ends before it could start.
func (c *Cluster) Run(ctx context.Context) error {
	err := c.base.retry(ctx, "load", dbRetryable, func(ctx context.Context) error {
		l, err := c.base.load(ctx)
		if err == nil {
			c.loadMu.Lock()
			c.loaded = l
			c.loadMu.Unlock()
		}
		return err
	})
	if err != nil {
		return fmt.Errorf("alerts: cluster start: %w", err)
	}
	c.log.Info("alerts cluster node starting", "node", c.cfg.NodeID, "shards", c.cfg.Shards)
	wait := c.cfg.Runner.RetryMin
	for ctx.Err() == nil {
		err := c.round(ctx)
		if err == nil {
			wait = c.cfg.Runner.RetryMin
			select {
			case <-ctx.Done():
			case <-time.After(c.cfg.Rebalance):
			}
			continue
		}
		if ctx.Err() != nil {
			break
		}
		c.m.errors.WithLabelValues("lease").Inc()
		c.log.Warn("alerts: lease connection failed; this node's shards are dropped and taken again", "err", err, "retry_in", wait)
		c.loseAll()
		select {
		case <-ctx.Done():
		case <-time.After(wait):
		}
		// At most a second between attempts: after a failover the node
		// takes its shards on the new primary within a second of its
		// promotion.
		wait = min(wait*2, c.cfg.Runner.RetryMax, time.Second)
	}
	c.handBack(c.ownedShards())
	c.mu.Lock()
	if c.conn != nil {
		cctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		_ = c.conn.Close(cctx) // closing the session releases the node's lock
		cancel()
		c.conn = nil
	}
	c.mu.Unlock()
	c.log.Info("alerts cluster node stopped", "node", c.cfg.NodeID)
	return nil
}

// lockedSQL counts advisory locks of the namespace $1 in this database,
// by anyone ($2 = 0) or by this session.
const lockedSQL = `SELECT objid::bigint FROM pg_locks
	WHERE locktype = 'advisory' AND granted AND objsubid = 2 AND classid = $1::bigint::oid
		AND database = (SELECT oid FROM pg_database WHERE datname = current_database())`

// round connects if needed, counts the nodes, and takes or hands back
// shards.
func (c *Cluster) round(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, dbCallTimeout)
	defer cancel()
	if err := c.dial(ctx); err != nil {
		return err
	}
	var nodes, taken []int64
	err := c.locked(func(conn *pgx.Conn) error {
		var err error
		rows, _ := conn.Query(ctx, lockedSQL, c.nsNode)
		if nodes, err = pgx.CollectRows(rows, pgx.RowTo[int64]); err != nil {
			return fmt.Errorf("count the nodes: %w", err)
		}
		rows, _ = conn.Query(ctx, lockedSQL, c.nsShard)
		if taken, err = pgx.CollectRows(rows, pgx.RowTo[int64]); err != nil {
			return fmt.Errorf("list the shards taken: %w", err)
		}
		return nil
	})
	if err != nil {
		return err
	}
	share := (c.cfg.Shards + max(1, len(nodes)) - 1) / max(1, len(nodes))
	owned := c.ownedShards()
	if len(owned) > share {
		// Hand back the highest ones: the others' free-shard scan starts
		// at their own offsets, so any node may take them.
		c.handBack(owned[share:])
		return nil
	}
	busy := map[int64]bool{}
	for _, t := range taken {
		busy[t] = true
	}
	start := int(c.nodeKey % int64(c.cfg.Shards))
	for i := 0; i < c.cfg.Shards && len(owned) < share; i++ {
		j := (start + i) % c.cfg.Shards
		if busy[int64(j)] {
			continue
		}
		var got bool
		err := c.locked(func(conn *pgx.Conn) error {
			return conn.QueryRow(ctx, "SELECT pg_try_advisory_lock($1::int, $2::int)", c.nsShard, j).Scan(&got)
		})
		if err != nil {
			return fmt.Errorf("take shard %d: %w", j, err)
		}
		if got {
			c.take(j)
			owned = append(owned, j)
		}
	}
	return nil
}

// locked runs f on the lease connection; a failure that closed it marks
// it broken.
func (c *Cluster) locked(f func(*pgx.Conn) error) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.conn == nil || c.broken {
		return errLeaseLost
	}
	err := f(c.conn)
	if err != nil && c.conn.IsClosed() {
		c.broken = true
	}
	return err
}

// dial opens the lease connection and takes the node's own lock.
func (c *Cluster) dial(ctx context.Context) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.conn != nil {
		if !c.broken {
			return nil
		}
		// The session that held the shards is gone, but their runners
		// still run: connecting again here would leave them running
		// without a lease (their writes refused, the shards' vehicles
		// judged by nobody while the other nodes count them as this
		// node's). Run drops them first.
		return fmt.Errorf("the lease connection broke: %w", errLeaseLost)
	}
	// As the pool makes its connections (BeforeConnect orders the hosts of
	// a replicated cluster by how they last answered).
	pcfg := c.store.pool.Config()
	cc := pcfg.ConnConfig.Copy()
	if pcfg.BeforeConnect != nil {
		if err := pcfg.BeforeConnect(ctx, cc); err != nil {
			return fmt.Errorf("connect for the leases: %w", err)
		}
	}
	conn, err := pgx.ConnectConfig(ctx, cc)
	if err != nil {
		return fmt.Errorf("connect for the leases: %w", err)
	}
	if err := leaseSession(ctx, conn, c.cfg.LeaseTimeout); err != nil {
		conn.Close(ctx)
		return err
	}
	var schema string
	if err := conn.QueryRow(ctx, "SELECT current_schema()").Scan(&schema); err != nil {
		conn.Close(ctx)
		return fmt.Errorf("read the schema: %w", err)
	}
	// Advisory locks are per database: the schema in the key keeps two
	// fleetmon installations (or tests) in one database apart.
	c.nsShard, c.nsNode = c.hash("fleetmon/alerts/shard/"+schema), c.hash("fleetmon/alerts/node/"+schema)
	c.nodeKey = c.hash(c.cfg.NodeID)
	var got bool
	if err := conn.QueryRow(ctx, "SELECT pg_try_advisory_lock($1::int, $2::int)", c.nsNode, c.nodeKey).Scan(&got); err != nil {
		conn.Close(ctx)
		return fmt.Errorf("take the node's lock: %w", err)
	}
	if !got {
		conn.Close(ctx)
		return fmt.Errorf("node id %q is held by another session (another node with the same id, or this node's previous session not yet ended)", c.cfg.NodeID)
	}
	c.conn, c.broken = conn, false
	clear(c.held)
	return nil
}

// leaseSession makes the server end the lease session of a node that
// stops talking to it for timeout, releasing its locks: idle, or idle in
// a transaction. That is a node frozen (SIGSTOP, a VM paused, a CPU
// starved): its kernel still acknowledges, so the connection looks alive
// and only the server's own clock can tell. A node that is well uses the
// connection every Rebalance. A node the server cannot reach at all is
// the connection settings' to find (fleetd sets TCP keepalives and
// tcp_user_timeout on both ends of every connection).
func leaseSession(ctx context.Context, conn *pgx.Conn, timeout time.Duration) error {
	_, err := conn.Exec(ctx, `SELECT set_config('idle_session_timeout', $1, false),
		set_config('idle_in_transaction_session_timeout', $1, false)`, fmt.Sprint(timeout.Milliseconds()))
	if err != nil {
		return fmt.Errorf("set the lease session's timeouts: %w", err)
	}
	return nil
}

func (c *Cluster) ownedShards() []int {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make([]int, 0, len(c.running))
	for j := range c.running {
		out = append(out, j)
	}
	sort.Ints(out)
	return out
}

// take starts the runner of shard j, whose lock this node just took.
func (c *Cluster) take(j int) {
	c.loadMu.Lock()
	l := c.loaded
	c.loadMu.Unlock()
	r := newRunner(c.store, c.cfg.Runner, c.log.With("shard", j), c.m, c.tell,
		commitOrderFeed{shard: j, shards: c.cfg.Shards, poll: c.cfg.Poll}, fencedWriter{lease: c, shard: j}, l)
	ctx, cancel := context.WithCancelCause(context.Background())
	lr := &leased{r: r, cancel: cancel, done: make(chan struct{})}
	c.mu.Lock()
	c.held[j] = true
	c.running[j] = lr
	c.leases.Set(float64(len(c.running)))
	c.mu.Unlock()
	c.changes.WithLabelValues("taken").Inc()
	c.log.Info("alerts: shard taken", "shard", j)
	go func() {
		defer close(lr.done)
		_ = r.Run(ctx) // it returns an error only when ctx ends before it starts
	}()
}

// handBack stops the runners of shards (they store episodes and state
// through the lease as they stop), then releases their locks.
func (c *Cluster) handBack(shards []int) {
	if len(shards) == 0 {
		return
	}
	c.mu.Lock()
	lrs := make([]*leased, len(shards))
	for i, j := range shards {
		lrs[i] = c.running[j]
	}
	c.mu.Unlock()
	for _, lr := range lrs {
		lr.cancel(nil)
	}
	for _, lr := range lrs {
		<-lr.done
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, j := range shards {
		delete(c.held, j)
		delete(c.running, j)
		if c.conn != nil && !c.broken {
			if _, err := c.conn.Exec(ctx, "SELECT pg_advisory_unlock($1::int, $2::int)", c.nsShard, j); err != nil {
				c.broken = c.conn.IsClosed()
				c.log.Warn("alerts: release shard", "shard", j, "err", err)
			}
		}
		c.changes.WithLabelValues("handed_back").Inc()
		c.log.Info("alerts: shard handed back", "shard", j)
	}
	c.leases.Set(float64(len(c.running)))
}

// loseAll stops every runner at once, writing nothing (the locks went with
// the connection; other nodes may hold them already), and drops the
// connection.
func (c *Cluster) loseAll() {
	c.mu.Lock()
	lrs := make([]*leased, 0, len(c.running))
	for _, lr := range c.running {
		lrs = append(lrs, lr)
	}
	c.broken = true
	c.mu.Unlock()
	for _, lr := range lrs {
		lr.cancel(errAbandoned)
		<-lr.done
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.changes.WithLabelValues("lost").Add(float64(len(c.running)))
	clear(c.running)
	clear(c.held)
	c.leases.Set(0)
	if c.conn != nil {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		_ = c.conn.Close(ctx)
		cancel()
		c.conn = nil
	}
}

// heldSQL checks, inside a write's transaction, that this session holds
// the shard's lock.
const heldSQL = `SELECT EXISTS (SELECT 1 FROM pg_locks WHERE locktype = 'advisory' AND pid = pg_backend_pid()
	AND granted AND objsubid = 2 AND classid = $1::bigint::oid AND objid = $2::bigint::oid)`

// fenced implements leaseWriter.
func (c *Cluster) fenced(ctx context.Context, shard int, f func(querier) error) error {
	ctx, cancel := context.WithTimeout(ctx, dbCallTimeout)
	defer cancel()
	return c.locked(func(conn *pgx.Conn) error {
		if !c.held[shard] {
			return errLeaseLost
		}
		return pgx.BeginFunc(ctx, conn, func(tx pgx.Tx) error {
			var held bool
			if err := tx.QueryRow(ctx, heldSQL, c.nsShard, shard).Scan(&held); err != nil {
				return fmt.Errorf("check the lease of shard %d: %w", shard, err)
			}
			if !held {
				return errLeaseLost
			}
			return f(tx)
		})
	})
}
