package jt808

import "time"

// QueryTimeReply is 0x8004 查询服务器时间应答, JT/T 808-2019 §8.5 (new in 2019): the platform's
// clock as BCD[6] YY-MM-DD-hh-mm-ss in UTC (the one BCD time in JT/T 808 that is not GMT+8).
// It retains nothing.
type QueryTimeReply struct {
	// Time is the server time. Decode returns it in time.UTC; AppendTo writes t.UTC() truncated
	// to the second (years 2000-2099, see NewBCDTime).
	Time time.Time
}

// ID returns IDQueryTimeReply.
func (*QueryTimeReply) ID() MsgID { return IDQueryTimeReply }

// Decode parses the 6-byte body; an invalid BCD time is an error wrapping ErrBadTime.
func (m *QueryTimeReply) Decode(body []byte, _ *Header) error {
	r := reader{msg: IDQueryTimeReply, b: body}
	var b BCDTime
	copy(b[:], r.bytes("time", 6))
	if err := r.end("time"); err != nil {
		m.Time = time.Time{}
		return err
	}
	t, err := b.TimeIn(time.UTC)
	if err != nil {
		m.Time = time.Time{}
		return fieldErr(IDQueryTimeReply, "time", ErrBadTime)
	}
	m.Time = t
	return nil
}

// AppendTo appends the 6-byte body.
func (m *QueryTimeReply) AppendTo(dst []byte, _ Version) []byte {
	b := NewBCDTimeIn(m.Time, time.UTC)
	return append(dst, b[:]...)
}
