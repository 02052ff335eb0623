package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net/http"
	"net/url"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gorilla/websocket"
)

// watchConfig is what the watch command runs.
type watchConfig struct {
	url      string
	token    string
	clients  int
	duration time.Duration
	warmup   time.Duration
}

// The latency histogram: 0.1 ms buckets up to 60 s; slower samples land
// in the last bucket (and in Max).
const (
	watchBucket  = 100 * time.Microsecond
	watchBuckets = int(60 * time.Second / watchBucket)
)

// watchReport is the result of a watch run, printed as text or JSON.
type watchReport struct {
	URL             string  `json:"url"`
	Clients         int     `json:"clients"`
	ClientsFailed   int64   `json:"clients_failed"`
	Disconnects     int64   `json:"disconnects"`
	DurationSeconds float64 `json:"duration_seconds"`
	Positions       int64   `json:"positions"`
	PositionsPerSec float64 `json:"positions_per_s_per_client"`
	Unstamped       int64   `json:"unstamped"`
	P50Ms           float64 `json:"latency_p50_ms"`
	P90Ms           float64 `json:"latency_p90_ms"`
	P99Ms           float64 `json:"latency_p99_ms"`
	P999Ms          float64 `json:"latency_p999_ms"`
	MaxMs           float64 `json:"latency_max_ms"`
}

// runWatch connects websocket clients to GET /api/v1/live and measures how
// long positions take from fleetd reading the report (the "received"
// stamp) to arriving at a client. Client and server must share a clock:
// run it on the server's machine.
func runWatch(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("watch", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), `usage: fleetsim watch --url URL --token TOKEN [flags]

Connects --clients websocket clients to fleetd's live stream (GET /api/v1/live) with an API
token (fleetd token create), and reports how long positions take from fleetd reading the
terminal's report to arriving at a client: percentiles over every position every client
received after --warmup, for --duration. Run it beside a load (fleetsim load) on the server's
machine: it compares the server's clock with its own.

Flags:
`)
		fs.PrintDefaults()
	}
	var cfg watchConfig
	fs.StringVar(&cfg.url, "url", "http://127.0.0.1:8080", "fleetd's HTTP base `URL`")
	fs.StringVar(&cfg.token, "token", "", "API `token` (or FLEETSIM_TOKEN)")
	fs.IntVar(&cfg.clients, "clients", 50, "websocket clients")
	fs.DurationVar(&cfg.duration, "duration", time.Minute, "how long to measure")
	fs.DurationVar(&cfg.warmup, "warmup", 5*time.Second, "positions received in this first period are not counted")
	jsonOut := fs.Bool("json", false, "print the report as JSON")
	verbose := fs.Bool("v", false, "log connection events")
	if err := parse(fs, args); err != nil {
		return err
	}
	if cfg.token == "" {
		cfg.token = os.Getenv("FLEETSIM_TOKEN")
	}
	switch {
	case cfg.token == "":
		return errors.New("watch: --token is required")
	case cfg.clients <= 0:
		return errors.New("watch: --clients must be positive")
	case cfg.duration <= 0:
		return errors.New("watch: --duration must be positive")
	}
	wsURL, err := liveURL(cfg.url)
	if err != nil {
		return err
	}
	rep := watch(ctx, cfg, wsURL, newLogger(stderr, *verbose))
	if *jsonOut {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(rep)
	}
	fmt.Fprintf(stdout, "clients %d (failed %d, disconnects %d) for %.0f s: %d positions, %.0f/s per client, %d without a received stamp\n",
		rep.Clients, rep.ClientsFailed, rep.Disconnects, rep.DurationSeconds, rep.Positions, rep.PositionsPerSec, rep.Unstamped)
	fmt.Fprintf(stdout, "fleetd → client latency: p50 %s  p90 %s  p99 %s  p99.9 %s  max %s\n",
		ms(rep.P50Ms), ms(rep.P90Ms), ms(rep.P99Ms), ms(rep.P999Ms), ms(rep.MaxMs))
	if rep.ClientsFailed > 0 {
		return fmt.Errorf("watch: %d of %d clients could not connect", rep.ClientsFailed, rep.Clients)
	}
	return nil
}

// liveURL turns fleetd's base URL into its live stream's websocket URL.
func liveURL(base string) (string, error) {
	u, err := url.Parse(base)
	if err != nil {
		return "", fmt.Errorf("watch: --url: %w", err)
	}
	switch u.Scheme {
	case "http", "ws":
		u.Scheme = "ws"
	case "https", "wss":
		u.Scheme = "wss"
	default:
		return "", fmt.Errorf("watch: --url %q: want http(s)://HOST:PORT", base)
	}
	u.Path = strings.TrimSuffix(u.Path, "/") + "/api/v1/live"
	return u.String(), nil
}

// watchHist counts latencies in watchBucket steps.
type watchHist struct {
	counts []uint64
	n      int64
	max    time.Duration
}

func (h *watchHist) add(d time.Duration) {
	if d < 0 {
		d = 0 // clocks read at different instants; never before the stamp by more than that
	}
	i := int(d / watchBucket)
	if i >= watchBuckets {
		i = watchBuckets - 1
	}
	h.counts[i]++
	h.n++
	h.max = max(h.max, d)
}

