package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"
)

// readFlags are serve's read replica flags.
type readFlags struct {
	db     string
	maxLag string
}

func (f *readFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&f.db, "db-read", envOr("FLEETMON_DB_READ", ""),
		"PostgreSQL connection string of a standby (or several hosts; a standby is preferred) that replay, evidence exports, area search and reports read history from while it is within --db-read-max-lag; empty: they read the primary (env FLEETMON_DB_READ)")
	fs.StringVar(&f.maxLag, "db-read-max-lag", envOr("FLEETMON_DB_READ_MAX_LAG", "10s"),
		"the staleness bound of --db-read: history is read from the standby only while it has replayed everything the primary had written this long ago; beyond it, or when the standby does not answer, the primary serves (env FLEETMON_DB_READ_MAX_LAG)")
}

// lag returns --db-read-max-lag, checked.
func (f *readFlags) lag() (time.Duration, error) {
	d, err := time.ParseDuration(f.maxLag)
	if err != nil || d <= 0 {
		return 0, usageError{fmt.Sprintf("--db-read-max-lag %q: want a positive duration such as 10s", f.maxLag)}
	}
	return d, nil
}

// dbCheckEvery is how often fleetd asks the primary where it is and the
// read replica how far it has replayed. The staleness of a read from the
// replica is at most the bound plus this.
const dbCheckEvery = time.Second

// dbWatch follows the databases fleetd talks to: which server is the
// primary (a change is a failover, counted), and, with --db-read, how far
// behind the primary the read replica is. Its lag is measured from
// fleetd's side, in time: the replica is d behind when it has replayed
// everything the primary had flushed d ago, and not what it flushed
// since. (pg_last_xact_replay_timestamp() would say how old the last
// replayed commit is, which on a quiet primary grows without the replica
// being behind at all.)
type dbWatch struct {
	primary *pgxpool.Pool
	replica *pgxpool.Pool // nil without --db-read
	maxLag  time.Duration
	log     *slog.Logger

	// fresh is whether the last check found the replica within maxLag;
	// why names the reason when it did not (for the fallback counter).
	fresh atomic.Bool
	why   atomic.Value // string

	// Owned by run's goroutine.
	samples     []walSample
	lastPrimary string

	lag       prometheus.Gauge
	replicaUp prometheus.Gauge
	reads     *prometheus.CounterVec
	fallbacks *prometheus.CounterVec
	failovers prometheus.Counter
}

// walSample is the primary's flushed WAL position at a moment.
type walSample struct {
	at  time.Time
	lsn int64
}

func newDBWatch(primary, replica *pgxpool.Pool, maxLag time.Duration, log *slog.Logger, reg prometheus.Registerer) *dbWatch {
	w := &dbWatch{primary: primary, replica: replica, maxLag: maxLag, log: log,
		lag: prometheus.NewGauge(prometheus.GaugeOpts{Name: "fleetmon_db_replica_lag_seconds",
			Help: "How far behind the primary the read replica (--db-read) is, as fleetd sees it: it has replayed what the primary had flushed this long ago. Measured every second."}),
		replicaUp: prometheus.NewGauge(prometheus.GaugeOpts{Name: "fleetmon_db_replica_up",
			Help: "1 when the read replica (--db-read) answered its last check, else 0."}),
		reads: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "fleetmon_db_history_reads_total",
			Help: "History requests (replay, exports, area search, reports) by the server that read them: replica or primary."}, []string{"server"}),
		fallbacks: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "fleetmon_db_read_fallbacks_total",
			Help: "History requests that --db-read would have served but the primary did, by reason: lag (the replica beyond --db-read-max-lag, or its lag unknown because the primary did not answer) or unreachable (the replica did not answer)."}, []string{"reason"}),
		failovers: prometheus.NewCounter(prometheus.CounterOpts{Name: "fleetmon_db_primary_changes_total",
			Help: "Times fleetd found the primary of --db on another server than before: failovers (and switchovers) it followed."}),
	}
	w.why.Store("unreachable")
	reg.MustRegister(w.failovers)
	if replica != nil {
		reg.MustRegister(w.lag, w.replicaUp, w.reads, w.fallbacks)
		for _, s := range []string{"replica", "primary"} {
			w.reads.WithLabelValues(s)
		}
		for _, s := range []string{"lag", "unreachable"} {
			w.fallbacks.WithLabelValues(s)
		}
	}
	return w
}

