package alerts

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
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
	// QueueLen bounds the commits (OnCommit calls) waiting per shard. When
	// a shard's queue is full OnCommit blocks the writer: alerts are never
	// dropped, ingest pushes back instead. Default 256.
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
	// ApprovalLookback: approvals that ended longer ago than this are not
	// loaded for live evaluation (Reevaluate loads its period's). It must
	// cover Horizon. Default 7 days.
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

// Runner runs the rules over the positions the track writer commits:
// OnCommit hands them over, Run evaluates them with one Engine per shard,
// stores the episodes and saves the engines' state, and on start replays
// what was committed after the saved state. Reload and Reevaluate serve
// configuration changes.
//
// OnCommit, Reload and Reevaluate are safe for concurrent use; Run is
// called once.
type Runner struct {
	store  *Store
	cfg    RunnerConfig
	log    *slog.Logger
	m      *runnerMetrics
	shards []*shard

	started  atomic.Bool
	stopped  chan struct{}
	reloadMu sync.Mutex

	// OnEpisodes, when set (before Run), is called with the episodes each
	// committed write inserted or changed (opened, closed, changed or
	// retracted; an upsert that changes nothing is left out), after they
	// are stored: by Run's shard goroutines (concurrently, one call per
	// shard at a time) and by an applied Reevaluate. It must not block for
	// long: the shard waits for it. The slice is the runner's and reused
	// after the call.
	OnEpisodes func([]Episode)

	// crash makes Run return at once when its context ends, without
	// draining or saving state: a crash (for tests), or a lease lost.
	crash bool
	// part, when not nil, confines the runner to one shard of a cluster
	// (cluster.go); nil: a single node, fed by OnCommit.
	part *partition
}

type runnerMetrics struct {
	queued         prometheus.GaugeFunc
	queueFull      prometheus.Counter
	blockedSeconds prometheus.Counter
	dropped        prometheus.Counter
	positions      *prometheus.CounterVec
	late           prometheus.Counter
	tooLate        prometheus.Counter
	unknown        prometheus.Counter
	episodes       *prometheus.CounterVec
	rowsWritten    prometheus.Counter
	statesSaved    prometheus.Counter
	errors         *prometheus.CounterVec
	stepSeconds    prometheus.Histogram
}

// NewRunner returns a runner over store. Metrics are registered on reg
// when it is not nil.
func NewRunner(store *Store, cfg RunnerConfig, log *slog.Logger, reg prometheus.Registerer) *Runner {
	r := newRunner(store, cfg, log, nil)
	r.m = newRunnerMetrics(reg, func() float64 {
		n := int64(0)
		for _, s := range r.shards {
			n += s.queued.Load()
		}
		return float64(n)
	})
	return r
}

// newRunner is NewRunner with the metrics m (shared by a cluster's
// runners).
func newRunner(store *Store, cfg RunnerConfig, log *slog.Logger, m *runnerMetrics) *Runner {
	cfg.defaults()
	r := &Runner{store: store, cfg: cfg, log: log, m: m, stopped: make(chan struct{})}
	r.shards = make([]*shard, cfg.Shards)
	for i := range r.shards {
		r.shards[i] = &shard{r: r, id: i, q: make(chan []track.Position, cfg.QueueLen), reload: make(chan *Loaded, 1),
			tick: make(chan tickRequest)}
	}
	return r
}

