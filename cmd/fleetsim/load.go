package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"math"
	"math/rand/v2"
	"os"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"fleetmon/cmd/fleetsim/sim"
	"fleetmon/ingest/jt808"
)

// loadPhoneBase is the default phone base of load terminals, apart from the demo's 138... so
// that both can be imported into one server.
const loadPhoneBase = 13900000000

// loadConfig is what the load command runs.
type loadConfig struct {
	addr        string
	terminals   int
	rate        float64 // positions per second per terminal
	duration    time.Duration
	batch       int
	gapShare    float64
	gapLength   time.Duration
	blindBatch  int
	v2019Share  float64
	concurrency int
	ackTimeout  time.Duration
	maxResends  int
	grace       time.Duration
	seed        uint64
	ledger      *ledger
}

// errUnacked makes load exit 1: reports were not acknowledged, were rejected, or terminals
// could not connect.
var errUnacked = errors.New("load test failed")

func runLoad(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("load", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), `usage: fleetsim load --addr HOST:PORT --terminals N [flags]

Opens N terminal connections (bounded concurrency), registers and authenticates them, sends
positions at --rate per terminal for --duration, waits up to --grace for outstanding
acknowledgements, and prints a report. Exits 1 if any report remained unacknowledged or was
rejected, or any terminal could not log in.

The terminals must exist in the server, with the same --seed and --phone-base:

  fleetsim csv --count 10000 --phone-base 13900000000 > load.csv && fleetd vehicles import load.csv
  fleetsim load --addr 127.0.0.1:6808 --terminals 10000 --rate 2 --duration 5m

Flags:
`)
		fs.PrintDefaults()
	}
	var cfg loadConfig
	fs.StringVar(&cfg.addr, "addr", "127.0.0.1:6808", "server's JT/T 808 TCP `address`")
	fs.IntVar(&cfg.terminals, "terminals", 1000, "number of terminals (connections)")
	fs.Float64Var(&cfg.rate, "rate", 2, "positions per second per terminal")
	fs.DurationVar(&cfg.duration, "duration", 5*time.Minute, "how long to send, after all terminals logged in")
	fs.IntVar(&cfg.batch, "batch", 0, fmt.Sprintf("0: one 0x0200 per position; N: 0x0704 batches of N positions (at most %d; batches over %d positions exceed one message body and are sub-packaged)",
		sim.MaxBatch, sim.SinglePackageBatch))
	fs.Float64Var(&cfg.gapShare, "gap-share", 0.05, "share of terminals that go through a coverage gap and back-fill (0x0704 type 1)")
	fs.DurationVar(&cfg.gapLength, "gap-length", 30*time.Second, "length of a coverage gap (capped to half the duration)")
	fs.IntVar(&cfg.blindBatch, "blind-batch", 10, fmt.Sprintf("positions per back-fill 0x0704 (at most %d; over %d are sub-packaged)", sim.MaxBatch, sim.SinglePackageBatch))
	fs.Float64Var(&cfg.v2019Share, "v2019-share", 0.3, "share of terminals speaking JT/T 808-2019")
	fs.IntVar(&cfg.concurrency, "concurrency", 256, "logins in flight at once during the ramp-up")
	fs.DurationVar(&cfg.ackTimeout, "ack-timeout", 10*time.Second, "resend a report not acknowledged in this time (then ×2, ×3, ...)")
	fs.IntVar(&cfg.maxResends, "max-resends", 3, "resends per report before it is left unacknowledged")
	fs.DurationVar(&cfg.grace, "grace", 30*time.Second, "how long to wait for outstanding acknowledgements after the run")
	jsonOut := fs.Bool("json", false, "print the report as JSON")
	ledgerPath := fs.String("ledger", "", "write every acknowledged position to this `file` (CSV: phone, device time in Unix seconds, latitude and longitude in 1e-6 degrees, altitude m, speed 0.1 km/h, heading, alarm, status), for a row-by-row check of what the server stored")
	verbose := fs.Bool("v", false, "log every connection event (debug level)")
	var ff fleetFlags
	ff.register(fs, loadPhoneBase)
	if err := parse(fs, args); err != nil {
		return err
	}
	switch {
	case cfg.terminals <= 0:
		return errors.New("load: --terminals must be positive")
	case cfg.rate <= 0 || math.IsInf(cfg.rate, 0) || math.IsNaN(cfg.rate):
		return errors.New("load: --rate must be positive")
	case cfg.duration <= 0:
		return errors.New("load: --duration must be positive")
	case cfg.batch < 0 || cfg.batch > sim.MaxBatch:
		return fmt.Errorf("load: --batch must be 0..%d", sim.MaxBatch)
	case cfg.blindBatch < 0 || cfg.blindBatch > sim.MaxBatch:
		return fmt.Errorf("load: --blind-batch must be 0..%d", sim.MaxBatch)
	case cfg.concurrency <= 0:
		return errors.New("load: --concurrency must be positive")
	}
	cfg.seed = ff.seed
	log := newLogger(stderr, *verbose)
	if n, err := raiseFileLimit(); err != nil {
		log.Warn("cannot raise the open-files limit", "err", err, "limit", n)
	} else if n < uint64(cfg.terminals)+64 {
		log.Warn("open-files limit is below the number of terminals", "limit", n, "terminals", cfg.terminals)
	}
	vs, err := ff.fleet(cfg.terminals)
	if err != nil {
		return err
	}
	if *ledgerPath != "" {
		f, err := os.Create(*ledgerPath)
		if err != nil {
			return err
		}
		cfg.ledger = newLedger(f)
	}
	rep := runLoadTest(ctx, cfg, vs, log)
	if cfg.ledger != nil {
		if err := cfg.ledger.close(); err != nil {
			return fmt.Errorf("write ledger: %w", err)
		}
	}
	if *jsonOut {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		if err := enc.Encode(rep); err != nil {
			return err
		}
	} else {
		rep.print(stdout)
	}
	switch {
	case rep.Unacknowledged > 0 || rep.Rejected > 0:
		return fmt.Errorf("%w: %d reports unacknowledged, %d rejected", errUnacked, rep.Unacknowledged, rep.Rejected)
	case rep.ConnectionsFailed > 0:
		return fmt.Errorf("%w: %d of %d terminals could not log in (imported? fleetsim csv --count %d --seed %d --phone-base %d)",
			errUnacked, rep.ConnectionsFailed, rep.Terminals, cfg.terminals, ff.seed, ff.phoneBase)
	case rep.Interrupted:
		return fmt.Errorf("%w: interrupted", errUnacked)
	}
	return nil
}

