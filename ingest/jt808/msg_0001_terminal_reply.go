package jt808

// TerminalReply is 0x0001 终端通用应答, JT/T 808-2019 §8.1 (2013: §8.1 表4): the terminal's
// answer to a platform message. Same layout in every version. It retains nothing.
type TerminalReply struct {
	ReplySerial uint16 // 应答流水号: serial of the platform message answered
	ReplyID     MsgID  // 应答 ID: ID of the platform message answered
	Result      uint8  // 结果: ResultOK, ResultFail, ResultBadMessage, ResultUnsupported
}

// ID returns IDTerminalReply.
func (*TerminalReply) ID() MsgID { return IDTerminalReply }

// Decode parses the 5-byte body.
func (m *TerminalReply) Decode(body []byte, _ *Header) error {
	return decodeReply(IDTerminalReply, body, &m.ReplySerial, &m.ReplyID, &m.Result)
}

// AppendTo appends the 5-byte body.
func (m *TerminalReply) AppendTo(dst []byte, _ Version) []byte {
	return append(appendU16(appendU16(dst, m.ReplySerial), uint16(m.ReplyID)), m.Result)
}

func decodeReply(id MsgID, body []byte, serial *uint16, replyID *MsgID, result *uint8) error {
	r := reader{msg: id, b: body}
	*serial = r.u16("reply serial")
	*replyID = MsgID(r.u16("reply id"))
	*result = r.u8("result")
	return r.end("result")
}
