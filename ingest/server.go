package ingest

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"fleetmon/track"
)

// Config configures the JT/T 808 gateway. Zero values take the defaults.
type Config struct {
	// OpenRegistration admits terminals that are not bound to a vehicle:
	// each gets a vehicle in the "未分配" (unassigned) unit, for pilots. Off
	// by default: unknown terminals get 0x8100 result 4.
	OpenRegistration bool
	// IdleTimeout closes a connection that sends nothing for this long.
	// Terminals send heartbeats (0x0002) every 60 s by default
	// (parameter 0x0001), so the default is 3 min.
	IdleTimeout time.Duration
	// AuthTimeout closes a connection that has not authenticated this long
	// after it opened. Default 1 min.
	AuthTimeout time.Duration
	// WriteTimeout bounds sending one reply. Default 10 s.
	WriteTimeout time.Duration
	// MaxFrame is the longest wire frame accepted, in bytes. The body length
	// field has 10 bits (≤ 1023 bytes), so an escaped frame is at most about
	// 2 × 1050 bytes. Default 4096.
	MaxFrame int
	// MaxFrameRate and FrameBurst bound frames per second per connection
	// (a token bucket); a terminal above it is cut off as a flood. Defaults
	// 100/s with a burst of 2000 (a blind-zone upload after days offline).
	MaxFrameRate float64
	FrameBurst   int
	// MaxBadFrames closes a connection after this many consecutive frames
	// that fail the checksum or cannot be parsed. Default 20.
	MaxBadFrames int
	// MaxConnections bounds open connections; more are closed at once.
	// Default 50,000.
	MaxConnections int
	// FragmentTimeout is how long a sub-packaged message may stay
	// incomplete before fleetd asks for the missing packages (0x8003); after
	// twice this it is dropped. Default 30 s.
	FragmentTimeout time.Duration
	// MaxFragmentBytes bounds the memory one connection may hold in
	// incomplete sub-packaged messages. Default 256 KiB.
	MaxFragmentBytes int
	// DeviceTimes bounds the device times of the positions stored.
	DeviceTimes DeviceTimes
	// Commands, when not nil, is the queue of commands to terminals: the
	// gateway sends an authenticated terminal what is queued for it and
	// records its answers (session_commands.go).
	Commands CommandQueue
	// Node names this node in the commands it sends.
	Node string
}

func (c *Config) defaults() {
	def := func(d *time.Duration, v time.Duration) {
		if *d <= 0 {
			*d = v
		}
	}
	def(&c.IdleTimeout, 3*time.Minute)
	def(&c.AuthTimeout, time.Minute)
	def(&c.WriteTimeout, 10*time.Second)
	def(&c.FragmentTimeout, 30*time.Second)
	if c.MaxFrame <= 0 {
		c.MaxFrame = 4096
	}
	if c.MaxFrameRate <= 0 {
		c.MaxFrameRate = 100
	}
	if c.FrameBurst <= 0 {
		c.FrameBurst = 2000
	}
	if c.MaxBadFrames <= 0 {
		c.MaxBadFrames = 20
	}
	if c.MaxConnections <= 0 {
		c.MaxConnections = 50000
	}
	if c.MaxFragmentBytes <= 0 {
		c.MaxFragmentBytes = 256 << 10
	}
	c.DeviceTimes.defaults()
}

// Sink stores what terminals send. track.Writer implements it.
type Sink interface {
	// Write stores positions and frames durably and returns once they are
	// committed, or with ctx's error. shard keeps one terminal's writes in
	// order. The sink owns the slices.
	Write(ctx context.Context, shard int64, positions []track.Position, frames []track.RawFrame) error
	// Record stores frames without waiting for the commit.
	Record(ctx context.Context, shard int64, frames ...track.RawFrame) error
}

// Registry admits terminals. track.Store implements it.
type Registry interface {
	Register(ctx context.Context, reg track.Registration, open bool) (track.RegisterResult, string, error)
	Authenticate(ctx context.Context, a track.Authentication) (track.Terminal, bool, error)
	Deregister(ctx context.Context, terminalID int64) error
}

