package jt808

import "encoding/binary"

// Frame is one parsed message: its header and its body.
type Frame struct {
	Header Header
	// Body aliases the buffer given to ParseFrame; it is valid while that buffer is.
	Body []byte
}

// minFrameLen is the shortest unescaped frame: a 2013 header and the check code.
const minFrameLen = headerLen2013 + 1

// ParseFrame parses one UNESCAPED frame (the bytes between the 0x7e delimiters after Unescape,
// check code last) into f. f.Body aliases src.
//
// It checks, in this order: the header fits (ErrShortFrame), the XOR check code
// (ErrChecksum), and that the body-properties length equals the bytes present (ErrBodyLength).
// Errors are *FieldError values; test them with errors.Is.
//
// Leniency is the caller's choice: on ErrChecksum and ErrBodyLength, f is still filled with the
// header and with Body set to the bytes actually present between header and check code. A frame
// that is wrong in both respects, such as traccar's location_bad_length_and_checksum vector
// (length field 50, 40 body bytes, wrong check code), returns ErrChecksum. fleetmon's ingest
// drops such frames; a lenient consumer may still decode f.Body.
func ParseFrame(src []byte, f *Frame) error {
	n, err := f.Header.Decode(src)
	if err != nil {
		f.Body = nil
		return err
	}
	if len(src) < n+1 {
		f.Body = nil
		return fieldErr(f.Header.ID, "check code", ErrShortFrame)
	}
	last := len(src) - 1
	f.Body = src[n:last:last]
	if Checksum(src[:last]) != src[last] {
		return fieldErr(f.Header.ID, "check code", ErrChecksum)
	}
	if len(f.Body) != int(f.Header.BodyLen) {
		return fieldErr(f.Header.ID, "body length", ErrBodyLength)
	}
	return nil
}

// Checksum returns the check code (校验码) of b: the XOR of every byte, computed over the
// unescaped header and body (JT/T 808-2019 §4.4.4).
func Checksum(b []byte) byte {
	var w uint64
	for len(b) >= 8 {
		w ^= binary.LittleEndian.Uint64(b)
		b = b[8:]
	}
	w ^= w >> 32
	w ^= w >> 16
	w ^= w >> 8
	c := byte(w)
	for _, x := range b {
		c ^= x
	}
	return c
}

// AppendFrame appends a complete wire frame to dst: 0x7e, the escaped header, body and check
// code, and 0x7e. The header's body length is taken from len(body) (see Header.AppendTo for the
// MaxBodyLen limit); h is not modified. It does not allocate when dst has room.
func AppendFrame(dst []byte, h *Header, body []byte) []byte {
	var hb [headerLen2019 + packageInfoLen]byte
	head := h.AppendTo(hb[:0], len(body))
	sum := Checksum(head) ^ Checksum(body)
	dst = append(dst, 0x7e)
	dst = Escape(dst, head)
	dst = Escape(dst, body)
	dst = Escape(dst, []byte{sum})
	return append(dst, 0x7e)
}
