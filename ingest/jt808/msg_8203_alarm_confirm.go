package jt808

// Alarm types of 0x8203 (人工确认报警类型), JT/T 808-2019 §8.25.
const (
	ConfirmSOS          uint32 = 1 << 0  // 确认紧急报警
	ConfirmDanger       uint32 = 1 << 3  // 确认危险预警
	ConfirmAreaInOut    uint32 = 1 << 20 // 确认进出区域报警
	ConfirmRouteInOut   uint32 = 1 << 21 // 确认进出路线报警
	ConfirmRouteTime    uint32 = 1 << 22 // 确认路段行驶时间不足/过长报警
	ConfirmIllegalStart uint32 = 1 << 27 // 确认车辆非法点火报警
	ConfirmIllegalMove  uint32 = 1 << 28 // 确认车辆非法位移报警
)

// AlarmConfirm is 0x8203 人工确认报警消息 (JT/T 808-2019 §8.25; 2013 §8.22): 报警消息流水号
// WORD, 人工确认报警类型 DWORD. The same layout in every version; it retains nothing.
type AlarmConfirm struct {
	AlarmSerial uint16 // 报警消息流水号: serial of the 0x0200 confirmed; 0 confirms all of that type
	Types       uint32 // 人工确认报警类型: Confirm* bits
}

// ID returns IDAlarmConfirm.
func (*AlarmConfirm) ID() MsgID { return IDAlarmConfirm }

// Decode parses the 6-byte body.
func (m *AlarmConfirm) Decode(body []byte, _ *Header) error {
	r := reader{msg: IDAlarmConfirm, b: body}
	m.AlarmSerial = r.u16("alarm serial")
	m.Types = r.u32("alarm types")
	return r.end("alarm types")
}

// AppendTo appends the 6-byte body.
func (m *AlarmConfirm) AppendTo(dst []byte, _ Version) []byte {
	return appendU32(appendU16(dst, m.AlarmSerial), m.Types)
}
