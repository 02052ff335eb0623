package sim

import (
	"math/bits"
	"sort"
	"sync"
	"sync/atomic"
	"time"
)

// Metrics counts what terminals sent and what the platform acknowledged. One Metrics may be
// shared by any number of Terminals; all methods are safe for concurrent use. Counters are of
// report messages (0x0200 and 0x0704) unless they say positions; registration, authentication,
// heartbeats and logout are not reports.
type Metrics struct {
	start time.Time

	sent      atomic.Int64
	posSent   atomic.Int64
	acked     atomic.Int64
	posAcked  atomic.Int64
	rejected  atomic.Int64
	resent    atomic.Int64
	pkgResent atomic.Int64
	pending   atomic.Int64
	posPend   atomic.Int64
	control   atomic.Int64
	blindDrop atomic.Int64
	latency   Histogram
	mu        sync.Mutex
	perSecond []int64 // positions acknowledged in each second since start
}

// NewMetrics returns zeroed metrics whose per-second windows start now.
func NewMetrics() *Metrics { return &Metrics{start: time.Now()} }

// Snapshot is a copy of the counters at one moment.
type Snapshot struct {
	// Sent is the number of report messages sent, resends not included.
	Sent int64 `json:"reports_sent"`
	// PositionsSent is the number of positions in them (1 per 0x0200, n per 0x0704).
	PositionsSent int64 `json:"positions_sent"`
	// Acked is the number of report messages the platform acknowledged with result 0.
	Acked int64 `json:"acked"`
	// PositionsAcked is the number of positions in them.
	PositionsAcked int64 `json:"positions_acked"`
	// Rejected is the number of reports answered with result 2 (bad message) or 3
	// (unsupported): they are not resent.
	Rejected int64 `json:"rejected"`
	// Resent is the number of resends of reports not acknowledged in time (one report may be
	// resent several times).
	Resent int64 `json:"resent"`
	// PackagesResent is the number of sub-packages sent again because the platform asked for
	// them (0x8003 补传分包请求); they are not counted in Resent.
	PackagesResent int64 `json:"packages_resent"`
	// Pending is the number of reports sent and neither acknowledged nor rejected yet: at the end
	// of a run, the unacknowledged ones.
	Pending int64 `json:"unacknowledged"`
	// PositionsPending is the number of positions in them.
	PositionsPending int64 `json:"positions_unacknowledged"`
	// Control is the number of other messages sent (register, auth, heartbeat, logout, replies).
	Control int64 `json:"control_sent"`
	// BlindDropped is the number of positions taken out of coverage and dropped because the
	// terminal's storage (Config.BlindCap) was full.
	BlindDropped int64 `json:"blind_dropped"`
}

// Snapshot returns the current counters.
func (m *Metrics) Snapshot() Snapshot {
	return Snapshot{
		Sent:             m.sent.Load(),
		PositionsSent:    m.posSent.Load(),
		Acked:            m.acked.Load(),
		PositionsAcked:   m.posAcked.Load(),
		Rejected:         m.rejected.Load(),
		Resent:           m.resent.Load(),
		PackagesResent:   m.pkgResent.Load(),
		Pending:          m.pending.Load(),
		PositionsPending: m.posPend.Load(),
		Control:          m.control.Load(),
		BlindDropped:     m.blindDrop.Load(),
	}
}

// Latency returns the histogram of acknowledgement latencies: from the first sending of a
// report to the platform's 0x8001 for it (so a resent report's latency includes its timeouts).
func (m *Metrics) Latency() *Histogram { return &m.latency }

// Start returns the time the per-second windows count from.
func (m *Metrics) Start() time.Time { return m.start }

// AckedPerSecond returns the positions acknowledged in each whole second since Start; the
// slice is a copy owned by the caller.
func (m *Metrics) AckedPerSecond() []int64 {
	m.mu.Lock()
	defer m.mu.Unlock()
	return append([]int64(nil), m.perSecond...)
}

