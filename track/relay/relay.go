package relay

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"
	"github.com/prometheus/client_golang/prometheus"

	"fleetmon/track"
)

// Config configures a Relay. Zero values take the defaults.
type Config struct {
	// Broker is the broker's URL, e.g. tcp://127.0.0.1:1883.
	Broker             string
	Username, Password string
	// NodeID names this node in the topics; unique per node, and without
	// '/', '+' or '#'. Required. The relay's MQTT client id is
	// NodeID + "-live" (a persistent session per node).
	NodeID string
	// Prefix is the topics' root: a node publishes under
	// Prefix/NodeID/{positions,alerts,reload}. Default "fleetmon/cluster".
	Prefix string
	// MaxBatch bounds the positions in one message. At 10,000 positions/s
	// and the default Linger, a node sends about 10 messages of 1,000
	// positions (67 kB) a second. Default 2,000.
	MaxBatch int
	// Linger is how long committed positions wait to be batched before
	// they are published. It adds to the live map's latency. Default
	// 100 ms.
	Linger time.Duration
	// Queue bounds the positions waiting to be published; more are dropped
	// (counted). Default 50,000 (5 s at 10,000 positions/s).
	Queue int
	// AlertQueue bounds the alert notices (one per episode write of the
	// rules, naming its alerts) waiting, in each direction; more are
	// dropped (counted). Default 1,000.
	AlertQueue int
}

func (c *Config) defaults() {
	if c.Prefix == "" {
		c.Prefix = "fleetmon/cluster"
	}
	if c.MaxBatch <= 0 {
		c.MaxBatch = 2000
	}
	if c.Linger <= 0 {
		c.Linger = 100 * time.Millisecond
	}
	if c.Queue <= 0 {
		c.Queue = 50000
	}
	if c.AlertQueue <= 0 {
		c.AlertQueue = 1000
	}
}

// Hub takes the positions other nodes committed; *track.Hub implements it.
// It is called from the MQTT client's goroutine and must not block.
type Hub interface {
	Publish(ps []track.Position)
}

// Peers is told the other nodes' notices, from one goroutine, in order of
// arrival; while it works, further notices wait (up to AlertQueue, then
// they are dropped and counted).
type Peers interface {
	// AlertsChanged: another node stored (opened, closed, changed or
	// retracted) the alerts with these ids.
	AlertsChanged(ids []string)
	// RulesChanged: another node changed the rules' configuration.
	RulesChanged()
}

// The message kinds, the last segment of a topic.
const (
	kindPositions = "positions"
	kindAlerts    = "alerts"
	kindReload    = "reload"
)

// Relay publishes this node's live news to the broker and hands the other
// nodes' positions to the hub and their notices to the Peers given to Run.
type Relay struct {
	cfg Config
	hub Hub
	log *slog.Logger
	m   *metrics

	mu      sync.Mutex
	pending []track.Position // committed here, not yet published
	spare   []track.Position
	wake    chan struct{}
	alerts  chan []string // to publish
	remote  chan remoteNotice
	client  mqtt.Client
	started bool
}

type remoteNotice struct {
	kind string
	ids  []string
}

type metrics struct {
	positions *prometheus.CounterVec
	messages  *prometheus.CounterVec
	dropped   *prometheus.CounterVec
	connected prometheus.Gauge
}

// New returns a relay for hub; its metrics are registered on reg when not
// nil. It checks the configuration.
func New(cfg Config, hub Hub, log *slog.Logger, reg prometheus.Registerer) (*Relay, error) {
	cfg.defaults()
	if cfg.Broker == "" {
		return nil, fmt.Errorf("relay: no broker")
	}
	if cfg.NodeID == "" || strings.ContainsAny(cfg.NodeID, "/+#") {
		return nil, fmt.Errorf("relay: node id %q: want a non-empty name without '/', '+' or '#'", cfg.NodeID)
	}
	m := &metrics{
		positions: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "fleetmon_relay_positions_total",
			Help: "Live positions relayed between nodes, by direction (sent, received).",
		}, []string{"direction"}),
		messages: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "fleetmon_relay_messages_total",
			Help: "Relay messages by kind (positions, alerts, reload) and direction (sent, received).",
		}, []string{"kind", "direction"}),
		dropped: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "fleetmon_relay_dropped_total",
			Help: "Live positions or alert notices not relayed, by what and why (queue_full, broker_down, publish_error, malformed).",
		}, []string{"what", "reason"}),
		connected: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "fleetmon_relay_connected",
			Help: "1 while the relay is connected to the broker.",
		}),
	}
	if reg != nil {
		reg.MustRegister(m.positions, m.messages, m.dropped, m.connected)
	}
	return &Relay{cfg: cfg, hub: hub, log: log, m: m, wake: make(chan struct{}, 1),
		alerts: make(chan []string, cfg.AlertQueue), remote: make(chan remoteNotice, cfg.AlertQueue)}, nil
}

