package track

// How one batch becomes one statement: the SQL, the column arrays it
// takes, and the transaction that runs it. The batching, retries and
// listeners are in writer.go.

import (
	"context"
	"time"

	"github.com/jackc/pgx/v5"
)

// writeBatch stores a batch in one statement, so one round trip and one
// implicit transaction: the positions, the frames and the state travel as
// arrays (binary), are unnested, and data-modifying CTEs write every table.
// positions and raw_frames take ON CONFLICT DO NOTHING, so writing the same
// rows again (a terminal resend, or a retry after a lost commit reply) is
// harmless. terminals.last_seen_at moves only when it is 30 s behind: a
// row update per report would double the database's work for a value
// whose use (is the terminal silent?) is in minutes. The state upsert moves each vehicle's latest state forward,
// never backward: a late back-fill older than the stored state leaves it
// alone. Rows are taken in vehicle order so concurrent writers lock them in
// the same order.
const writeBatch = `
WITH p AS (
    SELECT * FROM unnest($1::bigint[], $2::timestamptz[], $3::timestamptz[], $4::bigint[],
        $5::float8[], $6::float8[], $7::real[], $8::smallint[], $9::integer[], $10::bigint[],
        $11::bigint[], $12::float8[], $13::real[], $14::real[], $15::smallint[], $16::smallint[],
        $17::text[], $18::boolean[], $19::uuid[], $28::bigint[])
    AS u(vehicle_id, device_time, received_at, terminal_id, lon, lat, speed_kmh, heading, altitude_m,
        alarm, status, mileage_km, fuel_l, rec_speed_kmh, signal, satellites, items, backfill, frame_id,
        fix_hash)
), ins AS (
    INSERT INTO positions (vehicle_id, device_time, received_at, terminal_id, geom, speed_kmh, heading,
        altitude_m, alarm, status, mileage_km, fuel_l, rec_speed_kmh, signal, satellites, items, backfill, frame_id,
        fix_hash)
    SELECT vehicle_id, device_time, received_at, terminal_id, ST_SetSRID(ST_MakePoint(lon, lat), 4326),
        speed_kmh, heading, altitude_m, alarm, status, mileage_km, fuel_l, rec_speed_kmh, signal, satellites,
        items::jsonb, backfill, frame_id, fix_hash
    FROM p
    ON CONFLICT (vehicle_id, device_time, fix_hash) DO NOTHING
    RETURNING vehicle_id, device_time, fix_hash
), st AS (
    INSERT INTO vehicle_state AS s (vehicle_id, terminal_id, device_time, received_at, geom, speed_kmh,
        heading, altitude_m, alarm, status, mileage_km, fuel_l, signal, satellites)
    SELECT DISTINCT ON (vehicle_id) vehicle_id, terminal_id, device_time, received_at,
        ST_SetSRID(ST_MakePoint(lon, lat), 4326), speed_kmh, heading, altitude_m, alarm, status,
        mileage_km, fuel_l, signal, satellites
    FROM p
    ORDER BY vehicle_id, device_time DESC, received_at DESC
    ON CONFLICT (vehicle_id) DO UPDATE SET
        terminal_id = excluded.terminal_id, device_time = excluded.device_time,
        received_at = excluded.received_at, geom = excluded.geom, speed_kmh = excluded.speed_kmh,
        heading = excluded.heading, altitude_m = excluded.altitude_m, alarm = excluded.alarm,
        status = excluded.status, mileage_km = excluded.mileage_km, fuel_l = excluded.fuel_l,
        signal = excluded.signal, satellites = excluded.satellites
    WHERE (excluded.device_time, excluded.received_at) > (s.device_time, s.received_at)
), f AS (
    SELECT * FROM unnest($20::uuid[], $21::timestamptz[], $22::bigint[], $23::text[], $24::integer[],
        $25::integer[], $26::bytea[], $27::text[])
    AS u(id, received_at, terminal_id, phone, msg_id, serial, frame, disposition)
), fins AS (
    INSERT INTO raw_frames (id, received_at, terminal_id, phone, msg_id, serial, frame, disposition)
    SELECT * FROM f
    ON CONFLICT DO NOTHING
), seen AS (
    UPDATE terminals t SET last_seen_at = x.seen
    FROM (SELECT terminal_id, max(received_at) AS seen FROM f
          WHERE terminal_id IS NOT NULL GROUP BY terminal_id ORDER BY terminal_id) x
    WHERE t.id = x.terminal_id AND (t.last_seen_at IS NULL OR t.last_seen_at < x.seen - interval '30 seconds')
)
SELECT vehicle_id, device_time, fix_hash FROM ins`

// columns holds a batch as one array per column, reused between batches.
type columns struct {
	vehicle, terminal           []int64
	deviceTime, received        []time.Time
	lon, lat                    []float64
	speed                       []float32
	heading                     []int16
	altitude                    []int32
	alarm, status               []int64
	mileage                     []*float64
	fuel, recSpeed              []*float32
	signal, satellites          []*int16
	items                       []*string
	backfill                    []bool
	frameID                     [][16]byte
	fixHash                     []int64
	fID                         [][16]byte
	fReceived                   []time.Time
	fTerminal                   []*int64
	fPhone, fDisposition        []string
	fMsgID, fSerial             []int32
	fFrame                      [][]byte
	mileageV                    []float64
	fuelV, recSpeedV            []float32
	signalV, satellitesV, termV []int64
	itemsV                      []string
}

