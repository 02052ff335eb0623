package commands

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// Channel is the PostgreSQL notification channel an enqueue notifies, with
// the terminal's id as payload.
const Channel = "fleetmon_commands"

// Config configures a Store. Zero values take the defaults.
type Config struct {
	// ReplyTimeout is how long a sent command waits for the terminal's
	// answer before it is marked timed out. JT/T 808 terminals answer
	// within seconds (parameter 0x0002, TCP 应答超时, defaults to 10 s);
	// the default, 1 min, leaves room for a slow mobile link.
	ReplyTimeout time.Duration
	// QueueFor is how long a command may wait for its terminal to come
	// online: a command to track a car or tell its driver something is
	// stale after a day. Default 24 h.
	QueueFor time.Duration
}

func (c *Config) defaults() {
	if c.ReplyTimeout <= 0 {
		c.ReplyTimeout = time.Minute
	}
	if c.QueueFor <= 0 {
		c.QueueFor = 24 * time.Hour
	}
}

// Store is the command queue in PostgreSQL.
type Store struct {
	pool *pgxpool.Pool
	cfg  Config
	m    *Metrics
}

// NewStore returns a store over pool. m may be nil (nothing is counted).
func NewStore(pool *pgxpool.Pool, cfg Config, m *Metrics) *Store {
	cfg.defaults()
	return &Store{pool: pool, cfg: cfg, m: m}
}

// Config returns the store's configuration, with the defaults applied.
func (s *Store) Config() Config { return s.cfg }

// Request is a command to enqueue.
type Request struct {
	VehicleID   int64
	Kind        Kind
	Args        Args
	ClientKey   string
	CreatedBy   int64
	CreatedName string
}

// Errors of Enqueue and Cancel.
var (
	ErrNoTerminal = errors.New("the vehicle has no terminal")
	ErrKeyReused  = errors.New("client key already used for a different command")
	ErrNotFound   = errors.New("no such command")
	ErrNotQueued  = errors.New("the command is no longer queued")
)

const columns = `c.id, c.terminal_id, coalesce(c.vehicle_id, 0), t.phone, c.kind, c.args, c.client_key, c.state,
	coalesce(c.created_by, 0), c.created_name, c.created_at, c.expires_at, c.sent_at, coalesce(c.sent_by, ''),
	coalesce(c.serial, -1), c.done_at, coalesce(c.result, -1), c.reply`

const from = ` FROM terminal_commands c JOIN terminals t ON t.id = c.terminal_id `

func scan(row pgx.Row) (Command, error) {
	var c Command
	var args []byte
	var sent, done *time.Time
	err := row.Scan(&c.ID, &c.TerminalID, &c.VehicleID, &c.Phone, &c.Kind, &args, &c.ClientKey, &c.State,
		&c.CreatedBy, &c.CreatedName, &c.CreatedAt, &c.ExpiresAt, &sent, &c.SentBy, &c.Serial, &done, &c.Result, &c.Reply)
	if err != nil {
		return c, err
	}
	if sent != nil {
		c.SentAt = *sent
	}
	if done != nil {
		c.DoneAt = *done
	}
	if err := json.Unmarshal(args, &c.Args); err != nil {
		return c, fmt.Errorf("command %d arguments: %w", c.ID, err)
	}
	return c, nil
}

// Enqueue queues r for the terminal of its vehicle in tx (the caller's
// transaction, which holds its audit entry) and notifies Channel, which
// PostgreSQL delivers when tx commits. The same client key for the same
// terminal returns the command queued first (created false); with other
// arguments it is ErrKeyReused. r.Args must have been checked.
func (s *Store) Enqueue(ctx context.Context, tx pgx.Tx, r Request) (Command, bool, error) {
	var termID int64
	err := tx.QueryRow(ctx, `SELECT id FROM terminals WHERE vehicle_id = $1`, r.VehicleID).Scan(&termID)
	if errors.Is(err, pgx.ErrNoRows) {
		return Command{}, false, ErrNoTerminal
	}
	if err != nil {
		return Command{}, false, fmt.Errorf("find the terminal of vehicle %d: %w", r.VehicleID, err)
	}
	args, err := json.Marshal(r.Args)
	if err != nil {
		return Command{}, false, fmt.Errorf("encode command arguments: %w", err)
	}
	var id int64
	err = tx.QueryRow(ctx, `INSERT INTO terminal_commands (terminal_id, vehicle_id, kind, args, client_key, created_by,
			created_name, expires_at)
		VALUES ($1, $2, $3, $4, $5, $6, $7, now() + $8::interval)
		ON CONFLICT (terminal_id, client_key) DO NOTHING RETURNING id`,
		termID, r.VehicleID, r.Kind, args, r.ClientKey, nullID(r.CreatedBy), r.CreatedName, s.cfg.QueueFor).Scan(&id)
	created := err == nil
	if errors.Is(err, pgx.ErrNoRows) {
		err = tx.QueryRow(ctx, `SELECT id FROM terminal_commands WHERE terminal_id = $1 AND client_key = $2`,
			termID, r.ClientKey).Scan(&id)
	}
	if err != nil {
		return Command{}, false, fmt.Errorf("queue %s command for terminal %d: %w", r.Kind, termID, err)
	}
	c, err := scan(tx.QueryRow(ctx, `SELECT `+columns+from+`WHERE c.id = $1`, id))
	if err != nil {
		return Command{}, false, fmt.Errorf("read command %d: %w", id, err)
	}
	if !created {
		if c.Kind != r.Kind || !sameArgs(c.Args, r.Args) {
			return c, false, ErrKeyReused
		}
		return c, false, nil
	}
	if _, err := tx.Exec(ctx, `SELECT pg_notify($1, $2)`, Channel, strconv.FormatInt(termID, 10)); err != nil {
		return Command{}, false, fmt.Errorf("notify command %d: %w", id, err)
	}
	s.m.state(c.Kind, Queued)
	return c, true, nil
}

