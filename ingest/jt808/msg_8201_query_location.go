package jt808

// QueryLocation is 0x8201 位置信息查询, JT/T 808-2019 §8.22 (2013: §8.19): an empty body, answered with
// QueryLocationReply (0x0201).
// Decode rejects a non-empty body with ErrTrailingBytes.
type QueryLocation struct{}

// ID returns IDQueryLocation.
func (*QueryLocation) ID() MsgID { return IDQueryLocation }

// Decode checks that body is empty.
func (*QueryLocation) Decode(body []byte, _ *Header) error { return decodeEmpty(IDQueryLocation, body) }

// AppendTo returns dst unchanged: the body is empty.
func (*QueryLocation) AppendTo(dst []byte, _ Version) []byte { return dst }
