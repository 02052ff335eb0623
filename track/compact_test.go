package track_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"fleetmon/track"
	"fleetmon/track/pgtest"
)

// TestCompactHistory: a finished month is vacuumed and its key rebuilt once,
// the current one is left alone, and replaying the finished month is then
// an index-only scan of the key, giving the same track.
func TestCompactHistory(t *testing.T) {
	s := pgtest.New(t)
	ctx := context.Background()
	st := track.NewStore(s.Pool)
	vid, _ := seedVehicle(t, s.Pool, "鄂B00001", "13800000001")
	sept := time.Date(2026, 9, 10, 8, 0, 0, 0, beijing)
	insertFixes(t, s.Pool, vid, line(sept, 10*time.Second, 200, 30.2, 115.0, 30.25, 115.05), time.Time{})
	insertFixes(t, s.Pool, vid, line(sept.AddDate(0, 1, 0), 10*time.Second, 50, 30.2, 115.0, 30.25, 115.05), time.Time{})
	read := func() []track.TrackPoint {
		var pts []track.TrackPoint
		if _, err := st.Track(ctx, vid, sept.Add(-time.Hour), sept.Add(time.Hour), func(p *track.TrackPoint) error {
			pts = append(pts, *p)
			return nil
		}); err != nil {
			t.Fatal(err)
		}
		return pts
	}
	before := read()

	done, err := st.CompactHistory(ctx, time.Date(2026, 11, 5, 0, 0, 0, 0, time.UTC))
	if err != nil || len(done) != 1 || done[0].Partition != "positions_2026m09" {
		t.Fatalf("compacted %+v, %v; want September only", done, err)
	}
	if again, err := st.CompactHistory(ctx, time.Date(2026, 11, 5, 0, 0, 0, 0, time.UTC)); err != nil || len(again) != 0 {
		t.Fatalf("second run compacted %+v, %v; want nothing", again, err)
	}
	after := read()
	if len(after) != 200 || len(after) != len(before) || after[17] != before[17] {
		t.Fatalf("track after compaction: %d points, %d before", len(after), len(before))
	}
	var plan strings.Builder
	tx, err := s.Pool.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback(ctx)
	// 200 rows are a page: the planner would rightly read it whole. Taking
	// sequential and bitmap scans away shows what it does at scale.
	if _, err := tx.Exec(ctx, "SET LOCAL enable_seqscan = off; SET LOCAL enable_bitmapscan = off"); err != nil {
		t.Fatal(err)
	}
	rows, err := tx.Query(ctx, `EXPLAIN (ANALYZE, COSTS OFF) SELECT device_time, ST_Y(geom), ST_X(geom), speed_kmh, heading, alarm, status, backfill, mileage_km
		FROM positions WHERE vehicle_id = $1 AND device_time >= $2 AND device_time < $3 ORDER BY device_time, fix_hash`,
		vid, sept.Add(-time.Hour), sept.Add(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var l string
		if err := rows.Scan(&l); err != nil {
			t.Fatal(err)
		}
		plan.WriteString(l + "\n")
	}
	rows.Close()
	// (Whether the heap is fetched depends on the visibility map, which a
	// concurrent transaction anywhere in the cluster can keep VACUUM from
	// setting: not asserted here.)
	if !strings.Contains(plan.String(), "Index Only Scan") {
		t.Errorf("replaying a compacted month is not an index-only scan:\n%s", plan.String())
	}
}

// TestTrackPoints: reading a long period in concurrent parts gives exactly
// what Track streams, in order, and refuses more than the limit.
func TestTrackPoints(t *testing.T) {
	s := pgtest.New(t)
	ctx := context.Background()
	st := track.NewStore(s.Pool)
	vid, _ := seedVehicle(t, s.Pool, "鄂B00001", "13800000001")
	from := time.Date(2026, 9, 25, 0, 0, 0, 0, beijing)
	// Every 6 hours for 24 days: across two months and four parts.
	insertFixes(t, s.Pool, vid, line(from.Add(time.Hour), 6*time.Hour, 96, 30.2, 115.0, 30.25, 115.05), time.Time{})
	to := from.AddDate(0, 0, 24)
	var want []track.TrackPoint
	if _, err := st.Track(ctx, vid, from, to, func(p *track.TrackPoint) error {
		want = append(want, *p)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	got, err := st.TrackPoints(ctx, vid, from, to, 1000)
	if err != nil || len(got) != 96 || len(want) != 96 {
		t.Fatalf("TrackPoints: %d points, %v; Track: %d", len(got), err, len(want))
	}
	for i := range got {
		if got[i] != want[i] {
			t.Fatalf("point %d: %+v, Track has %+v", i, got[i], want[i])
		}
	}
	if _, err := st.TrackPoints(ctx, vid, from, to, 95); !errors.Is(err, track.ErrTooManyPoints) {
		t.Errorf("over the limit: %v", err)
	}
}
