package track

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// Area search: which vehicles were inside an area during a period, with
// arrival, departure and dwell of each visit. positions has no spatial
// index (it would cost every insert a GiST update); position_footprints
// (migration 0006) keeps per vehicle and hour the box around its
// positions, with one. A search finds the candidate (vehicle, hour) pairs
// there, plus those of the positions not summarised yet, then reads only
// those vehicles' positions around those hours by the primary key and
// tests each point against the area.

// FootprintOverlap is how far before its last received_until each
// summarising run starts again: rows are committed a little after they are
// received (the writer's batching and retries), and a row committed within
// this much of its received_at is still summarised. An area search reads
// positions received after received_until − FootprintOverlap directly.
const FootprintOverlap = 10 * time.Minute

// footprintChunk is one step of a run: a first run over a long history
// proceeds a day of receptions at a time, committing its progress after
// each.
const footprintChunk = 24 * time.Hour

// footprintHour is the hour bin of device times (whole hours since
// 2000-01-01 UTC, independent of the session's time zone).
const footprintHour = `date_bin('1 hour', %s, '2000-01-01 00:00:00+00')`

// SummariseFootprints brings position_footprints up to date with the
// positions stored up to now and returns how many (vehicle, hour)
// footprints it wrote. Idempotent: a footprint only grows (its box is the
// union of what each run saw), so re-reading rows is harmless. Safe to run
// from several nodes at once (an advisory lock lets one at a time work).
func (s *Store) SummariseFootprints(ctx context.Context, now time.Time) (int64, error) {
	var written int64
	conn, err := s.pool.Acquire(ctx)
	if err != nil {
		return 0, fmt.Errorf("summarise footprints: %w", err)
	}
	defer conn.Release()
	const lockKey = 0x666f6f7470726e74 // "footprnt"
	var got bool
	if err := conn.QueryRow(ctx, "SELECT pg_try_advisory_lock($1)", int64(lockKey)).Scan(&got); err != nil {
		return 0, fmt.Errorf("summarise footprints: %w", err)
	}
	if !got {
		return 0, nil // another node is at it
	}
	defer func() {
		_, _ = conn.Exec(context.WithoutCancel(ctx), "SELECT pg_advisory_unlock($1)", int64(lockKey))
	}()
	var until *time.Time
	err = conn.QueryRow(ctx, "SELECT received_until FROM footprint_progress").Scan(&until)
	if err != nil && !errors.Is(err, pgx.ErrNoRows) {
		return 0, fmt.Errorf("summarise footprints: %w", err)
	}
	var lo time.Time
	if until != nil {
		lo = until.Add(-FootprintOverlap)
	} else {
		var first *time.Time
		if err := conn.QueryRow(ctx, "SELECT min(received_at) FROM positions").Scan(&first); err != nil {
			return 0, fmt.Errorf("summarise footprints: %w", err)
		}
		if first == nil {
			return 0, nil
		}
		lo = first.Add(-time.Microsecond)
	}
	for lo.Before(now) {
		hi := lo.Add(footprintChunk)
		if hi.After(now) {
			hi = now
		}
		err := pgx.BeginFunc(ctx, conn, func(tx pgx.Tx) error {
			var minT, maxT *time.Time
			if err := tx.QueryRow(ctx, `SELECT min(device_time), max(device_time) FROM positions
				WHERE received_at > $1 AND received_at <= $2`, lo, hi).Scan(&minT, &maxT); err != nil {
				return err
			}
			if minT != nil {
				for m := monthStart(*minT); !m.After(*maxT); m = m.AddDate(0, 1, 0) {
					if _, err := tx.Exec(ctx, "SELECT ensure_month_partition('position_footprints'::regclass, $1)", m); err != nil {
						return err
					}
				}
				tag, err := tx.Exec(ctx, `INSERT INTO position_footprints AS f (vehicle_id, hour, bbox, first_time, last_time)
					SELECT vehicle_id, `+fmt.Sprintf(footprintHour, "device_time")+`, ST_SetSRID(ST_Extent(geom)::geometry, 4326),
						min(device_time), max(device_time)
					FROM positions WHERE received_at > $1 AND received_at <= $2
					GROUP BY 1, 2
					ON CONFLICT (vehicle_id, hour) DO UPDATE SET
						bbox = CASE WHEN ST_Covers(f.bbox, excluded.bbox) THEN f.bbox
							ELSE ST_SetSRID(ST_Envelope(ST_Collect(f.bbox, excluded.bbox)), 4326) END,
						first_time = LEAST(f.first_time, excluded.first_time),
						last_time = GREATEST(f.last_time, excluded.last_time)`, lo, hi)
				if err != nil {
					return err
				}
				written += tag.RowsAffected()
			}
			_, err := tx.Exec(ctx, `INSERT INTO footprint_progress (received_until) VALUES ($1)
				ON CONFLICT (id) DO UPDATE SET received_until = GREATEST(footprint_progress.received_until, excluded.received_until),
					updated_at = now()`, hi)
			return err
		})
		if err != nil {
			return written, fmt.Errorf("summarise footprints received %s to %s: %w", lo.Format(time.RFC3339), hi.Format(time.RFC3339), err)
		}
		lo = hi
	}
	return written, nil
}

