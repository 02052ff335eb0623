package notify

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
)

// Channel is how a subscription is told.
type Channel string

// The channels.
const (
	ChannelWebhook Channel = "webhook"
	ChannelEmail   Channel = "email"
)

// sender sends one notification over its channel. A nil error means the
// receiver accepted it.
type sender interface {
	send(ctx context.Context, m *message) error
}

// message is a claimed notification: what to send, where, and under which
// idempotency key.
type message struct {
	outboxID, attemptID int64
	attempt             int
	key                 string
	channel             Channel
	target, secret      string
	payload             Payload
}

// claim takes the most overdue pending row whose subscription still
// exists, if any: it counts the attempt and moves next_at a lease ahead
// (the claim's expiry), and records the attempt as sending, in one
// transaction. Rows of deleted subscriptions are cancelled on the way.
const claim = `
WITH c AS (
    SELECT id FROM notify_outbox
    WHERE state = 'pending' AND next_at <= now()
    ORDER BY next_at LIMIT 1
    FOR UPDATE SKIP LOCKED)
UPDATE notify_outbox o SET attempts = o.attempts + 1, next_at = now() + make_interval(secs => $1)
FROM c, notify_subscriptions s
WHERE o.id = c.id AND s.id = o.subscription_id
RETURNING o.id, o.attempts, o.idempotency_key, o.payload, s.channel, s.target, s.secret, s.deleted_at IS NOT NULL`

// claimOne claims a due row; nil when none is due. A row it cancels or
// fails on the way (its subscription deleted meanwhile, its payload
// unreadable) is not sent: skipped says to claim again.
func (n *Notifier) claimOne(ctx context.Context) (m *message, skipped bool, err error) {
	err = pgx.BeginFunc(ctx, n.pool, func(tx pgx.Tx) error {
		m, skipped = nil, false
		var (
			raw     []byte
			deleted bool
			msg     message
		)
		err := tx.QueryRow(ctx, claim, n.cfg.Lease.Seconds()).Scan(&msg.outboxID, &msg.attempt, &msg.key, &raw,
			&msg.channel, &msg.target, &msg.secret, &deleted)
		if errors.Is(err, pgx.ErrNoRows) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("claim a notification: %w", err)
		}
		if deleted {
			skipped = true
			_, err := tx.Exec(ctx, `UPDATE notify_outbox SET state = 'cancelled', done_at = now(),
				last_error = 'subscription deleted' WHERE id = $1`, msg.outboxID)
			return err
		}
		if err := json.Unmarshal(raw, &msg.payload); err != nil {
			// Written by Scan alone: a payload it cannot read is a bug,
			// kept visible in the send log rather than retried forever.
			skipped = true
			_, err := tx.Exec(ctx, `UPDATE notify_outbox SET state = 'failed', done_at = now(), last_error = $2
				WHERE id = $1`, msg.outboxID, "unreadable payload: "+err.Error())
			n.m.failed.WithLabelValues(string(msg.channel)).Inc()
			return err
		}
		if err := tx.QueryRow(ctx, `INSERT INTO notify_attempts (outbox_id, attempt, status) VALUES ($1, $2, 'sending')
			RETURNING id`, msg.outboxID, msg.attempt).Scan(&msg.attemptID); err != nil {
			return fmt.Errorf("record attempt %d of notification %d: %w", msg.attempt, msg.outboxID, err)
		}
		m = &msg
		return nil
	})
	if err != nil {
		return nil, false, err
	}
	return m, skipped, nil
}

// sendLoop sends due notifications one at a time until none is due, then
// waits to be woken or for the next poll.
func (n *Notifier) sendLoop(ctx context.Context) {
	t := time.NewTicker(n.cfg.Poll)
	defer t.Stop()
	for {
		for ctx.Err() == nil {
			m, skipped, err := n.claimOne(ctx)
			if err != nil {
				if ctx.Err() == nil {
					n.m.errors.WithLabelValues("claim").Inc()
					n.log.Warn("notify claim", "err", err)
				}
				break
			}
			if skipped {
				continue
			}
			if m == nil {
				break
			}
			// More may be due: let another sender take the next one.
			wake(n.due)
			n.deliver(ctx, m)
		}
		select {
		case <-ctx.Done():
			return
		case <-n.due:
		case <-t.C:
		}
	}
}

