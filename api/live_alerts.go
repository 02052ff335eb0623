package api

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"fleetmon/alerts"
	"fleetmon/track"
)

// DefaultLiveAlertsQueue is how many alerts may wait for the live stream
// by default: far more than the rules change between two reads, unless
// the database stalls.
const DefaultLiveAlertsQueue = 10000

// LiveAlerts carries the alerts the rules decided to the live stream
// without making anyone wait for it. EpisodesChanged (the rules' listener)
// and AlertsChanged (other nodes' alerts, from the relay) only note the
// alerts' ids and return; Run, on a goroutine of its own, reads them (as
// GET /api/v1/alerts/{id} answers them) and publishes them to the hub.
// So a slow read, or a stalled database, delays the alerts on the map; it
// never holds up the rules, and through them the track writer and the
// terminals' acknowledgements.
//
// An alert noted again before Run took it is sent once (the read shows
// its latest state). At most the queue length of alerts wait; more are
// dropped and counted (fleetmon_live_alerts_dropped_total): the live
// stream is a view, every alert is stored and listed.
//
// LiveAlerts is safe for concurrent use; Run is called once.
type LiveAlerts struct {
	max     int
	log     *slog.Logger
	mu      sync.Mutex
	pending []string
	noted   map[string]struct{}
	wake    chan struct{}
	dropped prometheus.Counter
	waiting prometheus.GaugeFunc
}

// AlertPublisher publishes alerts to the live stream by id, waiting for
// what that takes; *Server implements it.
type AlertPublisher interface {
	PublishAlertIDs(ids []string)
}

// NewLiveAlerts returns a hand-off of at most queue alerts (0:
// DefaultLiveAlertsQueue); its metrics are registered on reg when not nil.
func NewLiveAlerts(queue int, log *slog.Logger, reg prometheus.Registerer) *LiveAlerts {
	if queue <= 0 {
		queue = DefaultLiveAlertsQueue
	}
	l := &LiveAlerts{max: queue, log: log, noted: map[string]struct{}{}, wake: make(chan struct{}, 1)}
	l.dropped = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "fleetmon_live_alerts_dropped_total",
		Help: "Alert changes not sent to the live stream because too many were waiting (the alerts are stored all the same).",
	})
	l.waiting = prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "fleetmon_live_alerts_waiting",
		Help: "Alerts changed and waiting to be read and sent to the live stream.",
	}, func() float64 {
		l.mu.Lock()
		defer l.mu.Unlock()
		return float64(len(l.pending))
	})
	if reg != nil {
		reg.MustRegister(l.dropped, l.waiting)
	}
	return l
}

// EpisodesChanged notes the episodes the rules stored, for the live
// stream: LiveAlerts is an alerts.EpisodeListener. It never blocks.
func (l *LiveAlerts) EpisodesChanged(eps []alerts.Episode) {
	l.mu.Lock()
	for i := range eps {
		l.noteLocked(eps[i].ID)
	}
	l.mu.Unlock()
	l.signal()
}

// AlertsChanged notes alerts another node stored, for the live stream. It
// never blocks.
func (l *LiveAlerts) AlertsChanged(ids []string) {
	l.mu.Lock()
	for _, id := range ids {
		l.noteLocked(id)
	}
	l.mu.Unlock()
	l.signal()
}

func (l *LiveAlerts) noteLocked(id string) {
	if _, ok := l.noted[id]; ok {
		return
	}
	if len(l.pending) >= l.max {
		l.dropped.Inc()
		return
	}
	l.noted[id] = struct{}{}
	l.pending = append(l.pending, id)
}

func (l *LiveAlerts) signal() {
	select {
	case l.wake <- struct{}{}:
	default:
	}
}

// Run hands what was noted to to, everything noted since the last call at
// once, until ctx ends; what is still waiting then is dropped (counted).
func (l *LiveAlerts) Run(ctx context.Context, to AlertPublisher) {
	var ids []string
	for {
		select {
		case <-ctx.Done():
			l.mu.Lock()
			l.dropped.Add(float64(len(l.pending)))
			l.pending = nil
			clear(l.noted)
			l.mu.Unlock()
			return
		case <-l.wake:
		}
		l.mu.Lock()
		ids, l.pending = l.pending, ids[:0]
		clear(l.noted)
		l.mu.Unlock()
		if len(ids) > 0 {
			to.PublishAlertIDs(ids)
		}
		clear(ids)
	}
}

// PublishAlerts is PublishAlertIDs by the episodes themselves.
func (s *Server) PublishAlerts(eps []alerts.Episode) {
	ids := make([]string, len(eps))
	for i := range eps {
		ids[i] = eps[i].ID
	}
	s.PublishAlertIDs(ids)
}

// PublishAlertIDs sends stored alerts to the live stream, as kind "alert"
// events carrying the alert's JSON (as GET /api/v1/alerts/{id} answers
// it), and returns once they are sent: Server is LiveAlerts' publisher.
// It reads the alerts (one query, bounded by 5 s) and never blocks on a
// websocket client.
func (s *Server) PublishAlertIDs(ids []string) {
	if s.cfg.Live == nil || len(ids) == 0 {
		return
	}
	// A stalled database must not hold the live alerts up for long: what
	// changes meanwhile waits (or, past the queue, is dropped).
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	listed, _, err := s.alerts.ListEpisodes(ctx, alerts.EpisodeQuery{Scope: track.All, IDs: ids, WithRetracted: true})
	if err == nil {
		var items []alertJSON
		if items, err = s.alertsJSON(ctx, listed); err == nil {
			for i := range items {
				s.cfg.Live.PublishEvent(track.Event{VehicleID: items[i].Vehicle.ID, Kind: "alert", Payload: items[i]})
			}
			return
		}
	}
	s.log.Warn("api: alerts not sent to the live stream", "alerts", len(ids), "err", err)
}
