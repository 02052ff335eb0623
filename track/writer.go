package track

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
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

// writeBatch stores a batch in one statement, so one round trip and one
// implicit transaction: the positions, the frames and the state travel as
// arrays (binary), are unnested, and data-modifying CTEs write every table.
// positions and raw_frames take ON CONFLICT DO NOTHING, so writing the same
// rows again (a terminal resend, or a retry after a lost commit reply) is
// harmless. terminals.last_seen_at moves only when it is 30 s behind: a
// row update per report would double the database's work for a value
// whose use (is the terminal silent?) is in minutes. The state upsert moves each vehicle's latest state forward,
// never backward: a late back-fill older than the stored state leaves it
// alone. Rows are taken in vehicle order so concurrent writers lock them in
// the same order.
const writeBatch = `
WITH p AS (
    SELECT * FROM unnest($1::bigint[], $2::timestamptz[], $3::timestamptz[], $4::bigint[],
        $5::float8[], $6::float8[], $7::real[], $8::smallint[], $9::integer[], $10::bigint[],
        $11::bigint[], $12::float8[], $13::real[], $14::real[], $15::smallint[], $16::smallint[],
        $17::text[], $18::boolean[], $19::uuid[], $28::bigint[])
    AS u(vehicle_id, device_time, received_at, terminal_id, lon, lat, speed_kmh, heading, altitude_m,
        alarm, status, mileage_km, fuel_l, rec_speed_kmh, signal, satellites, items, backfill, frame_id,
        fix_hash)
), ins AS (
    INSERT INTO positions (vehicle_id, device_time, received_at, terminal_id, geom, speed_kmh, heading,
        altitude_m, alarm, status, mileage_km, fuel_l, rec_speed_kmh, signal, satellites, items, backfill, frame_id,
        fix_hash)
    SELECT vehicle_id, device_time, received_at, terminal_id, ST_SetSRID(ST_MakePoint(lon, lat), 4326),
        speed_kmh, heading, altitude_m, alarm, status, mileage_km, fuel_l, rec_speed_kmh, signal, satellites,
        items::jsonb, backfill, frame_id, fix_hash
    FROM p
    ON CONFLICT (vehicle_id, device_time, fix_hash) DO NOTHING
    RETURNING vehicle_id, device_time, fix_hash
), st AS (
    INSERT INTO vehicle_state AS s (vehicle_id, terminal_id, device_time, received_at, geom, speed_kmh,
        heading, altitude_m, alarm, status, mileage_km, fuel_l, signal, satellites)
    SELECT DISTINCT ON (vehicle_id) vehicle_id, terminal_id, device_time, received_at,
        ST_SetSRID(ST_MakePoint(lon, lat), 4326), speed_kmh, heading, altitude_m, alarm, status,
        mileage_km, fuel_l, signal, satellites
    FROM p
    ORDER BY vehicle_id, device_time DESC, received_at DESC
    ON CONFLICT (vehicle_id) DO UPDATE SET
        terminal_id = excluded.terminal_id, device_time = excluded.device_time,
        received_at = excluded.received_at, geom = excluded.geom, speed_kmh = excluded.speed_kmh,
        heading = excluded.heading, altitude_m = excluded.altitude_m, alarm = excluded.alarm,
        status = excluded.status, mileage_km = excluded.mileage_km, fuel_l = excluded.fuel_l,
        signal = excluded.signal, satellites = excluded.satellites
    WHERE (excluded.device_time, excluded.received_at) > (s.device_time, s.received_at)
), f AS (
    SELECT * FROM unnest($20::uuid[], $21::timestamptz[], $22::bigint[], $23::text[], $24::integer[],
        $25::integer[], $26::bytea[], $27::text[])
    AS u(id, received_at, terminal_id, phone, msg_id, serial, frame, disposition)
), fins AS (
    INSERT INTO raw_frames (id, received_at, terminal_id, phone, msg_id, serial, frame, disposition)
    SELECT * FROM f
    ON CONFLICT DO NOTHING
), seen AS (
    UPDATE terminals t SET last_seen_at = x.seen
    FROM (SELECT terminal_id, max(received_at) AS seen FROM f
          WHERE terminal_id IS NOT NULL GROUP BY terminal_id ORDER BY terminal_id) x
    WHERE t.id = x.terminal_id AND (t.last_seen_at IS NULL OR t.last_seen_at < x.seen - interval '30 seconds')
)
SELECT vehicle_id, device_time, fix_hash FROM ins`

// columns holds a batch as one array per column, reused between batches.
type columns struct {
	vehicle, terminal           []int64
	deviceTime, received        []time.Time
	lon, lat                    []float64
	speed                       []float32
	heading                     []int16
	altitude                    []int32
	alarm, status               []int64
	mileage                     []*float64
	fuel, recSpeed              []*float32
	signal, satellites          []*int16
	items                       []*string
	backfill                    []bool
	frameID                     [][16]byte
	fixHash                     []int64
	fID                         [][16]byte
	fReceived                   []time.Time
	fTerminal                   []*int64
	fPhone, fDisposition        []string
	fMsgID, fSerial             []int32
	fFrame                      [][]byte
	mileageV                    []float64
	fuelV, recSpeedV            []float32
	signalV, satellitesV, termV []int64
	itemsV                      []string
}