// loadReport is the result of a load test, printed as text or JSON.
type loadReport struct {
	Addr              string  `json:"addr"`
	Terminals         int     `json:"terminals"`
	Terminals2019     int     `json:"terminals_2019"`
	RatePerTerminal   float64 `json:"rate_per_terminal"`
	Batch             int     `json:"batch"`
	GapTerminals      int     `json:"gap_terminals"`
	DurationSeconds   float64 `json:"duration_seconds"`
	RampSeconds       float64 `json:"ramp_seconds"`
	Interrupted       bool    `json:"interrupted"`
	ConnectionsOK     int64   `json:"connections_ok"`
	ConnectionsFailed int64   `json:"connections_failed"`
	Reconnects        int64   `json:"reconnects"`
	sim.Snapshot
	Unacknowledged int64 `json:"-"` // = Snapshot.Pending, kept apart for the exit code
	// SameFixRepeats counts positions whose fix (time to the second,
	// coordinates, speed, heading, altitude, alarm, status) repeats one the
	// terminal sent earlier in the same second: a platform keeps one row for
	// both, so rows expected = positions acknowledged − this.
	SameFixRepeats int64 `json:"same_fix_repeats"`
	// ThroughputMedian is the median of positions acknowledged per 1-s window during the run
	// (ramp-up and grace period excluded); ThroughputMean their mean.
	ThroughputMedian float64 `json:"throughput_positions_per_s_median"`
	ThroughputMean   float64 `json:"throughput_positions_per_s_mean"`
	OfferedRate      float64 `json:"offered_positions_per_s"`
	Windows          int     `json:"throughput_windows"`
	LatencyP50Ms     float64 `json:"ack_latency_p50_ms"`
	LatencyP90Ms     float64 `json:"ack_latency_p90_ms"`
	LatencyP99Ms     float64 `json:"ack_latency_p99_ms"`
	LatencyMaxMs     float64 `json:"ack_latency_max_ms"`
	LatencySamples   int64   `json:"ack_latency_samples"`
}