// Server is the JT/T 808 TCP gateway.
type Server struct {
	cfg      Config
	sink     Sink
	registry Registry
	log      *slog.Logger
	m        *metrics
	ids      *track.FrameIDs
	sample   *sampleBudget

	mu        sync.Mutex
	listeners map[net.Listener]struct{}
	conns     map[*session]struct{}
	online    map[int64]*session // authenticated connections by terminal, with Commands
	shutdown  bool
	wg        sync.WaitGroup
	ctx       context.Context
	cancel    context.CancelFunc
}

// NewServer returns a gateway storing into sink and admitting through
// registry. Metrics are registered on reg when it is not nil.
func NewServer(cfg Config, sink Sink, registry Registry, log *slog.Logger, reg prometheus.Registerer) *Server {
	cfg.defaults()
	ctx, cancel := context.WithCancel(context.Background())
	return &Server{
		cfg:       cfg,
		sink:      sink,
		registry:  registry,
		log:       log,
		m:         newMetrics(reg),
		ids:       track.NewFrameIDs(),
		sample:    newSampleBudget(),
		listeners: map[net.Listener]struct{}{},
		conns:     map[*session]struct{}{},
		online:    map[int64]*session{},
		ctx:       ctx,
		cancel:    cancel,
	}
}

// ErrServerClosed is returned by Serve after Shutdown.
var ErrServerClosed = errors.New("ingest: server closed")

// Serve accepts connections on l until Shutdown, serving each in its own
// goroutine. Temporary accept errors are retried with back-off, as
// net/http does.
func (s *Server) Serve(l net.Listener) error {
	s.mu.Lock()
	if s.shutdown {
		s.mu.Unlock()
		return ErrServerClosed
	}
	s.listeners[l] = struct{}{}
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		delete(s.listeners, l)
		s.mu.Unlock()
	}()
	var delay time.Duration
	for {
		c, err := l.Accept()
		if err != nil {
			s.mu.Lock()
			down := s.shutdown
			s.mu.Unlock()
			if down {
				return ErrServerClosed
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() || errors.Is(err, errTooManyFiles) {
				delay = min(max(2*delay, 5*time.Millisecond), time.Second)
				s.log.Warn("accept failed, retrying", "retry_in", delay, "err", err)
				time.Sleep(delay)
				continue
			}
			return fmt.Errorf("accept: %w", err)
		}
		delay = 0
		s.m.accepted.Inc()
		sess := newSession(s, c)
		s.mu.Lock()
		if s.shutdown {
			s.mu.Unlock()
			c.Close()
			return ErrServerClosed
		}
		if len(s.conns) >= s.cfg.MaxConnections {
			s.mu.Unlock()
			s.m.closed.WithLabelValues(CloseTooMany.String()).Inc()
			s.log.Warn("connection refused", "remote", c.RemoteAddr().String(), "reason", CloseTooMany.String())
			c.Close()
			continue
		}
		s.conns[sess] = struct{}{}
		s.wg.Add(1)
		s.mu.Unlock()
		s.m.connections.Inc()
		go func() {
			defer s.wg.Done()
			sess.run(s.ctx)
			s.mu.Lock()
			delete(s.conns, sess)
			s.mu.Unlock()
			s.m.connections.Dec()
		}()
	}
}

// Shutdown stops accepting, closes every connection (a report being
// written when it closes is not acknowledged, so the terminal resends it)
// and waits for the sessions to end or ctx to expire.
func (s *Server) Shutdown(ctx context.Context) error {
	s.mu.Lock()
	s.shutdown = true
	for l := range s.listeners {
		l.Close()
	}
	for c := range s.conns {
		c.closeWith(CloseShutdown)
	}
	s.mu.Unlock()
	s.cancel()
	done := make(chan struct{})
	go func() { s.wg.Wait(); close(done) }()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("ingest shutdown: %w", ctx.Err())
	}
}

// Connections returns the number of open terminal connections.
func (s *Server) Connections() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.conns)
}
