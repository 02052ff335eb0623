package ingest_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"sync"
	"testing"
	"time"

	"fleetmon/ingest"
	"fleetmon/ingest/jt808"
)

func TestIdleAndAuthTimeouts(t *testing.T) {
	g := newGateway(t, ingest.Config{IdleTimeout: 300 * time.Millisecond, AuthTimeout: 200 * time.Millisecond}, fleetCSV)
	// A connection that never authenticates is closed, even while it talks.
	lurker := dial(t, g.addr, "13800000002", jt808.Version2013)
	for range 5 {
		h := lurker.header(jt808.IDHeartbeat)
		if _, err := lurker.conn.Write(jt808.AppendFrame(nil, &h, nil)); err != nil {
			break // closed by the gateway: what is being tested
		}
		time.Sleep(60 * time.Millisecond)
	}
	waitFor(t, func() bool {
		return g.counter(t, "fleetmon_ingest_connections_closed_total", "reason", "auth_timeout") == 1
	})
	// An authenticated terminal that goes silent is closed as idle.
	tm := dial(t, g.addr, "13800000001", jt808.Version2013)
	tm.login("鄂B12345")
	waitFor(t, func() bool { return g.counter(t, "fleetmon_ingest_connections_closed_total", "reason", "idle") == 1 })
	if _, err := tm.tryReply(2 * time.Second); err == nil {
		t.Fatal("idle connection still open")
	}
}

// TestGarbageCannotHurtTheServer throws random bytes, random frames with
// valid checksums and truncated frames at the gateway from several
// connections at once, then checks that a terminal is still served
// normally: nothing a terminal sends may crash or stall the server.
func TestGarbageCannotHurtTheServer(t *testing.T) {
	csv := fleetCSV
	for c := range 8 {
		csv += fmt.Sprintf("鄂B9000%d,1,1390000000%d,湖北省/黄石市,general\n", c, c)
	}
	g := newGateway(t, ingest.Config{MaxBadFrames: 1000}, csv)
	rng := rand.New(rand.NewPCG(1, 2))
	var seeds [][]byte
	for _, v := range readVectors(t) {
		seeds = append(seeds, mustHex(t, v.Hex))
	}
	var wg sync.WaitGroup
	for c := range 8 {
		r := rand.New(rand.NewPCG(uint64(c), rng.Uint64()))
		wg.Add(1)
		go func() {
			defer wg.Done()
			tm := dial(t, g.addr, fmt.Sprintf("1390000000%d", c), jt808.Version2013)
			if c%2 == 1 {
				tm.login(fmt.Sprintf("鄂B9000%d", c)) // garbage after authentication reaches every handler
			}
			for range 300 {
				var b []byte
				switch r.IntN(4) {
				case 0: // random bytes, with delimiters sprinkled in
					b = make([]byte, r.IntN(300))
					for i := range b {
						b[i] = byte(r.Uint32())
						if r.IntN(20) == 0 {
							b[i] = 0x7e
						}
					}
				case 1: // a real frame with flipped bytes
					b = append([]byte(nil), seeds[r.IntN(len(seeds))]...)
					for range 1 + r.IntN(4) {
						b[1+r.IntN(len(b)-2)] ^= byte(1 + r.IntN(255))
					}
				case 2: // a well-formed frame (valid checksum) with a random body and id
					h := tm.header(jt808.MsgID(r.Uint32()))
					h.ID = []jt808.MsgID{jt808.IDLocation, jt808.IDBatchLocation, jt808.IDRegister, jt808.IDAuth, h.ID}[r.IntN(5)]
					h.Fragmented = r.IntN(4) == 0
					h.PkgTotal, h.PkgIndex = uint16(r.IntN(5)), uint16(r.IntN(5))
					body := make([]byte, r.IntN(200))
					for i := range body {
						body[i] = byte(r.Uint32())
					}
					b = jt808.AppendFrame(nil, &h, body)
				default: // a truncated real frame
					s := seeds[r.IntN(len(seeds))]
					b = s[:r.IntN(len(s))]
				}
				if _, err := tm.conn.Write(b); err != nil {
					return // the gateway may close a connection for its reasons
				}
			}
		}()
	}
	wg.Wait()
	tm := dial(t, g.addr, "13800000001", jt808.Version2013)
	tm.login("鄂B12345")
	h := tm.send(jt808.IDLocation, location(time.Now(), 30.2, 115.04, 12).AppendTo(nil, jt808.Version2013))
	if r := tm.generalReply(h); r != 0 {
		t.Fatalf("after the garbage: result %d", r)
	}
	if n := g.counter(t, "fleetmon_ingest_connections_closed_total", "reason", "internal_error"); n != 0 {
		t.Fatalf("%v sessions panicked", n)
	}
}

func TestRawFrameRetention(t *testing.T) {
	g := newGateway(t, ingest.Config{}, fleetCSV)
	tm := dial(t, g.addr, "13800000001", jt808.Version2013)
	tm.login("鄂B12345")
	h := tm.send(jt808.IDLocation, location(time.Now(), 30.2, 115.04, 12).AppendTo(nil, jt808.Version2013))
	tm.generalReply(h)
	ctx := context.Background()
	// Frames from an old month, as after months of running.
	if _, err := g.pool.Exec(ctx, `SELECT ensure_month_partition('raw_frames', '2025-01-15');
		INSERT INTO raw_frames (id, received_at, phone, msg_id, serial, frame)
		VALUES (gen_random_uuid(), '2025-01-15', '1', 2, 0, '\x00')`); err != nil {
		t.Fatal(err)
	}
	st := trackStore(g)
	dropped, err := st.PruneRawFrames(ctx, time.Now().AddDate(0, -6, 0))
	if err != nil {
		t.Fatal(err)
	}
	if len(dropped) != 1 || dropped[0] != "raw_frames_2025m01" {
		t.Fatalf("dropped %v, want [raw_frames_2025m01]", dropped)
	}
	var n int
	if err := g.pool.QueryRow(ctx, "SELECT count(*) FROM raw_frames").Scan(&n); err != nil || n < 3 {
		t.Fatalf("current frames after retention: %d, %v", n, err)
	}
}