func (r *loadReport) print(w io.Writer) {
	fmt.Fprintf(w, "fleetsim load %s: %d terminals (%d JT/T 808-2019), %g positions/s each, batch %d, %d with a coverage gap, %.0fs\n",
		r.Addr, r.Terminals, r.Terminals2019, r.RatePerTerminal, r.Batch, r.GapTerminals, r.DurationSeconds)
	if r.Interrupted {
		fmt.Fprintln(w, "INTERRUPTED before the end")
	}
	fmt.Fprintf(w, "connections      ok %d, failed %d (ramp-up %.1fs), reconnects %d\n", r.ConnectionsOK, r.ConnectionsFailed, r.RampSeconds, r.Reconnects)
	fmt.Fprintf(w, "reports sent     %d (%d positions)\n", r.Sent, r.PositionsSent)
	fmt.Fprintf(w, "acknowledged     %d (%d positions)\n", r.Acked, r.PositionsAcked)
	fmt.Fprintf(w, "resent           %d (and %d sub-packages on the platform's request)\n", r.Resent, r.PackagesResent)
	fmt.Fprintf(w, "same-fix repeats %d (positions repeating a fix of the same second: one row for both)\n", r.SameFixRepeats)
	fmt.Fprintf(w, "rejected         %d\n", r.Rejected)
	fmt.Fprintf(w, "unacknowledged   %d (%d positions)\n", r.Pending, r.PositionsPending)
	fmt.Fprintf(w, "throughput       %.0f positions/s acknowledged (median of %d 1-s windows; mean %.0f; offered %.0f)\n",
		r.ThroughputMedian, r.Windows, r.ThroughputMean, r.OfferedRate)
	fmt.Fprintf(w, "ack latency      p50 %s  p90 %s  p99 %s  max %s  (%d samples)\n",
		ms(r.LatencyP50Ms), ms(r.LatencyP90Ms), ms(r.LatencyP99Ms), ms(r.LatencyMaxMs), r.LatencySamples)
}

func ms(v float64) string {
	if v < 10 {
		return fmt.Sprintf("%.2fms", v)
	}
	return fmt.Sprintf("%.0fms", v)
}

// loadRun is the state the terminals of one load test share.
type loadRun struct {
	cfg     loadConfig
	log     *slog.Logger
	metrics *sim.Metrics
	ok      atomic.Int64
	failed  atomic.Int64
	reconn  atomic.Int64
	// sameFix counts points whose fix repeats one the terminal already sent
	// in the same second (see sim.Fix): the platform stores it once.
	sameFix atomic.Int64
	// failLogs counts login failures logged.
	failLogs atomic.Int64
	start    chan struct{} // closed when the ramp-up is over
	begin    time.Time     // set before start is closed
	end      time.Time
	sem      chan struct{} // bounds logins in flight
}

