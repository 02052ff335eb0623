package jt808

// Heartbeat is 0x0002 终端心跳, JT/T 808-2019 §8.3 (2013: §8.3): the terminal's keep-alive, an
// empty body in every version, answered with PlatformReply.
// Decode rejects a non-empty body with ErrTrailingBytes.
type Heartbeat struct{}

// ID returns IDHeartbeat.
func (*Heartbeat) ID() MsgID { return IDHeartbeat }

// Decode checks that body is empty.
func (*Heartbeat) Decode(body []byte, _ *Header) error { return decodeEmpty(IDHeartbeat, body) }

// AppendTo returns dst unchanged: the body is empty.
func (*Heartbeat) AppendTo(dst []byte, _ Version) []byte { return dst }

// decodeEmpty checks the body of a message whose body is empty. A session answers a non-empty
// one with 0x8001 result 2 (消息有误) and keeps the connection.
func decodeEmpty(id MsgID, body []byte) error {
	if len(body) != 0 {
		return fieldErr(id, "body", ErrTrailingBytes)
	}
	return nil
}