func (h *watchHist) merge(o *watchHist) {
	for i, c := range o.counts {
		h.counts[i] += c
	}
	h.n += o.n
	h.max = max(h.max, o.max)
}

// quantile is the upper edge of the bucket holding quantile q, in ms (0
// without samples).
func (h *watchHist) quantile(q float64) float64 {
	if h.n == 0 {
		return 0
	}
	rank := uint64(math.Ceil(q * float64(h.n)))
	var seen uint64
	for i, c := range h.counts {
		seen += c
		if seen >= rank {
			return float64(time.Duration(i+1)*watchBucket) / float64(time.Millisecond)
		}
	}
	return float64(h.max) / float64(time.Millisecond)
}

func watch(ctx context.Context, cfg watchConfig, wsURL string, log *slog.Logger) *watchReport {
	rep := &watchReport{URL: wsURL, Clients: cfg.clients}
	var failed, disconnects, unstamped atomic.Int64
	total := &watchHist{counts: make([]uint64, watchBuckets)}
	var mu sync.Mutex
	start := time.Now()
	countFrom := start.Add(cfg.warmup)
	end := countFrom.Add(cfg.duration)
	ctx, cancel := context.WithDeadline(ctx, end)
	defer cancel()

	var wg sync.WaitGroup
	for i := range cfg.clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			h := &watchHist{counts: make([]uint64, watchBuckets)}
			err := watchClient(ctx, cfg, wsURL, countFrom, h, &unstamped, &disconnects)
			if err != nil {
				failed.Add(1)
				log.Warn("watch client failed", "client", i, "err", err)
			}
			mu.Lock()
			total.merge(h)
			mu.Unlock()
		}()
	}
	wg.Wait()
	rep.ClientsFailed, rep.Disconnects, rep.Unstamped = failed.Load(), disconnects.Load(), unstamped.Load()
	rep.DurationSeconds = time.Since(countFrom).Seconds()
	rep.Positions = total.n
	if ok := cfg.clients - int(rep.ClientsFailed); ok > 0 && rep.DurationSeconds > 0 {
		rep.PositionsPerSec = float64(total.n) / float64(ok) / rep.DurationSeconds
	}
	rep.P50Ms, rep.P90Ms, rep.P99Ms, rep.P999Ms = total.quantile(0.5), total.quantile(0.9), total.quantile(0.99), total.quantile(0.999)
	rep.MaxMs = float64(total.max) / float64(time.Millisecond)
	return rep
}

// A positions message is {"type":"positions","positions":[{…},{…}]} with
// flat position objects.
var (
	positionsType = []byte(`"type":"positions"`)
	positionsKey  = []byte(`"positions":[`)
	stampKey      = []byte(`"received":"`)
)

// scanStamps calls f with each position's receive stamp in a positions
// message, and counts positions without one. It scans the bytes instead
// of decoding JSON: 50 clients decoding every position would measure the
// harness's CPU, not fleetd's.
func scanStamps(msg []byte, f func(string), unstamped *atomic.Int64) {
	if !bytes.Contains(msg, positionsType) {
		return
	}
	i := bytes.Index(msg, positionsKey)
	if i < 0 {
		return
	}
	msg = msg[i+len(positionsKey):]
	for len(msg) > 0 && msg[0] == '{' {
		end := bytes.IndexByte(msg, '}')
		if end < 0 {
			return
		}
		obj := msg[:end]
		msg = bytes.TrimLeft(msg[end+1:], ",")
		j := bytes.Index(obj, stampKey)
		if j < 0 {
			unstamped.Add(1)
			continue
		}
		v := obj[j+len(stampKey):]
		if k := bytes.IndexByte(v, '"'); k >= 0 {
			f(string(v[:k]))
		} else {
			unstamped.Add(1)
		}
	}
}

// watchClient reads one connection until ctx ends, reconnecting when the
// server drops it. It fails only if it never connects.
func watchClient(ctx context.Context, cfg watchConfig, wsURL string, countFrom time.Time, h *watchHist, unstamped, disconnects *atomic.Int64) error {
	hdr := http.Header{"Authorization": {"Bearer " + cfg.token}}
	connected := false
	for ctx.Err() == nil {
		conn, resp, err := websocket.DefaultDialer.DialContext(ctx, wsURL, hdr)
		if err != nil {
			if resp != nil {
				err = fmt.Errorf("%w (HTTP %s)", err, resp.Status)
			}
			if !connected {
				return err
			}
			time.Sleep(100 * time.Millisecond)
			continue
		}
		connected = true
		stop := context.AfterFunc(ctx, func() { conn.Close() })
		for {
			_, msg, err := conn.ReadMessage()
			if err != nil {
				break
			}
			now := time.Now()
			if now.Before(countFrom) {
				continue
			}
			scanStamps(msg, func(stamp string) {
				t, err := time.Parse(time.RFC3339Nano, stamp)
				if err != nil {
					unstamped.Add(1)
					return
				}
				h.add(now.Sub(t))
			}, unstamped)
		}
		stop()
		conn.Close()
		if ctx.Err() == nil {
			disconnects.Add(1)
		}
	}
	return nil
}
