package track_test

import (
	"bufio"
	"context"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"fleetmon/track"
	"fleetmon/track/pgtest"
)

// History benchmarks over a generated fleet (issue 6 targets, recorded in
// BENCHMARKS.md). The fleet is generated once per schema and kept when
// FLEETMON_BENCH_SCHEMA names one (so that a large fleet is generated once
// and measured across runs and PostgreSQL restarts); otherwise each run
// generates a small fleet in a throw-away schema.
//
//	FLEETMON_BENCH_SCHEMA    keep the data in this schema (drop it yourself)
//	FLEETMON_BENCH_VEHICLES  fleet size (default 50)
//	FLEETMON_BENCH_DAYS      days of history, ending 2026-10-31 (default 30)
//	FLEETMON_BENCH_COLD_CMD  a shell command run before each timed
//	                         iteration, with the pool closed: e.g. restart
//	                         PostgreSQL and drop the OS page cache
//
// The fleet follows what official cars do (assumptions, stated in
// BENCHMARKS.md): 1 to 4 trips a day between 07:30 and 21:30, 1 to 3 hours
// of driving in all; reports every 10, 15, 20 or 30 s (per terminal) while
// ACC is on and every 5 minutes while parked; 5% of days have a 10-minute
// blind-zone stretch uploaded later (0x0704, back-filled); all inside a
// 30 × 20 km city. One more vehicle, the replay target, reports every 10 s
// around the clock (259,200 positions in 30 days). Rows are stored in
// arrival (received_at) order, a day at a time, as the gateway stores them.

const benchHeavyPlate = "鄂B10S000"

var benchEnd = time.Date(2026, 11, 1, 0, 0, 0, 0, beijing)

type benchFleet struct {
	s        *pgtest.Schema
	vehicles int
	days     int
	heavy    int64
	// homes are where each vehicle starts (and parks at night), by id.
	homes map[int64][2]float64
}

func envInt(name string, def int) int {
	if v, err := strconv.Atoi(os.Getenv(name)); err == nil && v > 0 {
		return v
	}
	return def
}

// fleet returns the generated fleet, generating it when the schema has no
// positions yet.
func fleet(b *testing.B) *benchFleet {
	b.Helper()
	f := &benchFleet{vehicles: envInt("FLEETMON_BENCH_VEHICLES", 50), days: envInt("FLEETMON_BENCH_DAYS", 30),
		homes: map[int64][2]float64{}}
	if name := os.Getenv("FLEETMON_BENCH_SCHEMA"); name != "" {
		f.s = pgtest.Keep(b, name)
	} else {
		f.s = pgtest.New(b)
	}
	ctx := context.Background()
	var n int
	if err := f.s.Pool.QueryRow(ctx, "SELECT count(*) FROM vehicles").Scan(&n); err != nil {
		b.Fatal(err)
	}
	if n == 0 {
		var vs []track.VehicleImport
		for i := range f.vehicles {
			vs = append(vs, track.VehicleImport{Line: i + 2, Plate: fmt.Sprintf("鄂B%05d", i), PlateColor: 1,
				TerminalPhone: fmt.Sprintf("1390%07d", i), UnitPath: []string{"湖北省", "黄石市", fmt.Sprintf("单位%02d", i%20)},
				Category: track.CategoryGeneral})
		}
		vs = append(vs, track.VehicleImport{Line: len(vs) + 2, Plate: benchHeavyPlate, PlateColor: 1, TerminalPhone: "13999999999",
			UnitPath: []string{"湖北省", "黄石市", "单位00"}, Category: track.CategoryGeneral})
		if _, _, err := track.NewStore(f.s.Pool).ImportVehicles(ctx, vs); err != nil {
			b.Fatal(err)
		}
	}
	rows, err := f.s.Pool.Query(ctx, "SELECT id, plate FROM vehicles ORDER BY id")
	if err != nil {
		b.Fatal(err)
	}
	var ids []int64
	for rows.Next() {
		var id int64
		var plate string
		if err := rows.Scan(&id, &plate); err != nil {
			b.Fatal(err)
		}
		if plate == benchHeavyPlate {
			f.heavy = id
		}
		ids = append(ids, id)
	}
	rows.Close()
	for _, id := range ids {
		rng := rand.New(rand.NewPCG(uint64(id), 1))
		f.homes[id] = [2]float64{30.12 + rng.Float64()*0.16, 114.92 + rng.Float64()*0.26}
	}
	var stored int64
	if err := f.s.Pool.QueryRow(ctx, "SELECT count(*) FROM (SELECT 1 FROM positions LIMIT 1) x").Scan(&stored); err != nil {
		b.Fatal(err)
	}
	if stored == 0 {
		f.generate(b, ids)
	}
	return f
}

