package track

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Hub fans positions out to live subscribers (the web map's stream). It
// takes this node's positions as the track writer queues them, before
// their commit (Queued: the map moves with the terminals however busy
// the database is), and, on a cluster, the positions other nodes
// committed, through the relay (Publish). Publishing never blocks and never waits for a subscriber: each
// subscription keeps only the newest undelivered position of each vehicle,
// so a slow client skips intermediate positions (counted) but always gets
// the latest one, and memory per subscription is bounded by the number of
// vehicles it may see. Events that must not be coalesced (alerts opening
// and closing, state changes) go through a bounded queue; a subscriber that
// lets it overflow is closed (ErrSlowSubscriber) and must reconnect and
// take a fresh snapshot.
//
// A position reaches every subscription as one shared *Live, so whatever a
// stream derives from it (its JSON) is computed once, not once per client.
//
// Hub is safe for concurrent use.
type Hub struct {
	mu   sync.RWMutex
	subs map[*Subscription]struct{}

	// The vehicles' states (livestate.go), apart from the subscriptions.
	stMu         sync.Mutex
	states       map[int64]*vehicleState
	offlineAfter time.Duration
	now          func() time.Time

	superseded prometheus.Counter
	overflowed prometheus.Counter
	delivery   prometheus.Histogram
	subsGauge  prometheus.GaugeFunc
}

// HubOption configures a hub.
type HubOption func(*Hub)

// WithOfflineAfter sets how long without a report makes a vehicle offline
// (default DefaultOfflineAfter).
func WithOfflineAfter(d time.Duration) HubOption {
	return func(h *Hub) {
		if d > 0 {
			h.offlineAfter = d
		}
	}
}

// WithClock sets the hub's clock (default time.Now), for tests.
func WithClock(now func() time.Time) HubOption { return func(h *Hub) { h.now = now } }

// NewHub returns a hub; its metrics are registered on reg when not nil.
func NewHub(reg prometheus.Registerer, opts ...HubOption) *Hub {
	h := &Hub{subs: map[*Subscription]struct{}{}, states: map[int64]*vehicleState{},
		offlineAfter: DefaultOfflineAfter, now: time.Now}
	for _, o := range opts {
		o(h)
	}
	h.superseded = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "fleetmon_live_positions_superseded_total",
		Help: "Positions a slow live subscriber never received because a newer one of the same vehicle replaced it.",
	})
	h.overflowed = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "fleetmon_live_subscribers_overflowed_total",
		Help: "Live subscribers closed because their event queue overflowed.",
	})
	h.subsGauge = prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "fleetmon_live_subscribers",
		Help: "Live subscribers connected.",
	}, func() float64 {
		h.mu.RLock()
		defer h.mu.RUnlock()
		return float64(len(h.subs))
	})
	h.delivery = prometheus.NewHistogram(prometheus.HistogramOpts{
		Name:    "fleetmon_live_delivery_seconds",
		Help:    "From fleetd reading a report to its position being written to a live client's connection.",
		Buckets: []float64{.001, .0025, .005, .01, .02, .03, .05, .075, .1, .15, .2, .3, .5, .75, 1, 2, 5, 10},
	})
	if reg != nil {
		reg.MustRegister(h.superseded, h.overflowed, h.subsGauge, h.delivery)
	}
	return h
}

// Filter says which vehicles a subscription sees. Vehicles is the set the
// subscriber may and wants to see (the caller intersects jurisdiction and
// the client's narrowing); nil means none. A zero BBox means no box.
type Filter struct {
	Vehicles map[int64]struct{}
	BBox     BBox
}

// BBox is a latitude/longitude box, WGS-84 degrees.
type BBox struct{ MinLat, MinLon, MaxLat, MaxLon float64 }

func (b BBox) empty() bool { return b == BBox{} }

func (f *Filter) match(p *Position) bool {
	if _, ok := f.Vehicles[p.VehicleID]; !ok {
		return false
	}
	if f.BBox.empty() {
		return true
	}
	return p.Lat >= f.BBox.MinLat && p.Lat <= f.BBox.MaxLat && p.Lon >= f.BBox.MinLon && p.Lon <= f.BBox.MaxLon
}

// Event is something other than a position for live subscribers: an alert
// opening or closing, a vehicle's state changing. Payload is what the
// stream sends (it is not interpreted here).
type Event struct {
	VehicleID int64
	Kind      string
	Payload   any
}

// Live is a position as the hub hands it out (queued for storage here,
// or committed on another node): one value shared by every subscription
// that sees it, read-only.
type Live struct {
	Position
	// State is the vehicle's state after this position (StateMoving, …).
	State string
	once  sync.Once
	enc   []byte
}

// Encoded returns encode(l), calling encode once per position
// however many subscribers ask: every caller must pass an equivalent
// function (a stream has one wire format).
func (l *Live) Encoded(encode func(*Live) []byte) []byte {
	l.once.Do(func() { l.enc = encode(l) })
	return l.enc
}

// ErrSlowSubscriber ends a subscription whose event queue overflowed.
var ErrSlowSubscriber = errors.New("track: live subscriber too slow: event queue overflowed")

// Subscription receives live positions and events. One goroutine reads it
// (Next); SetFilter and Close may be called from any goroutine.
type Subscription struct {
	hub    *Hub
	filter atomic.Pointer[Filter]
	wake   chan struct{} // capacity 1: "something is pending"

	mu      sync.Mutex
	latest  map[int64]*Live // newest undelivered position per vehicle
	order   []int64         // vehicles in latest, oldest first
	events  []Event
	maxEv   int
	err     error
	dropped uint64
}

