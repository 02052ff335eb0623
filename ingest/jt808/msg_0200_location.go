package jt808

import (
	"math/bits"
	"time"
)

// Status bits of Location.Status, JT/T 808-2019 表25 (状态位定义); a few of the 32.
const (
	StatusACC   uint32 = 1 << 0 // ACC on
	StatusFixed uint32 = 1 << 1 // 定位: the position is a GNSS fix
	StatusSouth uint32 = 1 << 2 // 南纬: latitude is south
	StatusWest  uint32 = 1 << 3 // 西经: longitude is west
)

// Alarm bits of Location.Alarm, JT/T 808-2019 表24 (报警标志位定义); a few of the 32.
const (
	AlarmSOS           uint32 = 1 << 0  // 紧急报警
	AlarmOverspeed     uint32 = 1 << 1  // 超速报警
	AlarmFatigue       uint32 = 1 << 2  // 疲劳驾驶报警
	AlarmGNSSFault     uint32 = 1 << 4  // GNSS 模块发生故障
	AlarmPowerLow      uint32 = 1 << 7  // 终端主电源欠压
	AlarmPowerOff      uint32 = 1 << 8  // 终端主电源掉电
	AlarmAreaInOut     uint32 = 1 << 20 // 进出区域
	AlarmRouteInOut    uint32 = 1 << 21 // 进出路线
	AlarmRouteTime     uint32 = 1 << 22 // 路段行驶时间不足/过长
	AlarmIllegalMove   uint32 = 1 << 28 // 车辆非法位移
	AlarmCollisionRisk uint32 = 1 << 29 // 碰撞预警 (2013: 碰撞侧翻报警)
)

// Items is the set of standard additional items (位置附加信息, JT/T 808-2019 表27) that
// Location decoded into typed fields. Bits are in ascending item-ID order.
type Items uint16

// Standard additional items decoded into typed fields. Items not listed (0x05, 0x06, 0x14-0x24,
// 0x26-0x29, 0xE0-0xFF and any vendor ID) are kept raw in Location.Extra.
const (
	ItemMileage      Items = 1 << iota // 0x01 里程 DWORD, 1/10 km
	ItemFuel                           // 0x02 油量 WORD, 1/10 L
	ItemRecSpeed                       // 0x03 行驶记录功能获取的速度 WORD, 1/10 km/h
	ItemAlarmEventID                   // 0x04 需要人工确认报警事件的 ID WORD
	ItemOverSpeed                      // 0x11 超速报警附加信息 BYTE or BYTE[5] (表28)
	ItemAreaAlarm                      // 0x12 进出区域/路线报警附加信息 BYTE[6] (表29)
	ItemRouteTime                      // 0x13 路段行驶时间不足/过长报警附加信息 BYTE[7] (表30)
	ItemExtStatus                      // 0x25 扩展车辆信号状态位 DWORD (表31)
	ItemIOStatus                       // 0x2A IO 状态位 WORD (表32)
	ItemAnalog                         // 0x2B 模拟量 DWORD: bits 0-15 AD0, bits 16-31 AD1
	ItemSignal                         // 0x30 无线通信网络信号强度 BYTE
	ItemSatellites                     // 0x31 GNSS 定位卫星数 BYTE
	numStdItems      = iota
)

// stdItemIDs maps a standard item's bit index to its wire ID.
var stdItemIDs = [numStdItems]uint8{0x01, 0x02, 0x03, 0x04, 0x11, 0x12, 0x13, 0x25, 0x2a, 0x2b, 0x30, 0x31}

// Location types 0x11 and 0x12 use (位置类型).
const (
	AreaNone    uint8 = 0 // 无特定位置
	AreaCircle  uint8 = 1 // 圆形区域
	AreaRect    uint8 = 2 // 矩形区域
	AreaPolygon uint8 = 3 // 多边形区域
	AreaRoute   uint8 = 4 // 路段 / 路线
)

