package notify

import (
	"context"
	"errors"
	"fmt"
	"net/mail"
	"net/url"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"fleetmon/track"
)

// Subscription says who is told of which alerts: those of the vehicles of
// UnitID's subtree (0: every unit) and of Rules (empty: every rule), sent
// to Target over Channel.
type Subscription struct {
	ID      int64    `json:"id"`
	UnitID  int64    `json:"unit_id"`
	Unit    string   `json:"unit"`
	Rules   []string `json:"rules"`
	Channel Channel  `json:"channel"`
	Target  string   `json:"target"`
	// Secret keys a webhook's signature; it is never read back, only
	// whether there is one (Signed).
	Secret    string    `json:"secret,omitempty"`
	Signed    bool      `json:"signed"`
	Label     string    `json:"label"`
	CreatedBy int64     `json:"created_by,omitempty"`
	CreatedAt time.Time `json:"created_at"`
}

// Check says what is wrong with a subscription to be created, if
// anything; known lists the rule ids.
func (s *Subscription) Check(known func(string) bool) error {
	switch s.Channel {
	case ChannelWebhook:
		u, err := url.Parse(s.Target)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return fmt.Errorf("target %q: want an http or https URL", s.Target)
		}
	case ChannelEmail:
		a, err := mail.ParseAddress(s.Target)
		if err != nil || a.Address != s.Target {
			return fmt.Errorf("target %q: want one e-mail address", s.Target)
		}
		if s.Secret != "" {
			return errors.New("secret: only a webhook is signed")
		}
	default:
		return fmt.Errorf("channel %q: want webhook or email", s.Channel)
	}
	for _, r := range s.Rules {
		if !known(r) {
			return fmt.Errorf("rule %q: no such rule", r)
		}
	}
	if len([]rune(s.Label)) > 200 {
		return errors.New("label: at most 200 characters")
	}
	return nil
}

// querier is what a statement needs: a pool or a transaction.
type querier interface {
	Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error)
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
}

// Store reads and writes subscriptions and reads the send log, for the
// API; every read and write is limited to a jurisdiction (track.Scope).
type Store struct{ q querier }

// NewStore returns a store over pool.
func NewStore(pool *pgxpool.Pool) *Store { return &Store{q: pool} }

// InTx returns the store working in tx (a change and its audit entry
// commit together).
func (s *Store) InTx(tx pgx.Tx) *Store { return &Store{q: tx} }

const subscriptionColumns = `s.id, COALESCE(s.unit_id, 0), COALESCE(unit_path(s.unit_id), ''), s.rules, s.channel,
    s.target, s.secret <> '', s.label, COALESCE(s.created_by, 0), s.created_at`

// inScope is the condition on s.unit_id for jurisdiction $1: a
// subscription for every unit (NULL) belongs to the top alone.
const inScope = `(s.unit_id IN (SELECT unit_subtree($1)) OR (s.unit_id IS NULL AND $1::bigint IS NULL))`

func scanSubscription(row pgx.Row) (Subscription, error) {
	var s Subscription
	err := row.Scan(&s.ID, &s.UnitID, &s.Unit, &s.Rules, &s.Channel, &s.Target, &s.Signed, &s.Label, &s.CreatedBy, &s.CreatedAt)
	return s, err
}

// Subscriptions lists the subscriptions within sc, by id.
func (s *Store) Subscriptions(ctx context.Context, sc track.Scope) ([]Subscription, error) {
	rows, err := s.q.Query(ctx, `SELECT `+subscriptionColumns+` FROM notify_subscriptions s
		WHERE s.deleted_at IS NULL AND `+inScope+` ORDER BY s.id`, sc.SQLArg())
	if err != nil {
		return nil, fmt.Errorf("list subscriptions: %w", err)
	}
	list, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (Subscription, error) { return scanSubscription(r) })
	if err != nil {
		return nil, fmt.Errorf("list subscriptions: %w", err)
	}
	return list, nil
}

// Subscription returns one subscription within sc, or track.ErrNotFound.
func (s *Store) Subscription(ctx context.Context, sc track.Scope, id int64) (Subscription, error) {
	sub, err := scanSubscription(s.q.QueryRow(ctx, `SELECT `+subscriptionColumns+` FROM notify_subscriptions s
		WHERE s.deleted_at IS NULL AND s.id = $2 AND `+inScope, sc.SQLArg(), id))
	if errors.Is(err, pgx.ErrNoRows) {
		return sub, track.ErrNotFound
	}
	if err != nil {
		return sub, fmt.Errorf("subscription %d: %w", id, err)
	}
	return sub, nil
}