// deliver sends m and records how it went. A send cut short because
// fleetd is stopping is recorded and the row left due at once, for the
// next start or another node, without counting as a failure.
func (n *Notifier) deliver(ctx context.Context, m *message) {
	s := n.send[m.channel]
	var err error
	if s == nil {
		err = fmt.Errorf("unknown channel %q", m.channel)
	} else {
		sctx, cancel := context.WithTimeout(ctx, n.cfg.SendTimeout)
		err = s.send(sctx, m)
		cancel()
	}
	// Recorded even when ctx ended: the send happened or not, and the
	// next sender must see what this one knows.
	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	if rerr := n.record(rctx, m, err, ctx.Err() != nil); rerr != nil {
		n.m.errors.WithLabelValues("record").Inc()
		n.log.Warn("notify record", "outbox_id", m.outboxID, "attempt", m.attempt, "err", rerr)
	}
}

// outcome is what record made of an attempt, counted once committed.
type outcome int

const (
	outcomeSent outcome = iota
	outcomeInterrupted
	outcomeRetry
	outcomeFailed
	outcomeStale // the claim was no longer current: nothing moved
)

// record writes the attempt's outcome and the row's next state: sent;
// due again after the back-off; or failed after the last attempt. Only
// the claim that is still current (its attempt count) moves a row that
// was not sent, so that a sender that outlived its lease does not undo a
// newer claim; a success is recorded whatever the claim.
func (n *Notifier) record(ctx context.Context, m *message, sendErr error, stopping bool) error {
	var out outcome
	err := pgx.BeginFunc(ctx, n.pool, func(tx pgx.Tx) error {
		if sendErr == nil {
			out = outcomeSent
			if _, err := tx.Exec(ctx, `UPDATE notify_attempts SET status = 'sent', finished_at = now() WHERE id = $1`,
				m.attemptID); err != nil {
				return err
			}
			_, err := tx.Exec(ctx, `UPDATE notify_outbox SET state = 'sent', done_at = now(), last_error = NULL
				WHERE id = $1 AND state = 'pending'`, m.outboxID)
			return err
		}
		msg := sendErr.Error()
		if _, err := tx.Exec(ctx, `UPDATE notify_attempts SET status = 'error', error = $2, finished_at = now() WHERE id = $1`,
			m.attemptID, msg); err != nil {
			return err
		}
		var q string
		var wait time.Duration
		switch {
		case stopping:
			out, q = outcomeInterrupted, `UPDATE notify_outbox SET next_at = now(), last_error = $3
				WHERE id = $1 AND attempts = $2 AND state = 'pending'`
		case m.attempt >= n.cfg.MaxAttempts:
			out, q = outcomeFailed, `UPDATE notify_outbox SET state = 'failed', done_at = now(), last_error = $3
				WHERE id = $1 AND attempts = $2 AND state = 'pending'`
		default:
			wait = n.cfg.backoff(m.attempt)
			out, q = outcomeRetry, `UPDATE notify_outbox SET next_at = now() + make_interval(secs => $4), last_error = $3
				WHERE id = $1 AND attempts = $2 AND state = 'pending'`
		}
		args := []any{m.outboxID, m.attempt, msg}
		if out == outcomeRetry {
			args = append(args, wait.Seconds())
		}
		tag, err := tx.Exec(ctx, q, args...)
		if err == nil && tag.RowsAffected() == 0 {
			out = outcomeStale
		}
		return err
	})
	if err != nil {
		return fmt.Errorf("record attempt %d of notification %d: %w", m.attempt, m.outboxID, err)
	}
	ch := string(m.channel)
	log := n.log.With("outbox_id", m.outboxID, "channel", ch, "key", m.key, "attempt", m.attempt)
	if sendErr != nil && out != outcomeInterrupted {
		n.m.attemptErrors.WithLabelValues(ch).Inc()
	}
	switch out {
	case outcomeSent:
		n.m.sent.WithLabelValues(ch).Inc()
		log.Info("notification sent")
	case outcomeInterrupted:
		log.Info("notification interrupted by shutdown; due again at once", "err", sendErr)
	case outcomeRetry:
		log.Warn("notification attempt failed", "retry_in", n.cfg.backoff(m.attempt), "err", sendErr)
	case outcomeFailed:
		n.m.failed.WithLabelValues(ch).Inc()
		log.Error("notification given up", "target", m.target, "err", sendErr)
	case outcomeStale:
		log.Warn("notification attempt failed after its claim expired", "err", sendErr)
	}
	return nil
}