func (r *Relay) topic(kind string) string { return r.cfg.Prefix + "/" + r.cfg.NodeID + "/" + kind }

// Committed queues committed positions for the other nodes: on a cluster
// node the relay is the track writer's CommitListener (the local hub has
// them already, from the writer's queue). It copies what it needs and
// never blocks: past Queue positions waiting, the rest are dropped
// (counted).
func (r *Relay) Committed(ps []track.Position) {
	r.mu.Lock()
	room := r.cfg.Queue - len(r.pending)
	n := min(room, len(ps))
	if n > 0 {
		start := len(r.pending)
		r.pending = append(r.pending, ps[:n]...)
		for i := start; i < len(r.pending); i++ {
			r.pending[i].Items = nil // the writer's bytes; the live stream does not send them
		}
	}
	full := len(r.pending) >= r.cfg.MaxBatch
	r.mu.Unlock()
	if n < len(ps) {
		r.m.dropped.WithLabelValues(kindPositions, "queue_full").Add(float64(len(ps) - n))
	}
	if full {
		select {
		case r.wake <- struct{}{}:
		default:
		}
	}
}

// PublishAlerts sends the ids of alerts this node stored to the other
// nodes (QoS 1). It never blocks: notices beyond the queue are dropped
// (counted).
func (r *Relay) PublishAlerts(ids []string) {
	if len(ids) == 0 {
		return
	}
	select {
	case r.alerts <- append([]string(nil), ids...):
	default:
		r.m.dropped.WithLabelValues(kindAlerts, "queue_full").Add(float64(len(ids)))
	}
}

// PublishReload tells the other nodes that the rules' configuration
// changed (QoS 1).
func (r *Relay) PublishReload() {
	select {
	case r.alerts <- nil: // nil: a reload notice
	default:
		r.m.dropped.WithLabelValues(kindReload, "queue_full").Inc()
	}
}

// Run connects (retrying until ctx ends), subscribes to the other nodes'
// topics and publishes this node's news until ctx ends. The other nodes'
// notices go to peers. (Peers is given here rather than to New because
// what it tells, the rules, is itself told by the relay: a cluster node's
// rules publish their alerts through it.)
func (r *Relay) Run(ctx context.Context, peers Peers) error {
	r.mu.Lock()
	if r.started {
		r.mu.Unlock()
		return fmt.Errorf("relay: started twice")
	}
	r.started = true
	r.mu.Unlock()
	filter := r.cfg.Prefix + "/+/+"
	opts := mqtt.NewClientOptions().AddBroker(r.cfg.Broker).SetClientID(r.cfg.NodeID + "-live").
		SetUsername(r.cfg.Username).SetPassword(r.cfg.Password).
		// A persistent session: the broker keeps the QoS 1 alert notices
		// while this node reconnects, and paho resends its own unacknowledged
		// ones.
		SetCleanSession(false).SetOrderMatters(true).
		SetAutoReconnect(true).SetConnectRetry(true).SetConnectRetryInterval(time.Second).
		SetMaxReconnectInterval(10 * time.Second).SetKeepAlive(30 * time.Second)
	opts.SetDefaultPublishHandler(r.receive)
	opts.SetOnConnectHandler(func(c mqtt.Client) {
		r.m.connected.Set(1)
		// QoS 1 caps each delivery: positions, published at QoS 0, arrive at 0.
		tok := c.Subscribe(filter, 1, r.receive)
		if tok.WaitTimeout(30*time.Second) && tok.Error() != nil {
			r.log.Error("relay subscribe", "err", tok.Error())
			return
		}
		r.log.Info("relay connected", "broker", r.cfg.Broker, "node", r.cfg.NodeID)
	})
	opts.SetConnectionLostHandler(func(_ mqtt.Client, err error) {
		r.m.connected.Set(0)
		r.log.Warn("relay connection lost", "err", err)
	})
	r.client = mqtt.NewClient(opts)
	tok := r.client.Connect()
	select {
	case <-tok.Done():
		if err := tok.Error(); err != nil {
			return fmt.Errorf("relay connect to %s: %w", r.cfg.Broker, err)
		}
	case <-ctx.Done():
	}
	defer r.client.Disconnect(250)
	var wg sync.WaitGroup
	wg.Go(func() { r.deliver(ctx, peers) })
	wg.Go(func() { r.publishAlerts(ctx) })
	r.publishPositions(ctx)
	wg.Wait()
	return nil
}

