package jt808

// QueryTime is 0x0004 查询服务器时间请求, JT/T 808-2019 §8.4 (new in 2019): an empty body, answered
// with QueryTimeReply (0x8004).
// Decode rejects a non-empty body with ErrTrailingBytes.
type QueryTime struct{}

// ID returns IDQueryTime.
func (*QueryTime) ID() MsgID { return IDQueryTime }

// Decode checks that body is empty.
func (*QueryTime) Decode(body []byte, _ *Header) error { return decodeEmpty(IDQueryTime, body) }

// AppendTo returns dst unchanged: the body is empty.
func (*QueryTime) AppendTo(dst []byte, _ Version) []byte { return dst }
