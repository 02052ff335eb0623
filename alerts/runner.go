package alerts

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/prometheus/client_golang/prometheus"

	"fleetmon/track"
)

// RunnerConfig tunes the Runner. Zero values take the defaults.
type RunnerConfig struct {
	// Shards is the number of engines, each owned by one goroutine;
	// vehicles are spread over them by id. Default 2.
	Shards int
	// QueueLen bounds the commits (Committed calls) waiting per shard of a
	// single node's runner. When a shard's queue is full Committed blocks
	// the writer: alerts are never dropped, ingest pushes back instead.
	// Default 256.
	QueueLen int
	// StateEvery is how often each shard saves the state of the vehicles
	// that reported since the last save. A restart replays what came after
	// the last save, so this trades write volume (a vehicle's state with
	// 48 h of checkpoints is about 200 kB of JSON) for replay time.
	// Default 5 min.
	StateEvery time.Duration
	// CatchUpSlack widens the replay on start: positions received up to
	// this long before a vehicle's processed_until are replayed too (a
	// replay is harmless: episodes are upserted by id). Default 1 min.
	CatchUpSlack time.Duration
	// InitialReplay is, for a vehicle without saved state, how far back
	// (by received_at) its positions are replayed on start. Negative: not
	// at all. Default 48 h.
	InitialReplay time.Duration
	// ApprovalLookback is how long before a fix, in device time, a drive
	// under way at it may have started: the approvals that ended in it
	// are loaded with those covering the fix, so that an overrun names
	// its approval. It also sets the window of device time each vehicle's
	// approvals are loaded for (runner_approvals.go). Default 7 days.
	ApprovalLookback time.Duration
	// CheckpointEvery and Horizon are the engine's (see Config); 0 takes
	// the engine's defaults (30 min, 48 h).
	CheckpointEvery, Horizon time.Duration
	// DrainTimeout bounds the work after Run's context ends: processing
	// what is queued, storing episodes and saving state. Default 10 s.
	DrainTimeout time.Duration
	// QueryTimeout bounds one read of positions for a re-evaluation.
	// Default 30 s.
	QueryTimeout time.Duration
	// RetryMin and RetryMax bound the back-off while the database fails.
	// Defaults 100 ms and 5 s.
	RetryMin, RetryMax time.Duration
	// ReevaluateLead is how much data Reevaluate reads before and after
	// the period, so that a drive under way at its start is seen from its
	// beginning and an episode running past its end gets its end.
	// Default 6 h.
	ReevaluateLead time.Duration
	// Clock: see ClockConfig (runner_clock.go).
	Clock ClockConfig
}

func (c *RunnerConfig) defaults() {
	if c.Shards <= 0 {
		c.Shards = 2
	}
	if c.QueueLen <= 0 {
		c.QueueLen = 256
	}
	if c.StateEvery <= 0 {
		c.StateEvery = 5 * time.Minute
	}
	if c.CatchUpSlack <= 0 {
		c.CatchUpSlack = time.Minute
	}
	if c.InitialReplay == 0 {
		c.InitialReplay = 48 * time.Hour
	}
	if c.ApprovalLookback <= 0 {
		c.ApprovalLookback = 7 * 24 * time.Hour
	}
	if c.DrainTimeout <= 0 {
		c.DrainTimeout = 10 * time.Second
	}
	if c.QueryTimeout <= 0 {
		c.QueryTimeout = 30 * time.Second
	}
	if c.RetryMin <= 0 {
		c.RetryMin = 100 * time.Millisecond
	}
	if c.RetryMax <= 0 {
		c.RetryMax = 5 * time.Second
	}
	if c.ReevaluateLead <= 0 {
		c.ReevaluateLead = 6 * time.Hour
	}
	c.Clock.defaults()
}

// maxStepPositions bounds the positions one shard evaluates between two
// episode writes, so that a long queue is stored in bounded statements.
const maxStepPositions = 8192

// EpisodeListener is told what the rules decided: the episodes a write
// inserted or changed (opened, closed, changed or retracted; an upsert
// that changes nothing is left out), after they are stored. It is told by
// the shards' goroutines (concurrently, one call per shard at a time) and
// by an applied Reevaluate. It must not block: the shard waits for it,
// and on a single node the track writer waits for the shard. eps is the
// caller's and reused after the call returns.
type EpisodeListener interface {
	EpisodesChanged(eps []Episode)
}

// Runner runs the rules over committed positions: Run evaluates them with
// one Engine per shard, stores the episodes, tells its listeners, saves
// the engines' state, and on start replays what was committed after the
// saved state. Reload and Reevaluate serve configuration changes.
//
// A runner works in one of two modes (runner_modes.go), fixed when it is
// made: a single node's (NewRunner), fed the positions the track writer
// commits through Committed and writing straight to the store; or a
// cluster shard's (Cluster), reading its shard's positions from the
// database in commit order and writing only through the shard's lease.
//
// Committed, Reload and Reevaluate are safe for concurrent use; Run is
// called once.
type Runner struct {
	store  *Store
	cfg    RunnerConfig
	log    *slog.Logger
	m      *runnerMetrics
	shards []*shard
	tell   []EpisodeListener

	feed  feed        // where the positions come from
	write stateWriter // where episodes and state go
	// loaded is the configuration when the cluster read it once for all
	// its runners; nil: Run reads it.
	loaded *Loaded

	started  atomic.Bool
	stopped  chan struct{}
	reloadMu sync.Mutex
}

