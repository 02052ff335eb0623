package track

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"
)

// WriterConfig tunes the batch writer. Zero values take the defaults.
type WriterConfig struct {
	// Workers is the number of writer goroutines, each with its own
	// connection. Requests are sharded by terminal, so one terminal's
	// reports are written in order by one worker. Default 2.
	Workers int
	// MaxBatchRows bounds the rows (positions + frames) of one transaction.
	// Default 4000.
	MaxBatchRows int
	// Linger is how long a worker waits for more requests when it finds few
	// queued (under MaxBatchRows/8), trading a little latency for bigger
	// batches. Negative: never wait. Default 1 ms.
	Linger time.Duration
	// QueueLen bounds the requests waiting per worker. When it is full,
	// Write and Record block: sessions stop reading and TCP pushes back on
	// the terminals, which keep their reports. Default 4096.
	QueueLen int
	// RetryMin and RetryMax bound the back-off between attempts while the
	// database is unreachable. Defaults 100 ms and 1 s: after a failover
	// the writer finds the new primary within a second of its promotion.
	RetryMin, RetryMax time.Duration
	// AttemptTimeout bounds one write attempt: getting a connection and
	// writing and committing the batch. A primary that hangs (a frozen
	// machine, a partition) keeps its connections open and silent; without
	// a deadline the attempt would wait for the kernel, minutes. When it
	// expires the connection is dropped and the batch retried (it is
	// idempotent, so a commit whose reply was lost is stored once).
	// Default 5 s, far above a batch's usual tens of milliseconds.
	AttemptTimeout time.Duration
	// PartitionCheck is how often the writer makes sure the partitions of the
	// current and next month exist. Default 1 h.
	PartitionCheck time.Duration
}

func (c *WriterConfig) defaults() {
	if c.Workers <= 0 {
		c.Workers = 2
	}
	if c.MaxBatchRows <= 0 {
		c.MaxBatchRows = 4000
	}
	if c.Linger == 0 {
		c.Linger = time.Millisecond
	}
	if c.QueueLen <= 0 {
		c.QueueLen = 4096
	}
	if c.RetryMin <= 0 {
		c.RetryMin = 100 * time.Millisecond
	}
	if c.RetryMax <= 0 {
		c.RetryMax = time.Second
	}
	if c.AttemptTimeout <= 0 {
		c.AttemptTimeout = 5 * time.Second
	}
	if c.PartitionCheck <= 0 {
		c.PartitionCheck = time.Hour
	}
}

// ErrWriterClosed is returned for requests made after the writer stopped.
var ErrWriterClosed = errors.New("track: writer stopped")

// ErrRejected wraps the database's error for a request whose data the
// database refuses (a constraint or data error): retrying cannot help.
var ErrRejected = errors.New("track: rows rejected by the database")

// Writer stores positions and raw frames in batches, each batch in one
// statement (writeBatch) whose INSERTs take ON CONFLICT DO NOTHING, so a
// report written twice (a terminal resend, or a retried batch whose commit
// reply was lost) is stored once. Write returns only after the transaction
// holding its rows committed.
//
// What it does is told to the listeners given to NewWriter: the positions
// Write is about to queue (QueueListener: the live map), and those each
// commit stored (CommitListener: the rules, or the relay to the other
// nodes).
//
// While the database is unreachable the writer retries the same batch with
// back-off; it never drops a request. Memory is bounded by QueueLen requests
// per worker.
type Writer struct {
	pool      *pgxpool.Pool
	cfg       WriterConfig
	log       *slog.Logger
	queues    []chan *request
	metrics   *writerMetrics
	queued    QueueListener
	committed CommitListener

	partMu sync.Mutex
	parts  map[partKey]bool

	stopOnce sync.Once
	stopped  chan struct{}
}

type partKey struct {
	table string
	month time.Time
}

type request struct {
	positions []Position
	frames    []RawFrame
	// done receives the outcome when the caller waits; nil for Record.
	done chan error
}

func (r *request) rows() int { return len(r.positions) + len(r.frames) }

type writerMetrics struct {
	batchRows     prometheus.Histogram
	batchSeconds  prometheus.Histogram
	rows          *prometheus.CounterVec
	duplicates    prometheus.Counter
	errors        *prometheus.CounterVec
	queueRequests prometheus.GaugeFunc
}

