package alerts

import (
	"context"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
)

// Store keeps the rules' configuration, the episodes and the engine's
// saved state in PostgreSQL (tables of migration 0004_alerts.sql), and
// reads positions back. Safe for concurrent use. Its methods are grouped
// by what they keep: store_config.go (loading the configuration, fences,
// approvals), store_calendars.go (holidays, calendars, parameters),
// store_episodes.go, store_state.go (the engines' saved state),
// store_feed.go (positions read back) and list.go (the API's pages).
type Store struct {
	pool *pgxpool.Pool
	// db runs the configuration's changes (holidays, calendars,
	// parameters, fences, approvals) and verification steps: the pool,
	// or the transaction of a store from InTx.
	db dbtx
}

// dbtx is what a configuration change runs on: a pool or a transaction
// (Begin then opens a savepoint).
type dbtx interface {
	querier
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
	Begin(ctx context.Context) (pgx.Tx, error)
}

// NewStore returns a store on pool.
func NewStore(pool *pgxpool.Pool) *Store { return &Store{pool: pool, db: pool} }

// InTx returns the store with its configuration changes and verification
// steps running in tx: the caller commits them together with its own
// statements (the change's audit entry), or not at all. Everything else
// still uses the pool.
func (s *Store) InTx(tx pgx.Tx) *Store { return &Store{pool: s.pool, db: tx} }

// nullID and nullTime pass a zero value, nullPositive one not above zero,
// as SQL NULL.
func nullID(id int64) *int64 {
	if id == 0 {
		return nil
	}
	return &id
}

func nullPositive[T int | float64](v T) *T {
	if v > 0 {
		return &v
	}
	return nil
}

func nullTime(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	return &t
}

// querier is what a statement needs: a pool, a connection or a
// transaction.
type querier interface {
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
	Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error)
}
