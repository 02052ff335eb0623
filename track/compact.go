package track

import (
	"context"
	"fmt"
	"regexp"
	"strconv"
	"time"

	"github.com/jackc/pgx/v5"
)

// CompactAfter is how long after a month ends its positions partition is
// compacted: blind-zone back-fills of a terminal out of coverage for days
// land first (a later one is stored all the same, at the end of the heap
// and in the key's leaf pages, and only costs that row a page read).
const CompactAfter = 7 * 24 * time.Hour

// Compacted is one partition CompactHistory compacted.
type Compacted struct {
	Partition string
	Took      time.Duration
}

// partitionMonth matches the partitions ensure_month_partition makes.
var partitionMonth = regexp.MustCompile(`^positions_(\d{4})m(\d{2})$`)

// CompactHistory lays each finished month of positions out for replay, once:
// a VACUUM (the visibility map, so replays and area searches are
// index-only scans, and fresh statistics) and a REINDEX CONCURRENTLY of its
// primary key, which covers what they read (migration 0008), so that one
// vehicle's month lies in consecutive leaf pages on disk. Neither blocks
// readers or the writer. Months are done oldest first; each is recorded
// in history_compacted. It returns the partitions compacted. Several nodes
// may call it: an advisory lock lets one at a time work.
func (s *Store) CompactHistory(ctx context.Context, now time.Time) ([]Compacted, error) {
	conn, err := s.pool.Acquire(ctx)
	if err != nil {
		return nil, fmt.Errorf("compact history: %w", err)
	}
	defer conn.Release()
	const lockKey = 0x636f6d7061637421 // "compact!"
	var got bool
	if err := conn.QueryRow(ctx, "SELECT pg_try_advisory_lock($1)", int64(lockKey)).Scan(&got); err != nil {
		return nil, fmt.Errorf("compact history: %w", err)
	}
	if !got {
		return nil, nil
	}
	defer func() {
		_, _ = conn.Exec(context.WithoutCancel(ctx), "SELECT pg_advisory_unlock($1)", int64(lockKey))
	}()
	rows, err := conn.Query(ctx, `SELECT c.relname, c.oid::regclass::text, x.indexrelid::regclass::text
		FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
		JOIN pg_index x ON x.indrelid = c.oid AND x.indisprimary
		WHERE i.inhparent = 'positions'::regclass
			AND NOT EXISTS (SELECT 1 FROM history_compacted h WHERE h.partition = c.relname)
		ORDER BY c.relname`)
	if err != nil {
		return nil, fmt.Errorf("compact history: list partitions: %w", err)
	}
	type part struct{ name, table, pkey string }
	var todo []part
	var p part
	if _, err := pgx.ForEachRow(rows, []any{&p.name, &p.table, &p.pkey}, func() error {
		m := partitionMonth.FindStringSubmatch(p.name)
		if m == nil {
			return nil
		}
		y, _ := strconv.Atoi(m[1])
		mo, _ := strconv.Atoi(m[2])
		end := time.Date(y, time.Month(mo), 1, 0, 0, 0, 0, time.UTC).AddDate(0, 1, 0)
		if !now.Before(end.Add(CompactAfter)) {
			todo = append(todo, p)
		}
		return nil
	}); err != nil {
		return nil, fmt.Errorf("compact history: list partitions: %w", err)
	}
	var done []Compacted
	for _, p := range todo {
		began := time.Now()
		// VACUUM and REINDEX CONCURRENTLY refuse to run in a transaction:
		// each is its own statement.
		if _, err := conn.Exec(ctx, "VACUUM (ANALYZE) "+p.table); err != nil {
			return done, fmt.Errorf("compact %s: vacuum: %w", p.name, err)
		}
		if _, err := conn.Exec(ctx, "REINDEX INDEX CONCURRENTLY "+p.pkey); err != nil {
			return done, fmt.Errorf("compact %s: reindex: %w", p.name, err)
		}
		took := time.Since(began)
		if _, err := conn.Exec(ctx, `INSERT INTO history_compacted (partition, seconds) VALUES ($1, $2)
			ON CONFLICT (partition) DO NOTHING`, p.name, took.Seconds()); err != nil {
			return done, fmt.Errorf("compact %s: record: %w", p.name, err)
		}
		done = append(done, Compacted{Partition: p.name, Took: took})
	}
	return done, nil
}