// publishPositions sends what Committed queued every Linger, or sooner
// when a batch is full, until ctx ends.
func (r *Relay) publishPositions(ctx context.Context) {
	tick := time.NewTicker(r.cfg.Linger)
	defer tick.Stop()
	var buf []byte
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		case <-r.wake:
		}
		r.mu.Lock()
		batch := r.pending
		r.pending = r.spare[:0]
		r.mu.Unlock()
		for ps := batch; len(ps) > 0; {
			n := min(len(ps), r.cfg.MaxBatch)
			buf = appendPositions(buf[:0], ps[:n])
			r.send(kindPositions, 0, buf, n)
			ps = ps[n:]
		}
		clear(batch)
		r.mu.Lock()
		r.spare = batch[:0]
		r.mu.Unlock()
	}
}

// send publishes one message; n is what it carries, for the drop counts.
// It reports whether the broker took it.
func (r *Relay) send(kind string, qos byte, payload []byte, n int) bool {
	// paho silently discards QoS 0 messages published while it reconnects:
	// count them here instead.
	if qos == 0 && !r.client.IsConnectionOpen() {
		r.m.dropped.WithLabelValues(kind, "broker_down").Add(float64(n))
		return false
	}
	tok := r.client.Publish(r.topic(kind), qos, false, payload)
	// Waiting bounds what paho buffers; at QoS 1 paho keeps the message
	// and resends it after a reconnect, so a timeout is not a loss.
	if !tok.WaitTimeout(10 * time.Second) {
		if qos == 0 {
			r.m.dropped.WithLabelValues(kind, "publish_error").Add(float64(n))
			return false
		}
	} else if err := tok.Error(); err != nil {
		r.m.dropped.WithLabelValues(kind, "publish_error").Add(float64(n))
		r.log.Warn("relay publish", "kind", kind, "err", err)
		return false
	}
	r.m.messages.WithLabelValues(kind, "sent").Inc()
	if kind == kindPositions {
		r.m.positions.WithLabelValues("sent").Add(float64(n))
	}
	return true
}

type alertsMessage struct {
	IDs []string `json:"ids"`
}

// publishAlerts sends the alert and reload notices queued, in order.
func (r *Relay) publishAlerts(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case ids := <-r.alerts:
			if ids == nil {
				r.send(kindReload, 1, []byte("{}"), 1)
				continue
			}
			b, _ := json.Marshal(alertsMessage{IDs: ids}) // strings: cannot fail
			r.send(kindAlerts, 1, b, len(ids))
		}
	}
}

// receive is paho's handler (ordered, so it must not block for long):
// positions go to the hub at once, notices to deliver's goroutine.
func (r *Relay) receive(_ mqtt.Client, msg mqtt.Message) {
	rest, ok := strings.CutPrefix(msg.Topic(), r.cfg.Prefix+"/")
	node, kind, ok2 := strings.Cut(rest, "/")
	if !ok || !ok2 {
		return // not ours (the filter prevents it)
	}
	if node == r.cfg.NodeID {
		return // our own news: the local hub has it already
	}
	r.m.messages.WithLabelValues(kind, "received").Inc()
	switch kind {
	case kindPositions:
		ps, err := decodePositions(nil, msg.Payload())
		if err != nil {
			r.m.dropped.WithLabelValues(kindPositions, "malformed").Inc()
			r.log.Warn("relay: positions message does not decode", "node", node, "err", err)
			return
		}
		r.m.positions.WithLabelValues("received").Add(float64(len(ps)))
		r.hub.Publish(ps)
	case kindAlerts, kindReload:
		var n remoteNotice
		n.kind = kind
		if kind == kindAlerts {
			var am alertsMessage
			if err := json.Unmarshal(msg.Payload(), &am); err != nil {
				r.m.dropped.WithLabelValues(kindAlerts, "malformed").Inc()
				r.log.Warn("relay: alerts message does not decode", "node", node, "err", err)
				return
			}
			n.ids = am.IDs
		}
		select {
		case r.remote <- n:
		default:
			r.m.dropped.WithLabelValues(kind, "queue_full").Add(float64(max(1, len(n.ids))))
		}
	default:
		r.m.dropped.WithLabelValues("unknown", "malformed").Inc()
	}
}

// deliver hands the other nodes' notices to peers.
func (r *Relay) deliver(ctx context.Context, peers Peers) {
	for {
		select {
		case <-ctx.Done():
			return
		case n := <-r.remote:
			switch n.kind {
			case kindReload:
				peers.RulesChanged()
			case kindAlerts:
				peers.AlertsChanged(n.ids)
			}
		}
	}
}
