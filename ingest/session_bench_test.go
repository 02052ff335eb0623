package ingest

import (
	"context"
	"io"
	"log/slog"
	"net"
	"testing"
	"time"

	"fleetmon/ingest/jt808"
	"fleetmon/track"
)

// discardSink accepts everything at once, so that a benchmark measures the
// session alone.
type discardSink struct{}

func (discardSink) Write(context.Context, int64, []track.Position, []track.RawFrame) error {
	return nil
}
func (discardSink) Record(context.Context, int64, ...track.RawFrame) error { return nil }

// benchSession returns an authenticated session whose replies are read and
// thrown away.
func benchSession(b *testing.B) *session {
	b.Helper()
	srv := NewServer(Config{}, discardSink{}, nil, slog.New(slog.NewTextHandler(io.Discard, nil)), nil)
	c, peer := net.Pipe()
	b.Cleanup(func() { c.Close(); peer.Close() })
	go func() { _, _ = io.Copy(io.Discard, peer) }()
	s := newSession(srv, c)
	p, err := jt808.ParsePhone("13800000001", jt808.Version2013)
	if err != nil {
		b.Fatal(err)
	}
	s.authed, s.phone = true, p
	s.term = track.Terminal{ID: 1, VehicleID: 1, Phone: "13800000001"}
	return s
}

// benchServe serves raw b.N times.
func benchServe(b *testing.B, s *session, raw []byte) {
	ctx := context.Background()
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		s.handleFrame(ctx, raw, time.Now())
		if r := s.end; r != closeNone {
			b.Fatal(r)
		}
	}
	// Reports are stored and answered by the session's flusher: the
	// benchmark ends when it is done.
	s.waitReports()
}

func benchFrame(b *testing.B, id jt808.MsgID, body []byte) []byte {
	b.Helper()
	p, _ := jt808.ParsePhone("13800000001", jt808.Version2013)
	h := jt808.Header{ID: id, Phone: p, Serial: 9}
	wire := jt808.AppendFrame(nil, &h, body)
	raw, err := jt808.Unescape(nil, wire[1:len(wire)-1])
	if err != nil {
		b.Fatal(err)
	}
	return raw
}

func benchLocation(at time.Time) *jt808.Location {
	l := &jt808.Location{Status: jt808.StatusACC | jt808.StatusFixed, SpeedDeciKmh: 400, Heading: 90,
		AltitudeM: 30, LatE6: 30200000, LonE6: 115040000, Time: jt808.NewBCDTime(at)}
	l.Present = jt808.ItemMileage | jt808.ItemSatellites
	l.MileageDeciKm, l.Satellites = 12345, 9
	return l
}

// BenchmarkSessionLocation serves one 0x0200 at a time through an
// authenticated session: decode, conversion, the sink (which accepts at
// once) and the 0x8001 reply. What allocates per report is what the sink
// owns: the position slice and the raw frame's copy.
func BenchmarkSessionLocation(b *testing.B) {
	s := benchSession(b)
	raw := benchFrame(b, jt808.IDLocation, benchLocation(time.Now()).AppendTo(nil, jt808.Version2013))
	benchServe(b, s, raw)
}

// BenchmarkSessionBatch serves a 20-item blind-zone 0x0704 at a time.
func BenchmarkSessionBatch(b *testing.B) {
	s := benchSession(b)
	batch := jt808.BatchLocation{Type: jt808.BatchBlindZone}
	at := time.Now().Add(-time.Hour)
	for i := range 20 {
		batch.Items = append(batch.Items, *benchLocation(at.Add(time.Duration(i) * time.Second)))
	}
	raw := benchFrame(b, jt808.IDBatchLocation, batch.AppendTo(nil, jt808.Version2013))
	benchServe(b, s, raw)
}
