package track_test

import (
	"context"
	"io"
	"strconv"
	"testing"
	"time"

	"fleetmon/track"
	"fleetmon/track/pgtest"
)

// BenchmarkExportCSV streams 30 days of one vehicle at 10 s (259,200
// positions) through Store.Export (canonical digests and the manifest
// included) and formats each row as the CSV export does.
func BenchmarkExportCSV(b *testing.B) {
	s := pgtest.New(b)
	ctx := context.Background()
	vid, tid := seedVehicle(b, s.Pool, "鄂B99999", "13899999999")
	from := time.Date(2026, 10, 1, 0, 0, 0, 0, beijing)
	const n = 30 * 24 * 360
	for _, m := range []time.Time{from, from.AddDate(0, 1, 0)} {
		if _, err := s.Pool.Exec(ctx, "SELECT ensure_month_partition('positions', $1)", m); err != nil {
			b.Fatal(err)
		}
	}
	if _, err := s.Pool.Exec(ctx, `INSERT INTO positions (vehicle_id, device_time, received_at, terminal_id, geom, speed_kmh,
			heading, altitude_m, alarm, status, mileage_km, satellites, fix_hash)
		SELECT $1, $2::timestamptz + i * interval '10 seconds', $2::timestamptz + i * interval '10 seconds', $3,
			ST_SetSRID(ST_MakePoint(115 + i * 1e-6, 30.2), 4326), 40, i % 360, 20, 0, 3, i * 0.1, 9, i
		FROM generate_series(0, $4 - 1) i`, vid, from, tid, n); err != nil {
		b.Fatal(err)
	}
	st := track.NewStore(s.Pool)
	var buf []byte
	b.ResetTimer()
	start := time.Now()
	rows := 0
	for range b.N {
		m, err := st.Export(ctx, vid, "鄂B99999", from, from.AddDate(0, 0, 30), "bench", "bench", time.Now(), func(e *track.ExportRow) error {
			buf = e.DeviceTime.AppendFormat(buf[:0], time.RFC3339)
			buf = strconv.AppendFloat(buf, e.Lat, 'f', -1, 64)
			buf = strconv.AppendFloat(buf, e.Lon, 'f', -1, 64)
			buf = strconv.AppendFloat(buf, e.SpeedKmh, 'f', -1, 32)
			_, err := io.Discard.Write(buf)
			return err
		})
		if err != nil {
			b.Fatal(err)
		}
		rows += m.Rows
	}
	b.ReportMetric(float64(rows)/time.Since(start).Seconds(), "rows/s")
}
