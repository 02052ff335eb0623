package track

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
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

// FootprintOverlap is how far before its last received_until the job's
// first run after migration 0009 starts again (that run still goes by
// reception time; every later one by commit, see SummariseFootprints).
const FootprintOverlap = 10 * time.Minute

// footprintChunk is one step of a run by reception time: a first run over
// a long history proceeds a day of receptions at a time, committing its
// progress after each.
const footprintChunk = 24 * time.Hour

// footprintHour is the hour bin of device times (whole hours since
// 2000-01-01 UTC, independent of the session's time zone).
const footprintHour = `date_bin('1 hour', %s, '2000-01-01 00:00:00+00')`

// SummariseFootprints brings position_footprints up to date with the
// positions committed up to now and returns how many (vehicle, hour)
// footprints it wrote. It reads the positions committed since its last
// run by transaction id (commit_xid, below the oldest transaction still
// running, so none is missed however late it was committed after it was
// received); the first run on a database goes by received_at instead, a
// day at a time up to now (now matters to that run only). Idempotent: a footprint only grows (its box is the union
// of what each run saw), so re-reading rows is harmless. Safe to run from
// several nodes at once (an advisory lock lets one at a time work).
func (s *Store) SummariseFootprints(ctx context.Context, now time.Time) (int64, error) {
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
	var (
		until    *time.Time
		xidUntil *int64
	)
	err = conn.QueryRow(ctx, "SELECT received_until, xid_until FROM footprint_progress").Scan(&until, &xidUntil)
	if err != nil && !errors.Is(err, pgx.ErrNoRows) {
		return 0, fmt.Errorf("summarise footprints: %w", err)
	}
	// Every transaction below the horizon has ended: its rows are all
	// there to read, and no row will ever get a commit_xid below it.
	var horizon int64
	if err := conn.QueryRow(ctx, "SELECT pg_snapshot_xmin(pg_current_snapshot())::text::bigint").Scan(&horizon); err != nil {
		return 0, fmt.Errorf("summarise footprints: read the oldest running transaction: %w", err)
	}
	if xidUntil != nil {
		if horizon <= *xidUntil {
			return 0, nil
		}
		var written int64
		err := pgx.BeginFunc(ctx, conn, func(tx pgx.Tx) error {
			var err error
			written, err = summarise(ctx, tx, "commit_xid >= $1 AND commit_xid < $2", *xidUntil, horizon)
			if err != nil {
				return err
			}
			_, err = tx.Exec(ctx, `UPDATE footprint_progress SET xid_until = GREATEST(xid_until, $1), updated_at = now()`, horizon)
			return err
		})
		if err != nil {
			return 0, fmt.Errorf("summarise footprints committed by transactions %d to %d: %w", *xidUntil, horizon, err)
		}
		return written, nil
	}
	// The first run: by reception time, then commits from the horizon read
	// before it on (rows committed since are read again next time).
	var lo time.Time
	if until != nil {
		lo = until.Add(-FootprintOverlap)
	} else {
		var first *time.Time
		if err := conn.QueryRow(ctx, "SELECT min(received_at) FROM positions").Scan(&first); err != nil {
			return 0, fmt.Errorf("summarise footprints: %w", err)
		}
		lo = now
		if first != nil {
			lo = first.Add(-time.Microsecond)
		}
	}
	var written int64
	for {
		hi := lo.Add(footprintChunk)
		last := !hi.Before(now)
		if last {
			hi = now
		}
		err := pgx.BeginFunc(ctx, conn, func(tx pgx.Tx) error {
			// The last step reads every reception after lo: a row
			// stamped by a node whose clock is ahead is committed below
			// the horizon all the same.
			where, args := "received_at > $1 AND received_at <= $2", []any{lo, hi}
			if last {
				where, args = "received_at > $1", []any{lo}
			}
			n, err := summarise(ctx, tx, where, args...)
			if err != nil {
				return err
			}
			written += n
			var xid *int64
			if last {
				xid = &horizon
			}
			_, err = tx.Exec(ctx, `INSERT INTO footprint_progress (received_until, xid_until) VALUES ($1, $2)
				ON CONFLICT (id) DO UPDATE SET received_until = GREATEST(footprint_progress.received_until, excluded.received_until),
					xid_until = excluded.xid_until, updated_at = now()`, hi, xid)
			return err
		})
		if err != nil {
			return written, fmt.Errorf("summarise footprints received %s to %s: %w", lo.Format(time.RFC3339), hi.Format(time.RFC3339), err)
		}
		if last {
			return written, nil
		}
		lo = hi
	}
}

