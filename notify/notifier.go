package notify

import (
	"context"
	"crypto/tls"
	"log/slog"
	"net/netip"
	"sync"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"

	"fleetmon/alerts"
)

// SMTPConfig is the mail server notifications are sent through.
type SMTPConfig struct {
	// Addr is host:port; empty: every attempt at an e-mail fails, saying
	// so in the send log, and the notification ends failed.
	Addr string
	// From is the sender's address; its domain names the Message-IDs.
	From string
	// Username and Password log in (PLAIN, only over TLS); empty: no login.
	Username, Password string
	// TLS is the configuration for STARTTLS; nil verifies the server's
	// certificate against the system's roots for the host of Addr.
	TLS *tls.Config
}

// Config is the notifier's configuration. Zero fields take the defaults.
type Config struct {
	SMTP SMTPConfig
	// WebhookAllow lists the networks webhooks may connect to; empty:
	// any address but loopback, link-local, unspecified and multicast.
	WebhookAllow []netip.Prefix
	// Senders is how many notifications are sent at once (default 4).
	Senders int
	// SendTimeout bounds one send (default 20s).
	SendTimeout time.Duration
	// Lease is how long a claimed row is left to its sender before another
	// may claim it (default SendTimeout + 10s: longer than a send lasts,
	// so that only a sender that died leaves a row to be sent again).
	Lease time.Duration
	// BackoffBase is the wait after the first failed attempt, doubled
	// after each further one up to BackoffMax (defaults 10s and 1h).
	BackoffBase, BackoffMax time.Duration
	// MaxAttempts is how many attempts a notification gets before it is
	// marked failed (default 10: about three hours of retries).
	MaxAttempts int
	// Poll is how often the notifier looks for new episodes and due rows
	// when nothing wakes it (default 5s): episodes another node stored,
	// retries coming due.
	Poll time.Duration
}

func (c *Config) defaults() {
	if c.Senders <= 0 {
		c.Senders = 4
	}
	if c.SendTimeout <= 0 {
		c.SendTimeout = 20 * time.Second
	}
	if c.Lease <= c.SendTimeout {
		c.Lease = c.SendTimeout + 10*time.Second
	}
	if c.BackoffBase <= 0 {
		c.BackoffBase = 10 * time.Second
	}
	if c.BackoffMax <= 0 {
		c.BackoffMax = time.Hour
	}
	if c.MaxAttempts <= 0 {
		c.MaxAttempts = 10
	}
	if c.Poll <= 0 {
		c.Poll = 5 * time.Second
	}
}

// backoff is the wait after the attempt-th failed attempt (1-based).
func (c *Config) backoff(attempt int) time.Duration {
	d := c.BackoffBase
	for i := 1; i < attempt && d < c.BackoffMax; i++ {
		d *= 2
	}
	return min(d, c.BackoffMax)
}

// Notifier enqueues notifications of the episodes the rules store and
// sends them. It is an alerts.EpisodeListener; Run does the work.
type Notifier struct {
	pool *pgxpool.Pool
	cfg  Config
	log  *slog.Logger
	m    *metrics
	send map[Channel]sender
	// scan and due wake the scanner and the senders; a wake-up pending is
	// enough, so a full channel drops the new one.
	scan, due chan struct{}
}

// New returns a notifier over pool. Metrics are registered on reg when it
// is not nil.
func New(pool *pgxpool.Pool, cfg Config, log *slog.Logger, reg prometheus.Registerer) *Notifier {
	cfg.defaults()
	n := &Notifier{pool: pool, cfg: cfg, log: log, m: newMetrics(reg),
		scan: make(chan struct{}, 1), due: make(chan struct{}, 1)}
	n.send = map[Channel]sender{
		ChannelWebhook: newWebhook(cfg.WebhookAllow, cfg.SendTimeout),
		ChannelEmail:   &mailer{cfg: cfg.SMTP, timeout: cfg.SendTimeout},
	}
	return n
}

