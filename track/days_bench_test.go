package track_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"fleetmon/track"
	"fleetmon/track/pgtest"
)

// BenchmarkSummariseDays: what the days job costs for a finished day of
// 200 vehicles, each parked with a report every 5 minutes from 06:00 to
// 22:00 and driving three hours at a report every 10 s (about 1,200
// positions a vehicle-day): every iteration marks the day afresh and
// recomputes it. Reported per vehicle-day.
func BenchmarkSummariseDays(b *testing.B) {
	s := pgtest.New(b)
	ctx := context.Background()
	const vehicles = 200
	for i := range vehicles {
		seedVehicle(b, s.Pool, fmt.Sprintf("鄂B7%04d", i), fmt.Sprintf("1370000%04d", i))
	}
	day := time.Date(2026, 10, 13, 0, 0, 0, 0, beijing)
	if _, err := s.Pool.Exec(ctx, "SELECT ensure_month_partition('positions', $1)", day.UTC()); err != nil {
		b.Fatal(err)
	}
	// Driving 07:30–08:30, 11:00–12:00 and 17:00–18:00; parked otherwise.
	if _, err := s.Pool.Exec(ctx, `INSERT INTO positions (vehicle_id, device_time, received_at, terminal_id, geom, speed_kmh,
			heading, altitude_m, alarm, status, mileage_km, fix_hash)
		SELECT v.id, t, t, 1, ST_SetSRID(ST_MakePoint(115 + extract(epoch FROM t - $1::timestamptz) / 1e6, 30.2), 4326),
			CASE WHEN drive THEN 40 ELSE 0 END, 0, 20, 0, CASE WHEN drive THEN 3 ELSE 2 END,
			1000 + extract(epoch FROM t - $1::timestamptz) / 1e4, 0
		FROM vehicles v, LATERAL (
			SELECT t, true AS drive FROM generate_series($1::timestamptz + interval '7.5 hours', $1::timestamptz + interval '8.5 hours', interval '10 s') t
			UNION ALL SELECT t, true FROM generate_series($1::timestamptz + interval '11 hours', $1::timestamptz + interval '12 hours', interval '10 s') t
			UNION ALL SELECT t, true FROM generate_series($1::timestamptz + interval '17 hours', $1::timestamptz + interval '18 hours', interval '10 s') t
			UNION ALL SELECT t, false FROM generate_series($1::timestamptz + interval '6 hours', $1::timestamptz + interval '22 hours', interval '5 min') t
			WHERE NOT (t BETWEEN $1::timestamptz + interval '7.5 hours' AND $1::timestamptz + interval '8.5 hours'
				OR t BETWEEN $1::timestamptz + interval '11 hours' AND $1::timestamptz + interval '12 hours'
				OR t BETWEEN $1::timestamptz + interval '17 hours' AND $1::timestamptz + interval '18 hours')) p`, day); err != nil {
		b.Fatal(err)
	}
	if _, err := s.Pool.Exec(ctx, "ANALYZE positions"); err != nil {
		b.Fatal(err)
	}
	st := track.NewStore(s.Pool)
	now := day.AddDate(0, 0, 2)
	b.ResetTimer()
	for b.Loop() {
		b.StopTimer()
		if _, err := s.Pool.Exec(ctx, "DELETE FROM vehicle_days_progress; DELETE FROM vehicle_days"); err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
		n, err := st.SummariseDays(ctx, now)
		if err != nil || n != vehicles {
			b.Fatalf("%d days: %v", n, err)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Microseconds())/1000/float64(b.N*vehicles), "ms/vehicle-day")
}
