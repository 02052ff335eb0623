package jt808

// ResendRequest is 0x8003 服务器补传分包请求: the platform asks the terminal to send some
// sub-packages of a message again.
//
// Layouts (the count field changed width):
//   - JT/T 808-2013 §8.4 表6: 原始消息流水号 WORD, 重传包总数 BYTE, 重传包 ID 列表 BYTE[2*n].
//   - JT/T 808-2019 §8.6: 原始消息流水号 WORD, 重传包总数 WORD, 重传包 ID 列表 BYTE[2*n].
//
// Decode reuses the capacity of IDs; it retains nothing from the body.
type ResendRequest struct {
	OrigSerial uint16   // 原始消息流水号: serial of the first sub-package of the original message
	IDs        []uint16 // 重传包 ID 列表: 1-based indexes of the sub-packages to send again
}

// ID returns IDResendRequest.
func (*ResendRequest) ID() MsgID { return IDResendRequest }

// Decode parses the body in h's version layout.
func (m *ResendRequest) Decode(body []byte, h *Header) error {
	r := reader{msg: IDResendRequest, b: body}
	m.OrigSerial = r.u16("original serial")
	var n int
	if versionOf(h) == Version2019 {
		n = int(r.u16("count"))
	} else {
		n = int(r.u8("count"))
	}
	m.IDs = m.IDs[:0]
	if r.err == nil && len(r.b) < 2*n {
		r.fail("ids", ErrShortBody)
	}
	for i := 0; i < n && r.err == nil; i++ {
		m.IDs = append(m.IDs, r.u16("ids"))
	}
	return r.end("ids")
}

// AppendTo appends the body in version v's layout. In the 2013 layout at most 255 IDs fit the
// count byte; further IDs are not written.
func (m *ResendRequest) AppendTo(dst []byte, v Version) []byte {
	dst = appendU16(dst, m.OrigSerial)
	ids := m.IDs
	if v == Version2019 {
		if len(ids) > 0xffff {
			ids = ids[:0xffff]
		}
		dst = appendU16(dst, uint16(len(ids)))
	} else {
		if len(ids) > 0xff {
			ids = ids[:0xff]
		}
		dst = append(dst, byte(len(ids)))
	}
	for _, id := range ids {
		dst = appendU16(dst, id)
	}
	return dst
}
