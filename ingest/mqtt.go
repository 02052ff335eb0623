package ingest

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"strings"
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
}

// JSONPosition is the position format of JSONTopic. phone, time, lat and lon
// are required; time is RFC 3339 (give the offset: +08:00 for terminals'
// Beijing time). South and west are negative.
type JSONPosition struct {
	Phone      string    `json:"phone"`
	Time       time.Time `json:"time"`
	Lat        *float64  `json:"lat"`
	Lon        *float64  `json:"lon"`
	SpeedKmh   float32   `json:"speed_kmh"`
	Heading    int16     `json:"heading"`
	AltitudeM  int32     `json:"altitude_m"`
	Alarm      uint32    `json:"alarm"`
	Status     uint32    `json:"status"`
	MileageKm  *float64  `json:"mileage_km"`
	FuelL      *float32  `json:"fuel_l"`
	Signal     *uint8    `json:"signal"`
	Satellites *uint8    `json:"satellites"`
	Backfill   bool      `json:"backfill"`
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
	cfg     MQTTConfig
	sink    Sink
	lookup  TerminalLookup
	parker  Parker
	log     *slog.Logger
	ids     *track.FrameIDs
	in      chan mqtt.Message
	client  mqtt.Client
	m       *mqttMetrics
	termMu  sync.Mutex
	terms   map[string]termEntry
	stopped chan struct{}
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
}

// NewSubscriber returns a subscriber; Run connects and serves.
func NewSubscriber(cfg MQTTConfig, sink Sink, lookup TerminalLookup, parker Parker, log *slog.Logger, reg prometheus.Registerer) *Subscriber {
	cfg.defaults()
	m := &mqttMetrics{
		messages: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "fleetmon_ingest_mqtt_messages_total",
			Help: "MQTT messages, by kind (frame, json) and result (ok, parked).",
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
	}
	if reg != nil {
		reg.MustRegister(m.messages, m.positions, m.batch, m.connected)
	}
	return &Subscriber{cfg: cfg, sink: sink, lookup: lookup, parker: parker, log: log, ids: track.NewFrameIDs(),
		in: make(chan mqtt.Message, cfg.Queue), m: m, terms: map[string]termEntry{}, stopped: make(chan struct{})}
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
	s.client = mqtt.NewClient(opts)
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
		ps, fs, kind, err := s.decode(ctx, msg, received)
		if err != nil {
			if ctx.Err() != nil {
				return false
			}
			s.m.messages.WithLabelValues(kind, "parked").Inc()
			s.park(ctx, msg, kind, err, received)
			continue
		}
		s.m.messages.WithLabelValues(kind, "ok").Inc()
		positions = append(positions, ps...)
		frames = append(frames, fs...)
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
		err := s.parker.Park(ctx, p)
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
	t, ok, err := s.lookup.TerminalByPhone(ctx, phone)
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

// decode turns one message into positions and raw frames.
func (s *Subscriber) decode(ctx context.Context, msg mqtt.Message, received time.Time) ([]track.Position, []track.RawFrame, string, error) {
	payload := msg.Payload()
	if t := bytes.TrimSpace(payload); len(t) > 0 && (t[0] == '{' || t[0] == '[') {
		ps, fs, err := s.decodeJSON(ctx, payload, received)
		return ps, fs, "json", err
	}
	ps, fs, err := s.decodeFrames(ctx, payload, received)
	return ps, fs, "frame", err
}

func (s *Subscriber) decodeFrames(ctx context.Context, payload []byte, received time.Time) ([]track.Position, []track.RawFrame, error) {
	sp := jt808.NewSplitter(bytes.NewReader(payload), 0)
	var (
		f      jt808.Frame
		loc    jt808.Location
		batch  jt808.BatchLocation
		items  []byte
		ps     []track.Position
		frames []track.RawFrame
	)
	for {
		raw, err := sp.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, nil, fmt.Errorf("frame: %w", err)
		}
		if err := jt808.ParseFrame(raw, &f); err != nil {
			return nil, nil, fmt.Errorf("frame: %w", err)
		}
		h := &f.Header
		if h.Fragmented {
			return nil, nil, fmt.Errorf("frame %v: sub-packages are not accepted over MQTT; publish the whole message", h.ID)
		}
		phone := h.Phone.ID()
		term, ok, err := s.terminal(ctx, phone)
		if err != nil {
			return nil, nil, fmt.Errorf("look up terminal %s: %w", phone, err)
		}
		if !ok {
			return nil, nil, fmt.Errorf("%w: %s", errUnknownTerminal, phone)
		}
		rf := track.RawFrame{ID: s.ids.Next(), Received: received, TerminalID: term.ID, Phone: phone,
			MsgID: uint16(h.ID), Serial: h.Serial, Frame: append([]byte(nil), raw...), Disposition: track.DispOK}
		var locs []*jt808.Location
		backfill := false
		switch h.ID {
		case jt808.IDLocation:
			loc.Reset()
			if err := loc.Decode(f.Body, h); err != nil {
				return nil, nil, err
			}
			locs = []*jt808.Location{&loc}
		case jt808.IDBatchLocation:
			if err := batch.Decode(f.Body, h); err != nil {
				return nil, nil, err
			}
			backfill = batch.Type == jt808.BatchBlindZone
			for i := range batch.Items {
				locs = append(locs, &batch.Items[i])
			}
		}
		for _, l := range locs {
			var p track.Position
			if items, err = toPosition(l, &p, items); err != nil {
				return nil, nil, fmt.Errorf("%v: %w", h.ID, err)
			}
			p.VehicleID, p.TerminalID, p.Received, p.FrameID, p.Backfill = term.VehicleID, term.ID, received, rf.ID, backfill
			ps = append(ps, p)
		}
		frames = append(frames, rf)
	}
	if len(frames) == 0 {
		return nil, nil, errors.New("no JT/T 808 frame in the payload")
	}
	return ps, frames, nil
}

