package jt808

// Phone is the terminal phone number (终端手机号) from the header: BCD[6] (12 digits) in
// JT/T 808-2011/2013, BCD[10] (20 digits) in JT/T 808-2019 (表2 消息头). The raw BCD bytes are
// kept in BCD[:Len] exactly as received, so a header re-encodes byte for byte; nothing is
// validated on decode. A nibble above 9 is rendered as a lower-case hex digit by Digits and ID.
type Phone struct {
	BCD [10]byte
	Len uint8 // 6 (2011/2013) or 10 (2019); 0 for the zero Phone
}

// ParsePhone builds a Phone for version v from decimal digits, left-padding with zeros to 12
// digits (Version2013) or 20 digits (Version2019). It returns an error wrapping ErrBadPhone for
// an empty string, a non-digit, or too many digits.
func ParsePhone(digits string, v Version) (Phone, error) {
	width := 12
	if v == Version2019 {
		width = 20
	}
	if len(digits) == 0 || len(digits) > width {
		return Phone{}, fieldErr(0, "phone", ErrBadPhone)
	}
	var p Phone
	p.Len = uint8(width / 2)
	pad := width - len(digits)
	for i := 0; i < width; i++ {
		var d byte
		if i >= pad {
			c := digits[i-pad]
			if c < '0' || c > '9' {
				return Phone{}, fieldErr(0, "phone", ErrBadPhone)
			}
			d = c - '0'
		}
		if i%2 == 0 {
			p.BCD[i/2] = d << 4
		} else {
			p.BCD[i/2] |= d
		}
	}
	return p, nil
}

func (p *Phone) bytes() []byte {
	n := int(p.Len)
	if n > len(p.BCD) {
		n = len(p.BCD)
	}
	return p.BCD[:n]
}

// Digits returns every digit, leading zeros kept: 12 digits for a 2013 header, 20 for 2019.
// It allocates the string.
func (p Phone) Digits() string {
	var buf [20]byte
	return string(p.appendDigits(buf[:0]))
}

// String returns Digits.
func (p Phone) String() string { return p.Digits() }

func (p *Phone) appendDigits(dst []byte) []byte {
	for _, b := range p.bytes() {
		dst = append(dst, hexDigits[b>>4], hexDigits[b&0x0f])
	}
	return dst
}

// ID returns the digits without leading zeros ("0" if all are zero), so that a terminal keeps one
// identity whether it speaks the 2013 or the 2019 header. It allocates the string.
func (p Phone) ID() string {
	var buf [20]byte
	return string(p.AppendID(buf[:0]))
}

// AppendID appends ID to dst without allocating (when dst has room). Use it with a map keyed by
// string: m[string(p.AppendID(buf[:0]))] does not allocate for the lookup.
func (p Phone) AppendID(dst []byte) []byte {
	start := len(dst)
	dst = p.appendDigits(dst)
	i := start
	for i < len(dst)-1 && dst[i] == '0' {
		i++
	}
	if i == len(dst) { // empty phone
		return append(dst, '0')
	}
	n := copy(dst[start:], dst[i:])
	return dst[:start+n]
}

// appendWire appends the phone as exactly width bytes: left-padded with zero bytes if shorter,
// keeping the last width bytes if longer.
func (p *Phone) appendWire(dst []byte, width int) []byte {
	b := p.bytes()
	for i := len(b); i < width; i++ {
		dst = append(dst, 0)
	}
	if len(b) > width {
		b = b[len(b)-width:]
	}
	return append(dst, b...)
}