// vehicleDay is one simulated terminal's state.
type vehicleSim struct {
	id         int64
	rng        *rand.Rand
	lat, lon   float64
	heading    float64
	speed      float64
	mileage    float64
	interval   time.Duration
	everyTenS  bool
	terminalID int64
}

type genRow struct {
	vid                int64
	tid                int64
	dev, rec           time.Time
	lat, lon           float64
	speed              float64
	heading            int
	status             int
	mileage            float64
	backfill           bool
	fixHash, frameHigh int64
	frameLow           int64
}

// day simulates one day of the vehicle and appends its reports.
func (v *vehicleSim) day(start time.Time, out []genRow) []genRow {
	rng := v.rng
	k := 1 + rng.IntN(4)
	drive := time.Duration(60+rng.IntN(121)) * time.Minute
	// Trips in k equal slots of 07:30–21:30, each starting at random in its
	// slot and fitting in it.
	slot := 14 * time.Hour / time.Duration(k)
	type span struct{ from, to time.Time }
	var trips []span
	for i := range k {
		d := drive / time.Duration(k)
		s0 := start.Add(7*time.Hour + 30*time.Minute + time.Duration(i)*slot)
		trips = append(trips, span{s0.Add(time.Duration(rng.Int64N(int64(slot - d)))), time.Time{}})
		trips[i].to = trips[i].from.Add(d)
	}
	var blindFrom time.Time
	if rng.IntN(20) == 0 {
		t := trips[rng.IntN(len(trips))]
		blindFrom = t.from.Add(t.to.Sub(t.from) / 3)
	}
	blindTo := blindFrom.Add(10 * time.Minute)
	end := start.Add(24 * time.Hour)
	t := start.Add(time.Duration(rng.IntN(300)) * time.Second)
	ti := 0
	for t.Before(end) {
		for ti < len(trips) && !t.Before(trips[ti].to) {
			ti++
		}
		driving := ti < len(trips) && !t.Before(trips[ti].from)
		step := 5 * time.Minute
		status := 2 // positioned, ACC off
		if driving {
			step, status = v.interval, 3
			v.speed = math.Max(10, math.Min(70, v.speed+rng.NormFloat64()*5))
			v.heading += rng.NormFloat64() * 15
			d := v.speed / 3.6 * step.Seconds()
			v.lat += d * math.Cos(v.heading*math.Pi/180) / 111_195
			v.lon += d * math.Sin(v.heading*math.Pi/180) / (111_195 * math.Cos(v.lat*math.Pi/180))
			if v.lat < 30.10 || v.lat > 30.28 {
				v.heading = 180 - v.heading
				v.lat = math.Max(30.10, math.Min(30.28, v.lat))
			}
			if v.lon < 114.90 || v.lon > 115.20 {
				v.heading = -v.heading
				v.lon = math.Max(114.90, math.Min(115.20, v.lon))
			}
			v.mileage += d / 1000
		} else {
			v.speed = 0
		}
		if v.everyTenS {
			step = 10 * time.Second
		}
		r := genRow{vid: v.id, tid: v.terminalID, dev: t, rec: t.Add(time.Second + time.Duration(rng.IntN(500))*time.Millisecond),
			lat: v.lat + rng.NormFloat64()*2e-5, lon: v.lon + rng.NormFloat64()*2e-5, speed: math.Round(v.speed*10) / 10,
			heading: int(math.Mod(math.Mod(v.heading, 360)+360, 360)), status: status, mileage: math.Round(v.mileage*10) / 10,
			fixHash: rng.Int64(), frameHigh: rng.Int64(), frameLow: rng.Int64()}
		if driving && !blindFrom.IsZero() && !t.Before(blindFrom) && t.Before(blindTo) {
			r.rec, r.backfill = blindTo.Add(30*time.Second), true
		}
		out = append(out, r)
		t = t.Add(step)
	}
	return out
}