// summarise folds the positions matching where (with parameters args)
// into their footprints and returns how many footprints it wrote.
func summarise(ctx context.Context, tx pgx.Tx, where string, args ...any) (int64, error) {
	var minT, maxT *time.Time
	if err := tx.QueryRow(ctx, `SELECT min(device_time), max(device_time) FROM positions WHERE `+where, args...).Scan(&minT, &maxT); err != nil {
		return 0, err
	}
	if minT == nil {
		return 0, nil
	}
	for m := monthStart(*minT); !m.After(*maxT); m = m.AddDate(0, 1, 0) {
		if _, err := tx.Exec(ctx, "SELECT ensure_month_partition('position_footprints'::regclass, $1)", m); err != nil {
			return 0, err
		}
	}
	tag, err := tx.Exec(ctx, `INSERT INTO position_footprints AS f (vehicle_id, hour, bbox, first_time, last_time)
		SELECT vehicle_id, `+fmt.Sprintf(footprintHour, "device_time")+`, ST_SetSRID(ST_Extent(geom)::geometry, 4326),
			min(device_time), max(device_time)
		FROM positions WHERE `+where+`
		GROUP BY 1, 2
		ON CONFLICT (vehicle_id, hour) DO UPDATE SET
			bbox = CASE WHEN ST_Covers(f.bbox, excluded.bbox) THEN f.bbox
				ELSE ST_SetSRID(ST_Envelope(ST_Collect(f.bbox, excluded.bbox)), 4326) END,
			first_time = LEAST(f.first_time, excluded.first_time),
			last_time = GREATEST(f.last_time, excluded.last_time)`, args...)
	if err != nil {
		return 0, err
	}
	return tag.RowsAffected(), nil
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
	// recent positions) touched the area; Ranges the periods read (runs of
	// candidate hours); PointsRead the positions tested.
	CandidateHours, Ranges, PointsRead int
}

// CheckArea returns ErrBadArea (with the database's reason) unless area
// is a valid surface: what AreaVisits searches, and what a place stored
// for a later search must be.
func (s *Store) CheckArea(ctx context.Context, area Area) error {
	var ok bool
	err := s.pool.QueryRow(ctx, `SELECT ST_IsValid(g) AND ST_Dimension(g) = 2 FROM (`+areaSQL+`) a`, area.GeoJSON, area.BufferM).Scan(&ok)
	if err != nil {
		// PostGIS reports GeoJSON it cannot read as XX000, bad values as
		// class 22 (data exception).
		var pe *pgconn.PgError
		if errors.As(err, &pe) && (pe.Code == "XX000" || pe.Code[:2] == "22") {
			return fmt.Errorf("%w: %s", ErrBadArea, pe.Message)
		}
		return fmt.Errorf("area search: %w", err)
	}
	if !ok {
		return ErrBadArea
	}
	return nil
}

// AreaVisits returns every vehicle in scope that reported from inside the
// area during [from, to), with its visits, by plate. The caller owns the
// result.
func (s *Store) AreaVisits(ctx context.Context, sc Scope, area Area, from, to time.Time) ([]VehicleVisits, AreaStats, error) {
	var st AreaStats
	if err := s.CheckArea(ctx, area); err != nil {
		return nil, st, err
	}
	var out []VehicleVisits
	err := pgx.BeginTxFunc(ctx, s.pool, pgx.TxOptions{AccessMode: pgx.ReadOnly}, func(tx pgx.Tx) error {
		// The planner's estimates for the recent positions (a parameter it
		// cannot see) are huge: without this it spends 100+ ms compiling
		// the query (JIT) to save nothing.
		if _, err := tx.Exec(ctx, "SET LOCAL jit = off"); err != nil {
			return err
		}
		vids, los, his, err := areaRanges(ctx, tx, sc, area, from, to, &st)
		if err != nil || len(vids) == 0 {
			return err
		}
		if out, err = areaVisitsIn(ctx, tx, area, vids, los, his, &st); err != nil || len(out) == 0 {
			return err
		}
		return areaBounds(ctx, tx, out, from, to)
	})
	if err != nil {
		return nil, st, fmt.Errorf("area search: %w", err)
	}
	if len(out) == 0 {
		return []VehicleVisits{}, st, nil
	}
	return out, st, s.nameVisitors(ctx, out)
}

