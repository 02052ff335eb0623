package main

import (
	"context"
	"crypto/tls"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"net/netip"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"fleetmon/api"
	"fleetmon/ingest"
	"fleetmon/track"
	"fleetmon/track/commands"
)

// serveConfig is fleetd serve's configuration.
type serveConfig struct {
	db           dbFlags
	read         readFlags
	readMaxLag   time.Duration
	jt808Addr    string
	httpAddr     string
	open         bool
	rawRetention time.Duration
	logLevel     string
	logFormat    string
	pprof        bool
	dbMaxConns   int
	writer       track.WriterConfig
	gateway      ingest.Config
	mqtt         ingest.MQTTConfig
	cluster      clusterFlags
	api          api.Config
	tlsCert      string
	tlsKey       string
	offlineAfter time.Duration
	backup       backupFlags
	notify       notifyFlags
	commands     commands.Config
}

func parseServe(args []string, stderr io.Writer) (*serveConfig, error) {
	c := &serveConfig{}
	fs := flag.NewFlagSet("fleetd serve", flag.ContinueOnError)
	fs.SetOutput(stderr)
	c.db.registerServe(fs)
	c.read.register(fs)
	c.notify.register(fs)
	fs.StringVar(&c.jt808Addr, "jt808-addr", envOr("FLEETMON_JT808_ADDR", ":6808"), "TCP address for JT/T 808 terminals (env FLEETMON_JT808_ADDR)")
	fs.StringVar(&c.httpAddr, "http-addr", envOr("FLEETMON_HTTP_ADDR", ":8080"), "HTTP address for the API, login page, /metrics and /healthz (env FLEETMON_HTTP_ADDR)")
	fs.BoolVar(&c.open, "open-registration", envOr("FLEETMON_OPEN_REGISTRATION", "") == "true",
		"admit terminals not bound to a vehicle into the 未分配 (unassigned) unit, for pilots (env FLEETMON_OPEN_REGISTRATION=true)")
	retention := fs.String("raw-retention", envOr("FLEETMON_RAW_RETENTION", "0"),
		"drop raw frames older than this, by whole months (e.g. 4320h = 180 days); 0 keeps them forever (env FLEETMON_RAW_RETENTION)")
	fs.StringVar(&c.logLevel, "log-level", envOr("FLEETMON_LOG_LEVEL", "info"), "debug, info, warn or error (env FLEETMON_LOG_LEVEL)")
	fs.StringVar(&c.logFormat, "log-format", envOr("FLEETMON_LOG_FORMAT", "text"), "text or json (env FLEETMON_LOG_FORMAT)")
	fs.BoolVar(&c.pprof, "pprof", envOr("FLEETMON_PPROF", "") == "true", "serve Go profiles at /debug/pprof/ on --http-addr (env FLEETMON_PPROF=true)")
	fs.StringVar(&c.tlsCert, "tls-cert", envOr("FLEETMON_TLS_CERT", ""), "serve HTTPS with this PEM certificate (chain) file; needs --tls-key (env FLEETMON_TLS_CERT)")
	fs.StringVar(&c.tlsKey, "tls-key", envOr("FLEETMON_TLS_KEY", ""), "the PEM private key of --tls-cert (env FLEETMON_TLS_KEY)")
	metricsAllow := fs.String("metrics-allow", envOr("FLEETMON_METRICS_ALLOW", "127.0.0.0/8,::1/128"),
		"comma-separated CIDRs that may read /metrics without credentials; \"none\" for none (env FLEETMON_METRICS_ALLOW)")
	fs.StringVar(&c.api.MetricsToken, "metrics-token", envOr("FLEETMON_METRICS_TOKEN", ""),
		"a bearer token that may read /metrics; prefer the env FLEETMON_METRICS_TOKEN (flags show in ps)")
	fs.BoolVar(&c.api.SecureCookies, "secure-cookies", envOr("FLEETMON_SECURE_COOKIES", "") == "true",
		"mark session cookies Secure behind a TLS-terminating proxy (implied by --tls-cert) (env FLEETMON_SECURE_COOKIES=true)")
	fs.IntVar(&c.dbMaxConns, "db-max-conns", 24, "database connections fleetd may open (writer workers, rules engine shards, API, terminal registry)")
	fs.IntVar(&c.writer.Workers, "write-workers", 2, "storage writer goroutines, each with a database connection")
	fs.DurationVar(&c.gateway.IdleTimeout, "idle-timeout", 3*time.Minute, "close terminal connections silent for this long")
	fs.IntVar(&c.gateway.MaxConnections, "max-connections", 50000, "maximum open terminal connections")
	offline := fs.String("offline-after", envOr("FLEETMON_OFFLINE_AFTER", track.DefaultOfflineAfter.String()),
		"the live map shows a vehicle offline after this long without a report; keep it above the terminals' parked reporting interval (env FLEETMON_OFFLINE_AFTER)")
	fs.Float64Var(&c.api.Fuel.NearM, "fuel-near-m", 300, "how close to the station, metres, the track must put a car at a fuel-card fill's time")
	fs.DurationVar(&c.api.Fuel.Window, "fuel-window", 15*time.Minute, "how far either side of a fuel-card fill's time the track is searched for the car")
	registerMQTT(fs, &c.mqtt)
	if err := registerDeviceTimes(fs, &c.gateway.DeviceTimes, &c.mqtt.DeviceTimes); err != nil {
		return nil, err
	}
	registerCluster(fs, &c.cluster)
	registerCommands(fs, &c.commands)
	c.backup.register(fs)
	var bm api.BaseMapOptions
	baseMaps := fs.String("base-maps", envOr("FLEETMON_BASE_MAPS", ""),
		"tile sources the map offers, the first by default: osm, tianditu, amap, tencent, intranet; empty: intranet/tianditu when configured, else no tiles (a plain map with a grid) (env FLEETMON_BASE_MAPS)")
	fs.StringVar(&bm.TiandituKey, "tianditu-key", envOr("FLEETMON_TIANDITU_KEY", ""), "the operator's Tianditu (天地图) key (env FLEETMON_TIANDITU_KEY)")
	fs.StringVar(&bm.TileURL, "tile-url", envOr("FLEETMON_TILE_URL", ""), "an intranet tile server's URL template, e.g. http://tiles.example/{z}/{x}/{y}.png (env FLEETMON_TILE_URL)")
	fs.StringVar(&bm.TileCRS, "tile-crs", envOr("FLEETMON_TILE_CRS", "wgs84"), "the datum of --tile-url's tiles: wgs84 or gcj02 (env FLEETMON_TILE_CRS)")
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	if fs.NArg() > 0 {
		return nil, usageError{fmt.Sprintf("serve takes no arguments, got %q", fs.Args())}
	}
	d, err := time.ParseDuration(*retention)
	if err != nil || d < 0 {
		return nil, usageError{fmt.Sprintf("--raw-retention %q: want a duration such as 4320h, or 0", *retention)}
	}
	c.rawRetention = d
	if c.readMaxLag, err = c.read.lag(); err != nil {
		return nil, err
	}
	if c.offlineAfter, err = time.ParseDuration(*offline); err != nil || c.offlineAfter <= 0 {
		return nil, usageError{fmt.Sprintf("--offline-after %q: want a positive duration such as 10m", *offline)}
	}
	if (c.tlsCert == "") != (c.tlsKey == "") {
		return nil, usageError{"--tls-cert and --tls-key go together"}
	}
	if c.tlsCert != "" {
		c.api.SecureCookies = true
	}
	for _, v := range strings.Split(*metricsAllow, ",") {
		v = strings.TrimSpace(v)
		if v == "" || v == "none" {
			continue
		}
		p, err := netip.ParsePrefix(v)
		if err != nil {
			return nil, usageError{fmt.Sprintf("--metrics-allow %q: want CIDRs such as 10.0.0.0/8,::1/128", v)}
		}
		c.api.MetricsAllow = append(c.api.MetricsAllow, p.Masked())
	}
	for _, v := range strings.Split(*baseMaps, ",") {
		if v = strings.TrimSpace(v); v != "" {
			bm.Sources = append(bm.Sources, v)
		}
	}
	if c.api.BaseMaps, err = api.BaseMaps(bm); err != nil {
		return nil, usageError{err.Error()}
	}
	c.gateway.OpenRegistration = c.open
	if err := c.checkCluster(); err != nil {
		return nil, err
	}
	return c, nil
}

