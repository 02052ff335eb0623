package jt808

// Auth is 0x0102 终端鉴权.
//
// Layouts:
//   - JT/T 808-2013 §8.8: 鉴权码 STRING, the whole body.
//   - JT/T 808-2019 §8.11: 鉴权码长度 BYTE, 鉴权码 STRING, 终端 IMEI BYTE[15],
//     软件版本号 BYTE[20] (0x00 padded).
//
// The header version decides, so a 2013-layout header with bit 14 set (Header.Bit14On2013) is
// read as 2013. Text is decoded from GBK and trimmed of 0x00 and spaces at both ends.
// Decode retains nothing from the body.
type Auth struct {
	Code            string // 鉴权码, as issued in 0x8100
	IMEI            string // 终端 IMEI, 2019 only
	SoftwareVersion string // 软件版本号, 2019 only
}

// Field widths of the 2019 layout.
const (
	authIMEILen    = 15
	authVersionLen = 20
)

// ID returns IDAuth.
func (*Auth) ID() MsgID { return IDAuth }

// Decode parses the body in h's version layout.
func (m *Auth) Decode(body []byte, h *Header) error {
	m.Code, m.IMEI, m.SoftwareVersion = "", "", ""
	if versionOf(h) != Version2019 {
		m.Code = DecodeGBK(body)
		return nil
	}
	r := reader{msg: IDAuth, b: body}
	n := r.u8("auth code length")
	code := r.bytes("auth code", int(n))
	imei := r.bytes("imei", authIMEILen)
	ver := r.bytes("software version", authVersionLen)
	if err := r.end("software version"); err != nil {
		return err
	}
	m.Code = DecodeGBK(code)
	m.IMEI = DecodeGBK(imei)
	m.SoftwareVersion = DecodeGBK(ver)
	return nil
}

// AppendTo appends the body in version v's layout. In the 2019 layout a code longer than 255
// GBK bytes is truncated to fit the length byte.
func (m *Auth) AppendTo(dst []byte, v Version) []byte {
	if v != Version2019 {
		return AppendGBK(dst, m.Code)
	}
	lenAt := len(dst)
	dst = append(dst, 0)
	dst = AppendGBK(dst, m.Code)
	n := len(dst) - lenAt - 1
	if n > 0xff {
		dst = dst[:lenAt+1+0xff]
		n = 0xff
	}
	dst[lenAt] = byte(n)
	dst = appendFixedGBK(dst, m.IMEI, authIMEILen)
	return appendFixedGBK(dst, m.SoftwareVersion, authVersionLen)
}
