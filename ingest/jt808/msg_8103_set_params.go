package jt808

// SetParams is 0x8103 设置终端参数 (JT/T 808-2019 §8.12; 2013 §8.9): 参数总数 BYTE followed by
// that many parameter items (参数 ID DWORD, 参数长度 BYTE, 参数值). The same layout in 2013 and
// 2019.
//
// Decode reuses the capacity of Params; each Param.Value aliases the body.
type SetParams struct {
	Params []Param
}

// ID returns IDSetParams.
func (*SetParams) ID() MsgID { return IDSetParams }

// Decode parses body into m.
func (m *SetParams) Decode(body []byte, _ *Header) error {
	r := reader{msg: IDSetParams, b: body}
	n := int(r.u8("count"))
	m.Params = decodeParams(&r, n, m.Params)
	return r.end("params")
}

// AppendTo appends the body; at most 255 parameters are written.
func (m *SetParams) AppendTo(dst []byte, _ Version) []byte { return appendParams(dst, m.Params) }
