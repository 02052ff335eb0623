package jt808

// Flag bits of 0x8300 (文本信息标志位含义), JT/T 808-2019 §8.27 (2013 §8.23 uses bit 0 as 紧急
// and bit 1 as reserved; 2019 makes bits 0-1 a two-bit type and adds the TextMessage.Type byte).
const (
	TextUrgent  uint8 = 1 << 0 // 2013: 紧急; 2019: bits 0-1 = 01 服务, 10 紧急, 11 通知
	TextDisplay uint8 = 1 << 2 // 终端显示器显示
	TextTTS     uint8 = 1 << 3 // 终端 TTS 播读
	TextAdvert  uint8 = 1 << 4 // 广告屏显示 (2013)
	TextCANCode uint8 = 1 << 5 // 0: 中心导航信息, 1: CAN 故障码信息
)

// Text types of the 2019 0x8300 文本类型 byte.
const (
	TextTypeNotice  uint8 = 1 // 通知
	TextTypeService uint8 = 2 // 服务
)

// TextMessage is 0x8300 文本信息下发.
//
// Layouts:
//   - JT/T 808-2013 §8.23: 标志 BYTE, 文本信息 STRING (at most 1024 bytes).
//   - JT/T 808-2019 §8.27: 标志 BYTE, 文本类型 BYTE, 文本信息 STRING (at most 1024 bytes).
//
// The text is decoded from GBK and trimmed of 0x00 and spaces at both ends. It retains nothing.
type TextMessage struct {
	Flags uint8  // 标志: Text* bits
	Type  uint8  // 文本类型, 2019 only: TextTypeNotice or TextTypeService
	Text  string // 文本信息
}

// ID returns IDTextMessage.
func (*TextMessage) ID() MsgID { return IDTextMessage }

// Decode parses the body in h's version layout.
func (m *TextMessage) Decode(body []byte, h *Header) error {
	r := reader{msg: IDTextMessage, b: body}
	m.Flags = r.u8("flags")
	m.Type = 0
	if versionOf(h) == Version2019 {
		m.Type = r.u8("text type")
	}
	m.Text = ""
	if r.err != nil {
		return r.err
	}
	m.Text = DecodeGBK(r.rest())
	return nil
}

// AppendTo appends the body in version v's layout. The text is not truncated: a caller that must
// respect the 1024-byte limit checks len(AppendGBK(nil, text)) first.
func (m *TextMessage) AppendTo(dst []byte, v Version) []byte {
	dst = append(dst, m.Flags)
	if v == Version2019 {
		dst = append(dst, m.Type)
	}
	return AppendGBK(dst, m.Text)
}