// CreateSubscription stores sub (checked by the caller, its unit within
// the caller's jurisdiction) and returns it as stored.
func (s *Store) CreateSubscription(ctx context.Context, sub Subscription) (Subscription, error) {
	rules := sub.Rules
	if rules == nil {
		rules = []string{}
	}
	var unit, by any
	if sub.UnitID != 0 {
		unit = sub.UnitID
	}
	if sub.CreatedBy != 0 {
		by = sub.CreatedBy
	}
	var id int64
	err := s.q.QueryRow(ctx, `INSERT INTO notify_subscriptions (unit_id, rules, channel, target, secret, label, created_by)
		VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING id`, unit, rules, string(sub.Channel), sub.Target, sub.Secret,
		sub.Label, by).Scan(&id)
	if err != nil {
		return sub, fmt.Errorf("create subscription: %w", err)
	}
	return s.Subscription(ctx, track.All, id)
}

// DeleteSubscription deletes a subscription within sc (its row stays,
// marked deleted, for the send log) and cancels what it had waiting. It
// returns track.ErrNotFound when there is none.
func (s *Store) DeleteSubscription(ctx context.Context, sc track.Scope, id int64) (Subscription, error) {
	sub, err := s.Subscription(ctx, sc, id)
	if err != nil {
		return sub, err
	}
	if _, err := s.q.Exec(ctx, `UPDATE notify_subscriptions SET deleted_at = now() WHERE id = $1`, id); err != nil {
		return sub, fmt.Errorf("delete subscription %d: %w", id, err)
	}
	if _, err := s.q.Exec(ctx, `UPDATE notify_outbox SET state = 'cancelled', done_at = now(),
		last_error = 'subscription deleted' WHERE subscription_id = $1 AND state = 'pending'`, id); err != nil {
		return sub, fmt.Errorf("cancel the notifications of subscription %d: %w", id, err)
	}
	return sub, nil
}

// Sent is one notification in the send log.
type Sent struct {
	ID             int64      `json:"id"`
	SubscriptionID int64      `json:"subscription_id"`
	Channel        Channel    `json:"channel"`
	Target         string     `json:"target"`
	EpisodeID      string     `json:"alert_id"`
	Rule           string     `json:"rule"`
	Plate          string     `json:"plate"`
	IdempotencyKey string     `json:"idempotency_key"`
	State          string     `json:"state"`
	Attempts       int        `json:"attempts"`
	NextAt         *time.Time `json:"next_at,omitempty"`
	CreatedAt      time.Time  `json:"created_at"`
	DoneAt         *time.Time `json:"done_at,omitempty"`
	LastError      string     `json:"last_error,omitempty"`
}

// Log lists the newest notifications of the subscriptions within sc (of
// subscriptionID alone when it is not 0), at most limit.
func (s *Store) Log(ctx context.Context, sc track.Scope, subscriptionID int64, limit int) ([]Sent, error) {
	rows, err := s.q.Query(ctx, `SELECT o.id, o.subscription_id, s.channel, s.target, o.episode_id,
			COALESCE(o.payload->>'rule', ''), COALESCE(o.payload->>'plate', ''), o.idempotency_key, o.state, o.attempts,
			CASE WHEN o.state = 'pending' THEN o.next_at END, o.created_at, o.done_at, COALESCE(o.last_error, '')
		FROM notify_outbox o JOIN notify_subscriptions s ON s.id = o.subscription_id
		WHERE `+inScope+` AND ($2 = 0 OR o.subscription_id = $2)
		ORDER BY o.id DESC LIMIT $3`, sc.SQLArg(), subscriptionID, limit)
	if err != nil {
		return nil, fmt.Errorf("read the send log: %w", err)
	}
	list, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (Sent, error) {
		var e Sent
		err := r.Scan(&e.ID, &e.SubscriptionID, &e.Channel, &e.Target, &e.EpisodeID, &e.Rule, &e.Plate, &e.IdempotencyKey,
			&e.State, &e.Attempts, &e.NextAt, &e.CreatedAt, &e.DoneAt, &e.LastError)
		return e, err
	})
	if err != nil {
		return nil, fmt.Errorf("read the send log: %w", err)
	}
	return list, nil
}