// QueueListener is told the positions Write is about to queue, before
// they are committed and whether or not they are duplicates: the live
// map's path, which must not wait for the database. (A report whose commit
// fails is not acknowledged; its terminal sends it again.) It is told on
// the caller's goroutine (a terminal's session) and must not block, nor
// keep ps.
type QueueListener interface {
	Queued(ps []Position)
}

// CommitListener is told, by a writer goroutine after each commit and
// after the batch's connection is released, the positions the commit
// stored (new ones, not duplicates). The next batch of that goroutine
// waits for it, and with it the terminals whose reports it holds: it must
// not block for long. ps is reused after the call returns.
type CommitListener interface {
	Committed(ps []Position)
}

// WriterOption configures a writer.
type WriterOption func(*Writer)

// TellQueued makes the writer tell l what Write is about to queue.
func TellQueued(l QueueListener) WriterOption { return func(w *Writer) { w.queued = l } }

// TellCommitted makes the writer tell l what each commit stored.
func TellCommitted(l CommitListener) WriterOption { return func(w *Writer) { w.committed = l } }

// NewWriter returns a writer on pool. Call Run to start it. Metrics are
// registered on reg when it is not nil.
func NewWriter(pool *pgxpool.Pool, cfg WriterConfig, log *slog.Logger, reg prometheus.Registerer, opts ...WriterOption) *Writer {
	cfg.defaults()
	w := &Writer{
		pool:    pool,
		cfg:     cfg,
		log:     log,
		parts:   map[partKey]bool{},
		stopped: make(chan struct{}),
	}
	for _, o := range opts {
		o(w)
	}
	w.queues = make([]chan *request, cfg.Workers)
	for i := range w.queues {
		w.queues[i] = make(chan *request, cfg.QueueLen)
	}
	m := &writerMetrics{
		batchRows: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "fleetmon_track_write_batch_rows",
			Help:    "Rows (positions and frames) per committed write transaction.",
			Buckets: prometheus.ExponentialBuckets(1, 4, 8),
		}),
		batchSeconds: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "fleetmon_track_write_batch_seconds",
			Help:    "Time to write and commit one batch.",
			Buckets: prometheus.ExponentialBuckets(0.0005, 2, 16),
		}),
		rows: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "fleetmon_track_rows_written_total",
			Help: "Rows committed, by table (duplicates excluded for positions).",
		}, []string{"table"}),
		duplicates: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "fleetmon_track_duplicate_positions_total",
			Help: "Positions not stored because the same vehicle and device time was already stored (terminal resends).",
		}),
		errors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "fleetmon_track_write_errors_total",
			Help: "Failed write attempts, by kind: transient (retried) or rejected (returned to the caller).",
		}, []string{"kind"}),
	}
	m.queueRequests = prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "fleetmon_track_write_queue_requests",
		Help: "Write requests waiting in the writer's queues.",
	}, func() float64 {
		n := 0
		for _, q := range w.queues {
			n += len(q)
		}
		return float64(n)
	})
	w.metrics = m
	if reg != nil {
		reg.MustRegister(m.batchRows, m.batchSeconds, m.rows, m.duplicates, m.errors, m.queueRequests)
	}
	return w
}

// Write queues positions and frames for terminal shard key and waits until
// they are committed. It returns ctx's error if ctx ends first: the rows stay
// queued and are written anyway (a later resend is then a duplicate). The
// writer owns the slices once Write is called.
func (w *Writer) Write(ctx context.Context, shard int64, positions []Position, frames []RawFrame) error {
	r := &request{positions: positions, frames: frames, done: make(chan error, 1)}
	if w.queued != nil && len(positions) > 0 {
		w.queued.Queued(positions)
	}
	if err := w.enqueue(ctx, shard, r); err != nil {
		return err
	}
	select {
	case err := <-r.done:
		return err
	case <-ctx.Done():
		return ctx.Err()
	case <-w.stopped:
		return ErrWriterClosed
	}
}

// Record queues frames without waiting for their commit. It blocks only
// while the queue is full.
func (w *Writer) Record(ctx context.Context, shard int64, frames ...RawFrame) error {
	return w.enqueue(ctx, shard, &request{frames: frames})
}

func (w *Writer) enqueue(ctx context.Context, shard int64, r *request) error {
	q := w.queues[uint64(shard)%uint64(len(w.queues))]
	select {
	case q <- r:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	case <-w.stopped:
		return ErrWriterClosed
	}
}