// EpisodesChanged wakes the scan when the rules stored an episode that
// may be notified. It never blocks; what is enqueued is read from the
// database, so a wake-up lost (the notifier stopped) loses nothing.
func (n *Notifier) EpisodesChanged(eps []alerts.Episode) {
	for i := range eps {
		if eps[i].Status != alerts.EpisodeRetracted {
			wake(n.scan)
			return
		}
	}
}

func wake(c chan struct{}) {
	select {
	case c <- struct{}{}:
	default:
	}
}

// Run scans and sends until ctx ends. A database error is logged and
// retried at the next poll: the cursor and the outbox are in the
// database, so nothing is lost meanwhile.
func (n *Notifier) Run(ctx context.Context) error {
	var wg sync.WaitGroup
	wg.Add(1 + n.cfg.Senders)
	go func() { defer wg.Done(); n.scanLoop(ctx) }()
	for i := 0; i < n.cfg.Senders; i++ {
		go func() { defer wg.Done(); n.sendLoop(ctx) }()
	}
	wg.Wait()
	return nil
}

// scanLoop enqueues what the episodes changed since the cursor call for,
// at start (what was stored while fleetd was down), when woken and at
// each poll, and measures the queue.
func (n *Notifier) scanLoop(ctx context.Context) {
	t := time.NewTicker(n.cfg.Poll)
	defer t.Stop()
	for {
		added, err := n.Scan(ctx)
		if err != nil && ctx.Err() == nil {
			n.m.errors.WithLabelValues("scan").Inc()
			n.log.Warn("notify scan", "err", err)
		}
		if added > 0 {
			wake(n.due)
		}
		if err := n.measure(ctx); err != nil && ctx.Err() == nil {
			n.m.errors.WithLabelValues("measure").Inc()
			n.log.Warn("notify queue depth", "err", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-n.scan:
		case <-t.C:
		}
	}
}

// measure sets the queue's gauges: rows waiting, and the age of the
// oldest.
func (n *Notifier) measure(ctx context.Context) error {
	var depth int64
	var oldest float64
	err := n.pool.QueryRow(ctx, `SELECT count(*), COALESCE(EXTRACT(EPOCH FROM now() - min(created_at)), 0)::float8
		FROM notify_outbox WHERE state = 'pending'`).Scan(&depth, &oldest)
	if err != nil {
		return err
	}
	n.m.depth.Set(float64(depth))
	n.m.oldest.Set(oldest)
	return nil
}

// metrics are the notifier's metrics.
type metrics struct {
	enqueued, sent, attemptErrors, failed *prometheus.CounterVec
	errors                                *prometheus.CounterVec
	depth, oldest                         prometheus.Gauge
}

func newMetrics(reg prometheus.Registerer) *metrics {
	byChannel := func(name, help string) *prometheus.CounterVec {
		return prometheus.NewCounterVec(prometheus.CounterOpts{Name: name, Help: help}, []string{"channel"})
	}
	m := &metrics{
		enqueued:      byChannel("fleetmon_notify_enqueued_total", "Notifications enqueued (one per alert and subscription)."),
		sent:          byChannel("fleetmon_notify_sent_total", "Notifications sent and acknowledged by the receiver."),
		attemptErrors: byChannel("fleetmon_notify_attempt_errors_total", "Send attempts that failed (each is retried until the attempt limit)."),
		failed:        byChannel("fleetmon_notify_failed_total", "Notifications given up after the attempt limit, or not sendable (marked failed)."),
		errors: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "fleetmon_notify_errors_total",
			Help: "Database errors of the notifier, by step (scan, claim, record, measure); each is retried."}, []string{"step"}),
		depth: prometheus.NewGauge(prometheus.GaugeOpts{Name: "fleetmon_notify_queue_depth",
			Help: "Notifications waiting to be sent (pending, claimed or not)."}),
		oldest: prometheus.NewGauge(prometheus.GaugeOpts{Name: "fleetmon_notify_oldest_pending_seconds",
			Help: "Age of the oldest notification waiting to be sent; 0 when none waits."}),
	}
	if reg != nil {
		reg.MustRegister(m.enqueued, m.sent, m.attemptErrors, m.failed, m.errors, m.depth, m.oldest)
	}
	return m
}
