package ingest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"
	"github.com/prometheus/client_golang/prometheus"

	"fleetmon/ingest/jt808"
	"fleetmon/track"
)

// MQTTConfig configures the MQTT subscriber. Zero values take the defaults.
type MQTTConfig struct {
	// Broker is the broker's URL, e.g. tcp://127.0.0.1:1883 (ssl:// for TLS).
	Broker string
	// ClientID names fleetd's persistent session at the broker: while fleetd
	// is away, the broker keeps the QoS 1 messages for it. Each node needs
	// its own. Default "fleetd".
	ClientID           string
	Username, Password string
	// FrameTopic carries raw JT/T 808 frames, one per message, in wire form
	// (0x7e … 0x7e; several frames in one message are accepted). Default
	// "fleetmon/jt808/+/up"; empty string after defaults: not subscribed.
	FrameTopic string
	// JSONTopic carries positions in fleetmon's JSON format (JSONPosition),
	// an object or an array of objects, for gateways that decode terminals
	// themselves. Default "fleetmon/positions/+".
	JSONTopic string
	// SharedGroup, when set, subscribes through the broker's shared
	// subscription $share/<group>/<topic>, so that several fleetd nodes
	// split the messages between them.
	SharedGroup string
	// MaxBatch bounds the messages written (and then acknowledged) together.
	// Default 500.
	MaxBatch int
	// Queue bounds the messages received and not yet written. The broker's
	// in-flight window (max_inflight_messages for Mosquitto) bounds it too:
	// a message is acknowledged only after its rows are committed. Default
	// 10,000.
	Queue int
	// DeviceTimes bounds the device times of the positions stored, as on
	// TCP; a position outside them is left out and its message parked.
	DeviceTimes DeviceTimes
	// Commands, when not nil, is the queue of commands to terminals: the
	// subscriber publishes them on the down topic of terminals it hears
	// from and records their answers (mqtt_commands.go).
	Commands CommandQueue
}

func (c *MQTTConfig) defaults() {
	if c.ClientID == "" {
		c.ClientID = "fleetd"
	}
	if c.FrameTopic == "" {
		c.FrameTopic = "fleetmon/jt808/+/up"
	}
	if c.JSONTopic == "" {
		c.JSONTopic = "fleetmon/positions/+"
	}
	if c.MaxBatch <= 0 {
		c.MaxBatch = 500
	}
	if c.Queue <= 0 {
		c.Queue = 10000
	}
	c.DeviceTimes.defaults()
}

// Parker keeps payloads that could not be used, for inspection.
// track.Store implements it.
type Parker interface {
	Park(ctx context.Context, p track.Parked) error
}

// TerminalLookup finds the terminal behind a phone number. track.Store
// implements it.
type TerminalLookup interface {
	TerminalByPhone(ctx context.Context, phone string) (track.Terminal, bool, error)
}

// Subscriber takes positions from an MQTT broker: the same admission
// (only terminals bound to a vehicle), storage and idempotency as the TCP
// gateway, and each message is acknowledged to the broker (QoS 1) only
// after its rows are committed, in the order received. Payloads that cannot
// be used are counted, parked for inspection (track.Parked) and then
// acknowledged: redelivering them would not help.
type Subscriber struct {
	cfg    MQTTConfig
	sink   Sink
	lookup TerminalLookup
	parker Parker
	log    *slog.Logger
	ids    *track.FrameIDs
	// frame, dec and conv are used by the one goroutine running work.
	frame   jt808.Frame
	dec     jt808.Decoder
	conv    converter
	in      chan mqtt.Message
	client  mqtt.Client
	m       *mqttMetrics
	termMu  sync.Mutex
	terms   map[string]termEntry
	stopped chan struct{}
	cmds    mqttCommands
}

type termEntry struct {
	t       track.Terminal
	ok      bool
	expires time.Time
}

// terminalCacheTTL bounds how long a phone's terminal is cached: a vehicle
// import that binds a new terminal is seen within a minute.
const terminalCacheTTL = time.Minute

