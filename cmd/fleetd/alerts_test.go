package main

import (
	"context"
	"testing"
	"time"

	"fleetmon/ingest/jt808"
	"fleetmon/track/pgtest"
)

// TestServeJudgesReports drives a sealed vehicle through fleetd serve over
// JT/T 808 and finds the 封存车辆移动 episode the rules engine stored.
func TestServeJudgesReports(t *testing.T) {
	s := pgtest.New(t)
	csv := writeFile(t, "v.csv", "plate,plate_color,terminal_phone,unit,category\n鄂B12345,1,13800000001,湖北省/黄石市,general\n")
	if code, out, errs := fleetd(t, "vehicles", "import", "--db", s.ConnString, csv); code != 0 {
		t.Fatalf("import: %d %s %s", code, out, errs)
	}
	ctx := context.Background()
	if _, err := s.Pool.Exec(ctx, "INSERT INTO vehicle_seals (vehicle_id, sealed, effective_at, actor_name) SELECT id, true, '2000-01-01', 'test' FROM vehicles"); err != nil {
		t.Fatal(err)
	}
	srv := startServe(t, "--db", s.ConnString, "--data-dir", t.TempDir())
	tm := dialTerminal(t, srv.JT808, "13800000001")
	tm.login("鄂B12345")
	// Ten minutes of driving north at 36 km/h (100 m per 10 s), ACC on, then parked.
	t0 := time.Date(2026, 11, 21, 10, 0, 0, 0, time.FixedZone("CST", 8*3600))
	for i := range 80 {
		speed := uint16(360)
		status := jt808.StatusACC | jt808.StatusFixed
		lat := 30.2 + float64(min(i, 60))*0.0009
		if i > 60 {
			speed, status = 0, jt808.StatusFixed
		}
		loc := jt808.Location{Status: status, LatE6: uint32(lat * 1e6), LonE6: 115040000, SpeedDeciKmh: speed,
			Time: jt808.NewBCDTime(t0.Add(time.Duration(i) * 10 * time.Second))}
		tm.expectOK("location", jt808.IDLocation, loc.AppendTo(nil, jt808.Version2013))
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		var n int
		if err := s.Pool.QueryRow(ctx, "SELECT count(*) FROM episodes WHERE rule = 'sealed_move' AND status <> 'retracted'").Scan(&n); err != nil {
			t.Fatal(err)
		}
		if n == 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d sealed_move episodes, want 1; stderr:\n%s", n, srv.Stderr.String())
		}
		time.Sleep(100 * time.Millisecond)
	}
	srv.Stop()
}
