package alerts

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"time"
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