// newRunnerMetrics returns the runners' metrics, registered on reg when
// it is not nil; queued reports the positions waiting.
func newRunnerMetrics(reg prometheus.Registerer, queued func() float64) *runnerMetrics {
	m := &runnerMetrics{
		queueFull: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "fleetmon_alerts_queue_full_total",
			Help: "Hand-overs from the track writer that found a shard's queue full and blocked the writer.",
		}),
		blockedSeconds: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "fleetmon_alerts_queue_blocked_seconds_total",
			Help: "Time the track writer spent blocked on a full alerts queue.",
		}),
		dropped: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "fleetmon_alerts_dropped_positions_total",
			Help: "Positions handed over after the runner stopped; the next start replays them from the database.",
		}),
		positions: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "fleetmon_alerts_positions_total",
			Help: "Positions evaluated, by path: live (handed over on commit) or catch_up (replayed on start).",
		}, []string{"path"}),
		late: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "fleetmon_alerts_late_positions_total",
			Help: "Positions older than their vehicle's last evaluated one (blind-zone back-fills), which cause a re-evaluation.",
		}),
		tooLate: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "fleetmon_alerts_too_late_positions_total",
			Help: "Positions older than the re-evaluation horizon, not evaluated.",
		}),
		unknown: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "fleetmon_alerts_unknown_vehicle_positions_total",
			Help: "Positions of vehicles not in the vehicles table, not evaluated.",
		}),
		episodes: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "fleetmon_alerts_episodes_emitted_total",
			Help: "Episode emissions by the engines (an episode is emitted when it opens, closes, changes or is retracted), by status.",
		}, []string{"status"}),
		rowsWritten: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "fleetmon_alerts_episode_rows_written_total",
			Help: "Episode rows inserted or changed (an upsert that changes nothing is not counted).",
		}),
		statesSaved: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "fleetmon_alerts_states_saved_total",
			Help: "Vehicle engine states saved.",
		}),
		errors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "fleetmon_alerts_errors_total",
			Help: "Failed operations, by operation; database failures are retried.",
		}, []string{"op"}),
		stepSeconds: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "fleetmon_alerts_step_seconds",
			Help:    "Time to evaluate one step of queued positions and store its episodes.",
			Buckets: prometheus.ExponentialBuckets(0.0005, 2, 16),
		}),
	}
	m.queued = prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "fleetmon_alerts_queue_positions",
		Help: "Positions handed over and waiting for the rules.",
	}, queued)
	if reg != nil {
		reg.MustRegister(m.queued, m.queueFull, m.blockedSeconds, m.dropped, m.positions, m.late, m.tooLate,
			m.unknown, m.episodes, m.rowsWritten, m.statesSaved, m.errors, m.stepSeconds)
	}
	return m
}

func (r *Runner) shardOf(vehicleID int64) *shard {
	return r.shards[uint64(vehicleID)%uint64(len(r.shards))]
}

// OnCommit hands committed positions to the rules; plug it into
// track.Writer.OnCommit. It copies what it needs (ps is the writer's and
// reused after the call) and returns once the copies are queued. When a
// shard's queue is full it blocks until there is room (counted in
// fleetmon_alerts_queue_full_total): alerts are never dropped while the
// runner runs. After Run has returned it drops them (counted); the next
// start replays them from the positions table.
func (r *Runner) OnCommit(ps []track.Position) {
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
		r.m.dropped.Add(float64(len(b)))
	}
	r.m.blockedSeconds.Add(time.Since(start).Seconds())
}

// Run loads the configuration and the saved state, replays what was
// committed after it, then evaluates what OnCommit hands over until ctx
// ends. Then it evaluates what is still queued, stores the episodes and
// saves the state, for at most DrainTimeout, and returns. While the
// database is unreachable it retries; it returns an error only when ctx
// ends before it could start.
//
// Shut down in data-flow order: stop the track writer first (its drain
// still hands over through OnCommit), then cancel Run's context and wait
// for it to return.
func (r *Runner) Run(ctx context.Context) error {
	if !r.started.CompareAndSwap(false, true) {
		return errors.New("alerts: runner started twice")
	}
	defer r.stop()
	start := time.Now()
	var l *Loaded
	err := r.retry(ctx, "load", dbRetryable, func(ctx context.Context) error {
		if r.part != nil && r.part.loaded != nil {
			l = r.part.loaded // the cluster read it once for all its runners
			return nil
		}
		var err error
		l, err = r.load(ctx, start)
		return err
	})
	if err != nil {
		return fmt.Errorf("alerts: start: %w", err)
	}
	if r.part == nil {
		r.log.Info("alerts runner starting", "shards", len(r.shards), "vehicles", len(l.Vehicles),
			"fences", l.Config.Fences.Len())
	}
	var wg sync.WaitGroup
	for _, s := range r.shards {
		wg.Go(func() { s.run(ctx, l, start) })
	}
	wg.Wait()
	if r.part == nil {
		r.log.Info("alerts runner stopped")
	}
	return nil
}

// stop makes OnCommit drop from now on, and counts what is left queued
// as dropped: the next start replays it.
func (r *Runner) stop() {
	close(r.stopped)
	for _, s := range r.shards {
	left:
		for {
			select {
			case b := <-s.q:
				s.queued.Add(-int64(len(b)))
				r.m.dropped.Add(float64(len(b)))
			default:
				break left
			}
		}
	}
}