type mqttMetrics struct {
	messages  *prometheus.CounterVec
	positions prometheus.Counter
	batch     prometheus.Histogram
	connected prometheus.Gauge
	refused   *prometheus.CounterVec
}

// NewSubscriber returns a subscriber; Run connects and serves.
func NewSubscriber(cfg MQTTConfig, sink Sink, lookup TerminalLookup, parker Parker, log *slog.Logger, reg prometheus.Registerer) *Subscriber {
	cfg.defaults()
	m := &mqttMetrics{
		messages: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "fleetmon_ingest_mqtt_messages_total",
			Help: "MQTT messages, by kind (frame, json) and result (ok; partial: some positions refused, the rest stored and the message parked; parked).",
		}, []string{"kind", "result"}),
		positions: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "fleetmon_ingest_mqtt_positions_total",
			Help: "Positions from MQTT committed and acknowledged to the broker.",
		}),
		batch: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "fleetmon_ingest_mqtt_batch_messages",
			Help:    "MQTT messages written and acknowledged together.",
			Buckets: prometheus.ExponentialBuckets(1, 4, 6),
		}),
		connected: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "fleetmon_ingest_mqtt_connected",
			Help: "1 while connected to the broker.",
		}),
		refused: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "fleetmon_ingest_mqtt_positions_refused_total",
			Help: "Positions from MQTT refused and not stored, by reason (invalid, future, past: as fleetmon_ingest_positions_refused_total).",
		}, []string{"reason"}),
	}
	if reg != nil {
		reg.MustRegister(m.messages, m.positions, m.batch, m.connected, m.refused)
	}
	ids := track.NewFrameIDs()
	return &Subscriber{cfg: cfg, sink: sink, lookup: lookup, parker: parker, log: log, ids: ids, conv: converter{ids: ids, times: cfg.DeviceTimes, refused: newRefusedCounters(m.refused)},
		in: make(chan mqtt.Message, cfg.Queue), m: m, terms: map[string]termEntry{}, stopped: make(chan struct{}),
		cmds: mqttCommands{terms: map[int64]*mqttTerminal{}}}
}

func (s *Subscriber) topic(t string) string {
	if s.cfg.SharedGroup != "" {
		return "$share/" + s.cfg.SharedGroup + "/" + t
	}
	return t
}

// Run connects (retrying until ctx ends), subscribes with a persistent
// session and writes what arrives until ctx ends. Messages not yet
// committed when it returns are not acknowledged: the broker delivers them
// again to the next session with the same client id.
func (s *Subscriber) Run(ctx context.Context) error {
	opts := mqtt.NewClientOptions().AddBroker(s.cfg.Broker).SetClientID(s.cfg.ClientID).
		SetUsername(s.cfg.Username).SetPassword(s.cfg.Password).
		SetCleanSession(false).SetAutoAckDisabled(true).SetOrderMatters(true).
		SetAutoReconnect(true).SetConnectRetry(true).SetConnectRetryInterval(2 * time.Second).
		SetMaxReconnectInterval(30 * time.Second).SetKeepAlive(30 * time.Second)
	subs := map[string]byte{}
	if s.cfg.FrameTopic != "-" {
		subs[s.topic(s.cfg.FrameTopic)] = 1
	}
	if s.cfg.JSONTopic != "-" {
		subs[s.topic(s.cfg.JSONTopic)] = 1
	}
	opts.SetDefaultPublishHandler(s.receive)
	opts.SetOnConnectHandler(func(c mqtt.Client) {
		s.m.connected.Set(1)
		// Subscribing again on every connect is harmless with a persistent
		// session and needed when the broker lost it.
		tok := c.SubscribeMultiple(subs, s.receive)
		if tok.WaitTimeout(30*time.Second) && tok.Error() != nil {
			s.log.Error("mqtt subscribe", "err", tok.Error())
			return
		}
		s.log.Info("mqtt connected", "broker", s.cfg.Broker, "client_id", s.cfg.ClientID, "topics", len(subs))
	})
	opts.SetConnectionLostHandler(func(_ mqtt.Client, err error) {
		s.m.connected.Set(0)
		s.log.Warn("mqtt connection lost", "err", err)
	})
	// Wake (mqtt_commands.go) reads the client from other goroutines.
	s.cmds.mu.Lock()
	s.client = mqtt.NewClient(opts)
	s.cmds.mu.Unlock()
	tok := s.client.Connect()
	select {
	case <-tok.Done():
		if err := tok.Error(); err != nil {
			return fmt.Errorf("mqtt connect to %s: %w", s.cfg.Broker, err)
		}
	case <-ctx.Done():
	}
	defer close(s.stopped)
	defer s.client.Disconnect(250)
	s.work(ctx)
	return nil
}