// monthStart is the first instant of t's month in UTC (the partitions'
// bounds, see ensure_month_partition).
func monthStart(t time.Time) time.Time {
	t = t.UTC()
	return time.Date(t.Year(), t.Month(), 1, 0, 0, 0, 0, time.UTC)
}

// Area is where an area search looks: a GeoJSON geometry (WGS-84; a
// Polygon or MultiPolygon, or any geometry with BufferM > 0: a Point with
// a radius is a circle), buffered by BufferM metres on the ground.
type Area struct {
	GeoJSON string
	BufferM float64
}

// ErrBadArea is returned for an area that is not a valid surface.
var ErrBadArea = errors.New("track: the area is not a valid polygon, multipolygon or buffered geometry")

// areaSQL is the area as a geometry, from $1 (GeoJSON) and $2 (buffer).
const areaSQL = `SELECT CASE WHEN $2::float8 > 0
	THEN ST_Buffer(ST_SetSRID(ST_GeomFromGeoJSON($1), 4326)::geography, $2::float8)::geometry
	ELSE ST_SetSRID(ST_GeomFromGeoJSON($1), 4326) END AS g`

// Visit is one stay of a vehicle inside an area.
type Visit struct {
	// Arrival and Departure are the first and last reports inside.
	Arrival, Departure time.Time
	// EnteredAfter and LeftBefore are the reports just before and after
	// the visit (outside the area): the true times lie in between. Zero
	// when there is none in the period.
	EnteredAfter, LeftBefore time.Time
	// Points is the number of reports inside.
	Points int
	// HasGap is true when two reports inside are more than GapAfter
	// (AnalysisParams default, 15 min) apart: the terminal was silent
	// during the visit (it is one visit, no report outside between).
	HasGap bool
}

// Dwell is the time between the first and last report inside.
func (v *Visit) Dwell() time.Duration { return v.Departure.Sub(v.Arrival) }

// VehicleVisits are one vehicle's visits, in time order.
type VehicleVisits struct {
	VehicleID int64
	Plate     string
	UnitID    int64
	UnitPath  string
	Visits    []Visit
}

// AreaStats says how much an area search read.
type AreaStats struct {
	// CandidateHours are the (vehicle, hour) pairs whose footprint (or
	// recent positions) touched the area; Ranges the merged periods read;
	// PointsRead the positions tested.
	CandidateHours, Ranges, PointsRead int
}