// Run writes until ctx ends, then drains what is queued for at most drain
// (the database permitting) and returns.
func (w *Writer) Run(ctx context.Context, drain time.Duration) error {
	w.ensureCurrentPartitions(ctx)
	var wg sync.WaitGroup
	for i, q := range w.queues {
		wg.Add(1)
		go func(i int, q chan *request) {
			defer wg.Done()
			w.work(ctx, drain, i, q)
		}(i, q)
	}
	tick := time.NewTicker(w.cfg.PartitionCheck)
	defer tick.Stop()
	go func() {
		for {
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
				w.ensureCurrentPartitions(ctx)
			}
		}
	}()
	wg.Wait()
	w.stopOnce.Do(func() { close(w.stopped) })
	return nil
}

func (w *Writer) ensureCurrentPartitions(ctx context.Context) {
	ctx, cancel := context.WithTimeout(ctx, 4*w.cfg.AttemptTimeout)
	defer cancel()
	now := time.Now()
	for _, t := range []time.Time{now, now.AddDate(0, 1, 0)} {
		for _, table := range []string{"positions", "raw_frames"} {
			if err := w.ensurePartition(ctx, table, t); err != nil && ctx.Err() == nil {
				w.log.Warn("ensure partition", "table", table, "month", t.Format("2006-01"), "err", err)
			}
		}
	}
}

func monthOf(t time.Time) time.Time {
	t = t.UTC()
	return time.Date(t.Year(), t.Month(), 1, 0, 0, 0, 0, time.UTC)
}

// ensurePartition creates the month partition of table holding t, in its
// own short transaction (creating a partition locks the parent table, so it
// must not sit inside a long write transaction).
func (w *Writer) ensurePartition(ctx context.Context, table string, t time.Time) error {
	k := partKey{table, monthOf(t)}
	w.partMu.Lock()
	known := w.parts[k]
	w.partMu.Unlock()
	if known {
		return nil
	}
	if _, err := w.pool.Exec(ctx, "SELECT ensure_month_partition($1::regclass, $2)", table, k.month); err != nil {
		return fmt.Errorf("ensure partition of %s for %s: %w", table, k.month.Format("2006-01"), err)
	}
	w.partMu.Lock()
	w.parts[k] = true
	w.partMu.Unlock()
	return nil
}

func (w *Writer) work(ctx context.Context, drain time.Duration, id int, q chan *request) {
	b := &batch{}
	for {
		var first *request
		select {
		case first = <-q:
		case <-ctx.Done():
			w.drain(drain, q, b)
			return
		}
		b.reset()
		b.add(first)
		// Natural batching: take what queued up while the last batch was
		// being written; linger only when that is little, so a light load
		// is written at once and a heavy one in big batches.
		w.collect(q, b)
		if b.rows < w.cfg.MaxBatchRows/8 && w.cfg.Linger > 0 {
			timer := time.NewTimer(w.cfg.Linger)
		fill:
			for b.rows < w.cfg.MaxBatchRows {
				select {
				case r := <-q:
					b.add(r)
				case <-timer.C:
					break fill
				case <-ctx.Done():
					break fill
				}
			}
			timer.Stop()
		}
		w.commit(ctx, b)
	}
}

// collect adds queued requests to b without waiting, up to MaxBatchRows.
func (w *Writer) collect(q chan *request, b *batch) {
	for b.rows < w.cfg.MaxBatchRows {
		select {
		case r := <-q:
			b.add(r)
		default:
			return
		}
	}
}