// areaRanges returns the periods of positions to read: the candidate hours
// (whose footprint, or recent positions, touch the area), one range per
// vehicle and run of candidate hours with no other data hour between them
// (everything between is read, so a visit across hours without data is one
// visit; a data hour between that is not a candidate lies wholly outside
// and ends the visit), clipped to the period, by vehicle and time.
func areaRanges(ctx context.Context, tx pgx.Tx, sc Scope, area Area, from, to time.Time, st *AreaStats) (vids []int64, los, his []time.Time, err error) {
	// The positions no footprint covers yet: committed since the job's
	// last run, or (before its first run by commit) received since it.
	// Read before the footprints: a run in between only adds to them.
	var (
		until    *time.Time
		xidUntil *int64
	)
	err = tx.QueryRow(ctx, "SELECT received_until, xid_until FROM footprint_progress").Scan(&until, &xidUntil)
	if err != nil && !errors.Is(err, pgx.ErrNoRows) {
		return nil, nil, nil, fmt.Errorf("footprint progress: %w", err)
	}
	var (
		recent string
		since  any
	)
	switch {
	case xidUntil != nil:
		recent, since = "p.commit_xid >= $5::bigint", *xidUntil
	case until != nil:
		recent, since = "p.received_at > $5::timestamptz", until.Add(-FootprintOverlap)
	default: // nothing summarised yet: every position is recent
		recent = "$5::text IS NULL"
	}
	rows, err := tx.Query(ctx, `WITH area AS MATERIALIZED (`+areaSQL+`),
		cand AS (
			SELECT f.vehicle_id, f.hour FROM position_footprints f, area
			WHERE f.hour >= `+fmt.Sprintf(footprintHour, "$3::timestamptz")+` AND f.hour < $4 AND ST_Intersects(f.bbox, area.g)
			UNION
			SELECT p.vehicle_id, `+fmt.Sprintf(footprintHour, "p.device_time")+` FROM positions p, area
			WHERE `+recent+` AND p.device_time >= $3 AND p.device_time < $4 AND ST_Intersects(p.geom, area.g))
		SELECT c.vehicle_id, c.hour, (SELECT min(f.hour) FROM position_footprints f
				WHERE f.vehicle_id = c.vehicle_id AND f.hour > c.hour AND f.hour < $4)
		FROM cand c JOIN vehicles v ON v.id = c.vehicle_id
		WHERE v.unit_id IN (SELECT unit_subtree($6))
		ORDER BY 1, 2`, area.GeoJSON, area.BufferM, from, to, since, sc.root())
	if err != nil {
		return nil, nil, nil, fmt.Errorf("candidates: %w", err)
	}
	var v int64
	var hour time.Time
	var next *time.Time
	var nextData *time.Time // the data hour after the last candidate of the current range
	_, err = pgx.ForEachRow(rows, []any{&v, &hour, &next}, func() error {
		st.CandidateHours++
		lo, hi := hour, hour.Add(time.Hour)
		if lo.Before(from) {
			lo = from
		}
		if hi.After(to) {
			hi = to
		}
		if n := len(vids); n > 0 && vids[n-1] == v && (nextData == nil || !nextData.Before(hour)) {
			his[n-1] = hi
		} else {
			vids, los, his = append(vids, v), append(los, lo), append(his, hi)
		}
		nextData = next
		return nil
	})
	if err != nil {
		return nil, nil, nil, fmt.Errorf("candidates: %w", err)
	}
	st.Ranges = len(vids)
	return vids, los, his, nil
}