func (r *Runner) load(ctx context.Context, now time.Time) (*Loaded, error) {
	l, err := r.store.LoadConfig(ctx, LoadOptions{ApprovalsFrom: now.Add(-r.cfg.ApprovalLookback)})
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
	l, err := r.load(ctx, time.Now())
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
		err := f(ctx)
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

// shard is one engine and the goroutine that owns it.
type shard struct {
	r      *Runner
	id     int
	q      chan []track.Position
	queued atomic.Int64
	reload chan *Loaded
	tick   chan tickRequest

	// Owned by the shard's goroutine.
	eng     *Engine
	src     *dbSource
	dirty   map[int64]time.Time // vehicle → latest Received evaluated, since the last save
	failed  map[int64]bool      // vehicles whose evaluation was cut short: their state is not saved
	pending []Episode
	notify  []Episode
	out     []Episode
	step    []track.Position
	// cursor, in cluster mode: every position of the shard's vehicles
	// committed by a transaction below it has been evaluated.
	cursor int64
}

func (s *shard) owns(vehicleID int64) bool {
	if p := s.r.part; p != nil && uint64(vehicleID)%uint64(p.shards) != uint64(p.shard) {
		return false
	}
	return s.r.shardOf(vehicleID) == s
}

func (s *shard) run(ctx context.Context, l *Loaded, start time.Time) {
	r := s.r
	s.src = &dbSource{store: r.store, ctx: ctx, timeout: r.cfg.QueryTimeout}
	s.dirty, s.failed = map[int64]time.Time{}, map[int64]bool{}
	eng, err := NewEngine(l.Config, s.src)
	if err != nil {
		// LoadConfig always sets Calendars and Policy: a defect.
		panic("alerts: engine for loaded config: " + err.Error())
	}
	s.eng = eng
	for _, v := range l.Vehicles {
		if s.owns(v.ID) {
			eng.SetVehicle(v)
		}
	}
	var poll <-chan time.Time
	if r.part != nil {
		// The feed: what any node commits, read back in commit order.
		err := r.retry(ctx, "feed", dbRetryable, func(ctx context.Context) error {
			var err error
			s.cursor, err = r.store.feedHorizon(ctx)
			return err
		})
		if err != nil {
			return // ctx ended
		}
		t := time.NewTicker(r.part.poll)
		defer t.Stop()
		poll = t.C
	}
	s.catchUp(ctx, l.Vehicles, start)
	s.clockTick(ctx, r.cfg.Clock.Now())

	tick := time.NewTicker(r.cfg.StateEvery)
	defer tick.Stop()
	clock := time.NewTicker(r.cfg.Clock.Every)
	defer clock.Stop()
	for {
		select {
		case <-poll:
			s.pollFeed(ctx)
		case <-clock.C:
			s.clockTick(ctx, r.cfg.Clock.Now())
		case req := <-s.tick:
			s.clockTick(ctx, req.now)
			close(req.done)
		case b := <-s.q:
			s.take(b)
			s.collect()
			s.evaluate(ctx, s.step, "live")
		case nl := <-s.reload:
			s.apply(nl)
		case <-tick.C:
			s.saveStates(ctx)
		case <-ctx.Done():
			if r.crash {
				return
			}
			s.drain()
			return
		}
	}
}

func (s *shard) take(b []track.Position) {
	s.queued.Add(-int64(len(b)))
	s.step = append(s.step, b...)
}

// collect adds what is queued to the step without waiting.
func (s *shard) collect() {
	for len(s.step) < maxStepPositions {
		select {
		case b := <-s.q:
			s.take(b)
		default:
			return
		}
	}
}

// drain evaluates what is queued, stores episodes and saves state, for at
// most DrainTimeout, after Run's context ended.
func (s *shard) drain() {
	ctx, cancel := context.WithTimeout(context.Background(), s.r.cfg.DrainTimeout)
	defer cancel()
	s.src.ctx = ctx
	for ctx.Err() == nil {
		s.collect()
		if len(s.step) == 0 {
			break
		}
		s.evaluate(ctx, s.step, "live")
	}
	s.saveStates(ctx)
}

func (s *shard) apply(l *Loaded) {
	if err := s.eng.SetConfig(l.Config); err != nil {
		s.r.log.Error("alerts: reload", "err", err)
		return
	}
	for _, v := range l.Vehicles {
		if s.owns(v.ID) {
			s.eng.SetVehicle(v)
		}
	}
}

// evaluate runs the rules over ps (the shard's own; it is reordered and
// emptied) and stores the episodes.
func (s *shard) evaluate(ctx context.Context, ps []track.Position, path string) {
	t0 := time.Now()
	slices.SortStableFunc(ps, func(a, b track.Position) int {
		if c := cmp.Compare(a.VehicleID, b.VehicleID); c != 0 {
			return c
		}
		if c := a.Time.Compare(b.Time); c != 0 {
			return c
		}
		return cmp.Compare(a.FixHash(), b.FixHash())
	})
	for i := 0; i < len(ps); {
		j := i + 1
		for j < len(ps) && ps[j].VehicleID == ps[i].VehicleID {
			j++
		}
		s.vehicle(ctx, ps[i:j])
		i = j
	}
	s.r.m.positions.WithLabelValues(path).Add(float64(len(ps)))
	s.flush(ctx)
	clear(ps)
	s.step = ps[:0]
	s.r.m.stepSeconds.Observe(time.Since(t0).Seconds())
}

// vehicle evaluates one vehicle's positions, sorted by device time. Those
// older than the vehicle's last evaluated fix (back-fills) are stored
// already, so one re-evaluation from the oldest of them takes them all in;
// the rest are fed in order.
func (s *shard) vehicle(ctx context.Context, ps []track.Position) {
	r := s.r
	vid := ps[0].VehicleID
	if _, ok := s.eng.Vehicle(vid); !ok && !s.lookup(ctx, vid) {
		r.m.unknown.Add(float64(len(ps)))
		return
	}
	late := 0
	if last, ok := s.eng.LastTime(vid); ok {
		for late < len(ps) && ps[late].Time.Before(last) {
			late++
		}
	}
	if late > 0 {
		r.m.late.Add(float64(late))
		err := r.retry(ctx, "feed", engineRetryable, func(context.Context) error {
			out, err := s.eng.Reevaluate(s.out[:0], vid, ps[0].Time)
			s.out = out
			return err
		})
		switch {
		case err == nil:
			s.emit(s.out)
		case errors.Is(err, ErrTooLate):
			// The oldest is out of reach; the others may not be.
			for i := range ps[:late] {
				if !s.feed(ctx, &ps[i]) {
					return
				}
			}
		default:
			s.fail(vid, "re-evaluate", err)
			return
		}
	}
	for i := late; i < len(ps); i++ {
		if !s.feed(ctx, &ps[i]) {
			return
		}
	}
	until := s.dirty[vid]
	for i := range ps {
		if ps[i].Received.After(until) {
			until = ps[i].Received
		}
	}
	s.dirty[vid] = until
}

// feed evaluates one position and reports whether the vehicle can go on.
func (s *shard) feed(ctx context.Context, p *track.Position) bool {
	r := s.r
	err := r.retry(ctx, "feed", engineRetryable, func(context.Context) error {
		out, err := s.eng.Feed(s.out[:0], p)
		s.out = out
		return err
	})
	switch {
	case err == nil:
		s.emit(s.out)
	case errors.Is(err, ErrTooLate):
		r.m.tooLate.Inc()
		r.log.Debug("alerts: position too late to evaluate", "vehicle_id", p.VehicleID, "device_time", p.Time)
	default:
		s.fail(p.VehicleID, "feed", err)
		return false
	}
	return true
}

// fail notes that a vehicle's evaluation was cut short (the context
// ended while the database failed, or the engine refused its state): its
// state is not saved, so the next start replays it.
func (s *shard) fail(vid int64, what string, err error) {
	s.failed[vid] = true
	s.r.log.Error("alerts: evaluation cut short; the next start replays it", "vehicle_id", vid, "op", what, "err", err)
}

func (s *shard) emit(eps []Episode) {
	for i := range eps {
		s.r.m.episodes.WithLabelValues(string(eps[i].Status)).Inc()
	}
	s.pending = append(s.pending, eps...)
}

// lookup registers a vehicle that was not in the vehicles table when the
// configuration was loaded.
func (s *shard) lookup(ctx context.Context, vid int64) bool {
	var vs []track.Vehicle
	err := s.r.retry(ctx, "lookup_vehicle", dbRetryable, func(ctx context.Context) error {
		var err error
		vs, err = s.r.store.Vehicles(ctx, vid)
		return err
	})
	if err != nil || len(vs) == 0 {
		return false
	}
	s.eng.SetVehicle(vs[0])
	return true
}

// flush stores the pending episodes. When the database rejects the batch,
// they are stored one by one so that only the offending ones are lost
// (and logged).
func (s *shard) flush(ctx context.Context) {
	if len(s.pending) == 0 {
		return
	}
	r := s.r
	var written []string
	store := func(eps []Episode) error {
		return r.retry(ctx, "store_episodes", dbRetryable, func(ctx context.Context) error {
			ids, err := r.upsertEpisodes(ctx, eps)
			r.m.rowsWritten.Add(float64(len(ids)))
			written = append(written, ids...)
			return err
		})
	}
	err := store(s.pending)
	if err != nil && ctx.Err() == nil && !errors.Is(err, errLeaseLost) {
		for i := range s.pending {
			if err1 := store(s.pending[i : i+1]); err1 != nil {
				r.log.Error("alerts: episode rejected by the database", "episode", s.pending[i].ID,
					"vehicle_id", s.pending[i].VehicleID, "rule", s.pending[i].Rule, "err", err1)
			}
		}
		err = nil
	}
	if err != nil {
		for i := range s.pending {
			s.failed[s.pending[i].VehicleID] = true
		}
		r.log.Error("alerts: episodes not stored; the next start replays them", "episodes", len(s.pending), "err", err)
	}
	if r.OnEpisodes != nil && len(written) > 0 {
		s.notify = pickWritten(s.notify[:0], s.pending, written)
		r.OnEpisodes(s.notify)
		clear(s.notify)
	}
	clear(s.pending)
	s.pending = s.pending[:0]
}

// pickWritten appends to dst the last of eps with each id in written.
func pickWritten(dst, eps []Episode, written []string) []Episode {
	want := make(map[string]bool, len(written))
	for _, id := range written {
		want[id] = true
	}
	for i := len(eps) - 1; i >= 0; i-- {
		if want[eps[i].ID] {
			want[eps[i].ID] = false
			dst = append(dst, eps[i])
		}
	}
	slices.Reverse(dst)
	return dst
}

// saveStates saves the state of the vehicles evaluated since the last
// save (their episodes are stored by then).
func (s *shard) saveStates(ctx context.Context) {
	if len(s.dirty) == 0 {
		return
	}
	sts := make([]SavedState, 0, len(s.dirty))
	for vid, until := range s.dirty {
		if s.failed[vid] {
			continue
		}
		b, ok, err := s.eng.MarshalVehicle(vid)
		if err != nil || !ok {
			s.r.log.Error("alerts: vehicle state does not marshal", "vehicle_id", vid, "err", err)
			continue
		}
		sts = append(sts, SavedState{VehicleID: vid, State: b, ProcessedUntil: until, ProcessedXID: s.cursor})
	}
	if err := s.r.saveStates(ctx, sts); err != nil {
		s.r.m.errors.WithLabelValues("save_state").Inc()
		s.r.log.Warn("alerts: save engine state", "vehicles", len(sts), "err", err)
		return // the next tick tries again
	}
	s.r.m.statesSaved.Add(float64(len(sts)))
	clear(s.dirty)
}

// catchUp restores the saved state of the shard's vehicles and replays
// the positions received after it (a vehicle without state: those
// received in the last InitialReplay).
func (s *shard) catchUp(ctx context.Context, vehicles []track.Vehicle, start time.Time) {
	r := s.r
	horizon := s.eng.cfg.Horizon
	nv, np := 0, 0
	for _, v := range vehicles {
		if !s.owns(v.ID) || ctx.Err() != nil {
			continue
		}
		var (
			st SavedState
			ok bool
		)
		err := r.retry(ctx, "catch_up", dbRetryable, func(ctx context.Context) error {
			var err error
			st, ok, err = r.store.State(ctx, v.ID)
			return err
		})
		if err != nil {
			s.fail(v.ID, "catch up", err)
			continue
		}
		if ok {
			if err := s.eng.RestoreVehicle(v.ID, st.State); err != nil {
				r.log.Warn("alerts: saved state not usable; replaying as if none", "vehicle_id", v.ID, "err", err)
				ok = false
			}
		}
		// received bounds the replay by arrival (the wall clock of the
		// nodes that stored the rows); device only by the device times
		// the engine can still take (Horizon behind the vehicle's last
		// fix). A vehicle without state has no last fix: its replay is
		// bounded by arrival alone, because a report received yesterday
		// may have been made a fortnight or a year ago (a blind-zone
		// back-fill, a terminal offline for weeks) and must be judged
		// all the same.
		var received, device time.Time
		switch {
		case ok:
			received = st.ProcessedUntil.Add(-r.cfg.CatchUpSlack)
			if last, has := s.eng.LastTime(v.ID); has {
				device = last.Add(-horizon)
			}
		case r.cfg.InitialReplay > 0:
			received = start.Add(-r.cfg.InitialReplay)
		default:
			continue
		}
		var ps []track.Position
		err = r.retry(ctx, "catch_up", dbRetryable, func(ctx context.Context) error {
			var err error
			ps, err = r.store.positionsReceivedAfter(ctx, v.ID, received, device, st.ProcessedXID, s.cursor)
			return err
		})
		if err != nil {
			s.fail(v.ID, "catch up", err)
			continue
		}
		if len(ps) == 0 {
			continue
		}
		nv++
		np += len(ps)
		s.step = append(s.step[:0], ps...)
		s.evaluate(ctx, s.step, "catch_up")
	}
	if np > 0 {
		r.log.Info("alerts: caught up", "shard", s.id, "vehicles", nv, "positions", np)
	}
}
