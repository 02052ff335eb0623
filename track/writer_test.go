package track_test

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"

	"fleetmon/track"
	"fleetmon/track/pgtest"
)

func discard() *slog.Logger {
	if os.Getenv("FLEETMON_TEST_LOG") != "" {
		return slog.New(slog.NewTextHandler(os.Stderr, nil))
	}
	return slog.New(slog.NewTextHandler(io.Discard, nil))
}

// seedVehicle imports one vehicle bound to phone and returns the vehicle id
// and terminal id.
func seedVehicle(t testing.TB, pool *pgxpool.Pool, plate, phone string) (int64, int64) {
	t.Helper()
	ctx := context.Background()
	st := track.NewStore(pool)
	_, _, err := st.ImportVehicles(ctx, []track.VehicleImport{{
		Line: 2, Plate: plate, PlateColor: 1, TerminalPhone: phone,
		UnitPath: []string{"湖北省", "黄石市", "阳新县", "县机关事务中心"}, Category: track.CategoryGeneral,
	}})
	if err != nil {
		t.Fatal(err)
	}
	var vid, tid int64
	err = pool.QueryRow(ctx, "SELECT v.id, t.id FROM vehicles v JOIN terminals t ON t.vehicle_id = v.id WHERE v.plate = $1", plate).Scan(&vid, &tid)
	if err != nil {
		t.Fatal(err)
	}
	return vid, tid
}

// startWriter runs a writer for the test. Unless the test expects failures
// (failures > 0 allowed), it checks at the end that no write attempt failed:
// a retried attempt would hide a bug behind the idempotent retry.
func startWriter(t *testing.T, pool *pgxpool.Pool, cfg track.WriterConfig) *track.Writer {
	t.Helper()
	reg := prometheus.NewRegistry()
	w := track.NewWriter(pool, cfg, discard(), reg)
	t.Cleanup(func() {
		if t.Failed() || strings.Contains(t.Name(), "Rejects") {
			return
		}
		mfs, _ := reg.Gather()
		for _, mf := range mfs {
			if mf.GetName() == "fleetmon_track_write_errors_total" {
				for _, m := range mf.GetMetric() {
					if v := m.GetCounter().GetValue(); v > 0 {
						t.Errorf("%v failed write attempts (%v)", v, m.GetLabel())
					}
				}
			}
		}
	})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); _ = w.Run(ctx, 5*time.Second) }()
	t.Cleanup(func() { cancel(); <-done })
	return w
}

func pos(vid, tid int64, t time.Time, lat, lon float64) track.Position {
	return track.Position{VehicleID: vid, TerminalID: tid, Time: t, Received: time.Now(), Lat: lat, Lon: lon,
		SpeedKmh: 42.5, Heading: 90, AltitudeM: 25, Status: 3, Has: track.HasMileage | track.HasSatellites,
		MileageKm: 1234.5, Satellites: 9, FrameID: track.NewFrameID()}
}

func TestWriterStoresOnceAndKeepsLatestState(t *testing.T) {
	s := pgtest.New(t)
	ctx := context.Background()
	vid, tid := seedVehicle(t, s.Pool, "鄂B12345", "13800000001")
	w := startWriter(t, s.Pool, track.WriterConfig{})

	t0 := time.Date(2026, 11, 20, 21, 30, 0, 0, time.FixedZone("CST", 8*3600))
	live := pos(vid, tid, t0, 30.2, 115.04)
	live.Items = []byte(`{"0xe1":"0102"}`)
	frame := track.RawFrame{ID: live.FrameID, Received: time.Now(), TerminalID: tid, Phone: "13800000001",
		MsgID: 0x0200, Serial: 7, Frame: []byte{0x02, 0x00, 0x01}, Disposition: track.DispOK}
	if err := w.Write(ctx, tid, []track.Position{live}, []track.RawFrame{frame}); err != nil {
		t.Fatal(err)
	}
	// The terminal resends the same report (new frame, same device time),
	// and a back-fill older than the latest state arrives: one row each, and
	// the state stays at the newest report.
	resend := pos(vid, tid, t0, 30.2, 115.04)
	old := pos(vid, tid, t0.Add(-time.Hour), -33.9, -70.6) // south and west
	old.Backfill = true
	// A second, different report in the same second as the first (an alarm
	// report): kept, since JT/T 808 times only have one-second resolution.
	alarm := pos(vid, tid, t0, 30.2, 115.04)
	alarm.Alarm = 1
	if err := w.Write(ctx, tid, []track.Position{resend, old, old, alarm}, nil); err != nil {
		t.Fatal(err)
	}
	// A retried write of an already stored frame (lost commit reply) is
	// stored once.
	if err := w.Write(ctx, tid, nil, []track.RawFrame{frame}); err != nil {
		t.Fatal(err)
	}

	var n, frames int
	if err := s.Pool.QueryRow(ctx, "SELECT count(*) FROM positions").Scan(&n); err != nil {
		t.Fatal(err)
	}
	if err := s.Pool.QueryRow(ctx, "SELECT count(*) FROM raw_frames").Scan(&frames); err != nil {
		t.Fatal(err)
	}
	if n != 3 || frames != 1 {
		t.Fatalf("positions = %d, raw_frames = %d; want 3 and 1", n, frames)
	}
	var lat, lon float64
	var backfill bool
	var items string
	err := s.Pool.QueryRow(ctx, `SELECT ST_Y(geom), ST_X(geom), backfill, COALESCE(items::text, '')
		FROM positions WHERE device_time = $1`, t0.Add(-time.Hour)).Scan(&lat, &lon, &backfill, &items)
	if err != nil {
		t.Fatal(err)
	}
	if lat != -33.9 || lon != -70.6 || !backfill || items != "" {
		t.Errorf("back-fill row = %v %v backfill=%v items=%q", lat, lon, backfill, items)
	}
	var stateTime time.Time
	var last *time.Time
	if err := s.Pool.QueryRow(ctx, "SELECT device_time FROM vehicle_state WHERE vehicle_id = $1", vid).Scan(&stateTime); err != nil {
		t.Fatal(err)
	}
	var stateAlarm int64
	_ = s.Pool.QueryRow(ctx, "SELECT alarm FROM vehicle_state WHERE vehicle_id = $1", vid).Scan(&stateAlarm)
	if stateAlarm != 1 {
		t.Errorf("vehicle_state.alarm = %d, want 1 (the later-received report of the newest second)", stateAlarm)
	}
	if !stateTime.Equal(t0) {
		t.Errorf("vehicle_state.device_time = %v, want %v (a back-fill must not move it back)", stateTime, t0)
	}
	if err := s.Pool.QueryRow(ctx, "SELECT last_seen_at FROM terminals WHERE id = $1", tid).Scan(&last); err != nil || last == nil {
		t.Errorf("terminals.last_seen_at = %v, %v; want set", last, err)
	}
}

