package jt808

import (
	"bytes"
	"errors"
	"io"
	"math/rand/v2"
	"testing"
	"testing/iotest"
)

// heartbeat is a minimal valid wire frame (vector heartbeat_2013_smallchi).
const heartbeatHex = "7e00020000012345678900000a817e"

// splitAll runs a Splitter to the end and returns the frames (copied) and the errors it returned
// on the way, with the final error.
func splitAll(tb testing.TB, r io.Reader, maxFrame int) (frames [][]byte, errs []error, skipped int64) {
	tb.Helper()
	s := NewSplitter(r, maxFrame)
	for i := 0; i < 1e5; i++ {
		f, err := s.Next()
		if err == nil {
			frames = append(frames, bytes.Clone(f))
			continue
		}
		errs = append(errs, err)
		if err == io.EOF || errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.ErrNoProgress) {
			return frames, errs, s.Skipped()
		}
	}
	tb.Fatal("splitter does not end")
	return
}

func TestSplitterCases(t *testing.T) {
	hb := mustHex(t, heartbeatHex)
	hbFrame := hb[1 : len(hb)-1]
	cat := func(parts ...[]byte) []byte { return bytes.Join(parts, nil) }
	tests := []struct {
		name    string
		stream  []byte
		frames  int
		errs    []error // besides the final io.EOF
		skipped int64
	}{
		{"one", hb, 1, nil, 0},
		{"garbage prefix", cat([]byte("GET / HTTP/1.1\r\n"), hb), 1, nil, 16},
		{"two in one read", cat(hb, hb), 2, nil, 0},
		{"shared delimiter", cat(hb, hbFrame, []byte{0x7e}), 2, nil, 0},
		{"empty frames", cat([]byte{0x7e, 0x7e, 0x7e}, hb, []byte{0x7e, 0x7e}), 1, nil, 0},
		{"garbage between", cat(hb, []byte("\r\n"), hb), 2, nil, 2},
		{"garbage after", cat(hb, []byte("xyz")), 1, nil, 3},
		{"short run between delimiters", cat([]byte{0x7e, 1, 2, 3}, hb), 1, nil, 3},
		{"bad escape then good", cat([]byte{0x7e}, bytes.Repeat([]byte{1}, 13), []byte{0x7d, 0x03}, hb), 1,
			[]error{ErrBadEscape}, 0},
		{"escaped checksum", mustHex(t, "7e00020000040021679287002b7d027e"), 1, nil, 0},
	}
	for _, tc := range tests {
		for _, mode := range []string{"whole", "byte by byte", "half"} {
			t.Run(tc.name+"/"+mode, func(t *testing.T) {
				var r io.Reader = bytes.NewReader(tc.stream)
				switch mode {
				case "byte by byte":
					r = iotest.OneByteReader(r)
				case "half":
					r = iotest.HalfReader(r)
				}
				frames, errs, skipped := splitAll(t, r, 0)
				if len(frames) != tc.frames {
					t.Errorf("%d frames, want %d", len(frames), tc.frames)
				}
				for _, f := range frames {
					var fr Frame
					if err := ParseFrame(f, &fr); err != nil {
						t.Errorf("frame %x: %v", f, err)
					}
				}
				if errs[len(errs)-1] != io.EOF {
					t.Errorf("last error %v, want io.EOF", errs[len(errs)-1])
				}
				errs = errs[:len(errs)-1]
				if len(errs) != len(tc.errs) {
					t.Fatalf("errors %v, want %v", errs, tc.errs)
				}
				for i := range errs {
					if !errors.Is(errs[i], tc.errs[i]) {
						t.Errorf("error %d: %v, want %v", i, errs[i], tc.errs[i])
					}
				}
				if skipped != tc.skipped {
					t.Errorf("skipped %d, want %d", skipped, tc.skipped)
				}
			})
		}
	}
}

func TestSplitterTooLarge(t *testing.T) {
	hb := mustHex(t, heartbeatHex)
	big := append([]byte{0x7e}, bytes.Repeat([]byte{0x11}, 100)...)
	for _, mode := range []string{"whole", "byte by byte"} {
		t.Run(mode, func(t *testing.T) {
			// An oversized frame, complete or not yet closed when the limit is hit, then a good one.
			stream := bytes.Join([][]byte{big, hb, big, {0x7e}, hb}, nil)
			var r io.Reader = bytes.NewReader(stream)
			if mode == "byte by byte" {
				r = iotest.OneByteReader(r)
			}
			frames, errs, _ := splitAll(t, r, 64)
			if len(frames) != 2 {
				t.Errorf("%d frames, want 2", len(frames))
			}
			if len(errs) != 3 || !errors.Is(errs[0], ErrFrameTooLarge) || !errors.Is(errs[1], ErrFrameTooLarge) || errs[2] != io.EOF {
				t.Errorf("errors %v", errs)
			}
		})
	}
	// A frame of exactly MaxFrame wire bytes passes (vector heartbeat_2019_gojt808, 20 bytes).
	hb = mustHex(t, "7e0002400001000000000172998417380000027e")
	s := NewSplitter(bytes.NewReader(hb), len(hb))
	if _, err := s.Next(); err != nil {
		t.Errorf("frame of exactly MaxFrame: %v", err)
	}
	s = NewSplitter(bytes.NewReader(hb), len(hb)-1)
	if _, err := s.Next(); !errors.Is(err, ErrFrameTooLarge) {
		t.Errorf("frame one byte over MaxFrame: %v", err)
	}
}

