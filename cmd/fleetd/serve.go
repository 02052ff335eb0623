package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/pprof"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"fleetmon/ingest"
	"fleetmon/track"
)

// serveConfig is fleetd serve's configuration.
type serveConfig struct {
	db           dbFlags
	jt808Addr    string
	httpAddr     string
	open         bool
	rawRetention time.Duration
	logLevel     string
	logFormat    string
	pprof        bool
	writer       track.WriterConfig
	gateway      ingest.Config
	mqtt         ingest.MQTTConfig
}

func parseServe(args []string, stderr io.Writer) (*serveConfig, error) {
	c := &serveConfig{}
	fs := flag.NewFlagSet("fleetd serve", flag.ContinueOnError)
	fs.SetOutput(stderr)
	c.db.register(fs)
	fs.StringVar(&c.jt808Addr, "jt808-addr", envOr("FLEETMON_JT808_ADDR", ":6808"), "TCP address for JT/T 808 terminals (env FLEETMON_JT808_ADDR)")
	fs.StringVar(&c.httpAddr, "http-addr", envOr("FLEETMON_HTTP_ADDR", ":8080"), "HTTP address for /metrics and /healthz (env FLEETMON_HTTP_ADDR)")
	fs.BoolVar(&c.open, "open-registration", envOr("FLEETMON_OPEN_REGISTRATION", "") == "true",
		"admit terminals not bound to a vehicle into the 未分配 (unassigned) unit, for pilots (env FLEETMON_OPEN_REGISTRATION=true)")
	retention := fs.String("raw-retention", envOr("FLEETMON_RAW_RETENTION", "0"),
		"drop raw frames older than this, by whole months (e.g. 4320h = 180 days); 0 keeps them forever (env FLEETMON_RAW_RETENTION)")
	fs.StringVar(&c.logLevel, "log-level", envOr("FLEETMON_LOG_LEVEL", "info"), "debug, info, warn or error (env FLEETMON_LOG_LEVEL)")
	fs.StringVar(&c.logFormat, "log-format", envOr("FLEETMON_LOG_FORMAT", "text"), "text or json (env FLEETMON_LOG_FORMAT)")
	fs.BoolVar(&c.pprof, "pprof", envOr("FLEETMON_PPROF", "") == "true", "serve Go profiles at /debug/pprof/ on --http-addr (env FLEETMON_PPROF=true)")
	fs.IntVar(&c.writer.Workers, "write-workers", 2, "storage writer goroutines, each with a database connection")
	fs.DurationVar(&c.gateway.IdleTimeout, "idle-timeout", 3*time.Minute, "close terminal connections silent for this long")
	fs.IntVar(&c.gateway.MaxConnections, "max-connections", 50000, "maximum open terminal connections")
	registerMQTT(fs, &c.mqtt)
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
	c.gateway.OpenRegistration = c.open
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

	db, err := openDB(ctx, cfg.db, 0, log)
	if err != nil {
		return err
	}
	defer db.close()
	store := track.NewStore(db.pool)

	writer := track.NewWriter(db.pool, cfg.writer, log.With("component", "writer"), reg)
	writerCtx, stopWriter := context.WithCancel(context.Background())
	writerDone := make(chan struct{})
	go func() {
		defer close(writerDone)
		_ = writer.Run(writerCtx, 10*time.Second)
	}()

	gw := ingest.NewServer(cfg.gateway, writer, store, log.With("component", "jt808"), reg)
	ln, err := net.Listen("tcp", cfg.jt808Addr)
	if err != nil {
		stopWriter()
		<-writerDone
		return fmt.Errorf("listen for terminals: %w", err)
	}
	httpLn, err := net.Listen("tcp", cfg.httpAddr)
	if err != nil {
		ln.Close()
		stopWriter()
		<-writerDone
		return fmt.Errorf("listen for http: %w", err)
	}
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{Registry: reg}))
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
		defer cancel()
		if err := db.pool.Ping(ctx); err != nil {
			http.Error(w, "database unreachable", http.StatusServiceUnavailable)
			return
		}
		fmt.Fprintln(w, "ok")
	})
	if cfg.pprof {
		mux.HandleFunc("GET /debug/pprof/", pprof.Index)
		mux.HandleFunc("GET /debug/pprof/profile", pprof.Profile)
		mux.HandleFunc("GET /debug/pprof/trace", pprof.Trace)
		mux.HandleFunc("GET /debug/pprof/symbol", pprof.Symbol)
	}
	hs := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second, ReadTimeout: 30 * time.Second,
		WriteTimeout: 60 * time.Second, IdleTimeout: 2 * time.Minute}

	errc := make(chan error, 3)
	go func() { errc <- gw.Serve(ln) }()
	go func() { errc <- hs.Serve(httpLn) }()
	subCtx, stopSub := context.WithCancel(context.Background())
	subDone := make(chan struct{})
	if cfg.mqtt.Broker != "" {
		sub := ingest.NewSubscriber(cfg.mqtt, writer, store, store, log.With("component", "mqtt"), reg)
		go func() {
			defer close(subDone)
			if err := sub.Run(subCtx); err != nil {
				errc <- err
			}
		}()
	} else {
		close(subDone)
	}
	if cfg.rawRetention > 0 {
		go pruneLoop(ctx, store, cfg.rawRetention, log)
	}
	log.Info("fleetd serving", "jt808", ln.Addr().String(), "http", httpLn.Addr().String(),
		"open_registration", cfg.open)
	// The bound addresses on stdout let scripts and tests use port 0.
	fmt.Fprintf(stdout, "jt808 %s\nhttp %s\n", ln.Addr(), httpLn.Addr())

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
	stopWriter()
	<-writerDone
	return err
}

// pruneLoop drops raw-frame partitions older than the retention, daily.
func pruneLoop(ctx context.Context, store *track.Store, keep time.Duration, log interface {
	Info(string, ...any)
	Error(string, ...any)
}) {
	for {
		dropped, err := store.PruneRawFrames(ctx, time.Now().Add(-keep))
		if err != nil && ctx.Err() == nil {
			log.Error("raw frame retention", "err", err)
		} else if len(dropped) > 0 {
			log.Info("raw frame retention dropped partitions", "partitions", dropped)
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(24 * time.Hour):
		}
	}
}
