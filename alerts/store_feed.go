package alerts

import (
	"context"
	"fmt"
	"math"
	"time"

	"github.com/jackc/pgx/v5"

	"fleetmon/track"
)

// Reading positions back: for re-evaluation (Source), for a restart's
// replay, and, in cluster mode, as the shard's feed in commit order.

// positionColumns are what the rules read of a stored position, in
// scanPosition's order; the coordinates come out of geom (X = longitude).
const positionColumns = `vehicle_id, terminal_id, device_time, received_at, ST_Y(geom), ST_X(geom), speed_kmh,
	heading, altitude_m, alarm, status, backfill`

func scanPositions(rows pgx.Rows) ([]track.Position, error) {
	var out []track.Position
	var p track.Position
	var alarm, status int64
	_, err := pgx.ForEachRow(rows, []any{&p.VehicleID, &p.TerminalID, &p.Time, &p.Received, &p.Lat, &p.Lon,
		&p.SpeedKmh, &p.Heading, &p.AltitudeM, &alarm, &status, &p.Backfill}, func() error {
		var ok bool
		if p.Alarm, p.Status, ok = alarmStatus(alarm, status); !ok {
			return fmt.Errorf("vehicle %d at %s: alarm or status out of range", p.VehicleID, p.Time)
		}
		out = append(out, p)
		return nil
	})
	return out, err
}

// alarmStatus converts a position's alarm and status words back from the
// bigint columns they are stored in; false when one does not fit 32 bits.
func alarmStatus(alarm, status int64) (uint32, uint32, bool) {
	if alarm < 0 || alarm > math.MaxUint32 || status < 0 || status > math.MaxUint32 {
		return 0, 0, false
	}
	return uint32(alarm), uint32(status), true
}

// Positions returns a vehicle's stored positions with after < device time
// <= through, in (device time, fix hash) order, with the fields the rules
// read (no additional items). The caller owns the slice.
func (s *Store) Positions(ctx context.Context, vehicleID int64, after, through time.Time) ([]track.Position, error) {
	rows, err := s.pool.Query(ctx, `SELECT `+positionColumns+` FROM positions
		WHERE vehicle_id = $1 AND device_time > $2 AND device_time <= $3
		ORDER BY device_time, fix_hash`, vehicleID, after, through)
	if err != nil {
		return nil, fmt.Errorf("read positions of vehicle %d: %w", vehicleID, err)
	}
	ps, err := scanPositions(rows)
	if err != nil {
		return nil, fmt.Errorf("read positions of vehicle %d: %w", vehicleID, err)
	}
	return ps, nil
}

// eachPosition streams a vehicle's stored positions with after < device
// time <= through to fn, in (device time, fix hash) order, with only the
// fields a fix is made of (device time, place, speed, alarm, status: less
// to send and decode for a month of a fleet); p is reused after fn
// returns. An error from fn stops the read and is returned.
func (s *Store) eachPosition(ctx context.Context, vehicleID int64, after, through time.Time, fn func(p *track.Position) error) error {
	rows, err := s.pool.Query(ctx, `SELECT device_time, ST_Y(geom), ST_X(geom), speed_kmh, alarm, status FROM positions
		WHERE vehicle_id = $1 AND device_time > $2 AND device_time <= $3
		ORDER BY device_time, fix_hash`, vehicleID, after, through)
	if err != nil {
		return fmt.Errorf("read positions of vehicle %d: %w", vehicleID, err)
	}
	p := track.Position{VehicleID: vehicleID}
	var alarm, status int64
	_, err = pgx.ForEachRow(rows, []any{&p.Time, &p.Lat, &p.Lon, &p.SpeedKmh, &alarm, &status}, func() error {
		var ok bool
		if p.Alarm, p.Status, ok = alarmStatus(alarm, status); !ok {
			return fmt.Errorf("at %s: alarm or status out of range", p.Time)
		}
		return fn(&p)
	})
	if err != nil {
		return fmt.Errorf("read positions of vehicle %d: %w", vehicleID, err)
	}
	return nil
}

// positionsReceivedAfter returns a vehicle's positions received after
// received with a device time after device, in (device time, fix hash)
// order: what a restart must replay.
//
// In cluster mode (below > 0) it returns only positions committed before
// the transaction id below (the feed takes the rest), and, when xid is not
// 0, selects by commit_xid >= xid instead of received_at.
func (s *Store) positionsReceivedAfter(ctx context.Context, vehicleID int64, received, device time.Time, xid, below int64) ([]track.Position, error) {
	rows, err := s.pool.Query(ctx, `SELECT `+positionColumns+` FROM positions
		WHERE vehicle_id = $1 AND device_time > $3
			AND CASE WHEN $4::bigint > 0 THEN commit_xid >= $4 ELSE received_at > $2 END
			AND ($5::bigint = 0 OR commit_xid IS NULL OR commit_xid < $5)
		ORDER BY device_time, fix_hash`, vehicleID, received, device, xid, below)
	if err != nil {
		return nil, fmt.Errorf("read positions of vehicle %d received after %s: %w", vehicleID, received, err)
	}
	ps, err := scanPositions(rows)
	if err != nil {
		return nil, fmt.Errorf("read positions of vehicle %d received after %s: %w", vehicleID, received, err)
	}
	return ps, nil
}

// feedHorizon returns the id of the oldest transaction still running:
// every position with a lower commit_xid is committed (or never will be).
func (s *Store) feedHorizon(ctx context.Context) (int64, error) {
	var x int64
	if err := s.pool.QueryRow(ctx, "SELECT pg_snapshot_xmin(pg_current_snapshot())::text::bigint").Scan(&x); err != nil {
		return 0, fmt.Errorf("read the oldest running transaction: %w", err)
	}
	return x, nil
}

// feedPositions returns the positions of the vehicles with id % shards ==
// shard committed by transactions from <= id < to, in no particular order.
func (s *Store) feedPositions(ctx context.Context, shard, shards int, from, to int64) ([]track.Position, error) {
	rows, err := s.pool.Query(ctx, `SELECT `+positionColumns+` FROM positions
		WHERE commit_xid >= $1 AND commit_xid < $2 AND vehicle_id % $3 = $4`, from, to, shards, shard)
	if err != nil {
		return nil, fmt.Errorf("read positions of shard %d committed in [%d, %d): %w", shard, from, to, err)
	}
	ps, err := scanPositions(rows)
	if err != nil {
		return nil, fmt.Errorf("read positions of shard %d committed in [%d, %d): %w", shard, from, to, err)
	}
	return ps, nil
}

// dbSource is the engine's Source over the positions table. The engine
// calls it from the goroutine that owns it, which sets ctx.
type dbSource struct {
	store   *Store
	ctx     context.Context
	timeout time.Duration
}

// Positions implements Source.
func (s *dbSource) Positions(vehicleID int64, after, through time.Time) ([]track.Position, error) {
	ctx, cancel := context.WithTimeout(s.ctx, s.timeout)
	defer cancel()
	ps, err := s.store.Positions(ctx, vehicleID, after, through)
	if err != nil {
		return nil, &sourceError{err}
	}
	return ps, nil
}

// Source returns a Source reading from the positions table with ctx,
// each read bounded by timeout.
func (s *Store) Source(ctx context.Context, timeout time.Duration) Source {
	return &dbSource{store: s, ctx: ctx, timeout: timeout}
}
