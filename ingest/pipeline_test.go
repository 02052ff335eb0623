package ingest_test

import (
	"context"
	"testing"
	"time"

	"fleetmon/ingest"
	"fleetmon/ingest/jt808"
	"fleetmon/track"
	"fleetmon/track/pgtest"
)

// gatedSink passes writes to a track.Writer, each only once the test lets
// it through, and tells the test how many frames each write carried.
type gatedSink struct {
	w      *track.Writer
	gate   chan struct{}
	frames chan int
}

func (g *gatedSink) Write(ctx context.Context, shard int64, ps []track.Position, fs []track.RawFrame) error {
	g.frames <- len(fs)
	select {
	case <-g.gate:
	case <-ctx.Done():
		return ctx.Err()
	}
	return g.w.Write(ctx, shard, ps, fs)
}

func (g *gatedSink) Record(ctx context.Context, shard int64, fs ...track.RawFrame) error {
	return g.w.Record(ctx, shard, fs...)
}

// TestReportsQueuedDuringACommitShareTheNext sends a report whose commit is
// held back, then two more and a heartbeat. The heartbeat is answered at
// once (the connection keeps reading while a commit is pending), none of the
// reports is answered before its commit, and the two reports read during the
// first one's commit are written in one request and answered after it.
func TestReportsQueuedDuringACommitShareTheNext(t *testing.T) {
	pool := pgtest.New(t).Pool
	importCSV(t, pool, "plate,plate_color,terminal_phone,unit,category\n鄂B00001,1,13800000001,湖北省/黄石市,general\n")
	sink := &gatedSink{gate: make(chan struct{}), frames: make(chan int, 10)}
	g := startGatewayWith(t, pool, ingest.Config{}, "", func(w *track.Writer) ingest.Sink { sink.w = w; return sink })

	tm := dial(t, g.addr, "13800000001", jt808.Version2013)
	tm.login("鄂B00001")
	base := time.Now().Add(-time.Minute).Truncate(time.Second)
	var sent []jt808.Header
	report := func(i int) {
		loc := location(base.Add(time.Duration(i)*time.Second), 30.2+float64(i)*1e-3, 115.0, 40)
		sent = append(sent, tm.send(jt808.IDLocation, loc.AppendTo(nil, tm.version)))
	}
	report(0)
	if n := <-sink.frames; n != 1 {
		t.Fatalf("first write carried %d frames, want 1", n)
	}
	report(1)
	report(2)
	hb := tm.send(jt808.IDHeartbeat, nil)
	// The first reply is the heartbeat's: no report is answered before its commit.
	if r := tm.generalReply(hb); r != 0 {
		t.Fatalf("heartbeat: result %d", r)
	}
	sink.gate <- struct{}{}
	if r := tm.generalReply(sent[0]); r != 0 {
		t.Fatalf("report 0: result %d", r)
	}
	if n := <-sink.frames; n != 2 {
		t.Fatalf("second write carried %d frames, want the 2 reports read meanwhile", n)
	}
	sink.gate <- struct{}{}
	for i := 1; i < 3; i++ {
		if r := tm.generalReply(sent[i]); r != 0 {
			t.Fatalf("report %d: result %d", i, r)
		}
	}
	var rows int
	if err := pool.QueryRow(context.Background(), "SELECT count(*) FROM positions").Scan(&rows); err != nil {
		t.Fatal(err)
	}
	if rows != 3 {
		t.Fatalf("%d positions stored, want 3", rows)
	}
}
