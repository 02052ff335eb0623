package track

import (
	"crypto/rand"
	"encoding/binary"
	"encoding/hex"
	"math"
	"sync/atomic"
	"time"
)

// Beijing is China Standard Time (GMT+8, no daylight saving): the zone
// JT/T 808 terminals report in, the zone days are cut in (seals, reports)
// and the zone times are shown in. The codec keeps its own (jt808.CST),
// being a leaf that imports nothing of fleetmon.
var Beijing = time.FixedZone("CST", 8*3600)

// Position is one location report in real units, as stored in positions.
// Coordinates are WGS-84 degrees, south and west negative.
type Position struct {
	VehicleID  int64
	TerminalID int64
	// Time is the device time (the terminal's GMT+8 clock, converted once at
	// the boundary); Received is when fleetd read the frame.
	Time     time.Time
	Received time.Time
	Lat, Lon float64
	SpeedKmh float32
	// Heading is degrees clockwise from north, 0–359.
	Heading   int16
	AltitudeM int32
	// Alarm and Status are the JT/T 808 alarm and status bit fields as sent.
	Alarm, Status uint32

	// Has tells which optional items the report carried.
	Has         Optional
	MileageKm   float64
	FuelL       float32
	RecSpeedKmh float32
	Signal      uint8
	Satellites  uint8
	// Items is a JSON object with every other additional item, keyed by its
	// id in hex ("0x25"), or nil when there is none.
	Items []byte

	// Backfill is true for reports uploaded late from the terminal's
	// blind-zone buffer (0x0704 type 1).
	Backfill bool
	// FrameID names the raw frame the report came in.
	FrameID FrameID
}

// Optional is a set of flags for the optional fields of a Position.
type Optional uint8

// The optional fields of a Position.
const (
	HasMileage Optional = 1 << iota
	HasFuel
	HasRecSpeed
	HasSignal
	HasSatellites
)

// FixHash identifies the fix a report carries, for storing each report
// once: FNV-1a over the device time, coordinates, speed, heading, altitude,
// alarm and status. A resent report has the same hash; two different
// reports in the same second (JT/T 808 times have 1 s resolution) differ.
// Additional items are left out: a blind-zone back-fill of a report repeats
// its fix but not always its items.
func (p *Position) FixHash() int64 {
	const prime = 1099511628211
	h := uint64(14695981039346656037)
	mix := func(v uint64) {
		for range 8 {
			h ^= v & 0xff
			h *= prime
			v >>= 8
		}
	}
	mix(uint64(p.Time.Unix()))
	mix(math.Float64bits(p.Lat))
	mix(math.Float64bits(p.Lon))
	mix(uint64(math.Float32bits(p.SpeedKmh)))
	mix(uint64(uint16(p.Heading))<<32 | uint64(uint32(p.AltitudeM)))
	mix(uint64(p.Alarm)<<32 | uint64(p.Status))
	return int64(h)
}

// Acc reports the ACC (ignition) bit: JT/T 808 表 24 status bit 0.
func (p *Position) Acc() bool { return p.Status&1 != 0 }

// FrameID identifies a received frame. It is assigned by the gateway when
// the frame is read, so that a retried write stores the frame once.
type FrameID [16]byte

// FrameIDs makes frame ids: a random 64-bit prefix drawn once, then a
// 64-bit sequence, laid out as a UUID of version 8 (custom). Unique across
// processes without a random draw per frame (a syscall at 20,000 frames/s).
// Safe for concurrent use.
type FrameIDs struct {
	prefix [8]byte
	seq    atomic.Uint64
}

// NewFrameIDs returns a generator with a fresh random prefix.
func NewFrameIDs() *FrameIDs {
	g := &FrameIDs{}
	_, _ = rand.Read(g.prefix[:]) // crypto/rand.Read never fails on Linux.
	g.prefix[6] = g.prefix[6]&0x0f | 0x80
	return g
}

// Next returns the next id.
func (g *FrameIDs) Next() FrameID {
	var id FrameID
	copy(id[:8], g.prefix[:])
	binary.BigEndian.PutUint64(id[8:], g.seq.Add(1))
	id[8] = id[8]&0x3f | 0x80 // RFC 9562 variant; leaves 62 bits of sequence
	return id
}