func (f *benchFleet) generate(b *testing.B, ids []int64) {
	b.Helper()
	ctx := context.Background()
	tids := map[int64]int64{}
	rows, err := f.s.Pool.Query(ctx, "SELECT vehicle_id, id FROM terminals")
	if err != nil {
		b.Fatal(err)
	}
	for rows.Next() {
		var v, t int64
		if err := rows.Scan(&v, &t); err != nil {
			b.Fatal(err)
		}
		tids[v] = t
	}
	rows.Close()
	intervals := []time.Duration{10 * time.Second, 15 * time.Second, 20 * time.Second, 30 * time.Second}
	sims := make([]*vehicleSim, len(ids))
	for i, id := range ids {
		rng := rand.New(rand.NewPCG(uint64(id), 2))
		h := f.homes[id]
		sims[i] = &vehicleSim{id: id, rng: rng, lat: h[0], lon: h[1], heading: rng.Float64() * 360, speed: 30,
			mileage: float64(rng.IntN(100000)), interval: intervals[rng.IntN(len(intervals))], everyTenS: id == f.heavy,
			terminalID: tids[id]}
	}
	start := benchEnd.AddDate(0, 0, -f.days)
	for m := start; m.Before(benchEnd); m = m.AddDate(0, 0, 1) {
		if _, err := f.s.Pool.Exec(ctx, "SELECT ensure_month_partition('positions', $1)", m); err != nil {
			b.Fatal(err)
		}
	}
	began := time.Now()
	var total int64
	var buf []genRow
	for d := range f.days {
		day := start.AddDate(0, 0, d)
		buf = buf[:0]
		for _, v := range sims {
			buf = v.day(day, buf)
		}
		slices.SortFunc(buf, func(a, b genRow) int { return a.rec.Compare(b.rec) })
		n, err := copyRows(ctx, f.s.Pool, buf)
		if err != nil {
			b.Fatal(err)
		}
		total += n
	}
	el := time.Since(began)
	b.Logf("generated %d positions of %d vehicles over %d days in %s (%.0f rows/s)", total, len(ids), f.days, el.Round(time.Second),
		float64(total)/el.Seconds())
	if _, err := f.s.Pool.Exec(ctx, "VACUUM ANALYZE positions"); err != nil {
		b.Fatal(err)
	}
	began = time.Now()
	n, err := track.NewStore(f.s.Pool).SummariseFootprints(ctx, benchEnd.Add(time.Hour))
	if err != nil {
		b.Fatal(err)
	}
	b.Logf("summarised %d footprints in %s", n, time.Since(began).Round(time.Millisecond))
	if _, err := f.s.Pool.Exec(ctx, "VACUUM ANALYZE position_footprints"); err != nil {
		b.Fatal(err)
	}
}

