package jt808

import (
	"bytes"
	"errors"
	"io"
	"math/rand/v2"
	"reflect"
	"testing"
	"time"
)

// Fuzz targets. Seeds are the real frames of vectors.jsonl (wire form, unescaped form, or body);
// crashers found while fuzzing are kept under testdata/fuzz/<FuzzName>/.

// FuzzSplitter: however the stream is chunked, the splitter returns the same frames and errors
// as when it gets the stream in one read, and it never panics.
func FuzzSplitter(f *testing.F) {
	for _, v := range loadVectors(f) {
		f.Add(v.wire(f), uint64(len(v.Hex)), uint16(0))
	}
	f.Add([]byte{0x7e, 0x7e, 0x7d, 0x7e, 0x01, 0x7e}, uint64(1), uint16(15))
	f.Fuzz(func(t *testing.T, stream []byte, seed uint64, maxFrame uint16) {
		type result struct {
			frame []byte
			err   string
		}
		run := func(r io.Reader) ([]result, int64) {
			s := NewSplitter(r, int(maxFrame))
			var out []result
			for i := 0; ; i++ {
				if i > len(stream)+2 {
					t.Fatalf("no end after %d calls", i)
				}
				fr, err := s.Next()
				if err != nil {
					out = append(out, result{err: err.Error()})
					if err == io.EOF || err == io.ErrUnexpectedEOF {
						return out, s.Skipped()
					}
					if !errors.Is(err, ErrBadEscape) && !errors.Is(err, ErrFrameTooLarge) {
						t.Fatalf("unexpected error %v", err)
					}
					continue
				}
				if len(fr) < minFrameLen {
					t.Fatalf("frame of %d bytes", len(fr))
				}
				out = append(out, result{frame: bytes.Clone(fr)})
			}
		}
		whole, skipWhole := run(bytes.NewReader(stream))
		chunked, skipChunked := run(&chunkReader{b: stream, rng: rand.New(rand.NewPCG(seed, seed>>32)), max: 1 + int(seed%64)})
		if !reflect.DeepEqual(whole, chunked) || skipWhole != skipChunked {
			t.Fatalf("chunking changes the result:\nwhole   %v (skipped %d)\nchunked %v (skipped %d)", whole, skipWhole, chunked, skipChunked)
		}
		// Every returned frame came from the stream: escaping it gives bytes found in the stream.
		for _, r := range whole {
			if r.frame != nil && !bytes.Contains(stream, Escape(nil, r.frame)) {
				t.Fatalf("frame %x not in the stream", r.frame)
			}
		}
	})
}

// FuzzUnescape: when Unescape accepts src, Escape gives src back; Escape always round-trips.
func FuzzUnescape(f *testing.F) {
	for _, v := range loadVectors(f) {
		w := v.wire(f)
		f.Add(w[1 : len(w)-1])
		f.Add(v.frame(f))
	}
	f.Fuzz(func(t *testing.T, src []byte) {
		u, err := Unescape(nil, src)
		if err == nil {
			if e := Escape(nil, u); !bytes.Equal(e, src) {
				t.Fatalf("Escape(Unescape(%x)) = %x", src, e)
			}
		} else if !errors.Is(err, ErrBadEscape) {
			t.Fatalf("error %v", err)
		}
		e := Escape(nil, src)
		if bytes.IndexByte(e, flagByte) >= 0 {
			t.Fatalf("Escape(%x) contains 0x7e", src)
		}
		back, errBack := Unescape(nil, e)
		if errBack != nil || !bytes.Equal(back, src) {
			t.Fatalf("Unescape(Escape(%x)) = %x, %v", src, back, errBack)
		}
		// In place gives the same.
		buf := bytes.Clone(src)
		in, err2 := Unescape(buf[:0], buf)
		if (err == nil) != (err2 == nil) || (err == nil && !bytes.Equal(in, u)) {
			t.Fatalf("in-place Unescape differs")
		}
	})
}

// FuzzParseFrame: ParseFrame never panics; an accepted frame re-encodes to exactly the same
// wire bytes (the header keeps every body-properties bit) and parses to the same Frame.
func FuzzParseFrame(f *testing.F) {
	for _, v := range loadVectors(f) {
		f.Add(v.frame(f))
	}
	f.Fuzz(func(t *testing.T, src []byte) {
		var fr Frame
		err := ParseFrame(src, &fr)
		if err != nil {
			var fe *FieldError
			if !errors.As(err, &fe) {
				t.Fatalf("error %v is not a *FieldError", err)
			}
			return
		}
		wire := AppendFrame(nil, &fr.Header, fr.Body)
		want := append(append([]byte{0x7e}, Escape(nil, src)...), 0x7e)
		if !bytes.Equal(wire, want) {
			t.Fatalf("re-encoded\n%x\nwant\n%x", wire, want)
		}
		var again Frame
		if err := ParseFrame(bytes.Clone(src), &again); err != nil || again.Header != fr.Header || !bytes.Equal(again.Body, fr.Body) {
			t.Fatalf("second parse differs: %v", err)
		}
	})
}

// allBodies returns a fresh value of every body type.
func allBodies() []Message {
	var d Decoder
	var out []Message
	for _, id := range []MsgID{IDTerminalReply, IDPlatformReply, IDHeartbeat, IDLogout, IDQueryTime, IDQueryTimeReply,
		IDResendRequest, IDRegister, IDRegisterReply, IDAuth, IDSetParams, IDQueryParams, IDQueryParamsReply,
		IDLocation, IDQueryLocation, IDQueryLocationReply, IDTrackControl, IDAlarmConfirm, IDTextMessage,
		IDBatchLocation} {
		m := d.For(id)
		if m == nil || m.ID() != id {
			panic("Decoder.For(" + id.String() + ")")
		}
		out = append(out, reflect.New(reflect.TypeOf(m).Elem()).Interface().(Message))
	}
	return out
}

