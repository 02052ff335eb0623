package jt808

// Param is one terminal parameter (终端参数项, JT/T 808-2019 §8.12 参数项数据格式): 参数 ID DWORD,
// 参数长度 BYTE, 参数值. The value is kept raw; the typed accessors read it as the parameter's
// type, which the standard gives per ID (表 终端参数设置各参数项定义及说明).
type Param struct {
	ID uint32
	// Value aliases the body given to Decode; it is valid while that buffer is. AppendTo writes at
	// most 255 bytes of it (the length field is a BYTE).
	Value []byte
}

// Well-known parameter IDs (终端参数设置各参数项定义及说明), with their types.
const (
	ParamHeartbeatInterval uint32 = 0x0001 // DWORD, seconds: 终端心跳发送间隔
	ParamTCPReplyTimeout   uint32 = 0x0002 // DWORD, seconds: TCP 消息应答超时时间
	ParamTCPRetries        uint32 = 0x0003 // DWORD: TCP 消息重传次数
	ParamServerAddress     uint32 = 0x0013 // STRING: 主服务器地址, IP 或域名
	ParamServerTCPPort     uint32 = 0x0018 // DWORD: 服务器 TCP 端口
	ParamReportStrategy    uint32 = 0x0020 // DWORD: 位置汇报策略, 0 定时 1 定距 2 定时和定距
	ParamReportScheme      uint32 = 0x0021 // DWORD: 位置汇报方案
	ParamSleepInterval     uint32 = 0x0027 // DWORD, seconds: 休眠时汇报时间间隔
	ParamSOSInterval       uint32 = 0x0028 // DWORD, seconds: 紧急报警时汇报时间间隔
	ParamDefaultInterval   uint32 = 0x0029 // DWORD, seconds: 缺省时间汇报间隔
	ParamMaxSpeed          uint32 = 0x0055 // DWORD, km/h: 最高速度
	ParamOverspeedDuration uint32 = 0x0056 // DWORD, seconds: 超速持续时间
	ParamOdometer          uint32 = 0x0080 // DWORD, 1/10 km: 车辆里程表读数
	ParamProvince          uint32 = 0x0081 // WORD: 车辆所在的省域 ID
	ParamCity              uint32 = 0x0082 // WORD: 车辆所在的市域 ID
	ParamPlate             uint32 = 0x0083 // STRING: 机动车号牌
	ParamPlateColor        uint32 = 0x0084 // BYTE: 车牌颜色
)

// Uint32 reads a DWORD value. It returns an error wrapping ErrParamLength unless the value is
// 4 bytes.
func (p Param) Uint32() (uint32, error) {
	if len(p.Value) != 4 {
		return 0, fieldErr(0, "param value", ErrParamLength)
	}
	return be32(p.Value), nil
}

// Uint16 reads a WORD value. It returns an error wrapping ErrParamLength unless the value is
// 2 bytes.
func (p Param) Uint16() (uint16, error) {
	if len(p.Value) != 2 {
		return 0, fieldErr(0, "param value", ErrParamLength)
	}
	return be16(p.Value), nil
}

// Uint8 reads a BYTE value. It returns an error wrapping ErrParamLength unless the value is
// 1 byte.
func (p Param) Uint8() (uint8, error) {
	if len(p.Value) != 1 {
		return 0, fieldErr(0, "param value", ErrParamLength)
	}
	return p.Value[0], nil
}

// Text reads a STRING value: GBK decoded to a new UTF-8 string, trimmed of 0x00 and spaces at
// both ends (terminals often send the STRING terminator).
func (p Param) Text() string { return DecodeGBK(p.Value) }

// Uint32Param returns a DWORD parameter. The value is a new 4-byte slice.
func Uint32Param(id, v uint32) Param { return Param{ID: id, Value: appendU32(make([]byte, 0, 4), v)} }

// Uint16Param returns a WORD parameter. The value is a new 2-byte slice.
func Uint16Param(id uint32, v uint16) Param {
	return Param{ID: id, Value: appendU16(make([]byte, 0, 2), v)}
}

// Uint8Param returns a BYTE parameter. The value is a new 1-byte slice.
func Uint8Param(id uint32, v uint8) Param { return Param{ID: id, Value: []byte{v}} }

// TextParam returns a STRING parameter, GBK encoded into a new slice.
func TextParam(id uint32, s string) Param { return Param{ID: id, Value: AppendGBK(nil, s)} }

// decodeParams reads n parameter items from r into params (reusing its capacity).
func decodeParams(r *reader, n int, params []Param) []Param {
	params = params[:0]
	// Each item is at least 5 bytes (ID DWORD + length BYTE): refuse an impossible count before
	// growing the slice.
	if r.err == nil && n*5 > len(r.b) {
		r.fail("params", ErrShortBody)
		return params
	}
	for i := 0; i < n && r.err == nil; i++ {
		id := r.u32("param id")
		size := r.u8("param length")
		val := r.bytes("param value", int(size))
		if r.err == nil {
			params = append(params, Param{ID: id, Value: val})
		}
	}
	return params
}

// appendParams appends the count BYTE and at most 255 parameter items.
func appendParams(dst []byte, params []Param) []byte {
	if len(params) > 0xff {
		params = params[:0xff]
	}
	dst = append(dst, byte(len(params)))
	for _, p := range params {
		v := p.Value
		if len(v) > 0xff {
			v = v[:0xff]
		}
		dst = appendU32(dst, p.ID)
		dst = append(dst, byte(len(v)))
		dst = append(dst, v...)
	}
	return dst
}