// Subscribe returns a subscription with filter f; maxEvents bounds its
// queue of events (not positions). Close it when done.
func (h *Hub) Subscribe(f Filter, maxEvents int) *Subscription {
	s := &Subscription{hub: h, wake: make(chan struct{}, 1), latest: map[int64]*Live{}, maxEv: maxEvents}
	s.filter.Store(&f)
	h.mu.Lock()
	h.subs[s] = struct{}{}
	h.mu.Unlock()
	return s
}

// SetFilter changes what the subscription sees from now on.
func (s *Subscription) SetFilter(f Filter) { s.filter.Store(&f) }

// Filter returns the subscription's current filter (do not modify it).
func (s *Subscription) Filter() *Filter { return s.filter.Load() }

// Push queues an event for this subscription alone (bounded like every
// event), e.g. a request of its own to its reader.
func (s *Subscription) Push(e Event) {
	s.mu.Lock()
	if s.err == nil {
		if len(s.events) >= s.maxEv {
			s.err = ErrSlowSubscriber
			s.hub.overflowed.Inc()
		} else {
			s.events = append(s.events, e)
		}
	}
	s.mu.Unlock()
	s.signal()
}

// Close removes the subscription from the hub.
func (s *Subscription) Close() {
	s.hub.mu.Lock()
	delete(s.hub.subs, s)
	s.hub.mu.Unlock()
	s.mu.Lock()
	if s.err == nil {
		s.err = context.Canceled
	}
	s.mu.Unlock()
	s.signal()
}

func (s *Subscription) signal() {
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

// Queued is Publish for the positions this node's track writer is about
// to store: the hub is the writer's QueueListener.
func (h *Hub) Queued(ps []Position) { h.Publish(ps) }

// Publish offers positions to every subscription whose filter matches,
// after the state-change events they cause. It never blocks on a
// subscriber.
func (h *Hub) Publish(ps []Position) {
	if len(ps) == 0 {
		return
	}
	// The gateway publishes every report as it queues it: with nobody
	// watching, only the states are kept up to date, without copies.
	h.mu.RLock()
	watched := len(h.subs) > 0
	h.mu.RUnlock()
	var shared []Live
	if watched {
		shared = make([]Live, len(ps))
		for i := range ps {
			shared[i].Position = ps[i]
		}
	}
	// States change with every position, watched or not.
	for _, e := range h.observe(ps, shared) {
		h.PublishEvent(e)
	}
	if !watched {
		return
	}
	h.mu.RLock()
	defer h.mu.RUnlock()
	for s := range h.subs {
		f := s.filter.Load()
		matched := false
		s.mu.Lock()
		for i := range shared {
			l := &shared[i]
			p := &l.Position
			if !f.match(p) {
				continue
			}
			if old, ok := s.latest[p.VehicleID]; ok {
				if p.Time.Before(old.Time) {
					continue // a back-fill older than what is pending: not live news
				}
				s.dropped++
				h.superseded.Inc()
			} else {
				s.order = append(s.order, p.VehicleID)
			}
			s.latest[p.VehicleID] = l
			matched = true
		}
		s.mu.Unlock()
		if matched {
			s.signal()
		}
	}
}

// PublishEvent queues an event for every subscription that sees its
// vehicle. A subscription whose queue is full is ended with
// ErrSlowSubscriber rather than allowed to grow or to block the caller.
func (h *Hub) PublishEvent(e Event) {
	h.mu.RLock()
	defer h.mu.RUnlock()
	for s := range h.subs {
		if _, ok := s.filter.Load().Vehicles[e.VehicleID]; !ok {
			continue
		}
		s.Push(e)
	}
}

// Next waits until something is pending and returns it: the events queued
// (in order) and the newest position of each vehicle that changed, oldest
// change first. The returned slices are appended to ps and evs. It returns
// the subscription's error once it is closed or overflowed, and ctx's
// error when ctx ends.
func (s *Subscription) Next(ctx context.Context, ps []*Live, evs []Event) ([]*Live, []Event, error) {
	for {
		s.mu.Lock()
		if s.err != nil {
			err := s.err
			s.mu.Unlock()
			return ps, evs, err
		}
		if len(s.order) > 0 || len(s.events) > 0 {
			evs = append(evs, s.events...)
			clear(s.events)
			s.events = s.events[:0]
			for _, v := range s.order {
				ps = append(ps, s.latest[v])
				delete(s.latest, v)
			}
			s.order = s.order[:0]
			s.mu.Unlock()
			return ps, evs, nil
		}
		s.mu.Unlock()
		select {
		case <-s.wake:
		case <-ctx.Done():
			return ps, evs, ctx.Err()
		}
	}
}

// Delivered records how long positions a stream has just written to its
// client took from fleetd reading their reports.
func (s *Subscription) Delivered(ls []*Live) {
	now := s.hub.now()
	for _, l := range ls {
		if !l.Received.IsZero() {
			s.hub.delivery.Observe(now.Sub(l.Received).Seconds())
		}
	}
}

// Dropped returns how many positions this subscription skipped because a
// newer one of the same vehicle replaced them before delivery.
func (s *Subscription) Dropped() uint64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.dropped
}

// OfflineAfter is how long without a report makes a vehicle offline.
func (h *Hub) OfflineAfter() time.Duration { return h.offlineAfter }
