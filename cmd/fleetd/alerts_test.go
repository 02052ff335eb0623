package main

import (
	"bufio"
	"context"
	"io"
	"net"
	"strings"
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
	if _, err := s.Pool.Exec(ctx, "UPDATE vehicles SET sealed = true"); err != nil {
		t.Fatal(err)
	}
	sctx, cancel := context.WithCancel(ctx)
	pr, pw := io.Pipe()
	errs := &syncBuffer{}
	done := make(chan int, 1)
	go func() {
		done <- run(sctx, []string{"serve", "--db", s.ConnString, "--jt808-addr", "127.0.0.1:0", "--http-addr", "127.0.0.1:0",
			"--data-dir", t.TempDir()}, pw, errs)
		pw.Close()
	}()
	var addr string
	sc := bufio.NewScanner(pr)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "jt808 "); ok {
			addr = v
			break
		}
	}
	go io.Copy(io.Discard, pr)
	if addr == "" {
		t.Fatalf("serve did not start:\n%s", errs.String())
	}
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	sp := jt808.NewSplitter(c, 0)
	phone, _ := jt808.ParsePhone("13800000001", jt808.Version2013)
	serial := uint16(0)
	exchange := func(id jt808.MsgID, body []byte) jt808.Frame {
		h := jt808.Header{ID: id, Phone: phone, Serial: serial}
		serial++
		if _, err := c.Write(jt808.AppendFrame(nil, &h, body)); err != nil {
			t.Fatal(err)
		}
		_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
		raw, err := sp.Next()
		if err != nil {
			t.Fatal(err)
		}
		var f jt808.Frame
		if err := jt808.ParseFrame(append([]byte(nil), raw...), &f); err != nil {
			t.Fatal(err)
		}
		return f
	}
	f := exchange(jt808.IDRegister, (&jt808.Register{Plate: "鄂B12345", PlateColor: 1}).AppendTo(nil, jt808.Version2013))
	var rr jt808.RegisterReply
	if err := rr.Decode(f.Body, &f.Header); err != nil || rr.Result != 0 {
		t.Fatalf("register: %+v %v", rr, err)
	}
	exchange(jt808.IDAuth, (&jt808.Auth{Code: rr.AuthCode}).AppendTo(nil, jt808.Version2013))
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
		var pr jt808.PlatformReply
		f := exchange(jt808.IDLocation, loc.AppendTo(nil, jt808.Version2013))
		if err := pr.Decode(f.Body, &f.Header); err != nil || pr.Result != 0 {
			t.Fatalf("location %d: %+v %v", i, pr, err)
		}
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
			t.Fatalf("%d sealed_move episodes, want 1; stderr:\n%s", n, errs.String())
		}
		time.Sleep(100 * time.Millisecond)
	}
	cancel()
	if code := <-done; code != 0 {
		t.Errorf("serve exited %d; stderr:\n%s", code, errs.String())
	}
}