func (c *columns) args(ps []Position, fs []RawFrame) []any {
	n := len(ps)
	c.vehicle, c.terminal = c.vehicle[:0], c.terminal[:0]
	c.deviceTime, c.received = c.deviceTime[:0], c.received[:0]
	c.lon, c.lat, c.speed, c.heading, c.altitude = c.lon[:0], c.lat[:0], c.speed[:0], c.heading[:0], c.altitude[:0]
	c.alarm, c.status = c.alarm[:0], c.status[:0]
	c.mileage, c.fuel, c.recSpeed, c.signal, c.satellites, c.items = c.mileage[:0], c.fuel[:0], c.recSpeed[:0], c.signal[:0], c.satellites[:0], c.items[:0]
	c.backfill, c.frameID, c.fixHash = c.backfill[:0], c.frameID[:0], c.fixHash[:0]
	// The pointed-to values live in these slices, sized up front so that
	// appending never moves them.
	c.mileageV = grow(c.mileageV, n)
	c.fuelV, c.recSpeedV = grow(c.fuelV, n), grow(c.recSpeedV, n)
	c.itemsV = grow(c.itemsV, n)
	type i16 = int16
	sig := make([]int16, 2*n)
	for i := range ps {
		p := &ps[i]
		c.vehicle = append(c.vehicle, p.VehicleID)
		c.terminal = append(c.terminal, p.TerminalID)
		c.deviceTime = append(c.deviceTime, p.Time)
		c.received = append(c.received, p.Received)
		c.lon, c.lat = append(c.lon, p.Lon), append(c.lat, p.Lat)
		c.speed, c.heading, c.altitude = append(c.speed, p.SpeedKmh), append(c.heading, p.Heading), append(c.altitude, p.AltitudeM)
		c.alarm, c.status = append(c.alarm, int64(p.Alarm)), append(c.status, int64(p.Status))
		c.mileageV[i], c.fuelV[i], c.recSpeedV[i] = p.MileageKm, p.FuelL, p.RecSpeedKmh
		sig[2*i], sig[2*i+1] = i16(p.Signal), i16(p.Satellites)
		c.mileage = append(c.mileage, ptrIf(p.Has&HasMileage != 0, &c.mileageV[i]))
		c.fuel = append(c.fuel, ptrIf(p.Has&HasFuel != 0, &c.fuelV[i]))
		c.recSpeed = append(c.recSpeed, ptrIf(p.Has&HasRecSpeed != 0, &c.recSpeedV[i]))
		c.signal = append(c.signal, ptrIf(p.Has&HasSignal != 0, &sig[2*i]))
		c.satellites = append(c.satellites, ptrIf(p.Has&HasSatellites != 0, &sig[2*i+1]))
		if p.Items != nil {
			c.itemsV[i] = string(p.Items)
			c.items = append(c.items, &c.itemsV[i])
		} else {
			c.items = append(c.items, nil)
		}
		c.backfill = append(c.backfill, p.Backfill)
		c.frameID = append(c.frameID, [16]byte(p.FrameID))
		c.fixHash = append(c.fixHash, p.FixHash())
	}
	c.fID, c.fReceived, c.fTerminal = c.fID[:0], c.fReceived[:0], c.fTerminal[:0]
	c.fPhone, c.fMsgID, c.fSerial, c.fFrame, c.fDisposition = c.fPhone[:0], c.fMsgID[:0], c.fSerial[:0], c.fFrame[:0], c.fDisposition[:0]
	c.termV = grow(c.termV, len(fs))
	for i := range fs {
		f := &fs[i]
		c.fID = append(c.fID, [16]byte(f.ID))
		c.fReceived = append(c.fReceived, f.Received)
		c.termV[i] = f.TerminalID
		c.fTerminal = append(c.fTerminal, ptrIf(f.TerminalID != 0, &c.termV[i]))
		c.fPhone = append(c.fPhone, f.Phone)
		c.fMsgID, c.fSerial = append(c.fMsgID, int32(f.MsgID)), append(c.fSerial, int32(f.Serial))
		c.fFrame = append(c.fFrame, f.Frame)
		c.fDisposition = append(c.fDisposition, string(f.Disposition))
	}
	return []any{c.vehicle, c.deviceTime, c.received, c.terminal, c.lon, c.lat, c.speed, c.heading,
		c.altitude, c.alarm, c.status, c.mileage, c.fuel, c.recSpeed, c.signal, c.satellites, c.items,
		c.backfill, c.frameID,
		c.fID, c.fReceived, c.fTerminal, c.fPhone, c.fMsgID, c.fSerial, c.fFrame, c.fDisposition,
		c.fixHash}
}

func grow[T any](s []T, n int) []T {
	if cap(s) < n {
		return make([]T, n)
	}
	return s[:n]
}

func ptrIf[T any](ok bool, p *T) *T {
	if ok {
		return p
	}
	return nil
}

// writeTx writes b in one statement and returns how many positions were
// new; b.fresh holds them.
func writeTx(ctx context.Context, conn *pgx.Conn, b *batch) (int, error) {
	b.fresh = b.fresh[:0]
	rows, err := conn.Query(ctx, writeBatch, b.cols.args(b.positions, b.frames)...)
	if err != nil {
		return 0, err
	}
	seen := make(map[posKey]struct{}, len(b.positions))
	var (
		vid, hash int64
		t         time.Time
	)
	if _, err := pgx.ForEachRow(rows, []any{&vid, &t, &hash}, func() error {
		seen[posKey{vid, t.UnixNano(), hash}] = struct{}{}
		return nil
	}); err != nil {
		return 0, err
	}
	for _, p := range b.positions {
		key := posKey{p.VehicleID, p.Time.UnixNano(), p.FixHash()}
		if _, ok := seen[key]; ok {
			b.fresh = append(b.fresh, p)
			delete(seen, key)
		}
	}
	return len(b.fresh), nil
}

// posKey identifies a stored position: vehicle, device time in Unix ns and
// fix hash.
type posKey struct {
	vehicle, nanos, fix int64
}