func newLike(m Message) Message { return reflect.New(reflect.TypeOf(m).Elem()).Interface().(Message) }

// checkBodyRoundTrip decodes body with m in both versions. Where decoding succeeds, AppendTo
// then Decode again must yield the same value; and decoding into a value that held an earlier,
// different message (the flyweight case) must yield the same value as decoding into a fresh one.
func checkBodyRoundTrip(t *testing.T, m Message, body []byte) {
	for _, v := range []Version{Version2013, Version2019} {
		h := &Header{ID: m.ID(), Version: v}
		fresh := newLike(m)
		err := fresh.Decode(body, h)
		if err != nil {
			var fe *FieldError
			if !errors.As(err, &fe) || fe.Msg != m.ID() {
				t.Fatalf("%T %v: error %v lacks the message id", m, v, err)
			}
		}
		// m was used for earlier inputs: the result must not depend on that.
		err2 := m.Decode(body, h)
		if (err == nil) != (err2 == nil) {
			t.Fatalf("%T %v: reused value gives %v, fresh gives %v", m, v, err2, err)
		}
		if err != nil {
			continue
		}
		if !sameValue(m, fresh) {
			t.Fatalf("%T %v: reused value\n%+v\nfresh\n%+v", m, v, m, fresh)
		}
		enc := fresh.AppendTo(nil, v)
		again := newLike(m)
		if err := again.Decode(enc, h); err != nil {
			t.Fatalf("%T %v: re-decode of %x: %v", m, v, enc, err)
		}
		if !sameValue(again, fresh) {
			t.Fatalf("%T %v: round trip of %x\n got %+v\nwant %+v", m, v, body, again, fresh)
		}
		if enc2 := again.AppendTo(nil, v); !bytes.Equal(enc2, enc) {
			t.Fatalf("%T %v: second encode differs", m, v)
		}
	}
}

// FuzzBodies runs every body decoder on every input: no panic, errors name the message, and
// decode → AppendTo → decode is the identity on the decoded value.
func FuzzBodies(f *testing.F) {
	for _, v := range loadVectors(f) {
		var fr Frame
		_ = ParseFrame(v.frame(f), &fr)
		f.Add(fr.Body)
	}
	for _, tc := range bodyVectors {
		f.Add(tc.msg.AppendTo(nil, tc.v))
	}
	bodies := allBodies()
	f.Fuzz(func(t *testing.T, body []byte) {
		for _, m := range bodies {
			checkBodyRoundTrip(t, m, body)
		}
	})
}

// FuzzLocation concentrates on 0x0200, the hot path, with item lists built from the input.
func FuzzLocation(f *testing.F) {
	for _, v := range loadVectors(f) {
		var fr Frame
		if ParseFrame(v.frame(f), &fr) == nil && fr.Header.ID == IDLocation {
			f.Add(fr.Body[min(len(fr.Body), locationBaseLen):])
		}
	}
	var l Location
	f.Fuzz(func(t *testing.T, items []byte) {
		body := append(make([]byte, locationBaseLen, locationBaseLen+len(items)), items...)
		checkBodyRoundTrip(t, &l, body)
		var fresh Location
		if fresh.Decode(body, nil) == nil {
			// A decoded location re-encodes byte for byte.
			if enc := fresh.AppendTo(nil, Version2013); !bytes.Equal(enc, body) {
				t.Fatalf("re-encode\n%x\nwant\n%x", enc, body)
			}
			if n := len(fresh.AppendItemIDs(nil)); n != fresh.ItemCount() {
				t.Fatalf("%d ids, ItemCount %d", n, fresh.ItemCount())
			}
		}
	})
}

// sameValue is reflect.DeepEqual, unexported fields included, except that a nil slice equals an
// empty one (a flyweight keeps its capacity; a fresh value has none) and times compare with Equal.
func sameValue(a, b any) bool { return equalValues(reflect.ValueOf(a), reflect.ValueOf(b)) }

func equalValues(a, b reflect.Value) bool {
	if a.Type() != b.Type() {
		return false
	}
	switch a.Kind() {
	case reflect.Pointer, reflect.Interface:
		if a.IsNil() || b.IsNil() {
			return a.IsNil() == b.IsNil()
		}
		return equalValues(a.Elem(), b.Elem())
	case reflect.Struct:
		if a.Type() == reflect.TypeOf(time.Time{}) {
			ta, tb := timeOf(a), timeOf(b)
			return ta.Equal(tb) && ta.Location().String() == tb.Location().String()
		}
		for i := 0; i < a.NumField(); i++ {
			if !equalValues(a.Field(i), b.Field(i)) {
				return false
			}
		}
		return true
	case reflect.Slice, reflect.Array:
		if a.Len() != b.Len() {
			return false
		}
		for i := 0; i < a.Len(); i++ {
			if !equalValues(a.Index(i), b.Index(i)) {
				return false
			}
		}
		return true
	case reflect.Bool:
		return a.Bool() == b.Bool()
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return a.Int() == b.Int()
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr:
		return a.Uint() == b.Uint()
	case reflect.String:
		return a.String() == b.String()
	}
	panic("equalValues: unhandled kind " + a.Kind().String())
}

// timeOf reads a time.Time; every time.Time in this package is an exported field.
func timeOf(v reflect.Value) time.Time { return v.Interface().(time.Time) }
