package alerts

import (
	"context"
	"errors"
	"time"

	"fleetmon/track"
)

// A Runner's mode is the pair of its feed (where its positions come from)
// and its stateWriter (where its episodes and state go), fixed when it is
// made:
//
//   - a single node (NewRunner): pushedFeed, the positions the track writer
//     commits on this node, handed over through Runner.Committed into a
//     queue per shard; plainWriter, straight to the store.
//   - a cluster shard (Cluster.take): commitOrderFeed, the shard's
//     positions read from the database in commit order, whichever node
//     committed them; fencedWriter, through the shard's lease, so that a
//     node that lost the lease cannot write.

// feed is where a runner's positions come from.
type feed interface {
	// pushed reports whether positions are pushed into the shards' queues
	// (Runner.Committed) rather than read by the feed.
	pushed() bool
	// owns reports whether the runner judges the vehicle.
	owns(vehicleID int64) bool
	// begin prepares shard s's feed before its catch-up. due ticks when
	// read should be called (nil: never); stop releases what begin took.
	// ok is false when ctx ended first.
	begin(ctx context.Context, s *shard) (due <-chan time.Time, stop func(), ok bool)
	// read evaluates what the feed brings for s since the last read.
	read(ctx context.Context, s *shard)
}

// pushedFeed is a single node's feed: every vehicle, each position pushed
// by the track writer after its commit.
type pushedFeed struct{}

func (pushedFeed) pushed() bool    { return true }
func (pushedFeed) owns(int64) bool { return true }
func (pushedFeed) begin(context.Context, *shard) (<-chan time.Time, func(), bool) {
	return nil, func() {}, true
}
func (pushedFeed) read(context.Context, *shard) {}

// commitOrderFeed is a cluster shard's feed: the vehicles with id %
// shards == shard, their positions read every poll from the positions
// table in commit order (positions.commit_xid below the oldest running
// transaction), so that what any node committed is judged once, in order.
type commitOrderFeed struct {
	shard, shards int
	poll          time.Duration
}

func (commitOrderFeed) pushed() bool { return false }

func (f commitOrderFeed) owns(vehicleID int64) bool {
	return uint64(vehicleID)%uint64(f.shards) == uint64(f.shard)
}

// begin sets the shard's cursor to the current horizon: the catch-up
// replays what was committed below it, the reads take what follows.
func (f commitOrderFeed) begin(ctx context.Context, s *shard) (<-chan time.Time, func(), bool) {
	r := s.r
	err := r.retry(ctx, "feed", dbRetryable, func(ctx context.Context) error {
		var err error
		s.cursor, err = r.store.feedHorizon(ctx)
		return err
	})
	if err != nil {
		return nil, nil, false
	}
	t := time.NewTicker(f.poll)
	return t.C, t.Stop, true
}

// read evaluates the shard's positions committed since the cursor.
func (f commitOrderFeed) read(ctx context.Context, s *shard) {
	r := s.r
	var (
		hi int64
		ps []track.Position
	)
	err := r.retry(ctx, "feed", dbRetryable, func(ctx context.Context) error {
		var err error
		ctx, cancel := context.WithTimeout(ctx, dbCallTimeout)
		defer cancel()
		if hi, err = r.store.feedHorizon(ctx); err != nil || hi <= s.cursor {
			return err
		}
		ps, err = r.store.feedPositions(ctx, f.shard, f.shards, s.cursor, hi)
		return err
	})
	if err != nil || hi <= s.cursor {
		return // ctx ended, or nothing committed since
	}
	if len(ps) > 0 {
		s.step = append(s.step[:0], ps...)
		s.evaluate(ctx, s.step, "live")
	}
	s.cursor = hi
}

// stateWriter is where a runner stores episodes and engine state.
type stateWriter interface {
	// upsertEpisodes stores eps and returns the ids of the rows it
	// inserted or changed.
	upsertEpisodes(ctx context.Context, eps []Episode) ([]string, error)
	saveStates(ctx context.Context, sts []SavedState) error
}

// plainWriter is a single node's: straight to the store, each write under
// plainWriteTimeout.
type plainWriter struct{ store *Store }

// plainWriteTimeout bounds one write of a single node's episodes or
// states: far above their usual milliseconds, so that a loaded server
// still finishes a drain at shutdown, and yet a primary that hangs does
// not hold the shard for the kernel's minutes.
const plainWriteTimeout = 30 * time.Second

func (w plainWriter) upsertEpisodes(ctx context.Context, eps []Episode) ([]string, error) {
	ctx, cancel := context.WithTimeout(ctx, plainWriteTimeout)
	defer cancel()
	return w.store.upsertEpisodes(ctx, eps)
}

func (w plainWriter) saveStates(ctx context.Context, sts []SavedState) error {
	ctx, cancel := context.WithTimeout(ctx, plainWriteTimeout)
	defer cancel()
	return w.store.SaveStates(ctx, sts)
}

// fencedWriter is a cluster shard's: each write runs in a transaction on
// the lease's connection that first checks the lease is still held.
type fencedWriter struct {
	lease leaseWriter
	shard int
}

func (w fencedWriter) upsertEpisodes(ctx context.Context, eps []Episode) ([]string, error) {
	var ids []string
	err := w.lease.fenced(ctx, w.shard, func(q querier) error {
		var err error
		ids, err = upsertEpisodesOn(ctx, q, eps)
		return err
	})
	return ids, err
}

func (w fencedWriter) saveStates(ctx context.Context, sts []SavedState) error {
	return w.lease.fenced(ctx, w.shard, func(q querier) error { return saveStatesOn(ctx, q, sts) })
}

// errAbandoned, as the cause of Run's context ending, makes a runner stop
// at once without draining or saving: its cluster lost the lease (another
// node may already run the shard; the lease refuses the writes anyway),
// or a test simulates a crash. The next runner replays from the last
// saved state.
var errAbandoned = errors.New("alerts: runner abandoned")
