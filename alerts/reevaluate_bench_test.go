package alerts

import (
	"context"
	"fmt"
	"os"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"fleetmon/track"
	"fleetmon/track/pgtest"
)

// BenchmarkReevaluateMonth re-evaluates one month (March 2026) of N
// vehicles reporting every 30 s (2,880 positions a vehicle a day) through
// Runner.ReevaluateAll: positions streamed from PostGIS, every rule, the
// comparison with the stored episodes. N is FLEETMON_BENCH_VEHICLES
// (default 10; the target is 1,000 vehicles, ~86 M positions, in
// under 10 minutes). The data is generated in the database (the vehicles
// commute at 8:00 and 17:00, every 7th also at 20:00) and dropped with
// the test schema. Reports the median of the runs. Needs
// FLEETMON_TEST_DB; see BENCHMARKS.md.
//
//	FLEETMON_BENCH_VEHICLES=100 go test -run '^$' -bench ReevaluateMonth -benchtime 3x -timeout 2h ./alerts
func BenchmarkReevaluateMonth(b *testing.B) {
	n := 10
	if s := os.Getenv("FLEETMON_BENCH_VEHICLES"); s != "" {
		var err error
		if n, err = strconv.Atoi(s); err != nil || n < 1 {
			b.Fatalf("FLEETMON_BENCH_VEHICLES=%q", s)
		}
	}
	pg := pgtest.New(b)
	ctx := context.Background()
	path := []string{"江苏省", "南京市", "市机关事务管理局"}
	imp := make([]track.VehicleImport, n)
	for i := range imp {
		imp[i] = track.VehicleImport{Line: i + 2, Plate: fmt.Sprintf("苏A%05d", i), PlateColor: 1,
			TerminalPhone: fmt.Sprintf("1390000%05d", i), UnitPath: path, Category: track.CategoryGeneral}
	}
	ts := track.NewStore(pg.Pool)
	if _, _, err := ts.ImportVehicles(ctx, imp); err != nil {
		b.Fatal(err)
	}
	st := NewStore(pg.Pool)
	var unit int64
	if err := pg.Pool.QueryRow(ctx, "SELECT unit_id FROM vehicles LIMIT 1").Scan(&unit); err != nil {
		b.Fatal(err)
	}
	for _, f := range []Fence{
		{Name: "市界", Kind: FencePermitted, UnitID: unit, Shape: Shape{Type: ShapePolygon, Polygons: []Polygon{{square(homeLat, homeLon, borderM)}}}},
		{Name: "机关车库", Kind: FenceParking, UnitID: unit, Shape: Shape{Type: ShapePolygon, Polygons: []Polygon{{square(homeLat, homeLon, 150)}}}},
		{Name: "某酒店", Kind: FenceSensitive, Category: PlaceHotel, UnitID: unit, Shape: Shape{Type: ShapeCircle, Center: Point{hotelLon, hotelLat}, RadiusM: 200}},
	} {
		if _, err := st.PutFence(ctx, f); err != nil {
			b.Fatal(err)
		}
	}
	from, to := at("2026-03-01 00:00"), at("2026-03-31 00:00")
	for _, t := range []time.Time{from, to.Add(-time.Second)} {
		if _, err := pg.Pool.Exec(ctx, "SELECT ensure_month_partition('positions'::regclass, $1)", t); err != nil {
			b.Fatal(err)
		}
	}
	t0 := time.Now()
	// Parked at its own spot (up to ~1 km from the yard) with ACC off;
	// driving out and back (11 km) at 40 km/h with ACC on in its hours.
	tag, err := pg.Pool.Exec(ctx, `INSERT INTO positions (vehicle_id, device_time, received_at, terminal_id, geom, speed_kmh,
			heading, altitude_m, alarm, status, backfill, fix_hash)
		SELECT v.id, t, t, tm.id,
			ST_SetSRID(ST_MakePoint($3 + (v.id % 97) * 0.0001, $4 + (v.id % 89) * 0.0001 + CASE WHEN d THEN 0.1 * sin(pi() * f) ELSE 0 END), 4326),
			CASE WHEN d THEN 40 ELSE 0 END, 0, 10, 0, CASE WHEN d THEN 3 ELSE 2 END, false, 0
		FROM vehicles v JOIN terminals tm ON tm.vehicle_id = v.id,
			generate_series($1::timestamptz, $2::timestamptz - interval '30 s', interval '30 s') AS t,
			LATERAL (SELECT extract(hour FROM t AT TIME ZONE 'Asia/Shanghai')::int AS h,
				extract(minute FROM t AT TIME ZONE 'Asia/Shanghai') / 60.0 AS f) AS x,
			LATERAL (SELECT (h IN (8, 17) OR (h = 20 AND v.id % 7 = 0)) AS d) AS y`, from, to, homeLon, homeLat)
	if err != nil {
		b.Fatal(err)
	}
	if _, err := pg.Pool.Exec(ctx, "ANALYZE positions"); err != nil {
		b.Fatal(err)
	}
	rows := tag.RowsAffected()
	b.Logf("generated %d positions of %d vehicles in %s", rows, n, time.Since(t0).Round(time.Second))
	r := NewRunner(st, RunnerConfig{Clock: ClockConfig{Now: func() time.Time { return to.Add(24 * time.Hour) }}}, testLog(), prometheus.NewRegistry())
	// Store the episodes first: the measured runs compare with them, as
	// an administrator's preview after a change does.
	if _, err := r.ReevaluateAll(ctx, nil, from, to, true, 0); err != nil {
		b.Fatal(err)
	}
	var took []time.Duration
	b.ResetTimer()
	for b.Loop() {
		t1 := time.Now()
		diffs, err := r.ReevaluateAll(ctx, nil, from, to, false, 0)
		took = append(took, time.Since(t1))
		if err != nil {
			b.Fatal(err)
		}
		if len(diffs) != n || len(diffs[0].Changes) != 0 || diffs[0].Unchanged == 0 {
			b.Fatalf("%d diffs; first %+v", len(diffs), diffs[0])
		}
	}
	// The median run: the machine is shared and noisy.
	slices.Sort(took)
	perS := float64(rows) / took[len(took)/2].Seconds()
	b.ReportMetric(perS, "positions/s")
	b.ReportMetric(86.4e6/perS/60, "min/86M")
	b.Logf("runs %v", took)
}
