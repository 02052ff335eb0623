package jt808

// RegisterLayout is the 0x0100 body layout. The three versions differ in field widths; the
// header does not distinguish 2011 from 2013, so Decode tells them apart by body length.
type RegisterLayout uint8

// Register layouts.
const (
	// LayoutAuto is only meaningful to AppendTo: 2019 for Version2019, else 2013.
	LayoutAuto RegisterLayout = iota
	// Layout2011: JT/T 808-2011 §8.5 表6: maker BYTE[5], model BYTE[8], terminal ID BYTE[7].
	Layout2011
	// Layout2013: JT/T 808-2013 §8.5: maker BYTE[5], model BYTE[20], terminal ID BYTE[7].
	Layout2013
	// Layout2019: JT/T 808-2019 §8.8: maker BYTE[11], model BYTE[30], terminal ID BYTE[30].
	Layout2019
)

// String returns "2011", "2013", "2019" or "auto".
func (l RegisterLayout) String() string {
	switch l {
	case Layout2011:
		return "2011"
	case Layout2013:
		return "2013"
	case Layout2019:
		return "2019"
	}
	return "auto"
}

// Fixed part of each layout: province WORD + city WORD + maker + model + terminal ID +
// plate colour BYTE; the plate STRING takes the rest of the body.
var registerWidths = [...]struct{ maker, model, termID int }{
	Layout2011: {5, 8, 7},
	Layout2013: {5, 20, 7},
	Layout2019: {11, 30, 30},
}

func registerFixedLen(l RegisterLayout) int {
	w := registerWidths[l]
	return 2 + 2 + w.maker + w.model + w.termID + 1
}

// Register is 0x0100 终端注册 (JT/T 808-2019 §8.8; 2013 §8.5; 2011 §8.5 表6).
//
// Layout policy for Decode: a 2019 header means Layout2019. Otherwise a body of at least 37
// bytes (the 2013 fixed part) is Layout2013 and a shorter one of at least 25 bytes is Layout2011.
// A 2011 body whose plate is 12 or more GBK bytes is therefore read as 2013; no such plate exists
// in China (7-8 characters, at most 9 GBK bytes), which is why this is the rule common
// implementations use.
//
// Text fields are decoded from GBK and trimmed of 0x00 and spaces at both ends; other padding,
// such as ASCII '0' on the left, is kept (see DecodeGBK). Decode retains nothing from the body.
type Register struct {
	Province   uint16 // 省域 ID: first two digits of the GB/T 2260 code; 0 = platform default
	City       uint16 // 市县域 ID: last four digits of the GB/T 2260 code
	Maker      string // 制造商 ID
	Model      string // 终端型号
	TerminalID string // 终端 ID
	// PlateColor is 车牌颜色 (JT/T 697.7-2014 5.4.12: 1 blue, 2 yellow, 3 black, 4 white, 9 other);
	// 0 means the vehicle has no plate yet and Plate holds the VIN.
	PlateColor uint8
	Plate      string // 车辆标识: plate number (GBK on the wire) or VIN
	Layout     RegisterLayout
}

// ID returns IDRegister.
func (*Register) ID() MsgID { return IDRegister }

// Decode parses the body, choosing the layout as described on Register.
func (m *Register) Decode(body []byte, h *Header) error {
	switch {
	case versionOf(h) == Version2019:
		m.Layout = Layout2019
	case len(body) >= registerFixedLen(Layout2013):
		m.Layout = Layout2013
	default:
		m.Layout = Layout2011
	}
	w := registerWidths[m.Layout]
	r := reader{msg: IDRegister, b: body}
	m.Province = r.u16("province")
	m.City = r.u16("city")
	maker := r.bytes("maker", w.maker)
	model := r.bytes("model", w.model)
	termID := r.bytes("terminal id", w.termID)
	m.PlateColor = r.u8("plate color")
	plate := r.rest()
	if r.err != nil {
		m.Maker, m.Model, m.TerminalID, m.Plate = "", "", "", ""
		return r.err
	}
	m.Maker = DecodeGBK(maker)
	m.Model = DecodeGBK(model)
	m.TerminalID = DecodeGBK(termID)
	m.Plate = DecodeGBK(plate)
	return nil
}

// AppendTo appends the body in m.Layout (LayoutAuto: Layout2019 for Version2019, else
// Layout2013). Fixed-width text is truncated at a character boundary or right-padded with 0x00;
// the plate is written without padding.
func (m *Register) AppendTo(dst []byte, v Version) []byte {
	layout := m.Layout
	if layout == LayoutAuto || layout > Layout2019 {
		layout = Layout2013
		if v == Version2019 {
			layout = Layout2019
		}
	}
	w := registerWidths[layout]
	dst = appendU16(dst, m.Province)
	dst = appendU16(dst, m.City)
	dst = appendFixedGBK(dst, m.Maker, w.maker)
	dst = appendFixedGBK(dst, m.Model, w.model)
	dst = appendFixedGBK(dst, m.TerminalID, w.termID)
	dst = append(dst, m.PlateColor)
	return AppendGBK(dst, m.Plate)
}