func sameArgs(a, b Args) bool {
	x, _ := json.Marshal(a)
	y, _ := json.Marshal(b)
	return string(x) == string(y)
}

func nullID(id int64) any {
	if id == 0 {
		return nil
	}
	return id
}

// Get returns command id.
func (s *Store) Get(ctx context.Context, id int64) (Command, error) {
	c, err := scan(s.pool.QueryRow(ctx, `SELECT `+columns+from+`WHERE c.id = $1`, id))
	if errors.Is(err, pgx.ErrNoRows) {
		return c, ErrNotFound
	}
	if err != nil {
		return c, fmt.Errorf("read command %d: %w", id, err)
	}
	return c, nil
}

// List returns the commands to the terminals of vehicle vehicleID, newest
// first, at most limit.
func (s *Store) List(ctx context.Context, vehicleID int64, limit int) ([]Command, error) {
	rows, err := s.pool.Query(ctx, `SELECT `+columns+from+`WHERE c.vehicle_id = $1 ORDER BY c.created_at DESC, c.id DESC LIMIT $2`,
		vehicleID, limit)
	if err != nil {
		return nil, fmt.Errorf("list commands of vehicle %d: %w", vehicleID, err)
	}
	defer rows.Close()
	var out []Command
	for rows.Next() {
		c, err := scan(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, c)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list commands of vehicle %d: %w", vehicleID, err)
	}
	return out, nil
}

// Cancel cancels command id of vehicle vehicleID in tx if it is still
// queued; otherwise ErrNotQueued (or ErrNotFound).
func (s *Store) Cancel(ctx context.Context, tx pgx.Tx, vehicleID, id int64) (Command, error) {
	tag, err := tx.Exec(ctx, `UPDATE terminal_commands SET state = 'cancelled', done_at = now()
		WHERE id = $1 AND vehicle_id = $2 AND state = 'queued'`, id, vehicleID)
	if err != nil {
		return Command{}, fmt.Errorf("cancel command %d: %w", id, err)
	}
	c, err := scan(tx.QueryRow(ctx, `SELECT `+columns+from+`WHERE c.id = $1 AND c.vehicle_id = $2`, id, vehicleID))
	if errors.Is(err, pgx.ErrNoRows) {
		return c, ErrNotFound
	}
	if err != nil {
		return c, fmt.Errorf("read command %d: %w", id, err)
	}
	if tag.RowsAffected() == 0 {
		return c, ErrNotQueued
	}
	s.m.state(c.Kind, Cancelled)
	return c, nil
}

// Claim takes the oldest queued command of terminal terminalID for node
// to send: serial gives the message serial it goes out with. The claim
// commits before Claim returns, so that the terminal's answer, however
// fast, finds the command sent. ok is false when nothing is queued.
func (s *Store) Claim(ctx context.Context, terminalID int64, node string, serial func(Command) uint16) (c Command, ok bool, err error) {
	err = pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		c, err = scan(tx.QueryRow(ctx, `SELECT `+columns+from+`WHERE c.terminal_id = $1 AND c.state = 'queued'
				AND c.expires_at > now() ORDER BY c.id LIMIT 1 FOR UPDATE OF c SKIP LOCKED`, terminalID))
		if errors.Is(err, pgx.ErrNoRows) {
			return nil
		}
		if err != nil {
			return err
		}
		c.Serial = int(serial(c))
		err = tx.QueryRow(ctx, `UPDATE terminal_commands SET state = 'sent', sent_at = now(), sent_by = $2, serial = $3,
				msg_id = $4 WHERE id = $1 RETURNING sent_at`, c.ID, node, c.Serial, int(c.Kind.MsgID())).Scan(&c.SentAt)
		if err != nil {
			return err
		}
		c.State, c.SentBy, ok = Sent, node, true
		return nil
	})
	if err != nil {
		return Command{}, false, fmt.Errorf("claim a command for terminal %d: %w", terminalID, err)
	}
	if ok {
		s.m.state(c.Kind, Sent)
		s.m.observeDelivery(c.SentAt.Sub(c.CreatedAt))
	}
	return c, ok, nil
}

