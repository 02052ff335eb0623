package jt808

import (
	"bytes"
	"testing"
)

// vectorFrame returns the unescaped frame of the named vector; location_basic_smallchi is a typical
// 0x0200 (two items), location_all_std_items_smallchi has every standard item, and
// location_south_west_vendor_items_traccar is a real device with mostly vendor items.
func vectorFrame(tb testing.TB, name string) []byte {
	tb.Helper()
	for _, v := range loadVectors(tb) {
		if v.Name == name {
			return v.frame(tb)
		}
	}
	tb.Fatalf("no vector %s", name)
	return nil
}

func vectorWire(tb testing.TB, name string) []byte {
	tb.Helper()
	for _, v := range loadVectors(tb) {
		if v.Name == name {
			return v.wire(tb)
		}
	}
	tb.Fatalf("no vector %s", name)
	return nil
}

var locationVectors = []string{
	"location_basic_smallchi",
	"location_all_std_items_smallchi",
	"location_south_west_vendor_items_traccar",
}

// TestHotPathAllocs asserts the zero-allocation contract. Allocation counts are deterministic,
// unlike timings, which only the benchmarks report.
func TestHotPathAllocs(t *testing.T) {
	for _, name := range locationVectors {
		raw := vectorFrame(t, name)
		var f Frame
		var l Location
		if a := testing.AllocsPerRun(200, func() {
			if err := ParseFrame(raw, &f); err != nil {
				t.Fatal(err)
			}
			if err := l.Decode(f.Body, &f.Header); err != nil {
				t.Fatal(err)
			}
		}); a != 0 {
			t.Errorf("%s: ParseFrame+Location.Decode allocates %v times", name, a)
		}
		var d Decoder
		if a := testing.AllocsPerRun(200, func() {
			_ = ParseFrame(raw, &f)
			if _, err := d.Decode(&f); err != nil {
				t.Fatal(err)
			}
		}); a != 0 {
			t.Errorf("%s: Decoder.Decode allocates %v times", name, a)
		}
		wire := vectorWire(t, name)
		buf := make([]byte, 0, 2048)
		if a := testing.AllocsPerRun(200, func() {
			var err error
			buf, err = Unescape(buf[:0], wire[1:len(wire)-1])
			if err != nil {
				t.Fatal(err)
			}
		}); a != 0 {
			t.Errorf("%s: Unescape allocates %v times", name, a)
		}
		body := make([]byte, 0, 1024)
		if a := testing.AllocsPerRun(200, func() {
			body = l.AppendTo(body[:0], f.Header.Version)
			buf = AppendFrame(buf[:0], &f.Header, body)
		}); a != 0 {
			t.Errorf("%s: AppendTo+AppendFrame allocates %v times", name, a)
		}
	}
	// The splitter, steady state: a stream of frames through one Splitter.
	wire := vectorWire(t, "location_basic_smallchi")
	r := &loopReader{b: bytes.Repeat(wire, 64)}
	s := NewSplitter(r, 0)
	if _, err := s.Next(); err != nil {
		t.Fatal(err)
	}
	if a := testing.AllocsPerRun(500, func() {
		if _, err := s.Next(); err != nil {
			t.Fatal(err)
		}
	}); a != 0 {
		t.Errorf("Splitter.Next allocates %v times", a)
	}
	// 0x0704 with reused Items.
	raw := vectorFrame(t, "batch_0704_blind_8pos_traccar")
	var f Frame
	var bl BatchLocation
	_ = ParseFrame(raw, &f)
	_ = bl.Decode(f.Body, &f.Header)
	if a := testing.AllocsPerRun(200, func() {
		_ = ParseFrame(raw, &f)
		if err := bl.Decode(f.Body, &f.Header); err != nil {
			t.Fatal(err)
		}
	}); a != 0 {
		t.Errorf("BatchLocation.Decode allocates %v times", a)
	}
}

// loopReader returns b over and over, never EOF.
type loopReader struct {
	b   []byte
	off int
}

