package jt808

// QueryParamsReply is 0x0104 查询终端参数应答 (JT/T 808-2019 §8.15; 2013 §8.12): 应答流水号
// WORD, 应答参数个数 BYTE, then that many parameter items. The same layout in 2013 and 2019.
// A full parameter list usually exceeds one frame, so terminals send it as sub-packages:
// reassemble the bodies before Decode.
//
// Decode reuses the capacity of Params; each Param.Value aliases the body.
type QueryParamsReply struct {
	ReplySerial uint16 // 应答流水号: serial of the 0x8104 or 0x8106 answered
	Params      []Param
}

// ID returns IDQueryParamsReply.
func (*QueryParamsReply) ID() MsgID { return IDQueryParamsReply }

// Decode parses body into m.
func (m *QueryParamsReply) Decode(body []byte, _ *Header) error {
	r := reader{msg: IDQueryParamsReply, b: body}
	m.ReplySerial = r.u16("reply serial")
	n := int(r.u8("count"))
	m.Params = decodeParams(&r, n, m.Params)
	return r.end("params")
}

// AppendTo appends the body; at most 255 parameters are written.
func (m *QueryParamsReply) AppendTo(dst []byte, _ Version) []byte {
	return appendParams(appendU16(dst, m.ReplySerial), m.Params)
}
