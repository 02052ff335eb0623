package jt808

// Logout is 0x0003 终端注销, JT/T 808-2019 §8.10 (2013: §8.7): an empty body in every version,
// answered with PlatformReply.
// Decode rejects a non-empty body with ErrTrailingBytes.
type Logout struct{}

// ID returns IDLogout.
func (*Logout) ID() MsgID { return IDLogout }

// Decode checks that body is empty.
func (*Logout) Decode(body []byte, _ *Header) error { return decodeEmpty(IDLogout, body) }

// AppendTo returns dst unchanged: the body is empty.
func (*Logout) AppendTo(dst []byte, _ Version) []byte { return dst }