func TestWriterConcurrentTerminals(t *testing.T) {
	s := pgtest.New(t)
	ctx := context.Background()
	w := startWriter(t, s.Pool, track.WriterConfig{Workers: 2, MaxBatchRows: 50})
	const terminals, reports = 8, 60
	var wg sync.WaitGroup
	base := time.Date(2026, 1, 31, 23, 59, 0, 0, time.UTC) // crosses a month: two partitions
	for i := range terminals {
		vid, tid := seedVehicle(t, s.Pool, "鄂B9000"+string(rune('0'+i)), "1390000000"+string(rune('0'+i)))
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := range reports {
				// Every report is sent twice, as a terminal that missed the ack.
				p := pos(vid, tid, base.Add(time.Duration(j)*time.Second), 30, 115)
				for range 2 {
					if err := w.Write(ctx, tid, []track.Position{p}, nil); err != nil {
						t.Error(err)
						return
					}
				}
			}
		}()
	}
	wg.Wait()
	var n int
	if err := s.Pool.QueryRow(ctx, "SELECT count(*) FROM positions").Scan(&n); err != nil {
		t.Fatal(err)
	}
	if n != terminals*reports {
		t.Fatalf("positions = %d, want %d", n, terminals*reports)
	}
	var parts int
	if err := s.Pool.QueryRow(ctx, "SELECT count(*) FROM pg_inherits WHERE inhparent = 'positions'::regclass").Scan(&parts); err != nil {
		t.Fatal(err)
	}
	if parts < 2 {
		t.Errorf("positions partitions = %d, want at least 2 (January and February)", parts)
	}
}

func TestWriterRejectsOnlyTheBadRequest(t *testing.T) {
	s := pgtest.New(t)
	ctx := context.Background()
	vid, tid := seedVehicle(t, s.Pool, "鄂B00001", "13800000009")
	w := startWriter(t, s.Pool, track.WriterConfig{Workers: 1, Linger: 50 * time.Millisecond})
	good := pos(vid, tid, time.Now().Add(-time.Minute), 30, 115)
	bad := pos(vid, tid, time.Now(), 30, 115)
	bad.Items = []byte(`{not json`) // the database refuses it (22P02)
	var wg sync.WaitGroup
	var errGood, errBad error
	wg.Add(2)
	go func() { defer wg.Done(); errGood = w.Write(ctx, tid, []track.Position{good}, nil) }()
	go func() { defer wg.Done(); errBad = w.Write(ctx, tid, []track.Position{bad}, nil) }()
	wg.Wait()
	if errGood != nil {
		t.Errorf("good request: %v", errGood)
	}
	if !errors.Is(errBad, track.ErrRejected) {
		t.Errorf("bad request: %v, want ErrRejected", errBad)
	}
}

// beijing is the zone of terminals' clocks and of the users' days.
var beijing = time.FixedZone("CST", 8*3600)

// queuedFunc is a QueueListener for tests: it keeps what it is told.
type queuedFunc []track.Position

func (q *queuedFunc) Queued(ps []track.Position) { *q = append(*q, ps...) }

// TestWriterOnQueue: the live path sees positions as they are queued,
// before (and whatever the delay of) their commit.
func TestWriterOnQueue(t *testing.T) {
	s := pgtest.New(t)
	vid, tid := seedVehicle(t, s.Pool, "鄂B12345", "13800000001")
	var seen queuedFunc
	w := track.NewWriter(s.Pool, track.WriterConfig{}, discard(), nil, track.TellQueued(&seen))
	// The writer is not running: nothing can commit yet.
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	p := pos(vid, tid, time.Date(2026, 11, 20, 21, 30, 0, 0, time.UTC), 30.2, 115.04)
	if err := w.Write(ctx, tid, []track.Position{p}, nil); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("write without a running writer: %v, want the deadline", err)
	}
	if len(seen) != 1 || seen[0].VehicleID != vid || seen[0].Lat != 30.2 {
		t.Fatalf("queued positions seen: %+v", seen)
	}
	// Queued means written once the writer runs.
	runCtx, stop := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); _ = w.Run(runCtx, 5*time.Second) }()
	defer func() { stop(); <-done }()
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		var n int
		if err := s.Pool.QueryRow(context.Background(), "SELECT count(*) FROM positions").Scan(&n); err != nil {
			t.Fatal(err)
		}
		if n == 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d positions stored, want the queued one", n)
		}
	}
}
