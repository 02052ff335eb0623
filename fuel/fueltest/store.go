package fueltest

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"fleetmon/track"
)

// StoreTrack stores pts as the vehicle's positions (terminal 1), opening
// the months' partitions first, as a terminal's reports would be stored.
func StoreTrack(ctx context.Context, pool *pgxpool.Pool, vehicle int64, pts []track.TrackPoint) error {
	for _, m := range []time.Time{pts[0].Time, pts[len(pts)-1].Time} {
		if _, err := pool.Exec(ctx, "SELECT ensure_month_partition('positions'::regclass, $1)", m); err != nil {
			return fmt.Errorf("partition for %s: %w", m, err)
		}
	}
	ts := make([]time.Time, len(pts))
	lat, lon := make([]float64, len(pts)), make([]float64, len(pts))
	speed := make([]float32, len(pts))
	for i, p := range pts {
		ts[i], lat[i], lon[i], speed[i] = p.Time, p.Lat, p.Lon, p.SpeedKmh
	}
	_, err := pool.Exec(ctx, `INSERT INTO positions (vehicle_id, device_time, received_at, terminal_id, geom, speed_kmh,
			heading, altitude_m, alarm, status, backfill, fix_hash)
		SELECT $1, u.t, u.t, 1, ST_SetSRID(ST_MakePoint(u.lon, u.lat), 4326), u.speed, 90, 20, 0, 3, false, 7
		FROM unnest($2::timestamptz[], $3::float8[], $4::float8[], $5::real[]) AS u(t, lat, lon, speed)`, vehicle, ts, lat, lon, speed)
	if err != nil {
		return fmt.Errorf("positions of vehicle %d: %w", vehicle, err)
	}
	return nil
}

// Statement writes the scenario's fills as a card statement, with the
// headers the oil companies print (卡号,交易时间,加油站,油品,数量,金额).
func (sc *Scenario) Statement(header bool) string {
	var b []byte
	if header {
		b = append(b, "卡号,交易时间,加油站,油品,数量,金额\n"...)
	}
	for _, fl := range sc.Fills {
		b = fmt.Appendf(b, "%s,%s,%s,%s,%.2f,%.2f\n", fl.Card, fl.At.In(Beijing).Format("2006-01-02 15:04:05"), fl.Station, fl.Product, fl.Litres, fl.Amount)
	}
	return string(b)
}

// StationList writes the scenario's stations as a station list.
func (sc *Scenario) StationList(header bool) string {
	var b []byte
	if header {
		b = append(b, "名称,纬度,经度\n"...)
	}
	for _, st := range sc.Stations {
		b = fmt.Appendf(b, "%s,%.6f,%.6f\n", st.Name, st.Lat, st.Lon)
	}
	return string(b)
}
