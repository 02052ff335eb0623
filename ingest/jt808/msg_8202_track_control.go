package jt808

// TrackControl is 0x8202 临时位置跟踪控制 (JT/T 808-2019 §8.24; 2013 §8.21): 时间间隔 WORD,
// 位置跟踪有效期 DWORD. The same layout in every version; it retains nothing.
type TrackControl struct {
	IntervalS uint16 // 时间间隔, seconds between reports; 0 stops tracking (and ValidityS is absent)
	ValidityS uint32 // 位置跟踪有效期, seconds from receipt
}

// ID returns IDTrackControl.
func (*TrackControl) ID() MsgID { return IDTrackControl }

// Decode parses body into m. A body of just the WORD 0 (stop tracking; the standard says the
// validity is then not sent) is accepted with ValidityS 0.
func (m *TrackControl) Decode(body []byte, _ *Header) error {
	r := reader{msg: IDTrackControl, b: body}
	m.IntervalS = r.u16("interval")
	m.ValidityS = 0
	if r.err == nil && m.IntervalS == 0 && len(r.b) == 0 {
		return nil
	}
	m.ValidityS = r.u32("validity")
	return r.end("validity")
}

// AppendTo appends the 6-byte body. The validity is always written, as most terminals expect.
func (m *TrackControl) AppendTo(dst []byte, _ Version) []byte {
	return appendU32(appendU16(dst, m.IntervalS), m.ValidityS)
}