// NewRunner returns a single node's runner over store, fed through
// Committed; it tells what it decided to each of tell, in order. Metrics
// are registered on reg when it is not nil.
func NewRunner(store *Store, cfg RunnerConfig, log *slog.Logger, reg prometheus.Registerer, tell ...EpisodeListener) *Runner {
	r := newRunner(store, cfg, log, nil, tell, pushedFeed{}, plainWriter{store}, nil)
	r.m = newRunnerMetrics(reg, func() float64 {
		n := int64(0)
		for _, s := range r.shards {
			n += s.queued.Load()
		}
		return float64(n)
	})
	if reg != nil {
		reg.MustRegister(StatusMetrics(r.Status))
	}
	return r
}

// newRunner is a runner in the mode of feed and write, with the metrics m
// (shared by a cluster's runners) and, when not nil, the configuration
// loaded. Only a pushed feed gets queues.
func newRunner(store *Store, cfg RunnerConfig, log *slog.Logger, m *runnerMetrics, tell []EpisodeListener,
	feed feed, write stateWriter, loaded *Loaded) *Runner {
	cfg.defaults()
	r := &Runner{store: store, cfg: cfg, log: log, m: m, tell: tell, feed: feed, write: write, loaded: loaded,
		stopped: make(chan struct{})}
	r.shards = make([]*shard, cfg.Shards)
	for i := range r.shards {
		r.shards[i] = &shard{r: r, id: i, reload: make(chan *Loaded, 1), tick: make(chan tickRequest)}
		if feed.pushed() {
			r.shards[i].q = make(chan []track.Position, cfg.QueueLen)
		}
	}
	return r
}

func (r *Runner) shardOf(vehicleID int64) *shard {
	return r.shards[uint64(vehicleID)%uint64(len(r.shards))]
}

// told tells the listeners what was stored.
func (r *Runner) told(eps []Episode) {
	for _, l := range r.tell {
		l.EpisodesChanged(eps)
	}
}

// Committed hands committed positions to a single node's rules: the
// runner is the track writer's CommitListener. It copies what it needs
// (ps is the writer's and reused after the call) and returns once the
// copies are queued. When a shard's queue is full it blocks until there
// is room (counted in fleetmon_alerts_queue_full_total): alerts are never
// dropped while the runner runs. After Run has returned it drops them
// (counted); the next start replays them from the positions table.
func (r *Runner) Committed(ps []track.Position) {
	if len(ps) == 0 {
		return
	}
	if len(r.shards) == 1 {
		r.hand(r.shards[0], copyPositions(make([]track.Position, 0, len(ps)), ps))
		return
	}
	parts := make([][]track.Position, len(r.shards))
	for i := range ps {
		k := uint64(ps[i].VehicleID) % uint64(len(r.shards))
		parts[k] = copyPositions(parts[k], ps[i:i+1])
	}
	for k, b := range parts {
		if len(b) > 0 {
			r.hand(r.shards[k], b)
		}
	}
}

// copyPositions appends ps to dst without their additional items, which
// the rules do not read and whose bytes are the writer's.
func copyPositions(dst, ps []track.Position) []track.Position {
	n := len(dst)
	dst = append(dst, ps...)
	for i := n; i < len(dst); i++ {
		dst[i].Items = nil
	}
	return dst
}

func (r *Runner) hand(s *shard, b []track.Position) {
	select {
	case <-r.stopped:
		r.m.dropped.Add(float64(len(b)))
		return
	default:
	}
	s.queued.Add(int64(len(b)))
	// The wall clock here only dates the hand-over for Status (how long
	// positions wait to be judged); no verdict reads it.
	s.prog.hand(len(b), time.Now())
	select {
	case s.q <- b:
		return
	default:
	}
	r.m.queueFull.Inc()
	start := time.Now()
	select {
	case s.q <- b:
	case <-r.stopped:
		s.queued.Add(-int64(len(b)))
		s.prog.judge(len(b))
		r.m.dropped.Add(float64(len(b)))
	}
	r.m.blockedSeconds.Add(time.Since(start).Seconds())
}

