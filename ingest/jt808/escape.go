package jt808

import "bytes"

// Escaping, JT/T 808-2019 §4.4.1 (标识位): inside a frame 0x7e is sent as 0x7d 0x02 and 0x7d as
// 0x7d 0x01; the receiver reverses it before checking the check code.
const (
	flagByte   = 0x7e
	escapeByte = 0x7d
)

// Unescape appends the unescaped form of src (the bytes between two 0x7e delimiters) to dst and
// returns the extended slice. It returns an error wrapping ErrBadEscape (and dst unchanged in
// length) if 0x7d is followed by anything but 0x01 or 0x02, if src ends in 0x7d, or if src
// contains a bare 0x7e. It does not allocate when dst has room. dst and src must not overlap,
// except that dst may be src[:0]: unescaping in place only ever shrinks, but on error src may
// then have been partly overwritten.
func Unescape(dst, src []byte) ([]byte, error) {
	if bytes.IndexByte(src, flagByte) >= 0 {
		return dst, fieldErr(0, "frame", ErrBadEscape)
	}
	start := len(dst)
	for {
		i := bytes.IndexByte(src, escapeByte)
		if i < 0 {
			return append(dst, src...), nil
		}
		if i+1 >= len(src) || (src[i+1] != 0x01 && src[i+1] != 0x02) {
			return dst[:start], fieldErr(0, "frame", ErrBadEscape)
		}
		dst = append(dst, src[:i]...)
		dst = append(dst, escapeByte+src[i+1]-1) // 01 -> 7d, 02 -> 7e
		src = src[i+2:]
	}
}

// Escape appends the escaped form of src to dst and returns the extended slice. It does not add
// delimiters and does not allocate when dst has room.
func Escape(dst, src []byte) []byte {
	for {
		i := 0
		for i < len(src) && src[i] != flagByte && src[i] != escapeByte {
			i++
		}
		dst = append(dst, src[:i]...)
		if i == len(src) {
			return dst
		}
		dst = append(dst, escapeByte, src[i]-0x7c) // 7e -> 7d 02, 7d -> 7d 01
		src = src[i+1:]
	}
}
