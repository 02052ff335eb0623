package jt808

// Header lengths, JT/T 808-2019 §4.4.3 表2 (消息头). 2013: ID WORD, body properties WORD,
// phone BCD[6], serial WORD = 12 bytes. 2019 adds the protocol version BYTE and widens the phone
// to BCD[10] = 17 bytes. A sub-package adds total WORD and index WORD (消息包封装项) to either.
const (
	headerLen2013  = 12
	headerLen2019  = 17
	packageInfoLen = 4
)

// MaxBodyLen is the largest body the 10-bit length field can describe (消息体属性 bits 0-9).
// A longer body must be sent as sub-packages.
const MaxBodyLen = 1023

// Body-properties bits, JT/T 808-2019 图2 (消息体属性格式).
const (
	propLenMask     = 0x03ff // bits 0-9: 消息体长度
	propEncShift    = 10     // bits 10-12: 数据加密方式 (bit 10 set: RSA)
	propEncMask     = 0x7
	propFragmented  = 1 << 13 // bit 13: 分包
	propVersionFlag = 1 << 14 // bit 14: 版本标识 (2019)
	propReserved    = 1 << 15 // bit 15: 保留
)

// EncryptionRSA is the Encryption value for an RSA-encrypted body (消息体属性 bit 10).
const EncryptionRSA = 1

// Header is the message header (消息头) of both layouts.
type Header struct {
	ID         MsgID
	BodyLen    uint16 // 消息体长度, body-properties bits 0-9, as sent
	Encryption uint8  // 数据加密方式, bits 10-12 (0: none, EncryptionRSA: RSA)
	Fragmented bool   // 分包, bit 13: PkgTotal and PkgIndex are present
	// Version is Version2019 when body-properties bit 14 is set and the 2019 layout fits the
	// frame (see Decode); otherwise Version2013.
	Version Version
	// Bit14On2013 records the real-device quirk of a 2013-layout header with bit 14 set
	// (the frame's length only adds up with the 2013 layout). AppendTo sets bit 14 again when
	// it is true, so such a frame re-encodes byte for byte. It is false for normal headers.
	Bit14On2013 bool
	// Reserved is body-properties bit 15 (保留), kept so a header re-encodes byte for byte.
	Reserved bool
	ProtoVer uint8 // 协议版本号, 2019 only (1 for the first 2019 revision)
	Phone    Phone // 终端手机号
	Serial   uint16
	// PkgTotal and PkgIndex (1-based) are the 消息包封装项, present only when Fragmented.
	// Decode keeps them as sent without checking 1 <= PkgIndex <= PkgTotal.
	PkgTotal, PkgIndex uint16
}

// Len returns the encoded length of the header in bytes.
func (h *Header) Len() int {
	n := headerLen2013
	if h.Version == Version2019 {
		n = headerLen2019
	}
	if h.Fragmented {
		n += packageInfoLen
	}
	return n
}

// Decode parses a header from the front of src and returns the number of bytes it consumed.
// src should be the whole unescaped frame (message ID through check code, as given to
// ParseFrame), because the layout is chosen by length when bit 14 is set:
//
// Version policy. When body-properties bit 14 (版本标识) is clear the header is the 2011/2013
// layout. When it is set the header is the 2019 layout, unless len(src) equals
// 2013-header + BodyLen + 1 check byte while it does not equal the 2019 equivalent: then the
// frame is a real-device quirk (bit 14 set on a 2013 header, seen in SmallChi's test data) and
// Decode reads the 2013 layout, sets Version2013 and Bit14On2013. If neither layout fits,
// the flag wins (2019), and ParseFrame reports the mismatch.
//
// Decode retains nothing from src. It returns an error wrapping ErrShortFrame if src is shorter
// than the header.
func (h *Header) Decode(src []byte) (int, error) {
	if len(src) < 4 {
		var id MsgID
		if len(src) >= 2 {
			id = MsgID(src[0])<<8 | MsgID(src[1])
		}
		return 0, fieldErr(id, "header", ErrShortFrame)
	}
	id := MsgID(src[0])<<8 | MsgID(src[1])
	props := uint16(src[2])<<8 | uint16(src[3])
	*h = Header{
		ID:         id,
		BodyLen:    props & propLenMask,
		Encryption: uint8(props>>propEncShift) & propEncMask,
		Fragmented: props&propFragmented != 0,
		Reserved:   props&propReserved != 0,
	}
	extra := 0
	if h.Fragmented {
		extra = packageInfoLen
	}
	if props&propVersionFlag != 0 {
		h.Version = Version2019
		fits2019 := len(src) == headerLen2019+extra+int(h.BodyLen)+1
		fits2013 := len(src) == headerLen2013+extra+int(h.BodyLen)+1
		if fits2013 && !fits2019 {
			h.Version = Version2013
			h.Bit14On2013 = true
		}
	}
	n := h.Len()
	if len(src) < n {
		return 0, fieldErr(id, "header", ErrShortFrame)
	}
	p := src[4:]
	if h.Version == Version2019 {
		h.ProtoVer = p[0]
		p = p[1:]
		h.Phone.Len = 10
	} else {
		h.Phone.Len = 6
	}
	copy(h.Phone.BCD[:], p[:h.Phone.Len])
	p = p[h.Phone.Len:]
	h.Serial = uint16(p[0])<<8 | uint16(p[1])
	if h.Fragmented {
		h.PkgTotal = uint16(p[2])<<8 | uint16(p[3])
		h.PkgIndex = uint16(p[4])<<8 | uint16(p[5])
	}
	return n, nil
}

// AppendTo appends the header to dst with the body-properties length set to bodyLen, and returns
// the extended slice. The phone is written in the version's width (see Phone). bodyLen must be
// at most MaxBodyLen; only its low 10 bits are written, so callers split longer bodies into
// sub-packages first. h.BodyLen is ignored and not modified.
func (h *Header) AppendTo(dst []byte, bodyLen int) []byte {
	props := uint16(bodyLen) & propLenMask
	props |= uint16(h.Encryption&propEncMask) << propEncShift
	if h.Fragmented {
		props |= propFragmented
	}
	if h.Version == Version2019 || h.Bit14On2013 {
		props |= propVersionFlag
	}
	if h.Reserved {
		props |= propReserved
	}
	dst = append(dst, byte(h.ID>>8), byte(h.ID), byte(props>>8), byte(props))
	if h.Version == Version2019 {
		dst = append(dst, h.ProtoVer)
		dst = h.Phone.appendWire(dst, 10)
	} else {
		dst = h.Phone.appendWire(dst, 6)
	}
	dst = appendU16(dst, h.Serial)
	if h.Fragmented {
		dst = appendU16(dst, h.PkgTotal)
		dst = appendU16(dst, h.PkgIndex)
	}
	return dst
}
