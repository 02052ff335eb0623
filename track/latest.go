package track

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
)

// State is a vehicle's latest position (vehicle_state).
type State struct {
	VehicleID     int64
	Plate         string
	Time          time.Time
	Lat, Lon      float64
	SpeedKmh      float32
	Heading       int16
	Alarm, Status uint32
}

// LatestIn returns a page of the latest positions of the vehicles in scope,
// by plate, and the total.
func (s *Store) LatestIn(ctx context.Context, sc Scope, limit, offset int) ([]State, int, error) {
	rows, err := s.pool.Query(ctx, `SELECT v.id, v.plate, st.device_time, ST_Y(st.geom), ST_X(st.geom), st.speed_kmh, st.heading,
			st.alarm, st.status, count(*) OVER ()
		FROM vehicle_state st JOIN vehicles v ON v.id = st.vehicle_id
		WHERE v.unit_id IN (SELECT unit_subtree($1))
		ORDER BY v.plate LIMIT $2 OFFSET $3`, sc.root(), limit, offset)
	if err != nil {
		return nil, 0, fmt.Errorf("latest positions: %w", err)
	}
	total := 0
	ss, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (State, error) {
		var st State
		var alarm, status int64
		err := r.Scan(&st.VehicleID, &st.Plate, &st.Time, &st.Lat, &st.Lon, &st.SpeedKmh, &st.Heading, &alarm, &status, &total)
		st.Alarm, st.Status = uint32(alarm), uint32(status)
		return st, err
	})
	if err != nil {
		return nil, 0, fmt.Errorf("latest positions: %w", err)
	}
	return ss, total, nil
}

// LiveSeeds returns every vehicle's latest stored report and seal, for
// the live hub's start (Hub.Seed).
func (s *Store) LiveSeeds(ctx context.Context) ([]Seed, error) {
	rows, err := s.pool.Query(ctx, `SELECT v.id, st.device_time, st.received_at, COALESCE(st.speed_kmh, 0), COALESCE(st.alarm, 0), vehicle_sealed_at(v.id, now())
		FROM vehicles v LEFT JOIN vehicle_state st ON st.vehicle_id = v.id`)
	if err != nil {
		return nil, fmt.Errorf("track: live seeds: %w", err)
	}
	var out []Seed
	for rows.Next() {
		var sd Seed
		var t, r *time.Time
		var alarm int64
		if err := rows.Scan(&sd.VehicleID, &t, &r, &sd.SpeedKmh, &alarm, &sd.Sealed); err != nil {
			rows.Close()
			return nil, fmt.Errorf("track: live seeds: %w", err)
		}
		if t != nil {
			sd.Time, sd.Received = *t, *r
		}
		sd.Alarm = uint32(alarm)
		out = append(out, sd)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("track: live seeds: %w", err)
	}
	return out, nil
}

// SealedIn returns the vehicles in scope sealed now.
func (s *Store) SealedIn(ctx context.Context, sc Scope) (map[int64]bool, error) {
	rows, err := s.pool.Query(ctx, `SELECT id FROM vehicles WHERE vehicle_sealed_at(id, now()) AND unit_id IN (SELECT unit_subtree($1))`, sc.root())
	if err != nil {
		return nil, fmt.Errorf("track: sealed vehicles: %w", err)
	}
	ids, err := pgx.CollectRows(rows, pgx.RowTo[int64])
	if err != nil {
		return nil, fmt.Errorf("track: sealed vehicles: %w", err)
	}
	out := make(map[int64]bool, len(ids))
	for _, id := range ids {
		out[id] = true
	}
	return out, nil
}
