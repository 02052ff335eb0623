package notify

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"
)

// enqueue inserts one outbox row per episode changed at or after the
// cursor ($1) and subscription that covers its unit and rule, keyed by a
// hash of the two (ASCII, for a Message-ID, whatever the episode's id). A
// retracted episode is not notified (one already notified is not taken back). The
// payload is what the notification says, fixed now, so that every retry
// sends the same thing. ON CONFLICT makes it idempotent: the same episode
// seen again (it closed, a re-evaluation changed it, a scan repeated
// after a crash, another node scanned) enqueues nothing.
const enqueue = `
WITH covered AS (
    -- Each subscription's units, listed once per scan rather than once
    -- per episode.
    SELECT s.id, s.rules, u.id AS unit_id
    FROM notify_subscriptions s CROSS JOIN LATERAL unit_subtree(s.unit_id) AS u(id)
    WHERE s.deleted_at IS NULL),
changed AS (
    SELECT * FROM episodes WHERE commit_xid >= $1::xid8 AND status <> 'retracted'),
paths AS (
    -- Each unit's path once, not once per notification.
    SELECT u.id, unit_path(u.id) AS path FROM (SELECT DISTINCT unit_id FROM changed) AS u(id))
INSERT INTO notify_outbox (episode_id, subscription_id, idempotency_key, payload)
SELECT e.id, c.id, 'fleetmon-' || left(encode(sha256(convert_to(e.id || '/' || c.id, 'UTF8')), 'hex'), 32),
    jsonb_build_object('episode_id', e.id, 'rule', e.rule, 'status', e.status, 'vehicle_id', e.vehicle_id,
        'plate', COALESCE(v.plate, ''), 'unit_id', e.unit_id, 'unit', COALESCE(p.path, ''),
        'start', e.start_time, 'end', e.end_time, 'detail', e.detail,
        'lat', ST_Y(e.start_geom), 'lon', ST_X(e.start_geom),
        'max_speed_kmh', e.max_speed_kmh, 'distance_m', e.distance_m)
FROM changed e
JOIN covered c ON c.unit_id = e.unit_id AND (cardinality(c.rules) = 0 OR e.rule = ANY (c.rules))
LEFT JOIN vehicles v ON v.id = e.vehicle_id
LEFT JOIN paths p ON p.id = e.unit_id
ORDER BY e.id, c.id
ON CONFLICT (episode_id, subscription_id) DO NOTHING
RETURNING (SELECT channel FROM notify_subscriptions WHERE id = subscription_id)`

// Scan enqueues the notifications of the episodes changed since the
// cursor and moves the cursor, in one transaction, and returns how many
// it enqueued. The cursor moves to the oldest transaction still running
// when the scan began (pg_snapshot_xmin): every transaction below it has
// ended, so its episodes were visible to the scan, and any still running
// has an id at or above it and is read by the next scan. The cursor row's
// lock lets one node scan at a time.
func (n *Notifier) Scan(ctx context.Context) (int, error) {
	added := map[string]int{}
	err := pgx.BeginFunc(ctx, n.pool, func(tx pgx.Tx) error {
		var from, until string
		if err := tx.QueryRow(ctx, "SELECT xid_until::text FROM notify_cursor FOR UPDATE").Scan(&from); err != nil {
			return fmt.Errorf("read the notify cursor: %w", err)
		}
		if err := tx.QueryRow(ctx, "SELECT pg_snapshot_xmin(pg_current_snapshot())::text").Scan(&until); err != nil {
			return fmt.Errorf("read the oldest running transaction: %w", err)
		}
		rows, err := tx.Query(ctx, enqueue, from)
		if err != nil {
			return fmt.Errorf("enqueue notifications of episodes from xid %s: %w", from, err)
		}
		channels, err := pgx.CollectRows(rows, pgx.RowTo[string])
		if err != nil {
			return fmt.Errorf("enqueue notifications of episodes from xid %s: %w", from, err)
		}
		for _, c := range channels {
			added[c]++
		}
		if _, err := tx.Exec(ctx, `UPDATE notify_cursor SET updated_at = now(),
			xid_until = CASE WHEN $1::xid8 > xid_until THEN $1::xid8 ELSE xid_until END`, until); err != nil {
			return fmt.Errorf("move the notify cursor to xid %s: %w", until, err)
		}
		return nil
	})
	if err != nil {
		return 0, err
	}
	total := 0
	for c, k := range added {
		n.m.enqueued.WithLabelValues(c).Add(float64(k))
		total += k
	}
	return total, nil
}
