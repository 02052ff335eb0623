package commands

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Metrics counts what this node's Store does with commands. A nil
// *Metrics counts nothing.
type Metrics struct {
	states   *prometheus.CounterVec
	delivery prometheus.Histogram
	answer   prometheus.Histogram
	drops    *prometheus.CounterVec
}

// NewMetrics returns the commands' metrics, registered on reg when it is
// not nil.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		states: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "fleetmon_commands_total",
			Help: "Commands to terminals that reached each state on this node (queued, sent, answered, failed, timed_out, cancelled), by kind.",
		}, []string{"kind", "state"}),
		delivery: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "fleetmon_commands_delivery_seconds",
			Help:    "From queueing a command to sending it to the terminal (long for a terminal that was offline).",
			Buckets: prometheus.ExponentialBuckets(0.01, 4, 10),
		}),
		answer: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "fleetmon_commands_answer_seconds",
			Help:    "From sending a command to recording the terminal's answer.",
			Buckets: prometheus.ExponentialBuckets(0.01, 3, 10),
		}),
		drops: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "fleetmon_commands_dropped_total",
			Help: "Command traffic dropped, by reason: write (a command could not be written and went back to the queue), unmatched_reply (an answer to no command waiting for it), notify (the notification listener lost its connection: what it missed waits for the next sweep).",
		}, []string{"reason"}),
	}
	for _, r := range []string{"write", "unmatched_reply", "notify"} {
		m.drops.WithLabelValues(r)
	}
	if reg != nil {
		reg.MustRegister(m.states, m.delivery, m.answer, m.drops)
	}
	return m
}

func (m *Metrics) state(k Kind, s State) {
	if m != nil {
		m.states.WithLabelValues(string(k), string(s)).Inc()
	}
}

func (m *Metrics) observeDelivery(d time.Duration) {
	if m != nil {
		m.delivery.Observe(max(d, 0).Seconds())
	}
}

func (m *Metrics) observeAnswer(d time.Duration) {
	if m != nil {
		m.answer.Observe(max(d, 0).Seconds())
	}
}

func (m *Metrics) dropped(reason string) {
	if m != nil {
		m.drops.WithLabelValues(reason).Inc()
	}
}
