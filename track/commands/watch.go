package commands

import (
	"context"
	"log/slog"
	"strconv"
	"time"
)

// SweepEvery is how often Watch expires commands and wakes the terminals
// that have some queued: the backstop for a notification lost while the
// listener reconnected, and the pace of the time-outs.
const SweepEvery = 15 * time.Second

// Watch listens on Channel and calls wake with the terminal of each
// command queued, sweeps every SweepEvery (Expire, then wake for every
// terminal with commands waiting), and returns when ctx ends. wake is
// called from Watch's goroutine and must not block: a node that holds no
// connection to the terminal ignores it.
func (s *Store) Watch(ctx context.Context, log *slog.Logger, wake func(terminalID int64)) {
	notes := make(chan int64, 256)
	go s.listen(ctx, log, notes)
	tick := time.NewTicker(SweepEvery)
	defer tick.Stop()
	s.sweep(ctx, log, wake)
	for {
		select {
		case <-ctx.Done():
			return
		case id := <-notes:
			wake(id)
		case <-tick.C:
			s.sweep(ctx, log, wake)
		}
	}
}

func (s *Store) sweep(ctx context.Context, log *slog.Logger, wake func(int64)) {
	if n, err := s.Expire(ctx, time.Now()); err != nil {
		if ctx.Err() == nil {
			log.Warn("expire commands", "err", err)
		}
	} else if n > 0 {
		log.Info("commands timed out", "commands", n)
	}
	ids, err := s.Waiting(ctx)
	if err != nil {
		if ctx.Err() == nil {
			log.Warn("sweep queued commands", "err", err)
		}
		return
	}
	for _, id := range ids {
		wake(id)
	}
}

// listen holds one connection in LISTEN and passes the notifications on,
// reconnecting after a failure (a failover, a restart of PostgreSQL); what
// was notified meanwhile is picked up by the next sweep.
func (s *Store) listen(ctx context.Context, log *slog.Logger, notes chan<- int64) {
	for ctx.Err() == nil {
		err := s.listenOnce(ctx, notes)
		if ctx.Err() != nil {
			return
		}
		s.m.dropped("notify")
		log.Warn("command notifications interrupted, listening again", "err", err)
		select {
		case <-ctx.Done():
			return
		case <-time.After(2 * time.Second):
		}
	}
}

func (s *Store) listenOnce(ctx context.Context, notes chan<- int64) error {
	conn, err := s.pool.Acquire(ctx)
	if err != nil {
		return err
	}
	// A connection that was listening goes back to no pool: it would carry
	// the LISTEN to its next user.
	defer conn.Conn().Close(context.Background())
	defer conn.Hijack()
	if _, err := conn.Exec(ctx, "LISTEN "+Channel); err != nil {
		return err
	}
	for {
		n, err := conn.Conn().WaitForNotification(ctx)
		if err != nil {
			return err
		}
		id, err := strconv.ParseInt(n.Payload, 10, 64)
		if err != nil {
			continue
		}
		select {
		case notes <- id:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}