func (s *Subscriber) decodeJSON(ctx context.Context, payload []byte, received time.Time) ([]track.Position, []track.RawFrame, error) {
	var list []JSONPosition
	t := bytes.TrimSpace(payload)
	var err error
	if t[0] == '[' {
		err = json.Unmarshal(t, &list)
	} else {
		var one JSONPosition
		err = json.Unmarshal(t, &one)
		list = []JSONPosition{one}
	}
	if err != nil {
		return nil, nil, fmt.Errorf("json: %w", err)
	}
	if len(list) == 0 {
		return nil, nil, errors.New("json: empty array")
	}
	var ps []track.Position
	var term track.Terminal
	var phone string
	for i, j := range list {
		if err := j.validate(); err != nil {
			return nil, nil, fmt.Errorf("json position %d: %w", i, err)
		}
		norm, err := track.NormalizePhone(j.Phone)
		if err != nil {
			return nil, nil, fmt.Errorf("json position %d: %w", i, err)
		}
		if phone != "" && norm != phone {
			return nil, nil, fmt.Errorf("json position %d: one message carries one terminal's positions (%s, then %s)", i, phone, norm)
		}
		if phone == "" {
			phone = norm
			ok := false
			if term, ok, err = s.terminal(ctx, phone); err != nil {
				return nil, nil, fmt.Errorf("look up terminal %s: %w", phone, err)
			} else if !ok {
				return nil, nil, fmt.Errorf("%w: %s", errUnknownTerminal, phone)
			}
		}
		p := track.Position{VehicleID: term.VehicleID, TerminalID: term.ID, Time: j.Time.Truncate(time.Second),
			Received: received, Lat: *j.Lat, Lon: *j.Lon, SpeedKmh: j.SpeedKmh, Heading: j.Heading % 360,
			AltitudeM: j.AltitudeM, Alarm: j.Alarm, Status: j.Status, Backfill: j.Backfill}
		if j.MileageKm != nil {
			p.Has |= track.HasMileage
			p.MileageKm = *j.MileageKm
		}
		if j.FuelL != nil {
			p.Has |= track.HasFuel
			p.FuelL = *j.FuelL
		}
		if j.Signal != nil {
			p.Has |= track.HasSignal
			p.Signal = *j.Signal
		}
		if j.Satellites != nil {
			p.Has |= track.HasSatellites
			p.Satellites = *j.Satellites
		}
		ps = append(ps, p)
	}
	// The JSON message itself is the evidence: kept in raw_frames with
	// msg_id 0.
	rf := track.RawFrame{ID: s.ids.Next(), Received: received, TerminalID: term.ID, Phone: phone,
		Frame: append([]byte(nil), payload...), Disposition: track.DispJSON}
	for i := range ps {
		ps[i].FrameID = rf.ID
	}
	return ps, []track.RawFrame{rf}, nil
}

func (j *JSONPosition) validate() error {
	switch {
	case j.Phone == "":
		return errors.New("phone is required")
	case j.Time.IsZero():
		return errors.New("time is required (RFC 3339)")
	case j.Lat == nil || j.Lon == nil:
		return errors.New("lat and lon are required")
	case math.IsNaN(*j.Lat) || math.Abs(*j.Lat) > 90 || math.IsNaN(*j.Lon) || math.Abs(*j.Lon) > 180:
		return fmt.Errorf("position out of range: lat %v, lon %v", *j.Lat, *j.Lon)
	case j.Time.After(time.Now().Add(24 * time.Hour)):
		return fmt.Errorf("time %s is more than a day ahead", j.Time.Format(time.RFC3339))
	}
	if strings.TrimSpace(j.Phone) != j.Phone {
		return errors.New("phone has spaces")
	}
	return nil
}