func TestSplitterEOF(t *testing.T) {
	hb := mustHex(t, heartbeatHex)
	s := NewSplitter(bytes.NewReader(hb[:10]), 0)
	if _, err := s.Next(); err != io.ErrUnexpectedEOF {
		t.Errorf("cut frame: %v, want io.ErrUnexpectedEOF", err)
	}
	if _, err := s.Next(); err != io.EOF {
		t.Errorf("then: %v, want io.EOF", err)
	}
	// A cut frame after a complete one (normal back-to-back delimiters) is still a cut frame.
	s = NewSplitter(bytes.NewReader(append(bytes.Clone(hb), hb[:10]...)), 0)
	if _, err := s.Next(); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Next(); err != io.ErrUnexpectedEOF {
		t.Errorf("cut second frame: %v, want io.ErrUnexpectedEOF", err)
	}
	boom := errors.New("boom")
	s = NewSplitter(io.MultiReader(bytes.NewReader(hb), iotest.ErrReader(boom)), 0)
	if _, err := s.Next(); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Next(); err != boom {
		t.Errorf("reader error: %v", err)
	}
	if _, err := s.Next(); err != boom {
		t.Errorf("sticky reader error: %v", err)
	}
	s.Reset(bytes.NewReader(hb))
	if _, err := s.Next(); err != nil {
		t.Errorf("after Reset: %v", err)
	}
	s = NewSplitter(iotest.DataErrReader(bytes.NewReader(hb)), 0)
	if _, err := s.Next(); err != nil {
		t.Errorf("data with EOF: %v", err)
	}
	if _, err := s.Next(); err != io.EOF {
		t.Errorf("then: %v", err)
	}
	s = NewSplitter(zeroReader{}, 0)
	if _, err := s.Next(); err != io.ErrNoProgress {
		t.Errorf("(0, nil) reader: %v", err)
	}
}

type zeroReader struct{}

func (zeroReader) Read([]byte) (int, error) { return 0, nil }

// chunkReader returns the stream in chunks of random size (1..max), from a seeded generator.
type chunkReader struct {
	b   []byte
	rng *rand.Rand
	max int
}

func (c *chunkReader) Read(p []byte) (int, error) {
	if len(c.b) == 0 {
		return 0, io.EOF
	}
	n := 1 + c.rng.IntN(c.max)
	n = min(n, len(p), len(c.b))
	copy(p, c.b[:n])
	c.b = c.b[n:]
	return n, nil
}

// TestSplitterStreamOfVectors sends every vector back to back, with garbage in between, in
// random chunks, and expects every frame in order.
func TestSplitterStreamOfVectors(t *testing.T) {
	vs := loadVectors(t)
	var stream []byte
	var want [][]byte
	for i, v := range vs {
		if i%3 == 0 {
			stream = append(stream, "garbage"...)
		}
		stream = append(stream, v.wire(t)...)
		want = append(want, v.frame(t))
	}
	for seed := uint64(0); seed < 50; seed++ {
		r := &chunkReader{b: stream, rng: rand.New(rand.NewPCG(seed, 1)), max: 1 + int(seed)*7}
		frames, errs, _ := splitAll(t, r, 0)
		if len(errs) != 1 || errs[0] != io.EOF {
			t.Fatalf("seed %d: errors %v", seed, errs)
		}
		if len(frames) != len(want) {
			t.Fatalf("seed %d: %d frames, want %d", seed, len(frames), len(want))
		}
		for i := range want {
			if !bytes.Equal(frames[i], want[i]) {
				t.Fatalf("seed %d: frame %d (%s) differs", seed, i, vs[i].Name)
			}
		}
	}
}

func TestEscape(t *testing.T) {
	tests := []struct{ raw, esc string }{
		{"30 7e 08 7d 55", "30 7d02 08 7d01 55"}, // JT/T 808-2019 §4.4.1 example
		{"7e7e", "7d027d02"},
		{"7d", "7d01"},
		{"", ""},
	}
	for _, tc := range tests {
		raw, esc := mustHex(t, tc.raw), mustHex(t, tc.esc)
		if got := Escape(nil, raw); !bytes.Equal(got, esc) {
			t.Errorf("Escape(%x) = %x", raw, got)
		}
		got, err := Unescape(nil, esc)
		if err != nil || !bytes.Equal(got, raw) {
			t.Errorf("Unescape(%x) = %x, %v", esc, got, err)
		}
		// In place.
		buf := bytes.Clone(esc)
		if got, err := Unescape(buf[:0], buf); err != nil || !bytes.Equal(got, raw) {
			t.Errorf("in-place Unescape(%x) = %x, %v", esc, got, err)
		}
	}
	for _, bad := range []string{"7d", "7d00", "7d03", "117e11", "7d7e"} {
		dst := []byte("keep")
		got, err := Unescape(dst, mustHex(t, bad))
		if !errors.Is(err, ErrBadEscape) || string(got) != "keep" {
			t.Errorf("Unescape(%s) = %q, %v", bad, got, err)
		}
	}
}