// NewFrameID returns a random (version 4 UUID) frame id.
func NewFrameID() FrameID {
	var id FrameID
	_, _ = rand.Read(id[:])
	id[6] = id[6]&0x0f | 0x40
	id[8] = id[8]&0x3f | 0x80
	return id
}

// String returns the id in UUID form.
func (id FrameID) String() string {
	var b [36]byte
	hex.Encode(b[0:8], id[0:4])
	b[8] = '-'
	hex.Encode(b[9:13], id[4:6])
	b[13] = '-'
	hex.Encode(b[14:18], id[6:8])
	b[18] = '-'
	hex.Encode(b[19:23], id[8:10])
	b[23] = '-'
	hex.Encode(b[24:], id[10:])
	return string(b[:])
}

// RawFrame is one frame as received, kept as evidence in raw_frames.
type RawFrame struct {
	ID       FrameID
	Received time.Time
	// TerminalID is 0 when the frame came from a terminal not (yet) known.
	TerminalID int64
	Phone      string
	MsgID      uint16
	Serial     uint16
	// Frame is the un-escaped frame between the 0x7e delimiters, checksum
	// included.
	Frame []byte
	// Disposition says what the gateway made of the frame.
	Disposition Disposition
}

// Disposition says what the gateway made of a frame.
type Disposition string

// The dispositions stored in raw_frames.disposition.
const (
	DispOK              Disposition = "ok"
	DispChecksum        Disposition = "checksum"
	DispMalformed       Disposition = "malformed"
	DispUnauthenticated Disposition = "unauthenticated"
	DispUnsupported     Disposition = "unsupported"
	DispRejected        Disposition = "rejected"
	// DispJSON marks a JSON position message (MQTT), kept whole with msg_id 0.
	DispJSON Disposition = "json"
)

// Parked is a payload that could not be used (malformed, unknown terminal),
// kept in the parked table for inspection instead of being retried forever.
type Parked struct {
	Received time.Time
	// Source is where it came from ("mqtt"); Topic its MQTT topic.
	Source, Topic string
	// Kind is the payload's format ("frame", "json").
	Kind    string
	Payload []byte
	Reason  string
}

// Category is a vehicle category (公务用车 class).
type Category string

// The vehicle categories, accepted by ParseCategory in English or Chinese.
const (
	CategoryGeneral      Category = "general"
	CategoryConfidential Category = "confidential"
	CategoryEmergency    Category = "emergency"
	CategoryEnforcement  Category = "enforcement"
	CategorySpecial      Category = "special"
)

// categoryNames maps every accepted spelling of a category, English or Chinese,
// to the category.
var categoryNames = map[string]Category{
	"general":      CategoryGeneral,
	"一般公务用车":       CategoryGeneral,
	"confidential": CategoryConfidential,
	"机要通信用车":       CategoryConfidential,
	"emergency":    CategoryEmergency,
	"应急保障用车":       CategoryEmergency,
	"enforcement":  CategoryEnforcement,
	"执法执勤用车":       CategoryEnforcement,
	"special":      CategorySpecial,
	"特种专业技术用车":     CategorySpecial,
}

// ParseCategory accepts a category by its English or Chinese name.
func ParseCategory(s string) (Category, bool) {
	c, ok := categoryNames[s]
	return c, ok
}

// Vehicle is a registered vehicle.
type Vehicle struct {
	ID         int64
	Plate      string
	PlateColor uint8
	Category   Category
	UnitID     int64
	// UnitPath is the unit's path of names from the top, "/"-separated.
	UnitPath string
	// Sealed says whether the vehicle is sealed now (its history is
	// SealEntries: the rules judge each position by it, not by this).
	Sealed        bool
	TerminalPhone string
}

// Terminal is a terminal as the registry knows it.
type Terminal struct {
	ID int64
	// Phone is the phone number with leading zeros removed: the terminal's
	// identity across protocol versions.
	Phone     string
	VehicleID int64 // 0 when not bound to a vehicle
	AuthCode  string
}