func (m *Metrics) onSend(positions int) {
	m.sent.Add(1)
	m.posSent.Add(int64(positions))
	m.pending.Add(1)
	m.posPend.Add(int64(positions))
}

func (m *Metrics) onAck(positions int, at time.Time, latency time.Duration) {
	m.acked.Add(1)
	m.posAcked.Add(int64(positions))
	m.pending.Add(-1)
	m.posPend.Add(-int64(positions))
	m.latency.Observe(latency)
	sec := int(at.Sub(m.start) / time.Second)
	if sec < 0 {
		return
	}
	m.mu.Lock()
	for len(m.perSecond) <= sec {
		m.perSecond = append(m.perSecond, 0)
	}
	m.perSecond[sec] += int64(positions)
	m.mu.Unlock()
}

func (m *Metrics) onReject(positions int) {
	m.rejected.Add(1)
	m.pending.Add(-1)
	m.posPend.Add(-int64(positions))
}

// Histogram is a log-linear histogram of durations with about 1.6 % relative precision
// (64 sub-buckets per power of two of microseconds), up to 2^40 µs. The zero value is ready to
// use; it is safe for concurrent use and Observe does not allocate.
type Histogram struct {
	counts [histBuckets]atomic.Int64
	n      atomic.Int64
	max    atomic.Int64 // nanoseconds
}

const (
	histSubBits = 6
	histMaxExp  = 40
	histBuckets = (histMaxExp - histSubBits + 2) << histSubBits
)

func histBucket(us uint64) int {
	if us < 1<<histSubBits {
		return int(us)
	}
	e := bits.Len64(us) - 1
	if e > histMaxExp {
		return histBuckets - 1
	}
	shift := e - histSubBits
	sub := (us >> shift) & (1<<histSubBits - 1)
	return (e-histSubBits+1)<<histSubBits + int(sub)
}

// histMid returns the middle of bucket b in microseconds.
func histMid(b int) float64 {
	if b < 1<<histSubBits {
		return float64(b)
	}
	g := b >> histSubBits
	sub := uint64(b & (1<<histSubBits - 1))
	shift := g - 1
	lo := (1<<histSubBits | sub) << shift
	return float64(lo) + float64(uint64(1)<<shift)/2
}

// Observe records one duration; negative durations count as 0.
func (h *Histogram) Observe(d time.Duration) {
	if d < 0 {
		d = 0
	}
	h.counts[histBucket(uint64(d/time.Microsecond))].Add(1)
	h.n.Add(1)
	for {
		cur := h.max.Load()
		if int64(d) <= cur || h.max.CompareAndSwap(cur, int64(d)) {
			break
		}
	}
}

// Count returns the number of observations.
func (h *Histogram) Count() int64 { return h.n.Load() }

// Max returns the largest observation, exactly.
func (h *Histogram) Max() time.Duration { return time.Duration(h.max.Load()) }

// Quantile returns the q-quantile (0 ≤ q ≤ 1) of the observations, to the bucket's precision,
// never above Max; 0 when there are none.
func (h *Histogram) Quantile(q float64) time.Duration {
	n := h.n.Load()
	if n == 0 {
		return 0
	}
	rank := int64(q*float64(n-1)) + 1
	var seen int64
	for b := range h.counts {
		seen += h.counts[b].Load()
		if seen >= rank {
			return min(time.Duration(histMid(b)*float64(time.Microsecond)), h.Max())
		}
	}
	return h.Max()
}

// Median returns the median of xs (the mean of the two middle values for an even count), 0 for
// none. xs is not modified.
func Median(xs []int64) float64 {
	if len(xs) == 0 {
		return 0
	}
	s := append([]int64(nil), xs...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	if len(s)%2 == 1 {
		return float64(s[len(s)/2])
	}
	return float64(s[len(s)/2-1]+s[len(s)/2]) / 2
}
