package jt808

// reader is a cursor over a body that names the field in every error, in the manner of
// nats-server's mqttReader. The first failure is sticky: later reads return zero values and
// err keeps the first *FieldError, so decoders read every field and check err once.
// A reader lives on the caller's stack; it never allocates unless a read fails.
type reader struct {
	msg MsgID
	b   []byte
	err error
}

func (r *reader) fail(field string, err error) {
	if r.err == nil {
		r.err = fieldErr(r.msg, field, err)
	}
	r.b = nil
}

func (r *reader) u8(field string) uint8 {
	if len(r.b) < 1 {
		r.fail(field, ErrShortBody)
		return 0
	}
	v := r.b[0]
	r.b = r.b[1:]
	return v
}

func (r *reader) u16(field string) uint16 {
	if len(r.b) < 2 {
		r.fail(field, ErrShortBody)
		return 0
	}
	v := uint16(r.b[0])<<8 | uint16(r.b[1])
	r.b = r.b[2:]
	return v
}

func (r *reader) u32(field string) uint32 {
	if len(r.b) < 4 {
		r.fail(field, ErrShortBody)
		return 0
	}
	v := uint32(r.b[0])<<24 | uint32(r.b[1])<<16 | uint32(r.b[2])<<8 | uint32(r.b[3])
	r.b = r.b[4:]
	return v
}

// bytes returns the next n bytes, aliasing the body.
func (r *reader) bytes(field string, n int) []byte {
	if n < 0 || len(r.b) < n {
		r.fail(field, ErrShortBody)
		return nil
	}
	v := r.b[:n:n]
	r.b = r.b[n:]
	return v
}

// rest returns all remaining bytes, aliasing the body.
func (r *reader) rest() []byte {
	v := r.b
	r.b = r.b[len(r.b):]
	return v
}

// end reports ErrTrailingBytes if bytes remain, and returns the sticky error.
func (r *reader) end(field string) error {
	if r.err == nil && len(r.b) != 0 {
		r.fail(field, ErrTrailingBytes)
	}
	return r.err
}

func appendU16(dst []byte, v uint16) []byte { return append(dst, byte(v>>8), byte(v)) }

func appendU32(dst []byte, v uint32) []byte {
	return append(dst, byte(v>>24), byte(v>>16), byte(v>>8), byte(v))
}