// OverSpeed is additional item 0x11 (表28 超速报警附加信息): 位置类型 BYTE, then 区域或路段 ID
// DWORD unless the type is AreaNone.
type OverSpeed struct {
	AreaType uint8
	AreaID   uint32
}

// AreaAlarm is additional item 0x12 (表29 进出区域/路线报警附加信息).
type AreaAlarm struct {
	AreaType  uint8  // 位置类型: AreaCircle .. AreaRoute
	AreaID    uint32 // 区域或路线 ID
	Direction uint8  // 方向: 0 进, 1 出
}

// RouteTime is additional item 0x13 (表30 路段行驶时间不足/过长报警附加信息).
type RouteTime struct {
	RouteID   uint32 // 路段 ID
	DurationS uint16 // 路段行驶时间, seconds
	Result    uint8  // 结果: 0 不足, 1 过长
}

// RawItem is an additional item kept as sent.
type RawItem struct {
	ID uint8
	// Val aliases the body given to Decode; it is valid while that buffer is. AppendTo writes at
	// most 255 bytes of it (the length field is a BYTE).
	Val []byte
}

// MaxExtraItems is how many raw additional items a Location holds. More is an error
// (ErrTooManyItems): real terminals send at most a dozen or so vendor items.
const MaxExtraItems = 32

// slot values in Location.order: 0..numStdItems-1 are standard items, rawSlot+i is Extra[i].
const rawSlot = 64

// locationBaseLen is the 位置基本信息 length, JT/T 808-2019 表23.
const locationBaseLen = 28

// Location is 0x0200 位置信息汇报 (JT/T 808-2019 §8.21, 表23 位置基本信息 and 表27 附加信息;
// 2013 §8.18): the same layout in every version. It is also the body of each 0x0704 item and the
// tail of 0x0201.
//
// It is a flyweight: Decode into the same value again reuses it and allocates nothing.
// Additional items with a standard ID and a length the standard allows are decoded into typed
// fields and flagged in Present; every other item (vendor IDs, 2019 items 0x05/0x06, a standard
// ID with a non-standard length, a repeated standard ID) is kept in Extra, whose Val slices alias
// the body. The order of items on the wire is remembered, so a decoded value re-encodes byte
// for byte.
//
// Decode does not validate Time or the coordinate ranges: conversion happens at the boundary
// (Timestamp, Lat, Lon), where the caller decides what to do with an invalid value.
type Location struct {
	Alarm        uint32  // 报警标志 (表24)
	Status       uint32  // 状态 (表25)
	LatE6        uint32  // 纬度, degrees × 10^6, unsigned; StatusSouth gives the sign
	LonE6        uint32  // 经度, degrees × 10^6, unsigned; StatusWest gives the sign
	AltitudeM    uint16  // 高程, metres
	SpeedDeciKmh uint16  // 速度, 1/10 km/h
	Heading      uint16  // 方向, degrees 0-359 clockwise from north
	Time         BCDTime // 时间, BCD[6] GMT+8, as sent

	Present         Items  // which typed items below are present
	MileageDeciKm   uint32 // 0x01, 1/10 km
	FuelDeciL       uint16 // 0x02, 1/10 L
	RecSpeedDeciKmh uint16 // 0x03, 1/10 km/h
	AlarmEventID    uint16 // 0x04
	OverSpeed       OverSpeed
	AreaAlarm       AreaAlarm
	RouteTime       RouteTime
	ExtStatus       uint32 // 0x25
	IOStatus        uint16 // 0x2A
	Analog          uint32 // 0x2B
	Signal          uint8  // 0x30
	Satellites      uint8  // 0x31

	// Extra holds the other items, in wire order; Extra[:NExtra] are valid and the rest are
	// ignored (and zero after Decode).
	Extra  [MaxExtraItems]RawItem
	NExtra int

	order  [numStdItems + MaxExtraItems]uint8 // wire order of decoded items, as slots
	nOrder int
}

// ID returns IDLocation.
func (*Location) ID() MsgID { return IDLocation }

// Reset sets l to Location{}. Decode needs no Reset first: it clears what an earlier Decode set.
func (l *Location) Reset() { *l = Location{} }

