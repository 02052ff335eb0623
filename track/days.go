package track

import (
	"context"
	"errors"
	"fmt"
	"math"
	"time"

	"github.com/jackc/pgx/v5"
)

// Per vehicle-day figures (migration 0020): the statistics (台账) of a
// month, quarter or year are sums of these rows rather than an analysis of
// every raw position on every request. A row is what Analyze (the analysis
// replay shows) says of one Asia/Shanghai day of the vehicle's positions,
// so a trip here is a trip there; a drive across midnight is cut there, as
// a day's replay cuts it, and counts as a trip on each day.

// DayRefresh is how often the current day's figures are recomputed while
// positions keep arriving for it; a finished day is recomputed as soon as
// positions for it are committed (a blind-zone back-fill, say).
const DayRefresh = 5 * time.Minute

// dayBatch is how many (vehicle, day) pairs one transaction of
// SummariseDays writes.
const dayBatch = 200

// dayOf is the SQL of a position's day.
const dayOf = `(device_time AT TIME ZONE 'Asia/Shanghai')::date`

// VehicleDay is one vehicle's figures for one day.
type VehicleDay struct {
	VehicleID int64
	// Day is the day's midnight in Beijing.
	Day       time.Time
	Positions int
	Trips     int
	// DistanceM is along the day's reports, gaps excluded (Analysis).
	DistanceM float64
	// Driving is the trips' time.
	Driving time.Duration
	// OdometerKm is the odometer's advance over the day (NaN with fewer
	// than two reports carrying it); OdometerFirst and OdometerLast its
	// first and last reading (NaN with none), which sum a period's advance
	// across midnights.
	OdometerKm, OdometerFirst, OdometerLast float64
	First, Last                             time.Time
	// TripStarts and TripEnds are each trip's start and end, in order.
	TripStarts, TripEnds []time.Time
}

// SummariseDay returns the figures of pts, one day of the vehicle's
// positions in time order (as Track reads them).
func SummariseDay(vehicleID int64, day time.Time, pts []TrackPoint) VehicleDay {
	a := Analyze(pts, AnalysisParams{})
	d := VehicleDay{VehicleID: vehicleID, Day: day, Positions: len(pts), Trips: len(a.Trips), DistanceM: a.DistanceM,
		OdometerKm: a.OdometerKm, OdometerFirst: math.NaN(), OdometerLast: math.NaN(),
		TripStarts: make([]time.Time, len(a.Trips)), TripEnds: make([]time.Time, len(a.Trips))}
	if len(pts) > 0 {
		d.First, d.Last = pts[0].Time, pts[len(pts)-1].Time
	}
	for i, t := range a.Trips {
		d.Driving += t.Duration()
		d.TripStarts[i], d.TripEnds[i] = t.Start, t.End
	}
	for i := range pts {
		if pts[i].HasMileage {
			if math.IsNaN(d.OdometerFirst) {
				d.OdometerFirst = pts[i].MileageKm
			}
			d.OdometerLast = pts[i].MileageKm
		}
	}
	return d
}