// Unclaim puts a claimed command back in the queue: it could not be
// written (the connection closed), and goes out at the next chance.
func (s *Store) Unclaim(ctx context.Context, id int64) error {
	_, err := s.pool.Exec(ctx, `UPDATE terminal_commands SET state = 'queued', sent_at = NULL, sent_by = NULL,
		serial = NULL, msg_id = NULL WHERE id = $1 AND state = 'sent'`, id)
	if err != nil {
		return fmt.Errorf("put command %d back in the queue: %w", id, err)
	}
	s.m.dropped("write")
	return nil
}

// Answer is a terminal's answer to a command.
type Answer struct {
	TerminalID int64
	Serial     uint16 // 应答流水号
	// MsgID is the message answered (0x0001's 应答 ID); 0 when the answer
	// does not say (0x0104 and 0x0201 answer one kind each).
	MsgID uint16
	// DataReply is the answer's message ID when it carries data (0x0104,
	// 0x0201); 0 for 0x0001.
	DataReply uint16
	Result    uint8
	Reply     any // the data, encoded as JSON; nil for 0x0001
}

// Record stores a terminal's answer against the command it answers: the
// latest command sent to the terminal with that serial (and message).
// A general reply with result 0 to a command that waits for data (0x8104,
// 0x8201) is taken as receipt only: the command stays sent until the data
// comes. It reports whether a command matched; an answer to no command is
// counted and otherwise ignored. Recording the same answer twice changes
// nothing.
func (s *Store) Record(ctx context.Context, a Answer) (bool, error) {
	var reply []byte
	if a.Reply != nil {
		var err error
		if reply, err = json.Marshal(a.Reply); err != nil {
			return false, fmt.Errorf("encode command answer: %w", err)
		}
	}
	// The message answered: 0x0001 names it; 0x0104 and 0x0201 each
	// answer one kind.
	want := a.MsgID
	switch a.DataReply {
	case 0x0104:
		want = QueryParams.MsgID()
	case 0x0201:
		want = QueryLocation.MsgID()
	}
	if a.DataReply == 0 && a.Result == 0 && (want == QueryParams.MsgID() || want == QueryLocation.MsgID()) {
		// A receipt before the data: the command waits for the data.
		return false, nil
	}
	state := Answered
	if a.Result != 0 {
		state = Failed
	}
	var kind Kind
	var sent, done time.Time
	err := s.pool.QueryRow(ctx, `UPDATE terminal_commands c SET state = $4, result = $5, reply = $6, done_at = now()
		WHERE c.id = (SELECT id FROM terminal_commands
			WHERE terminal_id = $1 AND state = 'sent' AND serial = $2 AND msg_id = $3
			ORDER BY sent_at DESC LIMIT 1)
		  AND c.state = 'sent'
		RETURNING c.kind, c.sent_at, c.done_at`,
		a.TerminalID, int(a.Serial), int(want), state, int(a.Result), reply).Scan(&kind, &sent, &done)
	if errors.Is(err, pgx.ErrNoRows) {
		s.m.dropped("unmatched_reply")
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("record the answer to serial %d of terminal %d: %w", a.Serial, a.TerminalID, err)
	}
	s.m.state(kind, state)
	s.m.observeAnswer(done.Sub(sent))
	return true, nil
}

// Expire marks timed out the commands sent more than the reply timeout
// before now, and those still queued at their expiry. It returns how many.
func (s *Store) Expire(ctx context.Context, now time.Time) (int, error) {
	rows, err := s.pool.Query(ctx, `UPDATE terminal_commands SET state = 'timed_out', done_at = $1::timestamptz
		WHERE (state = 'sent' AND sent_at < $1::timestamptz - $2::interval) OR (state = 'queued' AND expires_at <= $1::timestamptz)
		RETURNING kind`, now, s.cfg.ReplyTimeout)
	if err != nil {
		return 0, fmt.Errorf("expire commands: %w", err)
	}
	kinds, err := pgx.CollectRows(rows, pgx.RowTo[Kind])
	if err != nil {
		return 0, fmt.Errorf("expire commands: %w", err)
	}
	for _, k := range kinds {
		s.m.state(k, TimedOut)
	}
	return len(kinds), nil
}

// Waiting returns the terminals that have commands queued.
func (s *Store) Waiting(ctx context.Context) ([]int64, error) {
	rows, err := s.pool.Query(ctx, `SELECT DISTINCT terminal_id FROM terminal_commands WHERE state = 'queued' AND expires_at > now()`)
	if err != nil {
		return nil, fmt.Errorf("list terminals with queued commands: %w", err)
	}
	ids, err := pgx.CollectRows(rows, pgx.RowTo[int64])
	if err != nil {
		return nil, fmt.Errorf("list terminals with queued commands: %w", err)
	}
	return ids, nil
}
