package alerts

import "github.com/prometheus/client_golang/prometheus"

// runnerMetrics are the runners' metrics; a cluster's runners share one
// set.
type runnerMetrics struct {
	queued         prometheus.GaugeFunc
	queueFull      prometheus.Counter
	blockedSeconds prometheus.Counter
	dropped        prometheus.Counter
	positions      *prometheus.CounterVec
	late           prometheus.Counter
	tooLate        prometheus.Counter
	unknown        prometheus.Counter
	approvalLoads  prometheus.Counter
	episodes       *prometheus.CounterVec
	rowsWritten    prometheus.Counter
	statesSaved    prometheus.Counter
	errors         *prometheus.CounterVec
	stepSeconds    prometheus.Histogram
}

// newRunnerMetrics returns the runners' metrics, registered on reg when
// it is not nil; queued reports the positions waiting.
func newRunnerMetrics(reg prometheus.Registerer, queued func() float64) *runnerMetrics {
	m := &runnerMetrics{
		queueFull: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "fleetmon_alerts_queue_full_total",
			Help: "Hand-overs from the track writer that found a shard's queue full and blocked the writer.",
		}),
		blockedSeconds: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "fleetmon_alerts_queue_blocked_seconds_total",
			Help: "Time the track writer spent blocked on a full alerts queue.",
		}),
		dropped: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "fleetmon_alerts_dropped_positions_total",
			Help: "Positions handed over after the runner stopped; the next start replays them from the database.",
		}),
		positions: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "fleetmon_alerts_positions_total",
			Help: "Positions evaluated, by path: live (handed over on commit) or catch_up (replayed on start).",
		}, []string{"path"}),
		late: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "fleetmon_alerts_late_positions_total",
			Help: "Positions older than their vehicle's last evaluated one (blind-zone back-fills), which cause a re-evaluation.",
		}),
		tooLate: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "fleetmon_alerts_too_late_positions_total",
			Help: "Positions older than the re-evaluation horizon, not evaluated.",
		}),
		unknown: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "fleetmon_alerts_unknown_vehicle_positions_total",
			Help: "Positions of vehicles not in the vehicles table, not evaluated.",
		}),
		approvalLoads: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "fleetmon_alerts_approval_loads_total",
			Help: "Reads of a vehicle's approvals for the device times its positions are judged at.",
		}),
		episodes: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "fleetmon_alerts_episodes_emitted_total",
			Help: "Episode emissions by the engines (an episode is emitted when it opens, closes, changes or is retracted), by status.",
		}, []string{"status"}),
		rowsWritten: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "fleetmon_alerts_episode_rows_written_total",
			Help: "Episode rows inserted or changed (an upsert that changes nothing is not counted).",
		}),
		statesSaved: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "fleetmon_alerts_states_saved_total",
			Help: "Vehicle engine states saved.",
		}),
		errors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "fleetmon_alerts_errors_total",
			Help: "Failed operations, by operation; database failures are retried.",
		}, []string{"op"}),
		stepSeconds: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "fleetmon_alerts_step_seconds",
			Help:    "Time to evaluate one step of queued positions and store its episodes.",
			Buckets: prometheus.ExponentialBuckets(0.0005, 2, 16),
		}),
	}
	m.queued = prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "fleetmon_alerts_queue_positions",
		Help: "Positions handed over and waiting for the rules.",
	}, queued)
	if reg != nil {
		reg.MustRegister(m.queued, m.queueFull, m.blockedSeconds, m.dropped, m.positions, m.late, m.tooLate,
			m.unknown, m.approvalLoads, m.episodes, m.rowsWritten, m.statesSaved, m.errors, m.stepSeconds)
	}
	return m
}