// runLoadTest runs the test and returns its report; ctx ending interrupts it.
func runLoadTest(ctx context.Context, cfg loadConfig, vs []sim.Vehicle, log *slog.Logger) *loadReport {
	r := &loadRun{
		cfg:     cfg,
		log:     log,
		metrics: sim.NewMetrics(),
		start:   make(chan struct{}),
		sem:     make(chan struct{}, cfg.concurrency),
	}
	rep := &loadReport{Addr: cfg.addr, Terminals: len(vs), RatePerTerminal: cfg.rate, Batch: cfg.batch,
		DurationSeconds: cfg.duration.Seconds()}
	// The connections outlive ctx only for a clean close; the grace period has its own deadline.
	connCtx, cancelConns := context.WithCancel(context.Background())
	defer cancelConns()
	stopOnInterrupt := context.AfterFunc(ctx, cancelConns)
	defer stopOnInterrupt()

	log.Info("ramping up", "terminals", len(vs), "concurrency", cfg.concurrency, "addr", cfg.addr)
	rampStart := time.Now()
	var logins, all sync.WaitGroup
	logins.Add(len(vs))
	for _, v := range vs {
		if versionOf(cfg.seed, v.Index, cfg.v2019Share) == jt808.Version2019 {
			rep.Terminals2019++
		}
		gap := unit(cfg.seed, uint64(v.Index), 0x676170) < cfg.gapShare
		if gap {
			rep.GapTerminals++
		}
		all.Go(func() { r.terminal(connCtx, v, gap, &logins) })
	}
	logins.Wait()
	rep.RampSeconds = time.Since(rampStart).Seconds()
	rep.ConnectionsOK, rep.ConnectionsFailed = r.ok.Load(), r.failed.Load()
	r.begin = time.Now()
	r.end = r.begin.Add(cfg.duration)
	close(r.start)
	log.Info("ramp-up done", "ok", rep.ConnectionsOK, "failed", rep.ConnectionsFailed, "seconds", rep.RampSeconds)

	// Progress every 10 s until every terminal is done.
	finished := make(chan struct{})
	go func() { all.Wait(); close(finished) }()
	tick := time.NewTicker(10 * time.Second)
	defer tick.Stop()
wait:
	for {
		select {
		case <-finished:
			break wait
		case <-tick.C:
			s := r.metrics.Snapshot()
			log.Info("load running", "elapsed", time.Since(r.begin).Round(time.Second), "positions_sent", s.PositionsSent,
				"positions_acked", s.PositionsAcked, "resent", s.Resent, "pending", s.Pending)
		}
	}
	rep.Interrupted = ctx.Err() != nil
	rep.Reconnects = r.reconn.Load()
	rep.Snapshot = r.metrics.Snapshot()
	rep.Unacknowledged = rep.Pending
	rep.SameFixRepeats = r.sameFix.Load()
	rep.OfferedRate = float64(rep.ConnectionsOK) * cfg.rate

	// Throughput windows: whole seconds between the end of the ramp-up and the end of the run.
	per := r.metrics.AckedPerSecond()
	from := int(math.Ceil(r.begin.Sub(r.metrics.Start()).Seconds()))
	to := int(r.end.Sub(r.metrics.Start()) / time.Second)
	if from < 0 {
		from = 0
	}
	to = min(to, len(per))
	if from < to {
		win := per[from:to]
		rep.Windows = len(win)
		rep.ThroughputMedian = sim.Median(win)
		var sum int64
		for _, n := range win {
			sum += n
		}
		rep.ThroughputMean = float64(sum) / float64(len(win))
	}
	lat := r.metrics.Latency()
	toMs := func(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
	rep.LatencyP50Ms = toMs(lat.Quantile(0.50))
	rep.LatencyP90Ms = toMs(lat.Quantile(0.90))
	rep.LatencyP99Ms = toMs(lat.Quantile(0.99))
	rep.LatencyMaxMs = toMs(lat.Max())
	rep.LatencySamples = lat.Count()
	return rep
}

// loginAttempts is how often a terminal tries to log in during the ramp-up before it counts as
// failed.
const loginAttempts = 3

// terminal runs one load-test terminal: log in (bounded by the semaphore), wait for the start,
// report at the configured rate until the end (going through a coverage gap if gap), then wait
// for outstanding acknowledgements until the grace period ends.
func (r *loadRun) terminal(ctx context.Context, v sim.Vehicle, gap bool, logins *sync.WaitGroup) {
	cfg := r.cfg
	term, err := sim.NewTerminal(sim.Config{
		Phone: v.Phone, Version: versionOf(cfg.seed, v.Index, cfg.v2019Share), Plate: v.Plate, PlateColor: v.PlateColor,
		AckTimeout: cfg.ackTimeout, MaxResends: cfg.maxResends, Batch: cfg.batch, BlindBatch: cfg.blindBatch,
		Metrics: r.metrics, Logger: r.log,
		KeepFixes: cfg.ledger != nil, OnAck: cfg.ledger.onAck(v.Phone),
	})
	if err != nil {
		r.failed.Add(1)
		logins.Done()
		r.log.Error("bad terminal", "phone", v.Phone, "err", err)
		return
	}
	defer term.Close()
	rng := rand.New(rand.NewPCG(cfg.seed, uint64(v.Index)))
	ok := r.login(ctx, term, rng)
	if ok {
		r.ok.Add(1)
	} else {
		r.failed.Add(1)
	}
	logins.Done()
	if !ok {
		return
	}
	select {
	case <-r.start:
	case <-ctx.Done():
		return
	}

	drv := sim.NewDriver(sim.DriverConfig{Seed: driverSeed(cfg.seed, v.Index), Depot: v.UnitIndex})
	interval := time.Duration(float64(time.Second) / cfg.rate)
	// Spread the terminals' messages evenly: over one interval, or over the time it takes to
	// fill a batch, so that batches do not all leave in the same second.
	spread := interval * time.Duration(max(1, cfg.batch))
	next := r.begin.Add(time.Duration(rng.Int64N(int64(spread) + 1)))
	var gapStart, gapEnd time.Time
	if gap {
		length := min(cfg.gapLength, cfg.duration/2)
		// The gap starts in the first half of the run, so it ends (and is back-filled) before
		// the run does.
		gapStart = r.begin.Add(time.Duration(rng.Int64N(int64(cfg.duration/2-length) + 1)))
		gapEnd = gapStart.Add(length)
	}
	timer := time.NewTimer(time.Until(next))
	defer timer.Stop()
	// The fixes sent in the current second (BCD times have 1 s resolution):
	// a platform keeps one row for a fix repeated within its second.
	var secondFixes []sim.Fix
	for next.Before(r.end) {
		select {
		case <-timer.C:
		case <-ctx.Done():
			return
		}
		now := time.Now()
		if gap {
			inGap := !now.Before(gapStart) && now.Before(gapEnd)
			if inGap == term.Covered() {
				if err := term.SetCoverage(!inGap); err != nil {
					r.reconnect(ctx, term, rng, err)
				}
			}
		}
		p, _ := drv.Next(now)
		fix := sim.FixOf(p)
		if len(secondFixes) > 0 && !fix.SameSecond(secondFixes[0]) {
			secondFixes = secondFixes[:0]
		}
		if slices.Contains(secondFixes, fix) {
			r.sameFix.Add(1)
		} else {
			secondFixes = append(secondFixes, fix)
		}
		if err := term.Report(p); err != nil {
			r.reconnect(ctx, term, rng, err)
		}
		next = next.Add(interval)
		if behind := now.Sub(next); behind > interval {
			// The machine is overloaded: skip the missed ticks rather than burst.
			next = now
		}
		timer.Reset(time.Until(next))
	}
	// Grace period: everything buffered goes out, then wait for the acknowledgements. A partly
	// filled batch leaves at the terminal's next tick, not at the end for every terminal at once.
	gctx, cancel := context.WithDeadline(ctx, r.end.Add(cfg.grace))
	defer cancel()
	if term.Buffered() > 0 {
		select {
		case <-timer.C:
		case <-gctx.Done():
		}
	}
	if err := term.SetCoverage(true); err != nil {
		r.reconnect(gctx, term, rng, err)
	}
	for gctx.Err() == nil {
		err := term.WaitAcks(gctx)
		if err == nil || gctx.Err() != nil {
			break
		}
		r.reconnect(gctx, term, rng, err)
	}
}

// login connects and logs in, retrying with a short back-off.
func (r *loadRun) login(ctx context.Context, term *sim.Terminal, rng *rand.Rand) bool {
	var err error
	for attempt := range loginAttempts {
		if attempt > 0 && !sleep(ctx, time.Duration(attempt)*time.Second+time.Duration(rng.Int64N(int64(time.Second)))) {
			return false
		}
		select {
		case r.sem <- struct{}{}:
		case <-ctx.Done():
			return false
		}
		err = term.Connect(ctx, r.cfg.addr)
		if err == nil {
			err = term.Login(ctx)
		}
		<-r.sem
		if err == nil {
			return true
		}
		term.Close()
		var rerr *sim.RegisterError
		if errors.As(err, &rerr) {
			break // retrying will not make the vehicle exist
		}
	}
	// The first few failures say why; the rest only count (the report has the total).
	level := slog.LevelDebug
	if r.failLogs.Add(1) <= 5 {
		level = slog.LevelWarn
	}
	r.log.Log(ctx, level, "login failed", "phone", term.Phone(), "err", err)
	return false
}

// reconnect replaces a failed connection, with back-off, until it logs in again or ctx ends.
// Reports pending on the old connection are resent on the new one.
func (r *loadRun) reconnect(ctx context.Context, term *sim.Terminal, rng *rand.Rand, cause error) {
	r.log.Debug("connection lost", "phone", term.Phone(), "err", cause)
	term.Close()
	backoff := 500 * time.Millisecond
	for ctx.Err() == nil {
		if !sleep(ctx, backoff/2+time.Duration(rng.Int64N(int64(backoff)))) {
			return
		}
		r.reconn.Add(1)
		err := term.Connect(ctx, r.cfg.addr)
		if err == nil {
			if err = term.Login(ctx); err == nil {
				return
			}
		}
		term.Close()
		backoff = min(2*backoff, 10*time.Second)
	}
}