// Has reports whether all items in set are present.
func (l *Location) Has(set Items) bool { return l.Present&set == set }

// Decode parses body into l; see Location for what it keeps.
func (l *Location) Decode(body []byte, _ *Header) error { return l.decode(IDLocation, body) }

func (l *Location) decode(msg MsgID, body []byte) error {
	l.reset()
	if len(body) < locationBaseLen {
		r := reader{msg: msg, b: body}
		l.decodeBase(&r)
		return r.err
	}
	r := reader{msg: msg, b: body[:locationBaseLen]}
	l.decodeBase(&r)
	p := body[locationBaseLen:]
	for len(p) > 0 {
		if len(p) < 2 {
			return fieldErr(msg, "additional item length", ErrShortBody)
		}
		id, n := p[0], int(p[1])
		if len(p) < 2+n {
			return fieldErr(msg, "additional item value", ErrShortBody)
		}
		if !l.decodeStd(id, p[2:2+n]) {
			if l.NExtra == MaxExtraItems {
				return fieldErr(msg, "additional items", ErrTooManyItems)
			}
			l.Extra[l.NExtra] = RawItem{ID: id, Val: p[2 : 2+n : 2+n]}
			l.order[l.nOrder] = rawSlot + uint8(l.NExtra)
			l.NExtra++
			l.nOrder++
		}
		p = p[2+n:]
	}
	return nil
}

// reset zeroes l, touching only the Extra entries a previous Decode can have set.
func (l *Location) reset() {
	for i := 0; i < l.NExtra && i < MaxExtraItems; i++ {
		l.Extra[i] = RawItem{}
	}
	l.Alarm, l.Status, l.LatE6, l.LonE6 = 0, 0, 0, 0
	l.AltitudeM, l.SpeedDeciKmh, l.Heading = 0, 0, 0
	l.Time = BCDTime{}
	l.Present = 0
	l.MileageDeciKm, l.FuelDeciL, l.RecSpeedDeciKmh, l.AlarmEventID = 0, 0, 0, 0
	l.OverSpeed, l.AreaAlarm, l.RouteTime = OverSpeed{}, AreaAlarm{}, RouteTime{}
	l.ExtStatus, l.IOStatus, l.Analog, l.Signal, l.Satellites = 0, 0, 0, 0, 0
	l.NExtra = 0
	l.order = [len(l.order)]uint8{}
	l.nOrder = 0
}

func (l *Location) decodeBase(r *reader) {
	l.Alarm = r.u32("alarm")
	l.Status = r.u32("status")
	l.LatE6 = r.u32("latitude")
	l.LonE6 = r.u32("longitude")
	l.AltitudeM = r.u16("altitude")
	l.SpeedDeciKmh = r.u16("speed")
	l.Heading = r.u16("heading")
	copy(l.Time[:], r.bytes("time", 6))
}

// stdItemBit returns the Present bit index of a standard item ID and whether v has a length the
// standard allows for it (JT/T 808-2019 表27, 表28-表30).
func stdItemBit(id uint8, v []byte) (int, bool) {
	switch id {
	case 0x01:
		return 0, len(v) == 4
	case 0x02:
		return 1, len(v) == 2
	case 0x03:
		return 2, len(v) == 2
	case 0x04:
		return 3, len(v) == 2
	case 0x11:
		// 表28: only the type byte when the type is 0 (无特定位置), else type + DWORD ID.
		return 4, (len(v) == 1 && v[0] == AreaNone) || (len(v) == 5 && v[0] != AreaNone)
	case 0x12:
		return 5, len(v) == 6
	case 0x13:
		return 6, len(v) == 7
	case 0x25:
		return 7, len(v) == 4
	case 0x2a:
		return 8, len(v) == 2
	case 0x2b:
		return 9, len(v) == 4
	case 0x30:
		return 10, len(v) == 1
	case 0x31:
		return 11, len(v) == 1
	}
	return 0, false
}