// SummariseDays brings vehicle_days up to date with the positions committed
// up to now and returns how many days it recomputed. It marks the
// (vehicle, day) pairs of the positions committed since its last run (by
// commit_xid below the oldest running transaction, so none is missed
// however late it was committed; the first run marks every stored day),
// then recomputes the marked pairs from all of their stored positions: a
// finished day at once, the day of now at most every DayRefresh. A row is
// recomputed, never added to, so positions stored twice or a run repeated
// count once. Safe to run from several nodes at once (an advisory lock
// lets one at a time work).
func (s *Store) SummariseDays(ctx context.Context, now time.Time) (int, error) {
	conn, err := s.pool.Acquire(ctx)
	if err != nil {
		return 0, fmt.Errorf("summarise vehicle days: %w", err)
	}
	defer conn.Release()
	const lockKey = 0x7665686461797300 // "vehdays"
	var got bool
	if err := conn.QueryRow(ctx, "SELECT pg_try_advisory_lock($1)", int64(lockKey)).Scan(&got); err != nil {
		return 0, fmt.Errorf("summarise vehicle days: %w", err)
	}
	if !got {
		return 0, nil // another node is at it
	}
	defer func() {
		_, _ = conn.Exec(context.WithoutCancel(ctx), "SELECT pg_advisory_unlock($1)", int64(lockKey))
	}()
	if err := markDays(ctx, conn.Conn(), now); err != nil {
		return 0, err
	}
	today := now.In(Beijing).Format(time.DateOnly)
	done := 0
	for {
		rows, err := conn.Query(ctx, `SELECT vehicle_id, day FROM vehicle_days_dirty
			WHERE day < $1::date OR since <= $2 ORDER BY day, vehicle_id LIMIT $3`, today, now.Add(-DayRefresh), dayBatch)
		if err != nil {
			return done, fmt.Errorf("summarise vehicle days: read the marked days: %w", err)
		}
		type pair struct {
			Vehicle int64
			Day     time.Time
		}
		pairs, err := pgx.CollectRows(rows, pgx.RowToStructByPos[pair])
		if err != nil {
			return done, fmt.Errorf("summarise vehicle days: read the marked days: %w", err)
		}
		if len(pairs) == 0 {
			return done, nil
		}
		days := make([]VehicleDay, 0, len(pairs))
		var pts []TrackPoint
		for _, p := range pairs {
			// The DATE comes as midnight UTC: the same civil day in Beijing.
			lo := time.Date(p.Day.Year(), p.Day.Month(), p.Day.Day(), 0, 0, 0, 0, Beijing)
			pts = pts[:0]
			if _, err := s.Track(ctx, p.Vehicle, lo, lo.AddDate(0, 0, 1), func(tp *TrackPoint) error {
				pts = append(pts, *tp)
				return nil
			}); err != nil {
				return done, fmt.Errorf("summarise vehicle days: %w", err)
			}
			days = append(days, SummariseDay(p.Vehicle, lo, pts))
		}
		if err := pgx.BeginFunc(ctx, conn, func(tx pgx.Tx) error { return writeDays(ctx, tx, days) }); err != nil {
			return done, fmt.Errorf("summarise vehicle days: write %d days: %w", len(days), err)
		}
		done += len(days)
	}
}

// markDays marks the (vehicle, day) pairs of the positions committed since
// the last run and moves the progress on, in one transaction.
func markDays(ctx context.Context, conn *pgx.Conn, now time.Time) error {
	return pgx.BeginFunc(ctx, conn, func(tx pgx.Tx) error {
		var horizon int64
		if err := tx.QueryRow(ctx, "SELECT pg_snapshot_xmin(pg_current_snapshot())::text::bigint").Scan(&horizon); err != nil {
			return fmt.Errorf("mark vehicle days: read the oldest running transaction: %w", err)
		}
		var until int64
		err := tx.QueryRow(ctx, "SELECT xid_until FROM vehicle_days_progress FOR UPDATE").Scan(&until)
		first := errors.Is(err, pgx.ErrNoRows)
		if err != nil && !first {
			return fmt.Errorf("mark vehicle days: %w", err)
		}
		if !first && horizon <= until {
			return nil
		}
		// Every transaction below the horizon has ended: its rows are all
		// there, and no row will ever get a commit_xid below it. Rows
		// stored before migration 0007 have none; the first run takes them.
		where, args := "commit_xid >= $2 AND commit_xid < $3", []any{now, until, horizon}
		if first {
			where, args = "commit_xid IS NULL OR commit_xid < $2", []any{now, horizon}
		}
		if _, err := tx.Exec(ctx, `INSERT INTO vehicle_days_dirty (vehicle_id, day, since)
			SELECT DISTINCT vehicle_id, `+dayOf+`, $1::timestamptz FROM positions WHERE `+where+`
			ON CONFLICT (vehicle_id, day) DO NOTHING`, args...); err != nil {
			return fmt.Errorf("mark vehicle days committed below transaction %d: %w", horizon, err)
		}
		_, err = tx.Exec(ctx, `INSERT INTO vehicle_days_progress (xid_until) VALUES ($1)
			ON CONFLICT (id) DO UPDATE SET xid_until = GREATEST(vehicle_days_progress.xid_until, excluded.xid_until), updated_at = now()`, horizon)
		if err != nil {
			return fmt.Errorf("mark vehicle days: move the progress to transaction %d: %w", horizon, err)
		}
		return nil
	})
}