func cmdServe(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	cfg, err := parseServe(args, stderr)
	if err != nil {
		return err
	}
	log, err := newLogger(stderr, cfg.logLevel, cfg.logFormat)
	if err != nil {
		return err
	}
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))

	db, err := openServeDB(ctx, cfg.db, int32(cfg.dbMaxConns), log)
	if err != nil {
		return err
	}
	defer db.close()
	store := track.NewStore(db.pool)
	store.SetSealKey(db.sealKey)
	// Failovers followed, and the read replica's lag (dbread.go).
	reads, stopWatch, err := startDBWatch(ctx, cfg.read, cfg.readMaxLag, db.pool, int32(cfg.dbMaxConns), log, reg)
	if err != nil {
		return err
	}
	defer stopWatch()
	cfg.api.Reads = reads

	// The data path from the terminals to the browsers (pipeline.go),
	// the same for one node and for several.
	p, err := newPipeline(ctx, cfg, db.pool, store, log, reg)
	if err != nil {
		return err
	}
	if cfg.cluster.nodeID != "" {
		log.Info("running as a cluster node", "node", cfg.cluster.nodeID)
	}
	// Configuration edits through the API reload the rules; the live
	// stream reads from the hub.
	cfg.api.Live, cfg.api.Rules = p.hub, p.rules
	cfg.api.Registerer = reg
	// Commands to terminals: queued through the API, sent by the gateway
	// or the subscriber that hears the terminal (commands.go).
	cmds := commands.NewStore(db.pool, cfg.commands, commands.NewMetrics(reg))
	cfg.api.Commands = cmds
	cfg.gateway.Commands, cfg.gateway.Node = cmds, cfg.nodeName()
	cfg.mqtt.Commands = cmds
	apiSrv := api.New(cfg.api, store, promhttp.HandlerFor(reg, promhttp.HandlerOpts{Registry: reg}), db.pool.Ping,
		log.With("component", "api"))
	// Stopped on return, after the gateway and the subscriber below, which
	// feed it.
	stopPipeline := p.start(apiSrv)
	defer stopPipeline()

	// Terminals' reports enter the pipeline through the writer.
	gw := ingest.NewServer(cfg.gateway, p.writer, store, log.With("component", "jt808"), reg)
	ln, err := net.Listen("tcp", cfg.jt808Addr)
	if err != nil {
		return fmt.Errorf("listen for terminals: %w", err)
	}
	httpLn, err := net.Listen("tcp", cfg.httpAddr)
	if err != nil {
		ln.Close()
		return fmt.Errorf("listen for http: %w", err)
	}
	// The first start creates the administrator and shows its one-time
	// password once, on stdout (never in the log).
	otp, err := api.NewAccounts(db.pool).EnsureAdmin(ctx)
	if err != nil {
		ln.Close()
		httpLn.Close()
		return fmt.Errorf("create the first administrator: %w", err)
	}
	var handler http.Handler = apiSrv
	if cfg.pprof {
		mux := http.NewServeMux()
		mux.Handle("/", apiSrv)
		mux.Handle("GET /debug/pprof/", apiSrv.Guard(http.HandlerFunc(pprof.Index)))
		mux.Handle("GET /debug/pprof/profile", apiSrv.Guard(http.HandlerFunc(pprof.Profile)))
		mux.Handle("GET /debug/pprof/trace", apiSrv.Guard(http.HandlerFunc(pprof.Trace)))
		mux.Handle("GET /debug/pprof/symbol", apiSrv.Guard(http.HandlerFunc(pprof.Symbol)))
		handler = mux
	}
	// WriteTimeout bounds ordinary answers; track streams extend their own.
	hs := &http.Server{Handler: handler, ReadHeaderTimeout: 10 * time.Second, ReadTimeout: 30 * time.Second,
		WriteTimeout: 60 * time.Second, IdleTimeout: 2 * time.Minute, MaxHeaderBytes: 64 << 10,
		TLSConfig: &tls.Config{MinVersion: tls.VersionTLS12},
		ErrorLog:  slog.NewLogLogger(log.With("component", "http").Handler(), slog.LevelWarn)}

	errc := make(chan error, 3)
	go func() { errc <- gw.Serve(ln) }()
	go func() {
		if cfg.tlsCert != "" {
			errc <- hs.ServeTLS(httpLn, cfg.tlsCert, cfg.tlsKey)
			return
		}
		errc <- hs.Serve(httpLn)
	}()
	subCtx, stopSub := context.WithCancel(context.Background())
	subDone := make(chan struct{})
	wakers := []func(int64){gw.Wake}
	if cfg.mqtt.Broker != "" {
		sub := ingest.NewSubscriber(cfg.mqtt, p.writer, store, store, log.With("component", "mqtt"), reg)
		go func() {
			defer close(subDone)
			if err := sub.Run(subCtx); err != nil {
				errc <- err
			}
		}()
		wakers = append(wakers, sub.Wake)
	} else {
		close(subDone)
	}
	cmdCtx, stopCommands := context.WithCancel(ctx)
	defer stopCommands()
	go watchCommands(cmdCtx, cmds, log.With("component", "commands"), wakers...)
	maint := newJobs(reg, log)
	// Compaction and retention are DDL: they run as the owner, when serve has it.
	if ms := db.maintenanceStore(); ms != nil {
		if cfg.rawRetention > 0 {
			go maint.prune(ctx, ms, cfg.rawRetention)
		}
		go maint.compact(ctx, ms)
	}
	go maint.seal(ctx, store)
	go maint.footprints(ctx, store)
	go maint.days(ctx, store)
	watchBackups(ctx, maint, reg, db.pool, cfg.backup, log)
	log.Info("fleetd serving", "jt808", ln.Addr().String(), "http", httpLn.Addr().String(),
		"open_registration", cfg.open)
	// The bound addresses on stdout let scripts and tests use port 0. One
	// write, so that a reader (make run) that sees them sees the password too.
	started := fmt.Sprintf("jt808 %s\nhttp %s\n", ln.Addr(), httpLn.Addr())
	if otp != "" {
		started += fmt.Sprintf("created the administrator admin; one-time password (shown once, change it at first login): %s\n", otp)
	}
	io.WriteString(stdout, started)

	select {
	case <-ctx.Done():
		err = nil
	case err = <-errc:
		if errors.Is(err, ingest.ErrServerClosed) || errors.Is(err, http.ErrServerClosed) {
			err = nil
		}
	}
	log.Info("fleetd stopping")
	shutCtx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	_ = gw.Shutdown(shutCtx)
	_ = hs.Shutdown(shutCtx)
	stopSub()
	<-subDone
	return err // the deferred stopPipeline stops the writer, then the rest
}