// copyRows stores rows with COPY (text; the point as hex EWKB).
func copyRows(ctx context.Context, pool *pgxpool.Pool, rows []genRow) (int64, error) {
	pr, pw := io.Pipe()
	go func() {
		w := bufio.NewWriterSize(pw, 1<<20)
		var line []byte
		ewkb := make([]byte, 25)
		ewkb[0] = 1                                         // little-endian
		binary.LittleEndian.PutUint32(ewkb[1:], 0x20000001) // Point with SRID
		binary.LittleEndian.PutUint32(ewkb[5:], 4326)
		for i := range rows {
			r := &rows[i]
			binary.LittleEndian.PutUint64(ewkb[9:], math.Float64bits(r.lon))
			binary.LittleEndian.PutUint64(ewkb[17:], math.Float64bits(r.lat))
			line = line[:0]
			line = strconv.AppendInt(line, r.vid, 10)
			line = append(line, '\t')
			line = r.dev.UTC().AppendFormat(line, "2006-01-02 15:04:05.999999Z07")
			line = append(line, '\t')
			line = r.rec.UTC().AppendFormat(line, "2006-01-02 15:04:05.999999Z07")
			line = append(line, '\t')
			line = strconv.AppendInt(line, r.tid, 10)
			line = append(line, '\t')
			line = hex.AppendEncode(line, ewkb)
			line = append(line, '\t')
			line = strconv.AppendFloat(line, r.speed, 'f', -1, 64)
			line = append(line, '\t')
			line = strconv.AppendInt(line, int64(r.heading), 10)
			line = append(line, "\t25\t0\t"...)
			line = strconv.AppendInt(line, int64(r.status), 10)
			line = append(line, '\t')
			line = strconv.AppendFloat(line, r.mileage, 'f', -1, 64)
			line = append(line, "\t24\t12\t"...)
			if r.backfill {
				line = append(line, 't')
			} else {
				line = append(line, 'f')
			}
			line = append(line, '\t')
			line = fmt.Appendf(line, "%08x-%04x-%04x-%04x-%012x", uint32(r.frameHigh), uint16(r.frameHigh>>32), uint16(r.frameHigh>>48),
				uint16(r.frameLow), uint64(r.frameLow)>>16)
			line = append(line, '\t')
			line = strconv.AppendInt(line, r.fixHash, 10)
			line = append(line, '\n')
			if _, err := w.Write(line); err != nil {
				pw.CloseWithError(err)
				return
			}
		}
		pw.CloseWithError(w.Flush())
	}()
	conn, err := pool.Acquire(ctx)
	if err != nil {
		pr.Close()
		return 0, err
	}
	defer conn.Release()
	tag, err := conn.Conn().PgConn().CopyFrom(ctx, pr, `COPY positions (vehicle_id, device_time, received_at, terminal_id, geom,
		speed_kmh, heading, altitude_m, alarm, status, mileage_km, signal, satellites, backfill, frame_id, fix_hash) FROM STDIN`)
	pr.Close()
	if err != nil {
		return 0, err
	}
	return tag.RowsAffected(), nil
}

// cold runs FLEETMON_BENCH_COLD_CMD, if set, with the pool closed, and
// returns the pool to use next.
func (f *benchFleet) cold(b *testing.B, pool *pgxpool.Pool) *pgxpool.Pool {
	b.Helper()
	cmd := os.Getenv("FLEETMON_BENCH_COLD_CMD")
	if cmd == "" {
		return pool
	}
	pool.Close()
	if out, err := exec.Command("sh", "-c", cmd).CombinedOutput(); err != nil {
		b.Fatalf("cold command: %v\n%s", err, out)
	}
	p, err := pgxpool.New(context.Background(), f.s.ConnString)
	if err != nil {
		b.Fatal(err)
	}
	if err := p.Ping(context.Background()); err != nil {
		b.Fatal(err)
	}
	return p
}

// BenchmarkHistoryReplay measures what GET /vehicles/{id}/replay computes
// for 30 days of the vehicle reporting every 10 s: the database read, the
// trips, stops and gaps, and a 2,000-point display track.
func BenchmarkHistoryReplay(b *testing.B) {
	f := fleet(b)
	ctx := context.Background()
	from, to := benchEnd.AddDate(0, 0, -30), benchEnd
	pool := f.s.Pool
	var readT, totalT time.Duration
	points := 0
	b.ResetTimer()
	for range b.N {
		b.StopTimer()
		pool = f.cold(b, pool)
		st := track.NewStore(pool)
		b.StartTimer()
		t0 := time.Now()
		var pts []track.TrackPoint
		if _, err := st.Track(ctx, f.heavy, from, to, func(p *track.TrackPoint) error {
			pts = append(pts, *p)
			return nil
		}); err != nil {
			b.Fatal(err)
		}
		readT += time.Since(t0)
		a := track.Analyze(pts, track.AnalysisParams{})
		idx := track.Simplify(pts, 2000, 2, a.Gaps)
		totalT += time.Since(t0)
		points = len(pts)
		if len(idx) == 0 || len(a.Trips) == 0 {
			b.Fatalf("no display track or trips: %d points", len(pts))
		}
	}
	b.StopTimer()
	if pool != f.s.Pool {
		pool.Close()
	}
	b.ReportMetric(float64(points), "points")
	b.ReportMetric(float64(readT.Milliseconds())/float64(b.N), "read-ms/op")
	b.ReportMetric(float64(totalT.Milliseconds())/float64(b.N), "total-ms/op")
}