// decodeStd decodes a standard item into its typed field and reports whether it did. It declines
// (and the caller keeps the item raw) for a non-standard ID, a non-standard length, or a second
// occurrence of an ID already decoded.
func (l *Location) decodeStd(id uint8, v []byte) bool {
	bit, ok := stdItemBit(id, v)
	if !ok || l.Present&(1<<bit) != 0 {
		return false
	}
	switch bit {
	case 0:
		l.MileageDeciKm = be32(v)
	case 1:
		l.FuelDeciL = be16(v)
	case 2:
		l.RecSpeedDeciKmh = be16(v)
	case 3:
		l.AlarmEventID = be16(v)
	case 4:
		if len(v) == 5 {
			l.OverSpeed = OverSpeed{AreaType: v[0], AreaID: be32(v[1:])}
		}
	case 5:
		l.AreaAlarm = AreaAlarm{AreaType: v[0], AreaID: be32(v[1:]), Direction: v[5]}
	case 6:
		l.RouteTime = RouteTime{RouteID: be32(v), DurationS: be16(v[4:]), Result: v[6]}
	case 7:
		l.ExtStatus = be32(v)
	case 8:
		l.IOStatus = be16(v)
	case 9:
		l.Analog = be32(v)
	case 10:
		l.Signal = v[0]
	case 11:
		l.Satellites = v[0]
	}
	l.Present |= 1 << bit
	l.order[l.nOrder] = uint8(bit)
	l.nOrder++
	return true
}

func be16(b []byte) uint16 { return uint16(b[0])<<8 | uint16(b[1]) }

func be32(b []byte) uint32 {
	return uint32(b[0])<<24 | uint32(b[1])<<16 | uint32(b[2])<<8 | uint32(b[3])
}

// AppendTo appends the body. Items are written in the order Decode saw them; items added or
// flagged after Decode (or in a value built by hand) follow: standard items in ascending ID
// order, then Extra in index order.
func (l *Location) AppendTo(dst []byte, _ Version) []byte {
	dst = appendU32(dst, l.Alarm)
	dst = appendU32(dst, l.Status)
	dst = appendU32(dst, l.LatE6)
	dst = appendU32(dst, l.LonE6)
	dst = appendU16(dst, l.AltitudeM)
	dst = appendU16(dst, l.SpeedDeciKmh)
	dst = appendU16(dst, l.Heading)
	dst = append(dst, l.Time[:]...)

	var buf [numStdItems + MaxExtraItems]uint8
	for _, slot := range l.itemOrder(&buf) {
		if slot < rawSlot {
			dst = l.appendStd(dst, int(slot))
		} else {
			dst = appendRaw(dst, &l.Extra[slot-rawSlot])
		}
	}
	return dst
}

// itemOrder lists the slots of the items AppendTo writes, in order, into buf: first the order
// Decode recorded (skipping items since removed), then standard items flagged since, in
// ascending ID order, then Extra entries not yet written, in index order.
func (l *Location) itemOrder(buf *[numStdItems + MaxExtraItems]uint8) []uint8 {
	out := buf[:0]
	nExtra := min(max(l.NExtra, 0), MaxExtraItems)
	present := l.Present & (1<<numStdItems - 1)
	var doneStd Items
	var doneRaw uint64
	for _, s := range l.order[:min(max(l.nOrder, 0), len(l.order))] {
		if s < rawSlot {
			if bit := Items(1) << s; present&bit != 0 && doneStd&bit == 0 {
				out = append(out, s)
				doneStd |= bit
			}
		} else if i := int(s - rawSlot); i < nExtra && doneRaw&(1<<i) == 0 {
			out = append(out, s)
			doneRaw |= 1 << i
		}
	}
	for rest := present &^ doneStd; rest != 0; rest &= rest - 1 {
		out = append(out, uint8(bits.TrailingZeros16(uint16(rest))))
	}
	for i := 0; i < nExtra; i++ {
		if doneRaw&(1<<i) == 0 {
			out = append(out, rawSlot+uint8(i))
		}
	}
	return out
}