// drain writes what is still queued after Run's context ended, for at most d.
func (w *Writer) drain(d time.Duration, q chan *request, b *batch) {
	if d <= 0 {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	for {
		b.reset()
		w.collect(q, b)
		if len(b.reqs) == 0 {
			return
		}
		w.commit(ctx, b)
		if ctx.Err() != nil {
			return
		}
	}
}

// batch is one transaction's worth of requests, reused by its worker.
type batch struct {
	reqs      []*request
	rows      int
	positions []Position
	frames    []RawFrame
	fresh     []Position
	cols      columns
}

func (b *batch) reset() {
	clear(b.reqs)
	b.reqs = b.reqs[:0]
	b.rows = 0
}

func (b *batch) add(r *request) {
	b.reqs = append(b.reqs, r)
	b.rows += r.rows()
}

// commit writes the batch, retrying transient failures until it commits or
// ctx ends, and tells each waiting request the outcome. When the database
// rejects the batch's data, the requests are written one by one so that only
// the offending request fails.
func (w *Writer) commit(ctx context.Context, b *batch) {
	err := w.retry(ctx, b.reqs, b)
	if err == nil || !errors.Is(err, ErrRejected) || len(b.reqs) == 1 {
		for _, r := range b.reqs {
			finish(r, err)
		}
		return
	}
	for _, r := range b.reqs {
		finish(r, w.retry(ctx, []*request{r}, b))
	}
}

func finish(r *request, err error) {
	if r.done != nil {
		r.done <- err
	}
}

func (w *Writer) retry(ctx context.Context, reqs []*request, b *batch) error {
	wait := w.cfg.RetryMin
	for attempt := 1; ; attempt++ {
		actx, cancel := context.WithTimeout(ctx, w.cfg.AttemptTimeout)
		err := w.writeOnce(actx, reqs, b)
		cancel()
		if err == nil {
			// After writeOnce returned its connection: a slow consumer must
			// not hold a database connection of the writer.
			if w.committed != nil && len(b.fresh) > 0 {
				w.committed.Committed(b.fresh)
			}
			return nil
		}
		if errors.Is(err, ErrRejected) {
			w.metrics.errors.WithLabelValues("rejected").Inc()
			w.log.Error("database rejected rows", "requests", len(reqs), "err", err)
			return err
		}
		w.metrics.errors.WithLabelValues("transient").Inc()
		if ctx.Err() != nil {
			return fmt.Errorf("write stopped after %d attempts: %w", attempt, err)
		}
		if attempt == 1 || attempt%10 == 0 {
			w.log.Warn("write failed, retrying", "attempt", attempt, "retry_in", wait, "err", err)
		}
		select {
		case <-time.After(wait):
		case <-ctx.Done():
			return fmt.Errorf("write stopped after %d attempts: %w", attempt, err)
		}
		wait = min(wait*2, w.cfg.RetryMax)
	}
}

// isRejection reports whether err is the database refusing the data itself
// (SQLSTATE classes 22 data exception and 23 integrity violation), which no
// retry can fix, rather than a connection or server problem.
func isRejection(err error) bool {
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		return len(pgErr.Code) == 5 && (pgErr.Code[:2] == "22" || pgErr.Code[:2] == "23")
	}
	return false
}

func (w *Writer) writeOnce(ctx context.Context, reqs []*request, b *batch) error {
	b.positions = b.positions[:0]
	b.frames = b.frames[:0]
	for _, r := range reqs {
		b.positions = append(b.positions, r.positions...)
		b.frames = append(b.frames, r.frames...)
	}
	for i := range b.positions {
		if err := w.ensurePartition(ctx, "positions", b.positions[i].Time); err != nil {
			return err
		}
	}
	for i := range b.frames {
		if err := w.ensurePartition(ctx, "raw_frames", b.frames[i].Received); err != nil {
			return err
		}
	}
	start := time.Now()
	conn, err := w.pool.Acquire(ctx)
	if err != nil {
		return fmt.Errorf("acquire connection: %w", err)
	}
	defer conn.Release()
	inserted, err := writeTx(ctx, conn.Conn(), b)
	if err != nil {
		if isRejection(err) {
			return fmt.Errorf("%w: %w", ErrRejected, err)
		}
		// The connection may be broken half-way through the statement: do
		// not reuse it.
		// The connection may be broken half-way through a statement, or
		// silent: do not reuse it, nor wait on it to say goodbye.
		if !conn.Conn().IsClosed() {
			cctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
			_ = conn.Conn().Close(cctx)
			cancel()
		}
		return fmt.Errorf("write batch of %d positions and %d frames: %w", len(b.positions), len(b.frames), err)
	}
	w.metrics.batchSeconds.Observe(time.Since(start).Seconds())
	w.metrics.batchRows.Observe(float64(len(b.positions) + len(b.frames)))
	w.metrics.rows.WithLabelValues("positions").Add(float64(inserted))
	w.metrics.rows.WithLabelValues("raw_frames").Add(float64(len(b.frames)))
	w.metrics.duplicates.Add(float64(len(b.positions) - inserted))
	return nil
}
