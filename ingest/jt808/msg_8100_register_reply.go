package jt808

// RegisterReply is 0x8100 终端注册应答 (JT/T 808-2019 §8.9; 2013 §8.6): 应答流水号 WORD,
// 结果 BYTE, and 鉴权码 STRING only when the result is 0. Same layout in every version.
//
// Decode reads the auth code only when Result is RegisterOK; bytes after the result of a failed
// registration are ignored. The auth code is decoded from GBK and trimmed of 0x00 and spaces.
// Decode retains nothing from the body.
type RegisterReply struct {
	ReplySerial uint16 // 应答流水号: serial of the 0x0100 answered
	Result      uint8  // RegisterOK, RegisterVehicleTaken, ... RegisterNoSuchTerminal
	AuthCode    string // 鉴权码, sent by the terminal in 0x0102; only when Result is RegisterOK
}

// ID returns IDRegisterReply.
func (*RegisterReply) ID() MsgID { return IDRegisterReply }

// Decode parses the body.
func (m *RegisterReply) Decode(body []byte, _ *Header) error {
	r := reader{msg: IDRegisterReply, b: body}
	m.ReplySerial = r.u16("reply serial")
	m.Result = r.u8("result")
	m.AuthCode = ""
	if r.err != nil {
		return r.err
	}
	if m.Result == RegisterOK {
		m.AuthCode = DecodeGBK(r.rest())
	}
	return nil
}

// AppendTo appends the body; the auth code is written only when Result is RegisterOK.
func (m *RegisterReply) AppendTo(dst []byte, _ Version) []byte {
	dst = appendU16(dst, m.ReplySerial)
	dst = append(dst, m.Result)
	if m.Result == RegisterOK {
		dst = AppendGBK(dst, m.AuthCode)
	}
	return dst
}
