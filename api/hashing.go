package api

import (
	"context"
	"errors"
	"sync/atomic"
	"time"
)

// DefaultHashConcurrency is how many argon2id computations run at once by
// default: each holds KDF.MemoryKiB (64 MiB with DefaultKDF) while it runs,
// so this bounds what logins can take, whoever sends them.
const DefaultHashConcurrency = 2

// DefaultLoginConcurrency is how many logins do their database work (the
// throttle, the audit entry of a refusal) at once by default: a storm of
// logins then holds a few of the database connections the terminals'
// writes and /healthz need, not all of them.
const DefaultLoginConcurrency = 4

// errBusy is returned when no slot came free in time.
var errBusy = errors.New("too many logins at once")

// limiter runs work through a fixed number of slots. A caller beyond them
// waits up to wait for one, and at most maxWaiting callers wait at all:
// the rest are refused at once, so that a flood of logins costs neither
// memory nor a queue that only grows.
type limiter struct {
	slots      chan struct{}
	wait       time.Duration
	maxWaiting int64

	waiting atomic.Int64
	// running and peak count the calls in progress and the most there
	// ever were at once (read by tests and the metrics).
	running atomic.Int64
	peak    atomic.Int64
}

func newLimiter(concurrency int, wait time.Duration) *limiter {
	return &limiter{slots: make(chan struct{}, concurrency), wait: wait, maxWaiting: int64(16 * concurrency)}
}

// hasher runs password hashes, which take KDF.MemoryKiB each, through a
// limiter.
type hasher struct {
	*limiter
	kdf KDF
}

func newHasher(kdf KDF, concurrency int, wait time.Duration) *hasher {
	return &hasher{limiter: newLimiter(concurrency, wait), kdf: kdf}
}

// run calls f in a slot, or returns errBusy (or ctx's error) without
// calling it.
func (h *limiter) run(ctx context.Context, f func()) error {
	select {
	case h.slots <- struct{}{}:
	default:
		if h.waiting.Add(1) > h.maxWaiting {
			h.waiting.Add(-1)
			return errBusy
		}
		t := time.NewTimer(h.wait)
		select {
		case h.slots <- struct{}{}:
			t.Stop()
			h.waiting.Add(-1)
		case <-t.C:
			h.waiting.Add(-1)
			return errBusy
		case <-ctx.Done():
			t.Stop()
			h.waiting.Add(-1)
			return ctx.Err()
		}
	}
	defer func() { <-h.slots }()
	n := h.running.Add(1)
	defer h.running.Add(-1)
	for p := h.peak.Load(); n > p && !h.peak.CompareAndSwap(p, n); p = h.peak.Load() {
	}
	f()
	return nil
}

// hash returns the PHC string of password under the configured cost.
func (h *hasher) hash(ctx context.Context, password string) (string, error) {
	var s string
	err := h.run(ctx, func() { s = hashPassword(password, h.kdf) })
	return s, err
}

// check reports whether password matches the PHC string stored.
func (h *hasher) check(ctx context.Context, stored, password string) (bool, error) {
	var ok bool
	err := h.run(ctx, func() { ok = checkPassword(stored, password) })
	return ok, err
}