func (r *loopReader) Read(p []byte) (int, error) {
	n := copy(p, r.b[r.off:])
	r.off = (r.off + n) % len(r.b)
	return n, nil
}

func BenchmarkDecodeLocation(b *testing.B) {
	for _, name := range locationVectors {
		b.Run(name, func(b *testing.B) {
			raw := vectorFrame(b, name)
			var f Frame
			var l Location
			b.ReportAllocs()
			b.SetBytes(int64(len(raw)))
			for b.Loop() {
				if err := ParseFrame(raw, &f); err != nil {
					b.Fatal(err)
				}
				if err := l.Decode(f.Body, &f.Header); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkDecodeLocationWire adds unescaping into a reused buffer to BenchmarkDecodeLocation.
func BenchmarkDecodeLocationWire(b *testing.B) {
	wire := vectorWire(b, "location_basic_smallchi")
	buf := make([]byte, 0, 2048)
	var f Frame
	var l Location
	b.ReportAllocs()
	b.SetBytes(int64(len(wire)))
	for b.Loop() {
		var err error
		if buf, err = Unescape(buf[:0], wire[1:len(wire)-1]); err != nil {
			b.Fatal(err)
		}
		if err := ParseFrame(buf, &f); err != nil {
			b.Fatal(err)
		}
		if err := l.Decode(f.Body, &f.Header); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkUnescape(b *testing.B) {
	for _, name := range []string{"location_basic_smallchi", "location_escaped_7e_in_latitude_gojt808"} {
		b.Run(name, func(b *testing.B) {
			wire := vectorWire(b, name)
			buf := make([]byte, 0, 2048)
			b.ReportAllocs()
			b.SetBytes(int64(len(wire)))
			for b.Loop() {
				var err error
				if buf, err = Unescape(buf[:0], wire[1:len(wire)-1]); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkSplitter measures one frame per op out of a continuous stream.
func BenchmarkSplitter(b *testing.B) {
	wire := vectorWire(b, "location_basic_smallchi")
	s := NewSplitter(&loopReader{b: bytes.Repeat(wire, 64)}, 0)
	b.ReportAllocs()
	b.SetBytes(int64(len(wire)))
	for b.Loop() {
		if _, err := s.Next(); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkSplitterParseDecode is the whole receive path of a 0x0200: split, parse, decode.
func BenchmarkSplitterParseDecode(b *testing.B) {
	wire := vectorWire(b, "location_basic_smallchi")
	s := NewSplitter(&loopReader{b: bytes.Repeat(wire, 64)}, 0)
	var f Frame
	var d Decoder
	b.ReportAllocs()
	b.SetBytes(int64(len(wire)))
	for b.Loop() {
		raw, err := s.Next()
		if err != nil {
			b.Fatal(err)
		}
		if err := ParseFrame(raw, &f); err != nil {
			b.Fatal(err)
		}
		if _, err := d.Decode(&f); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkAppendFrame(b *testing.B) {
	raw := vectorFrame(b, "location_basic_smallchi")
	var f Frame
	var l Location
	if err := ParseFrame(raw, &f); err != nil {
		b.Fatal(err)
	}
	if err := l.Decode(f.Body, &f.Header); err != nil {
		b.Fatal(err)
	}
	body := make([]byte, 0, 1024)
	buf := make([]byte, 0, 2048)
	b.ReportAllocs()
	for b.Loop() {
		body = l.AppendTo(body[:0], f.Header.Version)
		buf = AppendFrame(buf[:0], &f.Header, body)
	}
}

func BenchmarkDecodeBatch(b *testing.B) {
	raw := vectorFrame(b, "batch_0704_blind_8pos_traccar")
	var f Frame
	var bl BatchLocation
	b.ReportAllocs()
	for b.Loop() {
		if err := ParseFrame(raw, &f); err != nil {
			b.Fatal(err)
		}
		if err := bl.Decode(f.Body, &f.Header); err != nil {
			b.Fatal(err)
		}
	}
}
