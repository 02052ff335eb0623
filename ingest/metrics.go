package ingest

import (
	"sync"

	"github.com/prometheus/client_golang/prometheus"

	"fleetmon/ingest/jt808"
)

type metrics struct {
	// cache resolves label values to counters once: WithLabelValues hashes
	// and builds strings on every call, which showed in the gateway's
	// profile at 20,000 frames/s.
	cacheMu sync.RWMutex
	cache   map[counterKey]prometheus.Counter

	posLive, posBatch, posBackfill prometheus.Counter

	connections     prometheus.Gauge
	accepted        prometheus.Counter
	closed          *prometheus.CounterVec
	frames          *prometheus.CounterVec
	decodeErrors    *prometheus.CounterVec
	replies         *prometheus.CounterVec
	ackSeconds      prometheus.Histogram
	positions       *prometheus.CounterVec
	skippedBytes    prometheus.Counter
	fragments       *prometheus.CounterVec
	registrations   *prometheus.CounterVec
	authentications *prometheus.CounterVec
	registryRetries prometheus.Counter
	refusedVec      *prometheus.CounterVec
	refused         *refusedCounters
	unstored        *prometheus.CounterVec

	unstoredConn, unstoredRate prometheus.Counter
}

func newMetrics(reg prometheus.Registerer) *metrics {
	m := &metrics{
		connections: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "fleetmon_ingest_connections",
			Help: "Open terminal connections.",
		}),
		accepted: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "fleetmon_ingest_connections_accepted_total",
			Help: "Terminal connections accepted.",
		}),
		closed: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "fleetmon_ingest_connections_closed_total",
			Help: "Terminal connections closed, by reason.",
		}, []string{"reason"}),
		frames: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "fleetmon_ingest_frames_total",
			Help: "Frames received, by message id and result (ok, malformed, checksum, unauthenticated, unsupported, rejected, error).",
		}, []string{"msg_id", "result"}),
		decodeErrors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "fleetmon_ingest_decode_errors_total",
			Help: "Frames or bodies that failed to decode, by kind.",
		}, []string{"kind"}),
		replies: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "fleetmon_ingest_replies_total",
			Help: "Replies sent to terminals, by message id and result code.",
		}, []string{"msg_id", "result"}),
		ackSeconds: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "fleetmon_ingest_ack_seconds",
			Help:    "From reading a location or batch frame to sending its acknowledgement (after commit).",
			Buckets: prometheus.ExponentialBuckets(0.001, 2, 14),
		}),
		positions: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "fleetmon_ingest_positions_total",
			Help: "Positions acknowledged to terminals, by kind (live, batch, backfill).",
		}, []string{"kind"}),
		skippedBytes: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "fleetmon_ingest_skipped_bytes_total",
			Help: "Bytes outside any frame (garbage between frames), skipped.",
		}),
		fragments: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "fleetmon_ingest_fragments_total",
			Help: "Sub-packages, by outcome (received, assembled, resend_requested, expired, rejected).",
		}, []string{"outcome"}),
		registrations: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "fleetmon_ingest_registrations_total",
			Help: "Registrations (0x0100), by 0x8100 result code.",
		}, []string{"result"}),
		authentications: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "fleetmon_ingest_authentications_total",
			Help: "Authentications (0x0102), by outcome (ok, failed).",
		}, []string{"outcome"}),
		registryRetries: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "fleetmon_ingest_registry_retries_total",
			Help: "Registration, authentication and logout calls to the database tried again after a transient failure (such as a failover).",
		}),
		refusedVec: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "fleetmon_ingest_positions_refused_total",
			Help: "Positions refused and not stored, by reason (invalid: an impossible time or coordinate; future: a device time beyond the clock skew; past: before the earliest plausible time).",
		}, []string{"reason"}),
		unstored: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "fleetmon_ingest_frames_unstored_total",
			Help: "Frames refused on connections that had not authenticated and not kept in raw_frames beyond the sample, by the limit reached (connection_sample, global_rate).",
		}, []string{"reason"}),
	}
	m.cache = map[counterKey]prometheus.Counter{}
	m.refused = newRefusedCounters(m.refusedVec)
	m.unstoredConn = m.unstored.WithLabelValues("connection_sample")
	m.unstoredRate = m.unstored.WithLabelValues("global_rate")
	m.posLive = m.positions.WithLabelValues("live")
	m.posBatch = m.positions.WithLabelValues("batch")
	m.posBackfill = m.positions.WithLabelValues("backfill")
	if reg != nil {
		reg.MustRegister(m.connections, m.accepted, m.closed, m.frames, m.decodeErrors, m.replies,
			m.ackSeconds, m.positions, m.skippedBytes, m.fragments, m.registrations, m.authentications, m.registryRetries,
			m.refusedVec, m.unstored)
	}
	return m
}

// positionsBy returns the positions counter of kind live, batch or backfill.
func (m *metrics) positionsBy(kind string) prometheus.Counter {
	switch kind {
	case "batch":
		return m.posBatch
	case "backfill":
		return m.posBackfill
	}
	return m.posLive
}

// counterKey names a labelled counter: which vector, message id, result.
type counterKey struct {
	vec    uint8
	id     jt808.MsgID
	result string
}

const (
	vecFrames uint8 = iota
	vecReplies
)

// frame returns the frames counter for id and result.
func (m *metrics) frame(id jt808.MsgID, result string) prometheus.Counter {
	return m.counter(counterKey{vecFrames, id, result})
}

// reply returns the replies counter for id and result.
func (m *metrics) reply(id jt808.MsgID, result string) prometheus.Counter {
	return m.counter(counterKey{vecReplies, id, result})
}

func (m *metrics) counter(k counterKey) prometheus.Counter {
	if msgLabel(k.id) == "other" {
		k.id = 0xffff
	}
	m.cacheMu.RLock()
	c, ok := m.cache[k]
	m.cacheMu.RUnlock()
	if ok {
		return c
	}
	vec := m.frames
	if k.vec == vecReplies {
		vec = m.replies
	}
	c = vec.WithLabelValues(msgLabel(k.id), k.result)
	m.cacheMu.Lock()
	m.cache[k] = c
	m.cacheMu.Unlock()
	return c
}

// msgLabel bounds the msg_id label to the messages fleetmon knows, so a
// flood of garbage ids cannot explode the metric's cardinality.
func msgLabel(id jt808.MsgID) string {
	switch id {
	case jt808.IDTerminalReply, jt808.IDHeartbeat, jt808.IDLogout, jt808.IDQueryTime, jt808.IDRegister,
		jt808.IDAuth, jt808.IDLocation, jt808.IDBatchLocation, jt808.IDQueryParamsReply,
		jt808.IDQueryLocationReply, jt808.IDPlatformReply, jt808.IDRegisterReply, jt808.IDQueryTimeReply,
		jt808.IDResendRequest:
		return id.String()
	}
	return "other"
}