// jobs runs fleetd serve's maintenance jobs: each at once and then every
// interval until ctx ends, its failures logged and counted, its last
// success exported, so that an operator can alert on a job that keeps
// failing (fleetmon_maintenance_runs_total{job,result},
// fleetmon_maintenance_last_success_timestamp_seconds{job}).
type jobs struct {
	runs *prometheus.CounterVec
	last *prometheus.GaugeVec
	log  *slog.Logger
}

func newJobs(reg prometheus.Registerer, log *slog.Logger) *jobs {
	j := &jobs{
		runs: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "fleetmon_maintenance_runs_total",
			Help: "Runs of fleetd serve's maintenance jobs (seal, footprints, compact, prune), by result.",
		}, []string{"job", "result"}),
		last: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "fleetmon_maintenance_last_success_timestamp_seconds",
			Help: "When each maintenance job last succeeded (Unix time).",
		}, []string{"job"}),
		log: log,
	}
	reg.MustRegister(j.runs, j.last)
	return j
}

// every runs fn as job name at once and then every interval until ctx
// ends, each run under a deadline of the interval or ten minutes,
// whichever is longer (a primary that hangs must not hold the job for the
// kernel's minutes; the next run takes up what it left). A failure caused by shutdown is not one; a failed run is
// tried again at the next interval.
func (j *jobs) every(ctx context.Context, name string, interval time.Duration, fn func(ctx context.Context) error) {
	for {
		rctx, cancel := context.WithTimeout(ctx, max(interval, 10*time.Minute))
		err := fn(rctx)
		cancel()
		switch {
		case err == nil:
			j.runs.WithLabelValues(name, "ok").Inc()
			j.last.WithLabelValues(name).SetToCurrentTime()
		case ctx.Err() == nil:
			j.runs.WithLabelValues(name, "error").Inc()
			j.log.Error("maintenance job failed", "job", name, "err", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(interval):
		}
	}
}

// seal seals the evidence tables' finished days (track.SealDays), hourly.
func (j *jobs) seal(ctx context.Context, store *track.Store) {
	j.every(ctx, "seal", time.Hour, func(ctx context.Context) error {
		made, err := store.SealDays(ctx, time.Now())
		for _, s := range made {
			j.log.Info("sealed evidence day", "kind", s.Kind, "day", s.Day.Format(time.DateOnly), "rows", s.Rows)
		}
		return err
	})
}

// footprints keeps the area search's footprints up to date
// (track.SummariseFootprints) every minute: an area search reads the
// positions stored since the last run directly, so the shorter the
// interval, the less it reads.
func (j *jobs) footprints(ctx context.Context, store *track.Store) {
	j.every(ctx, "footprints", time.Minute, func(ctx context.Context) error {
		n, err := store.SummariseFootprints(ctx, time.Now())
		if err == nil && n > 0 {
			j.log.Debug("summarised footprints", "footprints", n)
		}
		return err
	})
}

// days keeps the statistics' per vehicle-day figures up to date
// (track.SummariseDays) every minute. It lives beside the footprints, in
// track's jobs and not in the rules' runner: the figures are what the
// stored positions say (track.Analyze, as replay shows them), found by
// commit like the footprints, with no verdict in them; the calendars are
// applied when a report is asked for (alerts.Ledger), so nothing flows
// back from alerts to track.
func (j *jobs) days(ctx context.Context, store *track.Store) {
	j.every(ctx, "vehicle_days", time.Minute, func(ctx context.Context) error {
		n, err := store.SummariseDays(ctx, time.Now())
		if err == nil && n > 0 {
			j.log.Debug("summarised vehicle days", "days", n)
		}
		return err
	})
}

// compact lays finished months of positions out for replay
// (track.CompactHistory), daily.
func (j *jobs) compact(ctx context.Context, store *track.Store) {
	j.every(ctx, "compact", 24*time.Hour, func(ctx context.Context) error {
		done, err := store.CompactHistory(ctx, time.Now())
		for _, d := range done {
			j.log.Info("compacted history", "partition", d.Partition, "took", d.Took)
		}
		return err
	})
}

// prune drops raw-frame partitions older than keep, daily.
func (j *jobs) prune(ctx context.Context, store *track.Store, keep time.Duration) {
	j.every(ctx, "prune", 24*time.Hour, func(ctx context.Context) error {
		dropped, err := store.PruneRawFrames(ctx, time.Now().Add(-keep))
		if err == nil && len(dropped) > 0 {
			j.log.Info("raw frame retention dropped partitions", "partitions", dropped)
		}
		return err
	})
}