func appendRaw(dst []byte, it *RawItem) []byte {
	v := it.Val
	if len(v) > 0xff {
		v = v[:0xff]
	}
	dst = append(dst, it.ID, byte(len(v)))
	return append(dst, v...)
}

func (l *Location) appendStd(dst []byte, bit int) []byte {
	id := stdItemIDs[bit]
	switch id {
	case 0x01:
		return appendU32(append(dst, id, 4), l.MileageDeciKm)
	case 0x02:
		return appendU16(append(dst, id, 2), l.FuelDeciL)
	case 0x03:
		return appendU16(append(dst, id, 2), l.RecSpeedDeciKmh)
	case 0x04:
		return appendU16(append(dst, id, 2), l.AlarmEventID)
	case 0x11:
		if l.OverSpeed.AreaType == AreaNone {
			return append(dst, id, 1, AreaNone)
		}
		return appendU32(append(dst, id, 5, l.OverSpeed.AreaType), l.OverSpeed.AreaID)
	case 0x12:
		a := &l.AreaAlarm
		return append(appendU32(append(dst, id, 6, a.AreaType), a.AreaID), a.Direction)
	case 0x13:
		t := &l.RouteTime
		return append(appendU16(appendU32(append(dst, id, 7), t.RouteID), t.DurationS), t.Result)
	case 0x25:
		return appendU32(append(dst, id, 4), l.ExtStatus)
	case 0x2a:
		return appendU16(append(dst, id, 2), l.IOStatus)
	case 0x2b:
		return appendU32(append(dst, id, 4), l.Analog)
	case 0x30:
		return append(dst, id, 1, l.Signal)
	default: // 0x31
		return append(dst, id, 1, l.Satellites)
	}
}

// ItemCount returns the number of additional items: typed ones plus Extra.
func (l *Location) ItemCount() int {
	return bits.OnesCount16(uint16(l.Present&(1<<numStdItems-1))) + min(max(l.NExtra, 0), MaxExtraItems)
}

// AppendItemIDs appends the additional-item IDs to dst in the order AppendTo writes them (wire
// order for a decoded value).
func (l *Location) AppendItemIDs(dst []byte) []byte {
	var buf [numStdItems + MaxExtraItems]uint8
	for _, slot := range l.itemOrder(&buf) {
		if slot < rawSlot {
			dst = append(dst, stdItemIDs[slot])
		} else {
			dst = append(dst, l.Extra[slot-rawSlot].ID)
		}
	}
	return dst
}

// Lat returns the latitude in degrees, negative in the southern hemisphere (StatusSouth).
func (l *Location) Lat() float64 {
	v := float64(l.LatE6) / 1e6
	if l.Status&StatusSouth != 0 {
		v = -v
	}
	return v
}

// Lon returns the longitude in degrees, negative in the western hemisphere (StatusWest).
func (l *Location) Lon() float64 {
	v := float64(l.LonE6) / 1e6
	if l.Status&StatusWest != 0 {
		v = -v
	}
	return v
}

// SpeedKmh returns the speed in km/h.
func (l *Location) SpeedKmh() float64 { return float64(l.SpeedDeciKmh) / 10 }

// Fixed reports whether the position is a GNSS fix (StatusFixed).
func (l *Location) Fixed() bool { return l.Status&StatusFixed != 0 }

// Timestamp converts Time, a GMT+8 wall-clock time per the standard, to a time.Time in CST.
// It returns an error wrapping ErrBadTime for an invalid BCD time.
func (l *Location) Timestamp() (time.Time, error) { return l.TimeIn(cst) }

// TimeIn reads Time as a wall-clock time in loc instead of GMT+8, for terminals known to
// deviate from the standard (some report UTC). Errors are as for Timestamp.
func (l *Location) TimeIn(loc *time.Location) (time.Time, error) {
	t, err := l.Time.TimeIn(loc)
	if err != nil {
		return t, fieldErr(IDLocation, "time", ErrBadTime)
	}
	return t, nil
}