// areaVisitsIn reads the ranges' positions and cuts them into visits.
func areaVisitsIn(ctx context.Context, tx pgx.Tx, area Area, vids []int64, los, his []time.Time, st *AreaStats) ([]VehicleVisits, error) {
	// No ORDER BY: the nested loop returns each range's rows together, in
	// key order, and a sort of millions of rows would spill to disk. The
	// order is checked below, and restored if a plan ever differs.
	rows, err := tx.Query(ctx, `WITH area AS MATERIALIZED (`+areaSQL+`)
		SELECT r.i, p.device_time, ST_Intersects(p.geom, (SELECT g FROM area))
		FROM unnest($3::bigint[], $4::timestamptz[], $5::timestamptz[]) WITH ORDINALITY AS r(v, lo, hi, i)
		CROSS JOIN LATERAL (SELECT device_time, geom FROM positions
			WHERE vehicle_id = r.v AND device_time >= r.lo AND device_time < r.hi ORDER BY device_time) p`,
		area.GeoJSON, area.BufferM, vids, los, his)
	if err != nil {
		return nil, fmt.Errorf("positions: %w", err)
	}
	type pt struct {
		rng    int32
		inside bool
		t      time.Time
	}
	var pts []pt
	var p pt
	var rng int64
	if _, err := pgx.ForEachRow(rows, []any{&rng, &p.t, &p.inside}, func() error {
		p.rng = int32(rng - 1)
		pts = append(pts, p)
		return nil
	}); err != nil {
		return nil, fmt.Errorf("positions: %w", err)
	}
	st.PointsRead = len(pts)
	cmp := func(a, b pt) int {
		if a.rng != b.rng {
			return int(a.rng - b.rng)
		}
		return a.t.Compare(b.t)
	}
	if !slices.IsSortedFunc(pts, cmp) {
		slices.SortFunc(pts, cmp)
	}
	var params AnalysisParams
	params.defaults()
	var out []VehicleVisits
	var open *Visit // the visit in progress
	for k := range pts {
		p := &pts[k]
		if k == 0 || pts[k-1].rng != p.rng {
			open = nil
		}
		switch {
		case p.inside && open != nil:
			if p.t.Sub(open.Departure) > params.GapAfter {
				open.HasGap = true
			}
			open.Departure = p.t
			open.Points++
		case p.inside:
			v := vids[p.rng]
			if n := len(out); n == 0 || out[n-1].VehicleID != v {
				out = append(out, VehicleVisits{VehicleID: v})
			}
			vv := &out[len(out)-1]
			vv.Visits = append(vv.Visits, Visit{Arrival: p.t, Departure: p.t, Points: 1})
			open = &vv.Visits[len(vv.Visits)-1]
		default:
			open = nil
		}
	}
	return out, nil
}

// areaBounds finds, for each visit, the reports just before and after it
// within [from, to): outside the area (a report inside would be part of
// the visit).
func areaBounds(ctx context.Context, tx pgx.Tx, out []VehicleVisits, from, to time.Time) error {
	var vs []int64
	var arr, dep []time.Time
	for _, vv := range out {
		for _, v := range vv.Visits {
			vs, arr, dep = append(vs, vv.VehicleID), append(arr, v.Arrival), append(dep, v.Departure)
		}
	}
	rows, err := tx.Query(ctx, `SELECT
			(SELECT max(device_time) FROM positions WHERE vehicle_id = x.v AND device_time < x.a AND device_time >= $4),
			(SELECT min(device_time) FROM positions WHERE vehicle_id = x.v AND device_time > x.d AND device_time < $5)
		FROM unnest($1::bigint[], $2::timestamptz[], $3::timestamptz[]) WITH ORDINALITY AS x(v, a, d, i)
		ORDER BY x.i`, vs, arr, dep, from, to)
	if err != nil {
		return fmt.Errorf("visit bounds: %w", err)
	}
	i, k := 0, 0
	var before, after *time.Time
	_, err = pgx.ForEachRow(rows, []any{&before, &after}, func() error {
		for k >= len(out[i].Visits) {
			i, k = i+1, 0
		}
		v := &out[i].Visits[k]
		if before != nil {
			v.EnteredAfter = *before
		}
		if after != nil {
			v.LeftBefore = *after
		}
		k++
		return nil
	})
	if err != nil {
		return fmt.Errorf("visit bounds: %w", err)
	}
	return nil
}

// nameVisitors fills in the vehicles' plates and units and sorts them by
// plate.
func (s *Store) nameVisitors(ctx context.Context, out []VehicleVisits) error {
	ids := make([]int64, len(out))
	at := make(map[int64]int, len(out))
	for i := range out {
		ids[i] = out[i].VehicleID
		at[out[i].VehicleID] = i
	}
	rows, err := s.pool.Query(ctx, `SELECT id, plate, unit_id, unit_path(unit_id) FROM vehicles WHERE id = ANY($1)`, ids)
	if err != nil {
		return fmt.Errorf("area search vehicles: %w", err)
	}
	var v, unit int64
	var plate, path string
	_, err = pgx.ForEachRow(rows, []any{&v, &plate, &unit, &path}, func() error {
		o := &out[at[v]]
		o.Plate, o.UnitID, o.UnitPath = plate, unit, path
		return nil
	})
	if err != nil {
		return fmt.Errorf("area search vehicles: %w", err)
	}
	slices.SortFunc(out, func(a, b VehicleVisits) int { return strings.Compare(a.Plate, b.Plate) })
	return nil
}