// Run loads the configuration and the saved state, replays what was
// committed after it, then evaluates what the feed brings until ctx
// ends. Then it evaluates what is still queued, stores the episodes and
// saves the state, for at most DrainTimeout, and returns; unless ctx
// ended with the cause errAbandoned (a lease lost, or a crash in tests):
// then it returns at once, writing nothing more. While the database is
// unreachable it retries; it returns an error only when ctx ends before
// it could start.
//
// Shut down in data-flow order: stop the track writer first (its drain
// still hands over through Committed), then cancel Run's context and
// wait for it to return.
func (r *Runner) Run(ctx context.Context) error {
	if !r.started.CompareAndSwap(false, true) {
		return errors.New("alerts: runner started twice")
	}
	defer r.stop()
	// start bounds by arrival (received_at, the storing nodes' clocks) the
	// replay of vehicles without saved state (InitialReplay): which stored
	// positions a first start takes in, not how any position is judged.
	start := time.Now()
	l := r.loaded
	if l == nil {
		err := r.retry(ctx, "load", dbRetryable, func(ctx context.Context) error {
			var err error
			l, err = r.load(ctx)
			return err
		})
		if err != nil {
			return fmt.Errorf("alerts: start: %w", err)
		}
	}
	// A cluster logs its shards itself.
	single := r.feed.pushed()
	if single {
		r.log.Info("alerts runner starting", "shards", len(r.shards), "vehicles", len(l.Vehicles),
			"fences", l.Config.Fences.Len())
	}
	var wg sync.WaitGroup
	for _, s := range r.shards {
		wg.Go(func() { s.run(ctx, l, start) })
	}
	wg.Wait()
	if single {
		r.log.Info("alerts runner stopped")
	}
	return nil
}

// stop makes Committed drop from now on, and counts what is left queued
// as dropped: the next start replays it.
func (r *Runner) stop() {
	close(r.stopped)
	for _, s := range r.shards {
	left:
		for {
			select {
			case b := <-s.q:
				s.queued.Add(-int64(len(b)))
				s.prog.judge(len(b))
				r.m.dropped.Add(float64(len(b)))
			default:
				break left
			}
		}
	}
}

// load reads the configuration but the approvals, which the shards load
// per vehicle for the device times they judge.
func (r *Runner) load(ctx context.Context) (*Loaded, error) {
	l, err := r.store.LoadConfig(ctx, LoadOptions{NoApprovals: true})
	if err != nil {
		return nil, err
	}
	l.Config.CheckpointEvery, l.Config.Horizon = r.cfg.CheckpointEvery, r.cfg.Horizon
	return l, nil
}

// Reload reads the configuration again (after a calendar, fence,
// parameter, approval or vehicle was edited) and hands it to the engines,
// which apply it between two steps. Positions evaluated already keep their
// verdicts; use Reevaluate to revise a period.
func (r *Runner) Reload(ctx context.Context) error {
	l, err := r.load(ctx)
	if err != nil {
		return fmt.Errorf("alerts: reload: %w", err)
	}
	r.give(l)
	return nil
}

// give hands a loaded configuration to the engines.
func (r *Runner) give(l *Loaded) {
	r.reloadMu.Lock()
	defer r.reloadMu.Unlock()
	for _, s := range r.shards {
		select {
		case <-s.reload: // replaced by the newer one
		default:
		}
		s.reload <- l
	}
}

// sourceError marks a failed read of positions, which is worth retrying.
type sourceError struct{ err error }

func (e *sourceError) Error() string { return e.err.Error() }
func (e *sourceError) Unwrap() error { return e.err }

// retry runs f until it succeeds, fails for good (ok says which errors
// are worth retrying), or ctx ends, backing off between attempts.
func (r *Runner) retry(ctx context.Context, op string, ok func(error) bool, f func(context.Context) error) error {
	wait := r.cfg.RetryMin
	for attempt := 1; ; attempt++ {
		// Each attempt has a deadline of its own: a primary that hangs
		// answers nothing, and the next attempt finds the new one.
		actx, cancel := context.WithTimeout(ctx, r.cfg.QueryTimeout)
		err := f(actx)
		cancel()
		if err == nil {
			return nil
		}
		if !errors.Is(err, ErrTooLate) {
			r.m.errors.WithLabelValues(op).Inc()
		}
		if !ok(err) || ctx.Err() != nil {
			return err
		}
		if attempt == 1 || attempt%10 == 0 {
			r.log.Warn("alerts: database operation failed, retrying", "op", op, "attempt", attempt, "retry_in", wait, "err", err)
		}
		select {
		case <-time.After(wait):
		case <-ctx.Done():
			return err
		}
		wait = min(wait*2, r.cfg.RetryMax)
	}
}

// dbRetryable reports whether a database error may go away: a connection
// or server condition (SQLSTATE classes 08, 40, 53, 57, 58), a timeout, or
// an error from below the protocol. Refused data and bad statements are
// not retried.
func dbRetryable(err error) bool {
	if errors.Is(err, context.Canceled) || errors.Is(err, errLeaseLost) {
		return false
	}
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		switch pgErr.Code[:min(2, len(pgErr.Code))] {
		case "08", "40", "53", "57", "58":
			return true
		}
		return false
	}
	return true
}

// engineRetryable reports whether an engine error is a failed read of
// positions that may go away; other engine errors are about the data.
func engineRetryable(err error) bool {
	var se *sourceError
	return errors.As(err, &se) && dbRetryable(se.err)
}