// BenchmarkHistoryAreaSearch measures area searches over the fleet: a
// 200 m circle around one vehicle's home (a hotel-sized place) over the
// 30 days, and a 2 × 2 km square of the centre over one day and over the
// 30 days.
func BenchmarkHistoryAreaSearch(b *testing.B) {
	f := fleet(b)
	ctx := context.Background()
	ids := make([]int64, 0, len(f.homes))
	for id := range f.homes {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	home := f.homes[ids[len(ids)/3]]
	square := `{"type":"Polygon","coordinates":[[[115.04,30.19],[115.06,30.19],[115.06,30.21],[115.04,30.21],[115.04,30.19]]]}`
	for _, c := range []struct {
		name     string
		area     track.Area
		from, to time.Time
	}{
		{"circle200m/30d", track.Area{GeoJSON: fmt.Sprintf(`{"type":"Point","coordinates":[%f,%f]}`, home[1], home[0]), BufferM: 200},
			benchEnd.AddDate(0, 0, -30), benchEnd},
		{"square2km/1d", track.Area{GeoJSON: square}, benchEnd.AddDate(0, 0, -3), benchEnd.AddDate(0, 0, -2)},
		{"square2km/30d", track.Area{GeoJSON: square}, benchEnd.AddDate(0, 0, -30), benchEnd},
	} {
		b.Run(c.name, func(b *testing.B) {
			pool := f.s.Pool
			var found, visits int
			var stats track.AreaStats
			for range b.N {
				b.StopTimer()
				pool = f.cold(b, pool)
				st := track.NewStore(pool)
				b.StartTimer()
				vv, s, err := st.AreaVisits(ctx, track.All, c.area, c.from, c.to)
				if err != nil {
					b.Fatal(err)
				}
				found, stats, visits = len(vv), s, 0
				for _, v := range vv {
					visits += len(v.Visits)
				}
			}
			b.StopTimer()
			if pool != f.s.Pool {
				pool.Close()
			}
			b.ReportMetric(float64(found), "vehicles")
			b.ReportMetric(float64(visits), "visits")
			b.ReportMetric(float64(stats.PointsRead), "points-read")
			b.ReportMetric(float64(stats.CandidateHours), "candidate-hours")
		})
	}
}

// BenchmarkHistorySizes reports the size of the generated history on disk
// (no timing): rows, heap, indexes, footprints.
func BenchmarkHistorySizes(b *testing.B) {
	f := fleet(b)
	ctx := context.Background()
	var rows, heap, idx, fp, fpRows int64
	err := f.s.Pool.QueryRow(ctx, `SELECT
			(SELECT sum(c.reltuples)::bigint FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid WHERE i.inhparent = 'positions'::regclass),
			(SELECT sum(pg_table_size(i.inhrelid)) FROM pg_inherits i WHERE i.inhparent = 'positions'::regclass),
			(SELECT sum(pg_indexes_size(i.inhrelid)) FROM pg_inherits i WHERE i.inhparent = 'positions'::regclass),
			(SELECT COALESCE(sum(pg_total_relation_size(i.inhrelid)), 0) FROM pg_inherits i WHERE i.inhparent = 'position_footprints'::regclass),
			(SELECT COALESCE(sum(c.reltuples)::bigint, 0) FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid WHERE i.inhparent = 'position_footprints'::regclass)`).
		Scan(&rows, &heap, &idx, &fp, &fpRows)
	if err != nil {
		b.Fatal(err)
	}
	for range b.N {
	}
	b.ReportMetric(float64(rows), "rows")
	b.ReportMetric(float64(heap)/float64(rows), "heap-B/row")
	b.ReportMetric(float64(idx)/float64(rows), "index-B/row")
	b.ReportMetric(float64(heap+idx)/(1<<20), "positions-MiB")
	b.ReportMetric(float64(fp)/(1<<20), "footprints-MiB")
	b.ReportMetric(float64(fpRows), "footprints")
}
