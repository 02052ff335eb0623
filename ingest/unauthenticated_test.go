package ingest_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"fleetmon/ingest"
	"fleetmon/ingest/jt808"
)

// TestUnauthenticatedFramesAreSampled: 10 connections each send 500 valid
// location reports from a phone that never registered. Every one is
// refused (result 1) and counted, but only a small sample is kept in
// raw_frames: an anonymous client must not be able to fill the disk.
func TestUnauthenticatedFramesAreSampled(t *testing.T) {
	g := newGateway(t, ingest.Config{}, fleetCSV)
	const conns, frames = 10, 500
	body := location(time.Now(), 30.2, 115.04, 40).AppendTo(nil, jt808.Version2013)
	var wg sync.WaitGroup
	results := make([]map[uint8]int, conns)
	for c := range conns {
		tm := dial(t, g.addr, "19900000000", jt808.Version2013)
		wg.Add(1)
		go func() {
			defer wg.Done()
			var wire []byte
			var hs []jt808.Header
			for range frames {
				h := tm.header(jt808.IDLocation)
				wire = jt808.AppendFrame(wire, &h, body)
				hs = append(hs, h)
			}
			tm.write(wire)
			results[c] = map[uint8]int{}
			for _, h := range hs {
				results[c][tm.generalReply(h)]++
			}
		}()
	}
	wg.Wait()
	for c, r := range results {
		if r[1] != frames {
			t.Errorf("connection %d: results %v, want %d × result 1", c, r, frames)
		}
	}
	if n := g.counter(t, "fleetmon_ingest_frames_total", "msg_id", "0x0200", "result", "unauthenticated"); n != conns*frames {
		t.Errorf("unauthenticated frames counted: %v, want %d", n, conns*frames)
	}
	// Frames are recorded without waiting for the commit: wait until every
	// frame is either stored or counted as not stored.
	stored := func() int {
		var n int
		if err := g.pool.QueryRow(context.Background(),
			"SELECT count(*) FROM raw_frames WHERE phone = '19900000000'").Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	unstored := func() int {
		return int(g.counter(t, "fleetmon_ingest_frames_unstored_total", "reason", "connection_sample") +
			g.counter(t, "fleetmon_ingest_frames_unstored_total", "reason", "global_rate"))
	}
	waitFor(t, func() bool { return stored()+unstored() == conns*frames })
	if n := stored(); n == 0 || n > conns*5 {
		t.Errorf("%d unauthenticated frames stored, want a sample of at most 5 per connection (%d)", n, conns*5)
	}
}
