package main

import (
	"context"
	"io"
	"log/slog"
	"net"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"fleetmon/ingest"
	"fleetmon/ingest/jt808"
	"fleetmon/track"
	"fleetmon/track/pgtest"
)

// stuckPublisher is a live-stream publisher that never finishes until
// released: a database read that hangs, a lock held for ever.
type stuckPublisher struct {
	calls   atomic.Int64
	first   chan []string
	release chan struct{}
}

func (p *stuckPublisher) PublishAlertIDs(ids []string) {
	if p.calls.Add(1) == 1 {
		p.first <- append([]string(nil), ids...)
	}
	<-p.release
}

// TestBlockedAlertConsumerDoesNotStallTerminals: the single-node pipeline,
// as fleetd serve assembles it, with its live alerts' publisher stuck for
// good. A sealed car drives on and on: its terminal gets every report
// acknowledged, and the rules judge every one of them, while the alert
// they raised early in the drive is still stuck on its way to the
// browsers. (Were the rules to wait for the publisher, their queue would
// fill, then the writer's commits would wait for the rules, and the
// terminal's acknowledgements for the commits.)
func TestBlockedAlertConsumerDoesNotStallTerminals(t *testing.T) {
	pg := pgtest.New(t)
	ctx := context.Background()
	csv := writeFile(t, "v.csv", "plate,plate_color,terminal_phone,unit,category\n鄂B12345,1,13800000001,湖北省/黄石市,general\n")
	if code, out, errs := fleetd(t, "vehicles", "import", "--db", pg.ConnString, csv); code != 0 {
		t.Fatalf("import: %d %s %s", code, out, errs)
	}
	if _, err := pg.Pool.Exec(ctx, "INSERT INTO vehicle_seals (vehicle_id, sealed, effective_at, actor_name) SELECT id, true, '2000-01-01', 'test' FROM vehicles"); err != nil {
		t.Fatal(err)
	}

	cfg, err := parseServe([]string{"--db", pg.ConnString}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	log := slog.New(slog.DiscardHandler)
	reg := prometheus.NewRegistry()
	db, err := openDB(ctx, cfg.db, int32(cfg.dbMaxConns), log)
	if err != nil {
		t.Fatal(err)
	}
	defer db.close()
	store := track.NewStore(db.pool)
	p, err := newPipeline(ctx, cfg, db.pool, store, log, reg)
	if err != nil {
		t.Fatal(err)
	}
	pub := &stuckPublisher{first: make(chan []string, 1), release: make(chan struct{})}
	stop := p.start(pub)
	defer stop()
	defer close(pub.release) // before stop: live's goroutine is stuck in it

	gw := ingest.NewServer(cfg.gateway, p.writer, store, log, reg)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = gw.Serve(ln) }()
	defer func() {
		sctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		defer cancel()
		_ = gw.Shutdown(sctx)
	}()

	// North at 36 km/h (100 m per 10 s), ACC on: a real drive within the
	// first minutes, the sealed car's alert opens. The drive goes on for
	// more reports than the rules and the writer queue between them.
	const reports = 600
	tm := dialTerminal(t, ln.Addr().String(), "13800000001")
	tm.login("鄂B12345")
	cst := time.FixedZone("CST", 8*3600)
	t0 := time.Date(2026, 11, 20, 10, 0, 0, 0, cst)
	for i := range reports {
		loc := jt808.Location{Status: jt808.StatusACC | jt808.StatusFixed, LatE6: uint32(30.2e6 + i*900),
			LonE6: 115040000, SpeedDeciKmh: 360, Time: jt808.NewBCDTime(t0.Add(time.Duration(i) * 10 * time.Second))}
		f, err := tm.tryExchange(jt808.IDLocation, loc.AppendTo(nil, jt808.Version2013))
		var pr jt808.PlatformReply
		if err == nil {
			err = pr.Decode(f.Body, &f.Header)
		}
		if err != nil || pr.Result != 0 {
			t.Fatalf("%d of %d reports acknowledged; then %+v %v", i, reports, pr, err)
		}
	}

	// The rules judged every report...
	judged := func() float64 {
		mfs, err := reg.Gather()
		if err != nil {
			t.Fatal(err)
		}
		for _, mf := range mfs {
			if mf.GetName() != "fleetmon_alerts_positions_total" {
				continue
			}
			for _, m := range mf.GetMetric() {
				if len(m.GetLabel()) == 1 && m.GetLabel()[0].GetValue() == "live" {
					return m.GetCounter().GetValue()
				}
			}
		}
		return 0
	}
	for deadline := time.Now().Add(30 * time.Second); judged() < reports; time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("the rules judged %v of %d reports", judged(), reports)
		}
	}
	// ...and stored the alert, which is stuck on its way to the live
	// stream all along.
	var id string
	if err := pg.Pool.QueryRow(ctx, "SELECT id FROM episodes WHERE rule = 'sealed_move'").Scan(&id); err != nil {
		t.Fatalf("the sealed car's alert: %v", err)
	}
	select {
	case ids := <-pub.first:
		if len(ids) != 1 || ids[0] != id {
			t.Errorf("the publisher got %q, want the alert %s", ids, id)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("the alert never reached the publisher")
	}
	if n := pub.calls.Load(); n != 1 {
		t.Errorf("the stuck publisher was called %d times, want once", n)
	}
}
