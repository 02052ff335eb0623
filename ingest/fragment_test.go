package ingest_test

import (
	"context"
	"testing"
	"time"

	"fleetmon/ingest"
	"fleetmon/ingest/jt808"
)

// splitBody cuts body into n packages with consecutive serials from the
// terminal and returns their wire frames.
func splitBody(tm *terminal, id jt808.MsgID, body []byte, n int) ([][]byte, []jt808.Header) {
	var frames [][]byte
	var hs []jt808.Header
	size := (len(body) + n - 1) / n
	for i := range n {
		h := tm.header(id)
		h.Fragmented, h.PkgTotal, h.PkgIndex = true, uint16(n), uint16(i+1)
		part := body[min(i*size, len(body)):min((i+1)*size, len(body))]
		frames = append(frames, jt808.AppendFrame(nil, &h, part))
		hs = append(hs, h)
	}
	return frames, hs
}

func blindBatch(base time.Time, n int) []byte {
	b := jt808.BatchLocation{Type: jt808.BatchBlindZone}
	for i := range n {
		l := location(base.Add(time.Duration(i)*30*time.Second), 30.2+float64(i)*1e-3, 115.04, 35)
		l.Present = jt808.ItemMileage | jt808.ItemSatellites
		l.MileageDeciKm, l.Satellites = uint32(1000+i), 9
		b.Items = append(b.Items, *l)
	}
	return b.AppendTo(nil, jt808.Version2013)
}

func TestSubPackagedBatch(t *testing.T) {
	g := newGateway(t, ingest.Config{FragmentTimeout: 300 * time.Millisecond}, fleetCSV)
	ctx := context.Background()
	tm := dial(t, g.addr, "13800000001", jt808.Version2013)
	tm.login("鄂B12345")
	base := time.Date(2026, 11, 21, 23, 0, 0, 0, cst)

	// 20 positions in 3 packages, in order: each answered, stored once whole.
	frames, hs := splitBody(tm, jt808.IDBatchLocation, blindBatch(base, 20), 3)
	for i, f := range frames {
		tm.write(f)
		if r := tm.generalReply(hs[i]); r != 0 {
			t.Fatalf("package %d: result %d", i+1, r)
		}
	}
	var n int
	if err := g.pool.QueryRow(ctx, "SELECT count(*) FROM positions WHERE backfill").Scan(&n); err != nil || n != 20 {
		t.Fatalf("stored %d, %v; want 20", n, err)
	}

	// Package 2 of 3 goes missing: after the timeout fleetd asks for it
	// (0x8003 with the first package's serial), and the resent package
	// completes the message.
	frames, hs = splitBody(tm, jt808.IDBatchLocation, blindBatch(base.Add(time.Hour), 12), 3)
	tm.write(frames[0])
	tm.generalReply(hs[0])
	tm.write(frames[2])
	tm.generalReply(hs[2])
	f := tm.reply()
	if f.Header.ID != jt808.IDResendRequest {
		t.Fatalf("got %v, want 0x8003", f.Header.ID)
	}
	var req jt808.ResendRequest
	if err := req.Decode(f.Body, &f.Header); err != nil {
		t.Fatal(err)
	}
	if req.OrigSerial != hs[0].Serial || len(req.IDs) != 1 || req.IDs[0] != 2 {
		t.Fatalf("0x8003 = %+v, want serial %d, packages [2]", req, hs[0].Serial)
	}
	tm.write(frames[1])
	if r := tm.generalReply(hs[1]); r != 0 {
		t.Fatalf("resent package: result %d", r)
	}
	if err := g.pool.QueryRow(ctx, "SELECT count(*) FROM positions").Scan(&n); err != nil || n != 32 {
		t.Fatalf("stored %d, %v; want 32", n, err)
	}

	// A message whose packages never all come is dropped after a second
	// timeout, counted, and frees its memory; the connection serves on.
	frames, hs = splitBody(tm, jt808.IDBatchLocation, blindBatch(base.Add(2*time.Hour), 12), 2)
	tm.write(frames[0])
	tm.generalReply(hs[0])
	if f := tm.reply(); f.Header.ID != jt808.IDResendRequest {
		t.Fatalf("got %v, want 0x8003", f.Header.ID)
	}
	waitFor(t, func() bool { return g.counter(t, "fleetmon_ingest_fragments_total", "outcome", "expired") == 1 })
	h := tm.send(jt808.IDHeartbeat, nil)
	if r := tm.generalReply(h); r != 0 {
		t.Fatal(r)
	}
}

func TestSubPackagesBoundedMemory(t *testing.T) {
	g := newGateway(t, ingest.Config{MaxFragmentBytes: 1024}, fleetCSV)
	tm := dial(t, g.addr, "13800000001", jt808.Version2013)
	tm.login("鄂B12345")
	// A message announcing 60,000 packages is refused outright.
	h := tm.header(jt808.IDBatchLocation)
	h.Fragmented, h.PkgTotal, h.PkgIndex = true, 60000, 1
	tm.write(jt808.AppendFrame(nil, &h, make([]byte, 500)))
	if r := tm.generalReply(h); r != 1 {
		t.Fatalf("huge message: result %d, want 1", r)
	}
	// Packages beyond the byte bound are refused; the connection stays.
	frames, hs := splitBody(tm, jt808.IDBatchLocation, make([]byte, 3000), 3)
	tm.write(frames[0])
	if r := tm.generalReply(hs[0]); r != 0 {
		t.Fatalf("first package: %d", r)
	}
	tm.write(frames[1])
	if r := tm.generalReply(hs[1]); r != 1 {
		t.Fatalf("package over the bound: result %d, want 1", r)
	}
	h = tm.send(jt808.IDHeartbeat, nil)
	if r := tm.generalReply(h); r != 0 {
		t.Fatal(r)
	}
}
