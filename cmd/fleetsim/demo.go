package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"sync"
	"time"

	"fleetmon/cmd/fleetsim/sim"
	"fleetmon/ingest/jt808"
)

// versionOf says which vehicles speak JT/T 808-2019: a share of them, chosen by a hash of the
// seed and the vehicle's index so that the same fleet always splits the same way.
func versionOf(seed uint64, index int, share float64) jt808.Version {
	if unit(seed, uint64(index), 0x7632303139) < share {
		return jt808.Version2019
	}
	return jt808.Version2013
}

// unit returns a deterministic number in [0, 1) for (seed, index, salt) (splitmix64).
func unit(seed, index, salt uint64) float64 {
	z := seed*0x9e3779b97f4a7c15 + index*0xbf58476d1ce4e5b9 + salt
	z = (z ^ z>>30) * 0xbf58476d1ce4e5b9
	z = (z ^ z>>27) * 0x94d049bb133111eb
	z ^= z >> 31
	return float64(z>>11) / (1 << 53)
}

// driverSeed gives each vehicle its own route, deterministic for the fleet seed.
func driverSeed(seed uint64, index int) uint64 { return seed*1_000_003 + uint64(index) }

func newLogger(w io.Writer, verbose bool) *slog.Logger {
	level := slog.LevelInfo
	if verbose {
		level = slog.LevelDebug
	}
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: level}))
}

// demoConfig is what the demo command runs.
type demoConfig struct {
	addr           string
	v2019Share     float64
	interval       time.Duration // between reports while driving
	parkedInterval time.Duration // between reports while parked (ACC off)
	heartbeat      time.Duration // heartbeat after this long without sending
	ackTimeout     time.Duration
	seed           uint64
}

func runDemo(ctx context.Context, args []string, stderr io.Writer) error {
	fs := flag.NewFlagSet("demo", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), `usage: fleetsim demo --addr HOST:PORT --count N [flags]

Connects N simulated terminals (the vehicles "fleetsim csv" prints for the same --count, --seed
and --phone-base; import them first), registers and authenticates them, and drives them around
黄石市 until SIGINT or SIGTERM: parked at their unit's depot, driving at 20-60 km/h, stopping at
destinations, returning. Terminals reconnect with back-off when the server goes away.

A few cars misuse their vehicle, so that the rules have something to show within minutes (run
"fleetsim setup" first: it gives the server the calendars, fences and seal they need): the
off-duty unit's cars drive now, one sealed car drives, one speeds, one leaves the permitted
area, and one uploads, on connecting, last night's positions outside its compound.

Flags:
`)
		fs.PrintDefaults()
	}
	var cfg demoConfig
	fs.StringVar(&cfg.addr, "addr", "127.0.0.1:6808", "server's JT/T 808 TCP `address`")
	count := fs.Int("count", 20, "number of vehicles")
	fs.Float64Var(&cfg.v2019Share, "v2019-share", 0.3, "share of terminals speaking JT/T 808-2019 (the others speak 2013)")
	fs.DurationVar(&cfg.interval, "interval", 5*time.Second, "report interval while driving")
	fs.DurationVar(&cfg.parkedInterval, "parked-interval", 30*time.Second, "report interval while parked (ACC off)")
	fs.DurationVar(&cfg.heartbeat, "heartbeat", 60*time.Second, "send a heartbeat (0x0002) after this long without sending anything")
	fs.DurationVar(&cfg.ackTimeout, "ack-timeout", 10*time.Second, "resend a report not acknowledged in this time (doubling, up to 3 resends)")
	verbose := fs.Bool("v", false, "log every connection event (debug level)")
	var ff fleetFlags
	ff.register(fs, sim.DefaultPhoneBase)
	if err := parse(fs, args); err != nil {
		return err
	}
	if cfg.interval <= 0 || cfg.parkedInterval <= 0 || cfg.heartbeat <= 0 {
		return errors.New("demo: intervals must be positive")
	}
	cfg.seed = ff.seed
	log := newLogger(stderr, *verbose)
	vs, err := ff.fleet(*count)
	if err != nil {
		return err
	}
	metrics := sim.NewMetrics()
	log.Info("demo starting", "addr", cfg.addr, "vehicles", len(vs), "v2019_share", cfg.v2019Share, "interval", cfg.interval)

	var wg sync.WaitGroup
	pl := newPlan(vs)
	for _, v := range vs {
		wg.Go(func() { demoVehicle(ctx, cfg, pl, v, metrics, log) })
	}
	// Progress every minute, and once at the end.
	tick := time.NewTicker(time.Minute)
	defer tick.Stop()
	logStats := func(msg string) {
		s := metrics.Snapshot()
		lat := metrics.Latency()
		log.Info(msg, "positions_sent", s.PositionsSent, "positions_acked", s.PositionsAcked, "resent", s.Resent,
			"unacknowledged", s.Pending, "ack_p50", lat.Quantile(0.5), "ack_max", lat.Max())
	}
	for {
		select {
		case <-tick.C:
			logStats("demo running")
			continue
		case <-ctx.Done():
		}
		break
	}
	wg.Wait()
	logStats("demo stopped")
	return nil
}

