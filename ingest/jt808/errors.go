package jt808

import (
	"errors"
	"strings"
)

// Sentinel errors. Every error returned by this package wraps one of these (usually inside a
// *FieldError), so callers test with errors.Is.
var (
	// ErrChecksum means the XOR check code did not match the bytes of the frame.
	ErrChecksum = errors.New("jt808: checksum mismatch")
	// ErrShortFrame means an unescaped frame is too short to hold a header and a check code.
	ErrShortFrame = errors.New("jt808: frame too short")
	// ErrFrameTooLarge means a frame on the stream exceeds the Splitter's maximum size.
	ErrFrameTooLarge = errors.New("jt808: frame too large")
	// ErrBadEscape means 0x7d was followed by something other than 0x01 or 0x02, or a bare 0x7e
	// appeared inside a frame.
	ErrBadEscape = errors.New("jt808: bad escape sequence")
	// ErrBodyLength means the body length in the header does not match the bytes present.
	ErrBodyLength = errors.New("jt808: body length mismatch")
	// ErrShortBody means a body ended before the field being read.
	ErrShortBody = errors.New("jt808: short body")
	// ErrTrailingBytes means bytes were left over after the last field of a body.
	ErrTrailingBytes = errors.New("jt808: unexpected trailing bytes")
	// ErrTooManyItems means a 0x0200 body carries more non-standard additional items than
	// Location.Extra can hold (MaxExtraItems).
	ErrTooManyItems = errors.New("jt808: too many additional items")
	// ErrBadTime means a BCD[6] time holds a non-decimal digit or an out-of-range field.
	ErrBadTime = errors.New("jt808: invalid BCD time")
	// ErrBadPhone means a phone number string is not 0-9 digits or is too long for the version.
	ErrBadPhone = errors.New("jt808: invalid phone number")
	// ErrParamLength means a terminal parameter value does not have the length its type needs.
	ErrParamLength = errors.New("jt808: parameter value has wrong length")
	// ErrUnsupported means Decoder has no body type for the message ID.
	ErrUnsupported = errors.New("jt808: unsupported message")
	// ErrFragmented means a sub-package was given to Decoder; reassemble the bodies first.
	ErrFragmented = errors.New("jt808: sub-package must be reassembled before decoding")
)

// FieldError reports which field of which message could not be decoded.
// Msg is zero when the message ID is unknown (for example in a value decoded outside a frame).
type FieldError struct {
	Msg   MsgID
	Field string
	Err   error
}

// Error formats the error as "jt808: 0x0200 latitude: short body".
func (e *FieldError) Error() string {
	var b strings.Builder
	b.WriteString("jt808: ")
	if e.Msg != 0 {
		b.WriteString(e.Msg.String())
		b.WriteByte(' ')
	}
	b.WriteString(e.Field)
	b.WriteString(": ")
	if e.Err != nil {
		b.WriteString(strings.TrimPrefix(e.Err.Error(), "jt808: "))
	} else {
		b.WriteString("invalid")
	}
	return b.String()
}

// Unwrap returns the sentinel the error wraps.
func (e *FieldError) Unwrap() error { return e.Err }

func fieldErr(msg MsgID, field string, err error) error {
	return &FieldError{Msg: msg, Field: field, Err: err}
}