// run checks every dbCheckEvery until ctx ends.
func (w *dbWatch) run(ctx context.Context) {
	t := time.NewTicker(dbCheckEvery)
	defer t.Stop()
	for {
		w.check(ctx)
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// check asks the primary which server it is and how far it has flushed
// its WAL, then the replica how far it has replayed, and decides whether
// the replica may serve reads until the next check.
func (w *dbWatch) check(ctx context.Context) {
	ctx, cancel := context.WithTimeout(ctx, dbCheckEvery)
	defer cancel()
	var server string
	var lsn int64
	err := w.primary.QueryRow(ctx, `SELECT coalesce(host(inet_server_addr()), 'local') || ':' || coalesce(inet_server_port()::text, ''),
		(pg_current_wal_flush_lsn() - '0/0'::pg_lsn)::bigint`).Scan(&server, &lsn)
	now := time.Now()
	if err != nil && ctx.Err() == nil {
		w.log.Debug("primary check", "err", err)
	}
	if err == nil {
		if w.lastPrimary != "" && server != w.lastPrimary {
			w.failovers.Inc()
			w.log.Warn("the primary is another server now: following it", "was", w.lastPrimary, "now", server)
		}
		w.lastPrimary = server
		w.samples = append(w.samples, walSample{now, lsn})
	}
	// Keep the samples that can still say how far behind the replica is,
	// and always the newest.
	keep := 0
	for keep < len(w.samples)-1 && now.Sub(w.samples[keep].at) > 3*w.maxLag+time.Minute {
		keep++
	}
	w.samples = w.samples[keep:]
	if w.replica == nil {
		return
	}

	// A replica that is not in recovery is a primary (a promoted standby,
	// or --db-read naming the primary): it is not behind.
	var replayed *int64
	err = w.replica.QueryRow(ctx, `SELECT CASE WHEN pg_is_in_recovery() THEN (pg_last_wal_replay_lsn() - '0/0'::pg_lsn)::bigint END`).Scan(&replayed)
	if err != nil {
		w.replicaUp.Set(0)
		w.setFresh(false, "unreachable")
		if ctx.Err() == nil || w.fresh.Load() {
			w.log.Debug("read replica check", "err", err)
		}
		return
	}
	w.replicaUp.Set(1)
	if replayed == nil {
		w.lag.Set(0)
		w.setFresh(true, "")
		return
	}
	// The newest sample the replica has caught up with says how old what
	// it lacks can be at most; with none, it is behind them all.
	behind := time.Duration(-1)
	for i := len(w.samples) - 1; i >= 0; i-- {
		if w.samples[i].lsn <= *replayed {
			behind = now.Sub(w.samples[i].at)
			if i == len(w.samples)-1 {
				behind = 0
			}
			break
		}
	}
	if behind < 0 {
		if len(w.samples) == 0 {
			w.setFresh(false, "lag")
			return
		}
		behind = now.Sub(w.samples[0].at)
	}
	w.lag.Set(behind.Seconds())
	w.setFresh(behind <= w.maxLag, "lag")
}

func (w *dbWatch) setFresh(ok bool, why string) {
	if !ok {
		w.why.Store(why)
	}
	if w.fresh.Swap(ok) != ok {
		if ok {
			w.log.Info("history reads go to the read replica")
		} else {
			w.log.Warn("history reads go to the primary", "reason", why)
		}
	}
}

// pick is api.Config.Reads: the replica while it is fresh, else the
// primary, counted.
func (w *dbWatch) pick(context.Context) *pgxpool.Pool {
	if w.fresh.Load() {
		w.reads.WithLabelValues("replica").Inc()
		return w.replica
	}
	w.reads.WithLabelValues("primary").Inc()
	w.fallbacks.WithLabelValues(w.why.Load().(string)).Inc()
	return w.primary
}

// connectRead opens the read replica's pool. It does not wait for the
// replica to answer: fleetd starts, and reads the primary, without it.
// Unless the connection string says otherwise, a standby is preferred
// among several hosts (target_session_attrs=prefer-standby).
func connectRead(conn string, maxConns int32) (*pgxpool.Pool, error) {
	cfg, err := pgxpool.ParseConfig(conn)
	if err != nil {
		return nil, usageError{fmt.Sprintf("--db-read: %v", err)}
	}
	if maxConns > 0 {
		cfg.MaxConns = maxConns
	}
	cfg.ConnConfig.RuntimeParams["application_name"] = "fleetd-read"
	if !strings.Contains(cfg.ConnString(), "target_session_attrs") {
		cfg.ConnConfig.ValidateConnect = pgconn.ValidateConnectTargetSessionAttrsPreferStandby
	}
	tuneForFailover(cfg)
	pool, err := pgxpool.NewWithConfig(context.Background(), cfg)
	if err != nil {
		return nil, fmt.Errorf("--db-read: %w", err)
	}
	return pool, nil
}

// startDBWatch opens --db-read (when given) and follows the databases
// until ctx ends. reads is nil without --db-read. The returned stop closes
// what it opened.
func startDBWatch(ctx context.Context, f readFlags, maxLag time.Duration, primary *pgxpool.Pool, maxConns int32,
	log *slog.Logger, reg prometheus.Registerer) (reads func(context.Context) *pgxpool.Pool, stop func(), err error) {
	var replica *pgxpool.Pool
	if f.db != "" {
		if replica, err = connectRead(f.db, maxConns); err != nil {
			return nil, nil, err
		}
	}
	w := newDBWatch(primary, replica, maxLag, log.With("component", "dbwatch"), reg)
	ctx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	wg.Go(func() { w.run(ctx) })
	stop = func() {
		cancel()
		wg.Wait()
		if replica != nil {
			replica.Close()
		}
	}
	if replica == nil {
		return nil, stop, nil
	}
	return w.pick, stop, nil
}
