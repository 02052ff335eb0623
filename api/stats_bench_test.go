package api

import (
	"context"
	"fmt"
	"testing"

	"fleetmon/track"
)

// BenchmarkStatsMonth1000: the statistics of one month of 1,000 vehicles
// (30,000 vehicle-days, each with two or three trips), by vehicle and by
// unit, through the API as the reports page asks for them: the per-day
// rows read, judged against the calendars, summed and audited. The rows
// are made directly, as the days job would have written them.
func BenchmarkStatsMonth1000(b *testing.B) {
	f := newFixture(b, nil)
	setupRoles(f)
	ctx := context.Background()
	var vs []track.VehicleImport
	for i := range 1000 {
		vs = append(vs, track.VehicleImport{Line: i + 2, Plate: fmt.Sprintf("鄂B6%04d", i), PlateColor: 1,
			TerminalPhone: fmt.Sprintf("1390000%04d", i), UnitPath: []string{"湖北省", "黄石市", fmt.Sprintf("单位%02d", i%40)},
			Category: track.CategoryGeneral})
	}
	if _, _, err := f.store.ImportVehicles(ctx, vs); err != nil {
		b.Fatal(err)
	}
	if _, err := f.db.Pool.Exec(ctx, `INSERT INTO vehicle_days (vehicle_id, day, positions, trips, distance_m, driving_s,
			odometer_km, odometer_first, odometer_last, first_time, last_time, trip_starts, trip_ends)
		SELECT v.id, d::date, 3000, 2 + (v.id + extract(day FROM d)::int) % 2, 42000, 5400, 42, 1000, 1042,
			d + interval '6 hours', d + interval '22 hours',
			CASE WHEN (v.id + extract(day FROM d)::int) % 2 = 0
				THEN ARRAY[d + interval '9 hours', d + interval '15 hours']
				ELSE ARRAY[d + interval '7 hours', d + interval '9 hours', d + interval '18 hours'] END,
			CASE WHEN (v.id + extract(day FROM d)::int) % 2 = 0
				THEN ARRAY[d + interval '10 hours', d + interval '16 hours']
				ELSE ARRAY[d + interval '8 hours', d + interval '10 hours', d + interval '19 hours'] END
		FROM vehicles v, generate_series('2026-10-01 00:00+08'::timestamptz, '2026-10-30 00:00+08', interval '1 day') d
		WHERE v.plate LIKE '鄂B6%'`); err != nil {
		b.Fatal(err)
	}
	if _, err := f.db.Pool.Exec(ctx, "ANALYZE vehicle_days"); err != nil {
		b.Fatal(err)
	}
	admin := f.users["admin"]
	for _, by := range []string{"vehicle", "unit"} {
		b.Run("by="+by, func(b *testing.B) {
			for b.Loop() {
				if code, body := admin.do("GET", "/api/v1/reports/stats?period=2026-10&by="+by+"&unit="+fmt.Sprint(f.units["湖北省/黄石市"]), nil); code != 200 {
					b.Fatalf("%d %s", code, body)
				}
			}
		})
	}
}
