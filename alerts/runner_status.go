package alerts

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// How far the rules are behind: a runner keeps, per shard, what it was
// handed and has judged, and when the clock-driven checks last ran, so
// that an integration or a test can wait until its positions are judged
// instead of sleeping.

// Status is how far a runner's rules are behind the stored positions.
type Status struct {
	// Running: Run has started and not returned.
	Running bool `json:"running"`
	// Pending is the positions committed and not judged yet (their
	// episodes are stored once they are judged). For a single node: handed
	// over by the track writer on commit; for a cluster node: of the
	// shards it holds, committed after the last read of the feed.
	Pending int64 `json:"pending_positions"`
	// OldestPending is when the oldest of them was committed (handed over,
	// or received for a cluster node's); zero when none is pending.
	OldestPending time.Time `json:"oldest_pending,omitzero"`
	// CaughtUp: running, the replay on start done on every shard, and
	// nothing pending: everything committed before the status was asked
	// for has been judged and its episodes stored.
	CaughtUp bool `json:"caught_up"`
	// ClockRan is when the clock-driven checks (夜间未入库, 离线, ...) last
	// ran on every shard (the earliest of the shards'), and ClockAsOf the
	// time they judged as of (Clock.Lag behind); zero before the first.
	ClockRan  time.Time `json:"clock_ran,omitzero"`
	ClockAsOf time.Time `json:"clock_as_of,omitzero"`
	// Shards is, on a cluster node, how many shards it holds.
	Shards int `json:"shards,omitempty"`
}

// progress is what a shard has been handed and has judged. Safe for
// concurrent use: the writer hands, the shard judges, Status reads.
type progress struct {
	mu     sync.Mutex
	handed int64
	judged int64
	// marks are the hand-overs not judged entirely yet, oldest first: the
	// count handed after each, and when.
	marks []progressMark
	// cursor is the commit-order feed's: every position of the shard
	// committed by a transaction below it has been judged.
	cursor atomic.Int64
	// replayed: the shard's replay on start is done.
	replayed atomic.Bool
	// clockRan and clockAsOf are the last clock-driven check's (Unix
	// nanoseconds; 0 before the first).
	clockRan, clockAsOf atomic.Int64
}

type progressMark struct {
	handed int64
	at     time.Time
}

// hand notes n positions handed over at now.
func (p *progress) hand(n int, now time.Time) {
	p.mu.Lock()
	p.handed += int64(n)
	p.marks = append(p.marks, progressMark{p.handed, now})
	p.mu.Unlock()
}

// judge notes n handed positions judged and their episodes stored (or
// dropped, when the runner stopped: the next start replays them).
func (p *progress) judge(n int) {
	p.mu.Lock()
	p.judged += int64(n)
	k := 0
	for k < len(p.marks) && p.marks[k].handed <= p.judged {
		k++
	}
	p.marks = append(p.marks[:0], p.marks[k:]...)
	p.mu.Unlock()
}

// pending returns the positions handed and not judged, and when the
// oldest of them was handed.
func (p *progress) pending() (int64, time.Time) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if len(p.marks) == 0 {
		return p.handed - p.judged, time.Time{}
	}
	return p.handed - p.judged, p.marks[0].at
}

// ticked notes a clock-driven check run at ran, as of asOf.
func (p *progress) ticked(ran, asOf time.Time) {
	p.clockRan.Store(ran.UnixNano())
	p.clockAsOf.Store(asOf.UnixNano())
}

// Status reports how far the runner's rules are behind. For a cluster
// shard's runner it counts the positions committed after its feed's last
// read in the database.
func (r *Runner) Status(ctx context.Context) (Status, error) {
	st := Status{Running: r.started.Load()}
	select {
	case <-r.stopped:
		st.Running = false
	default:
	}
	clockKnown, replayed := true, true
	for _, s := range r.shards {
		n, oldest := s.prog.pending()
		if f, ok := r.feed.(commitOrderFeed); ok {
			var err error
			if n, oldest, err = r.store.unjudged(ctx, f.shard, f.shards, s.prog.cursor.Load()); err != nil {
				return st, err
			}
		}
		st.Pending += n
		if !oldest.IsZero() && (st.OldestPending.IsZero() || oldest.Before(st.OldestPending)) {
			st.OldestPending = oldest
		}
		replayed = replayed && s.prog.replayed.Load()
		ran := s.prog.clockRan.Load()
		if ran == 0 {
			clockKnown = false
		} else if st.ClockRan.IsZero() || ran < st.ClockRan.UnixNano() {
			st.ClockRan, st.ClockAsOf = time.Unix(0, ran), time.Unix(0, s.prog.clockAsOf.Load())
		}
	}
	if !clockKnown {
		st.ClockRan, st.ClockAsOf = time.Time{}, time.Time{}
	}
	st.CaughtUp = st.Running && replayed && st.Pending == 0
	return st, nil
}