// demoVehicle runs one terminal until ctx ends: connect, log in, drive; on failure wait with
// exponential back-off (1 s doubling to 1 min, with jitter) and start again.
func demoVehicle(ctx context.Context, cfg demoConfig, pl plan, v sim.Vehicle, metrics *sim.Metrics, log *slog.Logger) {
	version := versionOf(cfg.seed, v.Index, cfg.v2019Share)
	term, err := sim.NewTerminal(sim.Config{
		Phone: v.Phone, Version: version, Plate: v.Plate, PlateColor: v.PlateColor,
		AckTimeout: cfg.ackTimeout, Metrics: metrics, Logger: log, // the terminal adds its phone
		ReportInterval: cfg.interval,
	})
	log = log.With("phone", v.Phone, "plate", v.Plate, "version", version.String())
	if err != nil {
		log.Error("bad terminal", "err", err)
		return
	}
	drv := pl.source(v.Index, sim.NewDriver(sim.DriverConfig{Seed: driverSeed(cfg.seed, v.Index), Depot: v.UnitIndex}))
	if pl.roles[v.Index] == roleOvernight {
		// Last night's positions, stored out of coverage: the first connection uploads them.
		_ = term.SetCoverage(false) // only buffers: cannot fail
		for _, p := range pl.nightPositions(time.Now()) {
			_ = term.Report(p) // out of coverage: stored, cannot fail
		}
	}
	rng := rand.New(rand.NewPCG(cfg.seed, uint64(v.Index)))
	const minBackoff, maxBackoff = time.Second, time.Minute
	backoff := minBackoff
	// Start within one interval of each other, not all at once.
	if !sleep(ctx, time.Duration(rng.Int64N(int64(cfg.interval)))) {
		return
	}
	for {
		// The connection outlives ctx by a moment so that the terminal can log out.
		connCtx, cancel := context.WithCancel(context.WithoutCancel(ctx))
		stop := context.AfterFunc(ctx, func() { time.AfterFunc(3*time.Second, cancel) })
		err := term.Connect(connCtx, cfg.addr)
		if err == nil {
			err = term.Login(ctx)
			if err == nil {
				log.Info("online")
				backoff = minBackoff
				err = demoDrive(ctx, cfg, term, drv)
			}
		}
		if ctx.Err() != nil {
			lctx, lcancel := context.WithTimeout(connCtx, 2*time.Second)
			if term.Err() == nil {
				_ = term.Logout(lctx)
			}
			lcancel()
		}
		term.Close()
		stop()
		cancel()
		if ctx.Err() != nil {
			return
		}
		var rerr *sim.RegisterError
		if errors.As(err, &rerr) {
			log.Error("registration refused; import the vehicles first (fleetsim csv | fleetd vehicles import)", "err", err)
			backoff = maxBackoff
		} else {
			log.Warn("offline", "err", err, "retry_in", backoff)
		}
		if !offline(ctx, cfg, term, drv, backoff/2+time.Duration(rng.Int64N(int64(backoff)))) {
			return
		}
		backoff = min(2*backoff, maxBackoff)
	}
}

// offline lets the vehicle drive on for d while the terminal has no connection: like a real
// terminal it stores the positions, and uploads them as blind-zone back-fill (0x0704 type 1)
// once it is online again. It reports whether the full time passed.
func offline(ctx context.Context, cfg demoConfig, term *sim.Terminal, drv sim.Source, d time.Duration) bool {
	_ = term.SetCoverage(false) // only buffers: cannot fail
	deadline := time.Now().Add(d)
	for {
		wait := min(cfg.interval, time.Until(deadline))
		if !sleep(ctx, wait) {
			return false
		}
		if !time.Now().Before(deadline) {
			return true
		}
		p, _ := drv.Next(time.Now())
		_ = term.Report(p) // out of coverage: stored, cannot fail
	}
}

// demoDrive uploads what the terminal stored while offline, then reports the driver's positions
// until ctx ends or the connection fails.
func demoDrive(ctx context.Context, cfg demoConfig, term *sim.Terminal, drv sim.Source) error {
	if err := term.SetCoverage(true); err != nil {
		return err
	}
	timer := time.NewTimer(0)
	defer timer.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-term.Done():
			return term.Err()
		case <-timer.C:
		}
		p, _ := drv.Next(time.Now())
		if err := term.Report(p); err != nil {
			return err
		}
		// The terminal's own interval: parameter 0x0029 as the platform set
		// it, or temporary tracking (0x8202) while it lasts, which applies
		// parked too.
		wait := term.ReportInterval(time.Now())
		if every, _, until := term.Tracking(); !p.ACC && (every == 0 || !time.Now().Before(until)) {
			wait = cfg.parkedInterval
		}
		if term.SinceLastSend() >= cfg.heartbeat {
			if err := term.Heartbeat(ctx); err != nil {
				return err
			}
		}
		timer.Reset(wait)
	}
}

// sleep waits d or until ctx ends; it reports whether the full time passed.
func sleep(ctx context.Context, d time.Duration) bool {
	if d <= 0 {
		return ctx.Err() == nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}
