package jt808

import (
	"unicode/utf8"

	"golang.org/x/text/encoding/simplifiedchinese"
)

// Text on the wire is GBK (JT/T 808-2019 表1, STRING: GBK 编码); in Go it is UTF-8.
//
// Padding policy. Fixed-width fields (BYTE[n] holding text, such as the 0x0100 maker, model and
// terminal ID) are right-padded with 0x00 on encode. On decode, 0x00 and 0x20 bytes are trimmed
// from both ends before GBK decoding (neither byte can be the second byte of a GBK pair, so this
// never splits a character). Any other padding is data: terminals that left-pad with ASCII '0'
// (for example SmallChi's "000Koike002") keep those zeros, because '0' is also a legitimate
// leading digit of terminal IDs ("09876543210987654321"); the caller decides what they mean.
//
// Undecodable bytes become U+FFFD. On encode, U+FFFD (and invalid UTF-8) becomes the single byte
// 0xFF, which is not valid GBK and decodes back to U+FFFD, so a decoded value survives an
// encode/decode cycle unchanged; any other rune GBK cannot represent becomes '?'.

// unencodableByte is what U+FFFD is written as: 0xFF is never valid in GBK and decodes to U+FFFD.
const unencodableByte = 0xff

// DecodeGBK trims 0x00 and 0x20 bytes from both ends of b and decodes the rest from GBK into a
// new UTF-8 string. It never fails: undecodable bytes become U+FFFD. The result does not alias b.
func DecodeGBK(b []byte) string {
	b = trimPad(b)
	ascii := true
	for _, c := range b {
		if c >= utf8.RuneSelf {
			ascii = false
			break
		}
	}
	if ascii {
		return string(b)
	}
	out, err := simplifiedchinese.GBK.NewDecoder().Bytes(b)
	if err != nil {
		// The GBK decoder replaces bad input instead of failing; keep the bytes visible if it
		// ever does fail.
		return string([]rune{utf8.RuneError})
	}
	return string(out)
}

// AppendGBK appends s encoded as GBK to dst and returns the extended slice. It does not pad or
// truncate; see the package comment on text for the treatment of runes GBK cannot represent.
func AppendGBK(dst []byte, s string) []byte {
	i := 0
	for i < len(s) && s[i] < utf8.RuneSelf {
		i++
	}
	dst = append(dst, s[:i]...)
	if i == len(s) {
		return dst
	}
	enc := simplifiedchinese.GBK.NewEncoder()
	var in [utf8.UTFMax]byte
	var out [8]byte
	for _, r := range s[i:] {
		switch {
		case r < utf8.RuneSelf:
			dst = append(dst, byte(r))
			continue
		case r == utf8.RuneError:
			dst = append(dst, unencodableByte)
			continue
		}
		n := utf8.EncodeRune(in[:], r)
		enc.Reset()
		nDst, _, err := enc.Transform(out[:], in[:n], true)
		if err != nil || nDst == 0 {
			dst = append(dst, '?')
			continue
		}
		dst = append(dst, out[:nDst]...)
	}
	return dst
}

// appendFixedGBK appends s as GBK into exactly width bytes: truncated at a character boundary if
// too long, right-padded with 0x00 if short.
func appendFixedGBK(dst []byte, s string, width int) []byte {
	start := len(dst)
	dst = AppendGBK(dst, s)
	if n := len(dst) - start; n > width {
		// Cut at a GBK character boundary: walk the encoded bytes and stop before the
		// character that would cross the width (lead bytes 0x81-0xFE start a pair).
		enc := dst[start:]
		i := 0
		for i < width {
			step := 1
			if enc[i] >= 0x81 && enc[i] <= 0xfe && i+1 < len(enc) && isGBKTrail(enc[i+1]) {
				step = 2
			}
			if i+step > width {
				break
			}
			i += step
		}
		dst = dst[:start+i]
	}
	for len(dst)-start < width {
		dst = append(dst, 0)
	}
	return dst
}

func isGBKTrail(c byte) bool { return c >= 0x40 && c <= 0xfe && c != 0x7f }

// trimPad trims 0x00 and 0x20 from both ends of b.
func trimPad(b []byte) []byte {
	for len(b) > 0 && (b[0] == 0 || b[0] == ' ') {
		b = b[1:]
	}
	for len(b) > 0 && (b[len(b)-1] == 0 || b[len(b)-1] == ' ') {
		b = b[:len(b)-1]
	}
	return b
}
