package track_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"fleetmon/track"
	"fleetmon/track/pgtest"
)

func TestSealsAndVerification(t *testing.T) {
	s := pgtest.New(t)
	ctx := context.Background()
	v1, t1 := seedVehicle(t, s.Pool, "鄂B00011", "13800000011")
	v2, t2 := seedVehicle(t, s.Pool, "鄂B00012", "13800000012")
	w := startWriter(t, s.Pool, track.WriterConfig{})
	st := track.NewStore(s.Pool)

	// Two days of reports received, 2026-11-20 and -21 (Beijing days), and a
	// back-fill received on the 21st of fixes taken on the 19th.
	day1 := time.Date(2026, 11, 20, 10, 0, 0, 0, beijing)
	var write []track.Position
	for i := range 20 {
		for _, vt := range [][2]int64{{v1, t1}, {v2, t2}} {
			p := pos(vt[0], vt[1], day1.Add(time.Duration(i)*time.Hour), 30.2+float64(i)*1e-3, 115.04)
			p.Received = p.Time.Add(2 * time.Second)
			write = append(write, p)
		}
	}
	late := pos(v1, t1, day1.AddDate(0, 0, -1), 30.1, 115.1)
	late.Received, late.Backfill = day1.Add(26*time.Hour), true
	write = append(write, late)
	frames := []track.RawFrame{{ID: track.NewFrameID(), Received: day1, TerminalID: t1, Phone: "13800000011", MsgID: 0x0200, Frame: []byte{1, 2, 3}}}
	if err := w.Write(ctx, 0, write, frames); err != nil {
		t.Fatal(err)
	}
	// Nothing is sealed before a day is over (plus the grace period).
	if made, err := st.SealDays(ctx, day1.Add(14*time.Hour)); err != nil || len(made) != 0 {
		t.Fatalf("sealed %v, %v before the day ended", made, err)
	}
	made, err := st.SealDays(ctx, time.Date(2026, 11, 22, 2, 0, 0, 0, beijing))
	if err != nil {
		t.Fatal(err)
	}
	// positions: 20th (14 reports received by midnight: 10:00..23:00 → 14 × 2
	// vehicles) and 21st; raw_frames: the 20th and the (empty) 21st.
	if len(made) != 4 {
		t.Fatalf("made %d seals, want 4: %+v", len(made), made)
	}
	if made[0].Rows != 28 || made[1].Rows != 13 {
		t.Errorf("positions seals hold %d and %d rows, want 28 and 13", made[0].Rows, made[1].Rows)
	}
	if again, err := st.SealDays(ctx, time.Date(2026, 11, 22, 3, 0, 0, 0, beijing)); err != nil || len(again) != 0 {
		t.Fatalf("sealing again made %d seals, %v", len(again), err)
	}
	all := [2]time.Time{time.Date(2026, 1, 1, 0, 0, 0, 0, beijing), time.Date(2027, 1, 1, 0, 0, 0, 0, beijing)}
	if problems, err := st.VerifySeals(ctx, all[0], all[1]); err != nil || len(problems) != 0 {
		t.Fatalf("untouched data: %v %v", problems, err)
	}

	// An export of vehicle 1 on the 20th, then someone edits one stored row
	// directly in PostgreSQL.
	exported, err := st.PositionDigests(ctx, v1, day1, day1.Add(14*time.Hour))
	if err != nil || len(exported) != 14 {
		t.Fatalf("export: %d rows, %v", len(exported), err)
	}
	victim := day1.Add(5 * time.Hour)
	if _, err := s.Pool.Exec(ctx, "UPDATE positions SET speed_kmh = 12 WHERE vehicle_id = $1 AND device_time = $2", v1, victim); err != nil {
		t.Fatal(err)
	}
	now, err := st.PositionDigests(ctx, v1, day1, day1.Add(14*time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	diffs := track.CompareDigests(exported, now)
	if len(diffs) != 1 || diffs[0].What != "altered" || !diffs[0].DeviceTime.Equal(victim) || diffs[0].VehicleID != v1 {
		t.Fatalf("differences = %+v, want the row at %v altered", diffs, victim)
	}
	problems, err := st.VerifySeals(ctx, all[0], all[1])
	if err != nil {
		t.Fatal(err)
	}
	if len(problems) != 1 || problems[0].VehicleID != v1 || problems[0].Kind != "positions" ||
		problems[0].Day.Format(time.DateOnly) != "2026-11-20" {
		t.Fatalf("seal problems = %v, want positions of vehicle %d on 2026-11-20", problems, v1)
	}
	// A deleted raw frame is caught too.
	if _, err := s.Pool.Exec(ctx, "DELETE FROM raw_frames"); err != nil {
		t.Fatal(err)
	}
	problems, _ = st.VerifySeals(ctx, all[0], all[1])
	found := false
	for _, p := range problems {
		found = found || (p.Kind == "raw_frames" && strings.Contains(p.What, "0 rows now, 1 sealed"))
	}
	if !found {
		t.Errorf("deleted raw frame not reported: %v", problems)
	}
	// Seals themselves cannot be changed.
	if _, err := s.Pool.Exec(ctx, "UPDATE seals SET rows = 0"); err == nil {
		t.Fatal("a seal was updated")
	}
}