// receive is paho's handler: it hands the message to the writer and
// returns. With ordered delivery it must not block for long; the queue is
// larger than any broker's in-flight window, and a message is never
// acknowledged here.
func (s *Subscriber) receive(_ mqtt.Client, msg mqtt.Message) {
	s.in <- msg
}

// work takes what queued, writes it, and acknowledges in order.
func (s *Subscriber) work(ctx context.Context) {
	var batch []mqtt.Message
	for {
		batch = batch[:0]
		select {
		case m := <-s.in:
			batch = append(batch, m)
		case <-ctx.Done():
			return
		}
	collect:
		for len(batch) < s.cfg.MaxBatch {
			select {
			case m := <-s.in:
				batch = append(batch, m)
			default:
				break collect
			}
		}
		if !s.write(ctx, batch) {
			return
		}
		for _, m := range batch {
			m.Ack()
		}
		s.m.batch.Observe(float64(len(batch)))
	}
}

// write stores a batch of messages; it returns false (nothing to
// acknowledge) only when ctx ended first.
func (s *Subscriber) write(ctx context.Context, batch []mqtt.Message) bool {
	var positions []track.Position
	var frames []track.RawFrame
	received := time.Now()
	for _, msg := range batch {
		d, kind, err := s.decode(ctx, msg, received)
		if err != nil {
			if ctx.Err() != nil {
				return false
			}
			s.m.messages.WithLabelValues(kind, "parked").Inc()
			s.park(ctx, msg, kind, err, received)
			continue
		}
		if d.refused != nil {
			// The converter's rule: the good positions are stored, the
			// message is parked beside them with why the others were not.
			s.m.messages.WithLabelValues(kind, "partial").Inc()
			s.park(ctx, msg, kind, d.refused, received)
		} else {
			s.m.messages.WithLabelValues(kind, "ok").Inc()
		}
		positions = append(positions, d.positions...)
		frames = append(frames, d.frames...)
	}
	if len(positions) == 0 && len(frames) == 0 {
		return ctx.Err() == nil
	}
	for {
		err := s.sink.Write(ctx, 0, positions, frames)
		if err == nil {
			s.m.positions.Add(float64(len(positions)))
			return true
		}
		if ctx.Err() != nil {
			return false
		}
		// The writer retries transient failures itself; what comes back is
		// data the database refuses: park it rather than block the stream.
		s.log.Error("mqtt batch refused by the database", "messages", len(batch), "err", err)
		if errors.Is(err, track.ErrRejected) {
			for _, msg := range batch {
				s.park(ctx, msg, "batch", err, received)
			}
			return true
		}
		time.Sleep(time.Second)
	}
}

func (s *Subscriber) park(ctx context.Context, msg mqtt.Message, kind string, why error, received time.Time) {
	p := track.Parked{Received: received, Source: "mqtt", Topic: msg.Topic(), Kind: kind,
		Payload: msg.Payload(), Reason: why.Error()}
	for ctx.Err() == nil {
		pctx, cancel := context.WithTimeout(ctx, registryAttempt)
		err := s.parker.Park(pctx, p)
		cancel()
		if err == nil {
			return
		}
		s.log.Warn("park mqtt payload", "err", err)
		time.Sleep(time.Second)
	}
}

