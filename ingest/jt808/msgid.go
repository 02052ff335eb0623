package jt808

// MsgID is a JT/T 808 message ID (消息ID), the first WORD of every header.
type MsgID uint16

// Message IDs implemented by this package. The names follow what the message does; the Chinese
// names are those of JT/T 808-2019 附录 B (消息对照表).
const (
	IDTerminalReply      MsgID = 0x0001 // 终端通用应答
	IDPlatformReply      MsgID = 0x8001 // 平台通用应答
	IDHeartbeat          MsgID = 0x0002 // 终端心跳
	IDLogout             MsgID = 0x0003 // 终端注销
	IDQueryTime          MsgID = 0x0004 // 查询服务器时间请求 (2019)
	IDQueryTimeReply     MsgID = 0x8004 // 查询服务器时间应答 (2019)
	IDResendRequest      MsgID = 0x8003 // 服务器补传分包请求
	IDRegister           MsgID = 0x0100 // 终端注册
	IDRegisterReply      MsgID = 0x8100 // 终端注册应答
	IDAuth               MsgID = 0x0102 // 终端鉴权
	IDSetParams          MsgID = 0x8103 // 设置终端参数
	IDQueryParams        MsgID = 0x8104 // 查询终端参数
	IDQueryParamsReply   MsgID = 0x0104 // 查询终端参数应答
	IDLocation           MsgID = 0x0200 // 位置信息汇报
	IDQueryLocation      MsgID = 0x8201 // 位置信息查询
	IDQueryLocationReply MsgID = 0x0201 // 位置信息查询应答
	IDTrackControl       MsgID = 0x8202 // 临时位置跟踪控制
	IDAlarmConfirm       MsgID = 0x8203 // 人工确认报警消息
	IDTextMessage        MsgID = 0x8300 // 文本信息下发
	IDBatchLocation      MsgID = 0x0704 // 定位数据批量上传
)

const hexDigits = "0123456789abcdef"

// String formats the ID as "0x0200" (lower-case hex, four digits).
func (id MsgID) String() string {
	b := [6]byte{'0', 'x', hexDigits[id>>12&0xf], hexDigits[id>>8&0xf], hexDigits[id>>4&0xf], hexDigits[id&0xf]}
	return string(b[:])
}

// Version is the header layout. JT/T 808-2011 and JT/T 808-2013 share one header (Version2013);
// JT/T 808-2019 sets body-properties bit 14 and adds a protocol-version byte and a 10-byte phone.
type Version uint8

// Header layouts.
const (
	Version2013 Version = 0 // JT/T 808-2011 and -2013: 6-byte BCD phone, 12-byte header
	Version2019 Version = 1 // JT/T 808-2019: version byte, 10-byte BCD phone, 17-byte header
)

// String returns "2013" or "2019".
func (v Version) String() string {
	if v == Version2019 {
		return "2019"
	}
	return "2013"
}

// Result codes of 0x0001 and 0x8001, JT/T 808-2013 表4/表5 (结果).
const (
	ResultOK           uint8 = 0 // 成功/确认
	ResultFail         uint8 = 1 // 失败
	ResultBadMessage   uint8 = 2 // 消息有误
	ResultUnsupported  uint8 = 3 // 不支持
	ResultAlarmConfirm uint8 = 4 // 报警处理确认 (0x8001 only)
)

// Result codes of 0x8100, JT/T 808-2019 §8.9 (终端注册应答, 结果).
const (
	RegisterOK             uint8 = 0 // 成功
	RegisterVehicleTaken   uint8 = 1 // 车辆已被注册
	RegisterNoVehicle      uint8 = 2 // 数据库中无该车辆
	RegisterTerminalTaken  uint8 = 3 // 终端已被注册
	RegisterNoSuchTerminal uint8 = 4 // 数据库中无该终端
)