// unjudged counts a cluster shard's positions committed by transactions
// from cursor on, and returns when the oldest of them was received. A
// cursor of 0 (the feed not begun) counts nothing: the catch-up is under
// way.
func (s *Store) unjudged(ctx context.Context, shard, shards int, cursor int64) (int64, time.Time, error) {
	if cursor == 0 {
		return 0, time.Time{}, nil
	}
	var n int64
	var oldest *time.Time
	err := s.pool.QueryRow(ctx, `SELECT count(*), min(received_at) FROM positions
		WHERE commit_xid >= $1 AND vehicle_id % $2 = $3`, cursor, shards, shard).Scan(&n, &oldest)
	if err != nil {
		return 0, time.Time{}, fmt.Errorf("count positions not judged of shard %d: %w", shard, err)
	}
	if oldest == nil {
		return n, time.Time{}, nil
	}
	return n, *oldest, nil
}

// Status reports how far the rules of the shards this node holds are
// behind (Status.Shards says how many); the other nodes report theirs.
func (c *Cluster) Status(ctx context.Context) (Status, error) {
	c.mu.Lock()
	rs := make([]*Runner, 0, len(c.running))
	for _, lr := range c.running {
		rs = append(rs, lr.r)
	}
	c.mu.Unlock()
	st := Status{Running: len(rs) > 0, CaughtUp: len(rs) > 0, Shards: len(rs)}
	for i, r := range rs {
		s, err := r.Status(ctx)
		if err != nil {
			return st, err
		}
		st.Running = st.Running && s.Running
		st.CaughtUp = st.CaughtUp && s.CaughtUp
		st.Pending += s.Pending
		if !s.OldestPending.IsZero() && (st.OldestPending.IsZero() || s.OldestPending.Before(st.OldestPending)) {
			st.OldestPending = s.OldestPending
		}
		if i == 0 || s.ClockRan.IsZero() || (!st.ClockRan.IsZero() && s.ClockRan.Before(st.ClockRan)) {
			st.ClockRan, st.ClockAsOf = s.ClockRan, s.ClockAsOf
		}
	}
	return st, nil
}

// statusCollector exports a Status as metrics, read when scraped.
type statusCollector struct {
	status func(context.Context) (Status, error)
	now    func() time.Time
}

var (
	descPending = prometheus.NewDesc("fleetmon_alerts_pending_positions",
		"Positions committed and not judged by the rules yet (a cluster node: of the shards it holds).", nil, nil)
	descPendingAge = prometheus.NewDesc("fleetmon_alerts_pending_oldest_seconds",
		"Age of the oldest position committed and not judged yet; 0 when none is pending.", nil, nil)
	descCaughtUp = prometheus.NewDesc("fleetmon_alerts_caught_up",
		"1 when the rules run, have replayed what came before their start, and judged everything committed.", nil, nil)
	descClockRan = prometheus.NewDesc("fleetmon_alerts_clock_last_run_timestamp_seconds",
		"When the clock-driven checks last ran on every shard (the earliest shard's); 0 before the first.", nil, nil)
	descClockAsOf = prometheus.NewDesc("fleetmon_alerts_clock_as_of_timestamp_seconds",
		"The time the clock-driven checks last judged as of (the earliest shard's); 0 before the first.", nil, nil)
)

// StatusMetrics returns a collector exporting status as metrics
// (fleetmon_alerts_pending_positions and the like), asked when scraped.
// NewRunner registers its own; a cluster node's is registered by whoever
// runs the cluster.
func StatusMetrics(status func(context.Context) (Status, error)) prometheus.Collector {
	return statusCollector{status: status, now: time.Now}
}

func (c statusCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descPending, descPendingAge, descCaughtUp, descClockRan, descClockAsOf} {
		ch <- d
	}
}

func (c statusCollector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), dbCallTimeout)
	defer cancel()
	st, err := c.status(ctx)
	if err != nil {
		ch <- prometheus.NewInvalidMetric(descPending, err)
		return
	}
	age, up := 0.0, 0.0
	if !st.OldestPending.IsZero() {
		age = max(0, c.now().Sub(st.OldestPending).Seconds())
	}
	if st.CaughtUp {
		up = 1
	}
	stamp := func(t time.Time) float64 {
		if t.IsZero() {
			return 0
		}
		return float64(t.UnixNano()) / 1e9
	}
	ch <- prometheus.MustNewConstMetric(descPending, prometheus.GaugeValue, float64(st.Pending))
	ch <- prometheus.MustNewConstMetric(descPendingAge, prometheus.GaugeValue, age)
	ch <- prometheus.MustNewConstMetric(descCaughtUp, prometheus.GaugeValue, up)
	ch <- prometheus.MustNewConstMetric(descClockRan, prometheus.GaugeValue, stamp(st.ClockRan))
	ch <- prometheus.MustNewConstMetric(descClockAsOf, prometheus.GaugeValue, stamp(st.ClockAsOf))
}