func TestParseFramePolicy(t *testing.T) {
	hb := mustHex(t, heartbeatHex)
	raw := bytes.Clone(hb[1 : len(hb)-1])
	var f Frame
	if err := ParseFrame(raw, &f); err != nil {
		t.Fatal(err)
	}
	// Wrong check code: ErrChecksum, header and body still filled.
	raw[len(raw)-1] ^= 0xff
	if err := ParseFrame(raw, &f); !errors.Is(err, ErrChecksum) || f.Header.Serial != 10 || f.Body == nil {
		t.Errorf("bad check code: %v %+v", err, f)
	}
	// Right check code, wrong length field: ErrBodyLength.
	body := []byte{1, 2, 3}
	h := Header{ID: IDHeartbeat, Serial: 1}
	w := AppendFrame(nil, &h, body)
	u, _ := Unescape(nil, w[1:len(w)-1])
	u[3] = 2 // length 2, three bytes present
	u[len(u)-1] = Checksum(u[:len(u)-1])
	if err := ParseFrame(u, &f); !errors.Is(err, ErrBodyLength) || !bytes.Equal(f.Body, body) {
		t.Errorf("bad length: %v %x", err, f.Body)
	}
	// Only a header, no check code.
	if err := ParseFrame(raw[:12], &f); !errors.Is(err, ErrShortFrame) {
		t.Errorf("no check code: %v", err)
	}
}

// TestVersionPolicy: bit 14 decides, unless only the 2013 layout fits the frame.
func TestVersionPolicy(t *testing.T) {
	p13 := mustPhone(t, "13800138000", Version2013)
	p19 := mustPhone(t, "13800138000", Version2019)
	for _, tc := range []struct {
		name string
		h    Header
		body int
	}{
		{"2013", Header{ID: IDLocation, Phone: p13}, 5},
		{"2019", Header{ID: IDLocation, Version: Version2019, ProtoVer: 1, Phone: p19}, 5},
		{"quirk", Header{ID: IDLocation, Bit14On2013: true, Phone: p13}, 5},
		{"quirk fragmented", Header{ID: IDLocation, Bit14On2013: true, Fragmented: true, PkgTotal: 2, PkgIndex: 1, Phone: p13}, 0},
		{"2019 fragmented", Header{ID: IDLocation, Version: Version2019, Fragmented: true, PkgTotal: 2, PkgIndex: 2, Phone: p19}, 9},
	} {
		w := AppendFrame(nil, &tc.h, make([]byte, tc.body))
		u, _ := Unescape(nil, w[1:len(w)-1])
		var f Frame
		if err := ParseFrame(u, &f); err != nil {
			t.Errorf("%s: %v", tc.name, err)
			continue
		}
		tc.h.BodyLen = uint16(tc.body)
		if f.Header != tc.h {
			t.Errorf("%s: %+v, want %+v", tc.name, f.Header, tc.h)
		}
	}
}

// timeoutErr is what a net.Conn returns when its read deadline expires.
type timeoutErr struct{}

func (timeoutErr) Error() string { return "i/o timeout" }
func (timeoutErr) Timeout() bool { return true }

// timeoutReader returns part of the stream, then one timeout, then the rest.
type timeoutReader struct {
	parts [][]byte
}

func (r *timeoutReader) Read(p []byte) (int, error) {
	if len(r.parts) == 0 {
		return 0, io.EOF
	}
	part := r.parts[0]
	r.parts = r.parts[1:]
	if part == nil {
		return 0, timeoutErr{}
	}
	return copy(p, part), nil
}

// TestSplitterTimeout: a read deadline expiring mid-frame is returned, not kept; the next call
// resumes the same frame.
func TestSplitterTimeout(t *testing.T) {
	hb := mustHex(t, heartbeatHex)
	s := NewSplitter(&timeoutReader{parts: [][]byte{hb[:7], nil, hb[7:], nil}}, 0)
	if _, err := s.Next(); !errors.Is(err, timeoutErr{}) {
		t.Fatalf("first call: %v, want the timeout", err)
	}
	f, err := s.Next()
	if err != nil || !bytes.Equal(f, hb[1:len(hb)-1]) {
		t.Fatalf("resumed frame %x, %v", f, err)
	}
	if _, err := s.Next(); !errors.Is(err, timeoutErr{}) {
		t.Fatalf("idle: %v, want the timeout", err)
	}
	if _, err := s.Next(); err != io.EOF {
		t.Fatalf("end: %v, want io.EOF", err)
	}
}