// writeDays stores days and unmarks them.
func writeDays(ctx context.Context, tx pgx.Tx, days []VehicleDay) error {
	b := &pgx.Batch{}
	for _, d := range days {
		day := d.Day.Format(time.DateOnly)
		if d.Positions == 0 {
			// Positions are never deleted: a marked day has some. Say so
			// rather than store a day with no first report.
			return fmt.Errorf("vehicle %d, %s: marked but without positions", d.VehicleID, day)
		}
		b.Queue(`INSERT INTO vehicle_days (vehicle_id, day, positions, trips, distance_m, driving_s, odometer_km,
				odometer_first, odometer_last, first_time, last_time, trip_starts, trip_ends, computed_at)
			VALUES ($1, $2::date, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, now())
			ON CONFLICT (vehicle_id, day) DO UPDATE SET positions = excluded.positions, trips = excluded.trips,
				distance_m = excluded.distance_m, driving_s = excluded.driving_s, odometer_km = excluded.odometer_km,
				odometer_first = excluded.odometer_first, odometer_last = excluded.odometer_last,
				first_time = excluded.first_time, last_time = excluded.last_time, trip_starts = excluded.trip_starts,
				trip_ends = excluded.trip_ends, computed_at = now()`,
			d.VehicleID, day, d.Positions, d.Trips, d.DistanceM, d.Driving.Seconds(), nullNaN(d.OdometerKm),
			nullNaN(d.OdometerFirst), nullNaN(d.OdometerLast), d.First, d.Last, d.TripStarts, d.TripEnds)
		b.Queue("DELETE FROM vehicle_days_dirty WHERE vehicle_id = $1 AND day = $2::date", d.VehicleID, day)
	}
	return tx.SendBatch(ctx, b).Close()
}

func nullNaN(v float64) *float64 {
	if math.IsNaN(v) {
		return nil
	}
	return &v
}

// VehicleDays returns the stored figures of the vehicles for the days from
// to to (Beijing midnights, to excluded), ordered by vehicle and day. Days
// without positions have no row. The caller checks the vehicles' scope.
func (s *Store) VehicleDays(ctx context.Context, vehicleIDs []int64, from, to time.Time) ([]VehicleDay, error) {
	rows, err := s.pool.Query(ctx, `SELECT vehicle_id, day, positions, trips, distance_m, driving_s,
			COALESCE(odometer_km, 'NaN'), COALESCE(odometer_first, 'NaN'), COALESCE(odometer_last, 'NaN'),
			first_time, last_time, trip_starts, trip_ends
		FROM vehicle_days WHERE vehicle_id = ANY($1) AND day >= $2::date AND day < $3::date
		ORDER BY vehicle_id, day`, vehicleIDs, from.In(Beijing).Format(time.DateOnly), to.In(Beijing).Format(time.DateOnly))
	if err != nil {
		return nil, fmt.Errorf("read the days of %d vehicles: %w", len(vehicleIDs), err)
	}
	defer rows.Close()
	var out []VehicleDay
	for rows.Next() {
		var d VehicleDay
		var drivingS float64
		if err := rows.Scan(&d.VehicleID, &d.Day, &d.Positions, &d.Trips, &d.DistanceM, &drivingS, &d.OdometerKm,
			&d.OdometerFirst, &d.OdometerLast, &d.First, &d.Last, &d.TripStarts, &d.TripEnds); err != nil {
			return nil, fmt.Errorf("read the days of %d vehicles: %w", len(vehicleIDs), err)
		}
		d.Day = time.Date(d.Day.Year(), d.Day.Month(), d.Day.Day(), 0, 0, 0, 0, Beijing)
		d.Driving = time.Duration(drivingS * float64(time.Second))
		out = append(out, d)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read the days of %d vehicles: %w", len(vehicleIDs), err)
	}
	return out, nil
}

// DaysPending returns how many of the vehicles' days in [from, to) have
// positions their figures do not include yet (the job has not run since).
func (s *Store) DaysPending(ctx context.Context, vehicleIDs []int64, from, to time.Time) (int, error) {
	var n int
	err := s.pool.QueryRow(ctx, `SELECT count(*) FROM vehicle_days_dirty
		WHERE vehicle_id = ANY($1) AND day >= $2::date AND day < $3::date`,
		vehicleIDs, from.In(Beijing).Format(time.DateOnly), to.In(Beijing).Format(time.DateOnly)).Scan(&n)
	if err != nil {
		return 0, fmt.Errorf("count the days pending of %d vehicles: %w", len(vehicleIDs), err)
	}
	return n, nil
}
