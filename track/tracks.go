package track

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
)

// TrackPoint is one stored position of a track.
type TrackPoint struct {
	Time          time.Time
	Lat, Lon      float64
	SpeedKmh      float32
	Heading       int16
	Alarm, Status uint32
	Backfill      bool
	// MileageKm is the odometer (item 0x01), valid when HasMileage.
	MileageKm  float64
	HasMileage bool
}

// Track calls fn for every stored position of the vehicle with from <= time
// < to, in time order (two reports of the same second by fix hash, the
// primary key's order: no sort), streaming rows from the database: nothing
// is accumulated. The *TrackPoint is reused between calls. The caller checks
// the vehicle's scope first (VehicleIn).
func (s *Store) Track(ctx context.Context, vehicleID int64, from, to time.Time, fn func(*TrackPoint) error) (int, error) {
	// The point comes as its EWKB (geom::bytea) and is decoded here: ST_Y
	// and ST_X cost the server two function calls a row, most of its time
	// on a month at 10 s.
	rows, err := s.pool.Query(ctx, `SELECT device_time, geom::bytea, speed_kmh, heading, alarm, status, backfill, mileage_km
		FROM positions WHERE vehicle_id = $1 AND device_time >= $2 AND device_time < $3
		ORDER BY device_time, fix_hash`, vehicleID, from, to)
	if err != nil {
		return 0, fmt.Errorf("track of vehicle %d: %w", vehicleID, err)
	}
	defer rows.Close()
	// A month at 10 s is 260,000 rows: decoding the binary columns here
	// rather than through Scan halves the client's time. Every column's
	// type has a binary format that pgx asks for; any other format is a
	// bug, reported as such.
	for i, fd := range rows.FieldDescriptions() {
		if fd.Format != pgx.BinaryFormatCode {
			return 0, fmt.Errorf("track of vehicle %d: column %d not in binary format", vehicleID, i)
		}
	}
	var p TrackPoint
	n := 0
	for rows.Next() {
		if err := decodeTrackRow(rows.RawValues(), &p); err != nil {
			return n, fmt.Errorf("track of vehicle %d: %w", vehicleID, err)
		}
		if err := fn(&p); err != nil {
			return n, err
		}
		n++
	}
	if err := rows.Err(); err != nil {
		return n, fmt.Errorf("track of vehicle %d: %w", vehicleID, err)
	}
	return n, nil
}

// pgEpoch is PostgreSQL's timestamp origin: binary timestamptz values are
// microseconds since then.
var pgEpoch = time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC)

// decodeTrackRow decodes Track's columns from PostgreSQL's binary format:
// timestamptz (int64 µs since 2000), bytea (EWKB), float4, int2, int8,
// int8, bool, float8 (NULL: no odometer).
func decodeTrackRow(v [][]byte, p *TrackPoint) error {
	if len(v) != 8 || len(v[0]) != 8 || len(v[2]) != 4 || len(v[3]) != 2 || len(v[4]) != 8 || len(v[5]) != 8 || len(v[6]) != 1 {
		return fmt.Errorf("track row: unexpected column sizes")
	}
	be := binary.BigEndian
	p.Time = pgEpoch.Add(time.Duration(int64(be.Uint64(v[0]))) * time.Microsecond)
	var err error
	if p.Lat, p.Lon, err = pointEWKB(v[1]); err != nil {
		return fmt.Errorf("track row at %s: %w", p.Time.Format(time.RFC3339), err)
	}
	p.SpeedKmh = math.Float32frombits(be.Uint32(v[2]))
	p.Heading = int16(be.Uint16(v[3]))
	p.Alarm = uint32(be.Uint64(v[4]))
	p.Status = uint32(be.Uint64(v[5]))
	p.Backfill = v[6][0] != 0
	p.HasMileage = v[7] != nil
	p.MileageKm = 0
	if p.HasMileage {
		if len(v[7]) != 8 {
			return fmt.Errorf("track row: mileage of %d bytes", len(v[7]))
		}
		p.MileageKm = math.Float64frombits(be.Uint64(v[7]))
	}
	return nil
}

// pointEWKB decodes a 2-D point in (E)WKB, as geometry::bytea gives it:
// byte order, type (with the SRID flag, then the SRID), X, Y.
func pointEWKB(b []byte) (lat, lon float64, err error) {
	if len(b) < 21 {
		return 0, 0, fmt.Errorf("point: %d bytes of WKB", len(b))
	}
	var order binary.ByteOrder = binary.LittleEndian
	if b[0] == 0 {
		order = binary.BigEndian
	}
	typ := order.Uint32(b[1:])
	off := 5
	if typ&0x20000000 != 0 { // EWKB: an SRID follows
		off += 4
	}
	if typ&0xff != 1 || typ&0xc0000000 != 0 || len(b) < off+16 {
		return 0, 0, fmt.Errorf("point: WKB type %#x, %d bytes", typ, len(b))
	}
	lon = math.Float64frombits(order.Uint64(b[off:]))
	lat = math.Float64frombits(order.Uint64(b[off+8:]))
	return lat, lon, nil
}

// ErrTooManyPoints is returned by TrackPoints when the period holds more
// positions than the caller's limit.
var ErrTooManyPoints = errors.New("track: more positions in the period than allowed")

// trackChunk is the part of a period TrackPoints reads on one connection:
// a month at 10 s is read as four weeks at once, the server scanning and
// sending them in parallel and the client decoding them in parallel.
const trackChunk = 7 * 24 * time.Hour

// TrackPoints returns the vehicle's stored positions with from <= time <
// to, in Track's order, reading parts of a long period concurrently (at
// most 4 connections). More than limit positions is ErrTooManyPoints. The
// caller owns the slice and checks the vehicle's scope first.
func (s *Store) TrackPoints(ctx context.Context, vehicleID int64, from, to time.Time, limit int) ([]TrackPoint, error) {
	parts := min(4, max(1, int((to.Sub(from)+trackChunk-1)/trackChunk)))
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	chunks := make([][]TrackPoint, parts)
	errs := make([]error, parts)
	var total atomic.Int64
	var wg sync.WaitGroup
	step := to.Sub(from) / time.Duration(parts)
	for i := range parts {
		lo, hi := from.Add(time.Duration(i)*step), from.Add(time.Duration(i+1)*step)
		if i == parts-1 {
			hi = to
		}
		wg.Go(func() {
			_, errs[i] = s.Track(ctx, vehicleID, lo, hi, func(p *TrackPoint) error {
				if total.Add(1) > int64(limit) {
					return ErrTooManyPoints
				}
				chunks[i] = append(chunks[i], *p)
				return nil
			})
			if errs[i] != nil {
				cancel()
			}
		})
	}
	wg.Wait()
	if total.Load() > int64(limit) {
		return nil, ErrTooManyPoints
	}
	for _, err := range errs {
		if err != nil {
			return nil, err
		}
	}
	if parts == 1 {
		return chunks[0], nil
	}
	out := make([]TrackPoint, 0, total.Load())
	for _, c := range chunks {
		out = append(out, c...)
	}
	return out, nil
}
