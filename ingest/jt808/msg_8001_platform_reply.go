package jt808

// PlatformReply is 0x8001 平台通用应答, JT/T 808-2019 §8.2 (2013: §8.2 表5): the platform's
// answer to a terminal message that has no dedicated reply. Same layout in every version.
// It retains nothing.
type PlatformReply struct {
	ReplySerial uint16 // 应答流水号: serial of the terminal message answered
	ReplyID     MsgID  // 应答 ID: ID of the terminal message answered
	Result      uint8  // 结果: ResultOK .. ResultAlarmConfirm
}

// ID returns IDPlatformReply.
func (*PlatformReply) ID() MsgID { return IDPlatformReply }

// Decode parses the 5-byte body.
func (m *PlatformReply) Decode(body []byte, _ *Header) error {
	return decodeReply(IDPlatformReply, body, &m.ReplySerial, &m.ReplyID, &m.Result)
}

// AppendTo appends the 5-byte body.
func (m *PlatformReply) AppendTo(dst []byte, _ Version) []byte {
	return append(appendU16(appendU16(dst, m.ReplySerial), uint16(m.ReplyID)), m.Result)
}