func (c *columns) args(ps []Position, fs []RawFrame) []any {
	n := len(ps)
	c.vehicle, c.terminal = c.vehicle[:0], c.terminal[:0]
	c.deviceTime, c.received = c.deviceTime[:0], c.received[:0]
	c.lon, c.lat, c.speed, c.heading, c.altitude = c.lon[:0], c.lat[:0], c.speed[:0], c.heading[:0], c.altitude[:0]
	c.alarm, c.status = c.alarm[:0], c.status[:0]
	c.mileage, c.fuel, c.recSpeed, c.signal, c.satellites, c.items = c.mileage[:0], c.fuel[:0], c.recSpeed[:0], c.signal[:0], c.satellites[:0], c.items[:0]
	c.backfill, c.frameID, c.fixHash = c.backfill[:0], c.frameID[:0], c.fixHash[:0]
	// The pointed-to values live in these slices, sized up front so that
	// appending never moves them.
	c.mileageV = grow(c.mileageV, n)
	c.fuelV, c.recSpeedV = grow(c.fuelV, n), grow(c.recSpeedV, n)
	c.itemsV = grow(c.itemsV, n)
	type i16 = int16
	sig := make([]int16, 2*n)
	for i := range ps {
		p := &ps[i]
		c.vehicle = append(c.vehicle, p.VehicleID)
		c.terminal = append(c.terminal, p.TerminalID)
		c.deviceTime = append(c.deviceTime, p.Time)
		c.received = append(c.received, p.Received)
		c.lon, c.lat = append(c.lon, p.Lon), append(c.lat, p.Lat)
		c.speed, c.heading, c.altitude = append(c.speed, p.SpeedKmh), append(c.heading, p.Heading), append(c.altitude, p.AltitudeM)
		c.alarm, c.status = append(c.alarm, int64(p.Alarm)), append(c.status, int64(p.Status))
		c.mileageV[i], c.fuelV[i], c.recSpeedV[i] = p.MileageKm, p.FuelL, p.RecSpeedKmh
		sig[2*i], sig[2*i+1] = i16(p.Signal), i16(p.Satellites)
		c.mileage = append(c.mileage, ptrIf(p.Has&HasMileage != 0, &c.mileageV[i]))
		c.fuel = append(c.fuel, ptrIf(p.Has&HasFuel != 0, &c.fuelV[i]))
		c.recSpeed = append(c.recSpeed, ptrIf(p.Has&HasRecSpeed != 0, &c.recSpeedV[i]))
		c.signal = append(c.signal, ptrIf(p.Has&HasSignal != 0, &sig[2*i]))
		c.satellites = append(c.satellites, ptrIf(p.Has&HasSatellites != 0, &sig[2*i+1]))
		if p.Items != nil {
			c.itemsV[i] = string(p.Items)
			c.items = append(c.items, &c.itemsV[i])
		} else {
			c.items = append(c.items, nil)
		}
		c.backfill = append(c.backfill, p.Backfill)
		c.frameID = append(c.frameID, [16]byte(p.FrameID))
		c.fixHash = append(c.fixHash, p.FixHash())
	}
	c.fID, c.fReceived, c.fTerminal = c.fID[:0], c.fReceived[:0], c.fTerminal[:0]
	c.fPhone, c.fMsgID, c.fSerial, c.fFrame, c.fDisposition = c.fPhone[:0], c.fMsgID[:0], c.fSerial[:0], c.fFrame[:0], c.fDisposition[:0]
	c.termV = grow(c.termV, len(fs))
	for i := range fs {
		f := &fs[i]
		c.fID = append(c.fID, [16]byte(f.ID))
		c.fReceived = append(c.fReceived, f.Received)
		c.termV[i] = f.TerminalID
		c.fTerminal = append(c.fTerminal, ptrIf(f.TerminalID != 0, &c.termV[i]))
		c.fPhone = append(c.fPhone, f.Phone)
		c.fMsgID, c.fSerial = append(c.fMsgID, int32(f.MsgID)), append(c.fSerial, int32(f.Serial))
		c.fFrame = append(c.fFrame, f.Frame)
		c.fDisposition = append(c.fDisposition, string(f.Disposition))
	}
	return []any{c.vehicle, c.deviceTime, c.received, c.terminal, c.lon, c.lat, c.speed, c.heading,
		c.altitude, c.alarm, c.status, c.mileage, c.fuel, c.recSpeed, c.signal, c.satellites, c.items,
		c.backfill, c.frameID,
		c.fID, c.fReceived, c.fTerminal, c.fPhone, c.fMsgID, c.fSerial, c.fFrame, c.fDisposition,
		c.fixHash}
}

func grow[T any](s []T, n int) []T {
	if cap(s) < n {
		return make([]T, n)
	}
	return s[:n]
}

func ptrIf[T any](ok bool, p *T) *T {
	if ok {
		return p
	}
	return nil
}

// writeTx writes b in one statement and returns how many positions were
// new; b.fresh holds them.
func writeTx(ctx context.Context, conn *pgx.Conn, b *batch) (int, error) {
	b.fresh = b.fresh[:0]
	rows, err := conn.Query(ctx, writeBatch, b.cols.args(b.positions, b.frames)...)
	if err != nil {
		return 0, err
	}
	seen := make(map[posKey]struct{}, len(b.positions))
	var (
		vid, hash int64
		t         time.Time
	)
	if _, err := pgx.ForEachRow(rows, []any{&vid, &t, &hash}, func() error {
		seen[posKey{vid, t.UnixNano(), hash}] = struct{}{}
		return nil
	}); err != nil {
		return 0, err
	}
	for _, p := range b.positions {
		key := posKey{p.VehicleID, p.Time.UnixNano(), p.FixHash()}
		if _, ok := seen[key]; ok {
			b.fresh = append(b.fresh, p)
			delete(seen, key)
		}
	}
	return len(b.fresh), nil
}

// posKey identifies a stored position: vehicle, device time in Unix ns and
// fix hash.
type posKey struct {
	vehicle, nanos, fix int64
}
