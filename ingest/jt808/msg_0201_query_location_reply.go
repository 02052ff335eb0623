package jt808

// QueryLocationReply is 0x0201 位置信息查询应答 (JT/T 808-2019 §8.23; 2013 §8.20): 应答流水号
// WORD followed by a 0x0200 body. The same layout in every version. Location aliases the body as
// documented on Location.
type QueryLocationReply struct {
	ReplySerial uint16 // 应答流水号: serial of the 0x8201 answered
	Location    Location
}

// ID returns IDQueryLocationReply.
func (*QueryLocationReply) ID() MsgID { return IDQueryLocationReply }

// Decode parses body into m.
func (m *QueryLocationReply) Decode(body []byte, _ *Header) error {
	r := reader{msg: IDQueryLocationReply, b: body}
	m.ReplySerial = r.u16("reply serial")
	if r.err != nil {
		m.Location.Reset()
		return r.err
	}
	return m.Location.decode(IDQueryLocationReply, r.rest())
}

// AppendTo appends the body.
func (m *QueryLocationReply) AppendTo(dst []byte, v Version) []byte {
	return m.Location.AppendTo(appendU16(dst, m.ReplySerial), v)
}
