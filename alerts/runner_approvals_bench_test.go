package alerts

import (
	"context"
	"fmt"
	"testing"
	"time"

	"fleetmon/track"
	"fleetmon/track/pgtest"
)

// BenchmarkVehicleApprovals reads one vehicle's approvals for a window of
// device time, as a shard does for each vehicle it judges (about once per
// ApprovalLookback of its device time, and after each reload), from a
// table of a year of approvals of 1,000 vehicles (one a day:
// 365,000 rows). Needs FLEETMON_TEST_DB; see BENCHMARKS.md.
//
//	go test -run '^$' -bench VehicleApprovals ./alerts
func BenchmarkVehicleApprovals(b *testing.B) {
	const vehicles, days = 1000, 365
	pg := pgtest.New(b)
	ctx := context.Background()
	path := []string{"江苏省", "南京市", "市机关事务管理局"}
	imp := make([]track.VehicleImport, vehicles)
	for i := range imp {
		imp[i] = track.VehicleImport{Line: i + 2, Plate: fmt.Sprintf("苏A%05d", i), PlateColor: 1,
			TerminalPhone: fmt.Sprintf("1390000%05d", i), UnitPath: path, Category: track.CategoryGeneral}
	}
	if _, _, err := track.NewStore(pg.Pool).ImportVehicles(ctx, imp); err != nil {
		b.Fatal(err)
	}
	start := at("2024-01-01 00:00")
	_, err := pg.Pool.Exec(ctx, `INSERT INTO alert_approvals (vehicle_id, driver, purpose, period, approver, source)
		SELECT v.id, '张三', '接待', tstzrange($1::timestamptz + d * interval '1 day' + interval '19 hours',
			$1::timestamptz + d * interval '1 day' + interval '21 hours', '[)'), '李四', 'fleetmon'
		FROM vehicles v, generate_series(0, $2 - 1) AS d`, start, days)
	if err != nil {
		b.Fatal(err)
	}
	if _, err := pg.Pool.Exec(ctx, "ANALYZE alert_approvals"); err != nil {
		b.Fatal(err)
	}
	var ids []int64
	rows, err := pg.Pool.Query(ctx, "SELECT id FROM vehicles ORDER BY id")
	if err != nil {
		b.Fatal(err)
	}
	for rows.Next() {
		var id int64
		if err := rows.Scan(&id); err != nil {
			b.Fatal(err)
		}
		ids = append(ids, id)
	}
	st := NewStore(pg.Pool)
	lb := 7 * 24 * time.Hour
	b.ResetTimer()
	i := 0
	for b.Loop() {
		t := start.Add(time.Duration(i%days) * 24 * time.Hour)
		as, err := st.vehicleApprovals(ctx, ids[i%len(ids)], t.Add(-lb), t.Add(lb))
		if err != nil || len(as) < 7 {
			b.Fatalf("%d approvals, %v", len(as), err)
		}
		i++
	}
}