// terminal returns the terminal of phone, cached for a minute.
func (s *Subscriber) terminal(ctx context.Context, phone string) (track.Terminal, bool, error) {
	s.termMu.Lock()
	e, hit := s.terms[phone]
	s.termMu.Unlock()
	if hit && time.Now().Before(e.expires) {
		return e.t, e.ok, nil
	}
	lctx, cancel := context.WithTimeout(ctx, registryAttempt)
	t, ok, err := s.lookup.TerminalByPhone(lctx, phone)
	cancel()
	if err != nil {
		return t, false, err
	}
	s.termMu.Lock()
	s.terms[phone] = termEntry{t, ok, time.Now().Add(terminalCacheTTL)}
	s.termMu.Unlock()
	return t, ok, nil
}

// errUnknownTerminal parks payloads of terminals not bound to a vehicle.
var errUnknownTerminal = errors.New("terminal not registered to a vehicle")

// decoded is what one MQTT message yields.
type decoded struct {
	positions []track.Position
	frames    []track.RawFrame
	// refused, when not nil, says why some positions of the message were
	// left out while the rest are stored.
	refused error
}

// decode turns one message into positions and raw frames; an error parks
// the whole message.
func (s *Subscriber) decode(ctx context.Context, msg mqtt.Message, received time.Time) (decoded, string, error) {
	payload := msg.Payload()
	if t := bytes.TrimSpace(payload); len(t) > 0 && (t[0] == '{' || t[0] == '[') {
		d, err := s.decodeJSON(ctx, payload, received)
		return d, "json", err
	}
	d, err := s.decodeFrames(ctx, msg.Topic(), payload, received)
	return d, "frame", err
}

// decodeFrames decodes raw JT/T 808 frames. Location reports go through the
// converter the TCP session uses; any other message is kept as evidence
// only.
func (s *Subscriber) decodeFrames(ctx context.Context, topic string, payload []byte, received time.Time) (decoded, error) {
	sp := jt808.NewSplitter(bytes.NewReader(payload), 0)
	f := &s.frame
	var out decoded
	for {
		raw, err := sp.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return decoded{}, fmt.Errorf("frame: %w", err)
		}
		if err := jt808.ParseFrame(raw, f); err != nil {
			return decoded{}, fmt.Errorf("frame: %w", err)
		}
		h := &f.Header
		if h.Fragmented {
			return decoded{}, fmt.Errorf("frame %v: sub-packages are not accepted over MQTT; publish the whole message", h.ID)
		}
		phone := h.Phone.ID()
		term, ok, err := s.terminal(ctx, phone)
		if err != nil {
			return decoded{}, fmt.Errorf("look up terminal %s: %w", phone, err)
		}
		if !ok {
			return decoded{}, fmt.Errorf("%w: %s", errUnknownTerminal, phone)
		}
		s.saw(term.ID, topic, h, received)
		if h.ID == jt808.IDTerminalReply || h.ID == jt808.IDQueryParamsReply {
			if m, err := s.dec.Decode(f); err == nil {
				s.recordAnswer(ctx, term.ID, m)
			}
		}
		if !carriesPositions(h.ID) {
			out.frames = append(out.frames, track.RawFrame{ID: s.ids.Next(), Received: received, TerminalID: term.ID,
				Phone: phone, MsgID: uint16(h.ID), Serial: h.Serial, Frame: append([]byte(nil), raw...), Disposition: track.DispOK})
			continue
		}
		m, err := s.dec.Decode(f)
		if err != nil {
			return decoded{}, err
		}
		s.recordAnswer(ctx, term.ID, m)
		r, _ := s.conv.convert(m, h, raw, term, received)
		if len(r.positions) == 0 {
			return decoded{}, fmt.Errorf("%v: %w", h.ID, r.why)
		}
		if r.refused > 0 && out.refused == nil {
			out.refused = fmt.Errorf("%v: %d of %d positions refused, the first: %w", h.ID, r.refused, r.refused+len(r.positions), r.why)
		}
		out.positions = append(out.positions, r.positions...)
		out.frames = append(out.frames, r.frame)
	}
	if len(out.frames) == 0 {
		return decoded{}, errors.New("no JT/T 808 frame in the payload")
	}
	return out, nil
}