// AreaVisits returns every vehicle in scope that reported from inside the
// area during [from, to), with its visits, by plate. The caller owns the
// result.
func (s *Store) AreaVisits(ctx context.Context, sc Scope, area Area, from, to time.Time) ([]VehicleVisits, AreaStats, error) {
	var st AreaStats
	var ok bool
	err := s.pool.QueryRow(ctx, `SELECT ST_IsValid(g) AND ST_Dimension(g) = 2 FROM (`+areaSQL+`) a`, area.GeoJSON, area.BufferM).Scan(&ok)
	if err != nil {
		// PostGIS reports GeoJSON it cannot read as XX000, bad values as
		// class 22 (data exception).
		var pe *pgconn.PgError
		if errors.As(err, &pe) && (pe.Code == "XX000" || pe.Code[:2] == "22") {
			return nil, st, fmt.Errorf("%w: %s", ErrBadArea, pe.Message)
		}
		return nil, st, fmt.Errorf("area search: %w", err)
	}
	if !ok {
		return nil, st, ErrBadArea
	}
	// Candidates and the period to read around each: from the data hour
	// before to the end of the data hour after (so the reports either side
	// of a visit are read, and two candidate hours with no data between
	// them are read as one stretch); the period's ends where unknown.
	rows, err := s.pool.Query(ctx, `WITH area AS MATERIALIZED (`+areaSQL+`),
		horizon AS (SELECT COALESCE((SELECT received_until FROM footprint_progress), '-infinity') - $5::interval AS h),
		cand AS (
			SELECT f.vehicle_id, f.hour FROM position_footprints f, area
			WHERE f.hour >= `+fmt.Sprintf(footprintHour, "$3::timestamptz")+` AND f.hour < $4 AND ST_Intersects(f.bbox, area.g)
			UNION
			SELECT p.vehicle_id, `+fmt.Sprintf(footprintHour, "p.device_time")+` FROM positions p, area, horizon
			WHERE p.received_at > horizon.h AND p.device_time >= $3 AND p.device_time < $4 AND ST_Intersects(p.geom, area.g))
		SELECT c.vehicle_id,
			GREATEST($3, COALESCE((SELECT max(f.hour) FROM position_footprints f
				WHERE f.vehicle_id = c.vehicle_id AND f.hour < c.hour AND f.hour >= `+fmt.Sprintf(footprintHour, "$3::timestamptz")+`), $3)),
			LEAST($4, COALESCE((SELECT min(f.hour) FROM position_footprints f
				WHERE f.vehicle_id = c.vehicle_id AND f.hour > c.hour AND f.hour < $4) + interval '1 hour', $4))
		FROM cand c JOIN vehicles v ON v.id = c.vehicle_id
		WHERE v.unit_id IN (SELECT unit_subtree($6))
		ORDER BY 1, 2`, area.GeoJSON, area.BufferM, from, to, FootprintOverlap, sc.root())
	if err != nil {
		return nil, st, fmt.Errorf("area search candidates: %w", err)
	}
	var vids []int64
	var los, his []time.Time
	var v int64
	var lo, hi time.Time
	_, err = pgx.ForEachRow(rows, []any{&v, &lo, &hi}, func() error {
		st.CandidateHours++
		if n := len(vids); n > 0 && vids[n-1] == v && !lo.After(his[n-1]) {
			if hi.After(his[n-1]) {
				his[n-1] = hi
			}
			return nil
		}
		vids, los, his = append(vids, v), append(los, lo), append(his, hi)
		return nil
	})
	if err != nil {
		return nil, st, fmt.Errorf("area search candidates: %w", err)
	}
	st.Ranges = len(vids)
	if len(vids) == 0 {
		return []VehicleVisits{}, st, nil
	}
	rows, err = s.pool.Query(ctx, `WITH area AS MATERIALIZED (`+areaSQL+`)
		SELECT r.i, r.v, p.device_time, ST_Intersects(p.geom, (SELECT g FROM area))
		FROM unnest($3::bigint[], $4::timestamptz[], $5::timestamptz[]) WITH ORDINALITY AS r(v, lo, hi, i)
		CROSS JOIN LATERAL (SELECT device_time, geom FROM positions
			WHERE vehicle_id = r.v AND device_time >= r.lo AND device_time < r.hi) p
		ORDER BY r.i, p.device_time`, area.GeoJSON, area.BufferM, vids, los, his)
	if err != nil {
		return nil, st, fmt.Errorf("area search positions: %w", err)
	}
	var params AnalysisParams
	params.defaults()
	gapAfter := params.GapAfter
	var out []VehicleVisits
	var (
		rng, prevRng int64 = 0, -1
		t, prevT     time.Time
		inside       bool
		open         *Visit // the visit in progress
	)
	_, err = pgx.ForEachRow(rows, []any{&rng, &v, &t, &inside}, func() error {
		st.PointsRead++
		sameRange := rng == prevRng
		if !sameRange {
			open = nil
		}
		switch {
		case inside && open != nil:
			if t.Sub(open.Departure) > gapAfter {
				open.HasGap = true
			}
			open.Departure = t
			open.Points++
		case inside:
			if n := len(out); n == 0 || out[n-1].VehicleID != v {
				out = append(out, VehicleVisits{VehicleID: v})
			}
			vv := &out[len(out)-1]
			vv.Visits = append(vv.Visits, Visit{Arrival: t, Departure: t, Points: 1})
			open = &vv.Visits[len(vv.Visits)-1]
			if sameRange {
				open.EnteredAfter = prevT
			}
		case open != nil:
			open.LeftBefore = t
			open = nil
		}
		prevRng, prevT = rng, t
		return nil
	})
	if err != nil {
		return nil, st, fmt.Errorf("area search positions: %w", err)
	}
	if len(out) == 0 {
		return []VehicleVisits{}, st, nil
	}
	ids := make([]int64, len(out))
	for i := range out {
		ids[i] = out[i].VehicleID
	}
	rows, err = s.pool.Query(ctx, `SELECT id, plate, unit_id, unit_path(unit_id) FROM vehicles WHERE id = ANY($1)`, ids)
	if err != nil {
		return nil, st, fmt.Errorf("area search vehicles: %w", err)
	}
	at := make(map[int64]int, len(out))
	for i := range out {
		at[out[i].VehicleID] = i
	}
	var plate, path string
	var unit int64
	_, err = pgx.ForEachRow(rows, []any{&v, &plate, &unit, &path}, func() error {
		o := &out[at[v]]
		o.Plate, o.UnitID, o.UnitPath = plate, unit, path
		return nil
	})
	if err != nil {
		return nil, st, fmt.Errorf("area search vehicles: %w", err)
	}
	slices.SortFunc(out, func(a, b VehicleVisits) int {
		if a.Plate < b.Plate {
			return -1
		}
		if a.Plate > b.Plate {
			return 1
		}
		return 0
	})
	return out, st, nil
}
