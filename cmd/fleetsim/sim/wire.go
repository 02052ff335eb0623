package sim

import (
	"math"
	"time"

	"fleetmon/ingest/jt808"
)

// locationOf converts p to the wire units of a 0x0200 body in l: the one place where sim
// converts units. l is reset first and carries the four additional items every simulated
// terminal sends: mileage (0x01), fuel (0x02), signal (0x30) and satellites (0x31).
func locationOf(p *Point, l *jt808.Location) {
	l.Reset()
	l.Alarm = p.Alarm
	// JT/T 808-2019 表25: bit 0 ACC, bit 1 定位, bit 2 南纬, bit 3 西经.
	if p.ACC {
		l.Status |= jt808.StatusACC
	}
	if p.Positioned {
		l.Status |= jt808.StatusFixed
	}
	if p.Lat < 0 {
		l.Status |= jt808.StatusSouth
	}
	if p.Lon < 0 {
		l.Status |= jt808.StatusWest
	}
	l.LatE6 = uint32(math.Round(math.Min(math.Abs(p.Lat), 90) * 1e6))
	l.LonE6 = uint32(math.Round(math.Min(math.Abs(p.Lon), 180) * 1e6))
	l.AltitudeM = uint16(clamp(math.Round(p.AltitudeM), 0, math.MaxUint16))
	l.SpeedDeciKmh = uint16(clamp(math.Round(p.SpeedKmh*10), 0, math.MaxUint16))
	l.Heading = uint16(int(math.Round(normDeg(p.Heading))) % 360)
	l.Time = jt808.NewBCDTime(p.Time)
	l.Present = jt808.ItemMileage | jt808.ItemFuel | jt808.ItemSignal | jt808.ItemSatellites
	l.MileageDeciKm = uint32(clamp(math.Round(p.MileageKm*10), 0, math.MaxUint32))
	l.FuelDeciL = uint16(clamp(math.Round(p.FuelL*10), 0, math.MaxUint16))
	l.Signal = p.Signal
	l.Satellites = p.Satellites
}

// Fix is the 位置基本信息 of a point as it travels (JT/T 808-2019 表23: alarm,
// status, coordinates, altitude, speed, heading and BCD time; 28 bytes).
// Two points with the same Fix are the same report to a platform, which
// stores it once: a parked terminal reporting twice a second can repeat it.
type Fix [28]byte

// SameSecond reports whether f and g carry the same BCD time.
func (f Fix) SameSecond(g Fix) bool { return [6]byte(f[22:28]) == [6]byte(g[22:28]) }

// FixOf returns p's Fix.
func FixOf(p Point) Fix {
	var l jt808.Location
	locationOf(&p, &l)
	var buf [64]byte
	return Fix(l.AppendTo(buf[:0], jt808.Version2013)[:28])
}

// fixOfLocation returns the Fix of a location already converted for the wire.
func fixOfLocation(l *jt808.Location) Fix {
	var buf [64]byte
	return Fix(l.AppendTo(buf[:0], jt808.Version2013)[:28])
}

// Fields decodes the fix as it travels: alarm and status words, latitude and longitude in
// millionths of a degree (negative south and west), altitude in m, speed in 0.1 km/h,
// heading in degrees and the device time (GMT+8, to the second).
func (f Fix) Fields() (alarm, status uint32, latE6, lonE6 int64, altitude, speedDeci, heading uint16, t time.Time, err error) {
	be32 := func(b []byte) uint32 { return uint32(b[0])<<24 | uint32(b[1])<<16 | uint32(b[2])<<8 | uint32(b[3]) }
	be16 := func(b []byte) uint16 { return uint16(b[0])<<8 | uint16(b[1]) }
	alarm, status = be32(f[0:]), be32(f[4:])
	latE6, lonE6 = int64(be32(f[8:])), int64(be32(f[12:]))
	if status&jt808.StatusSouth != 0 {
		latE6 = -latE6
	}
	if status&jt808.StatusWest != 0 {
		lonE6 = -lonE6
	}
	altitude, speedDeci, heading = be16(f[16:]), be16(f[18:]), be16(f[20:])
	t, err = jt808.BCDTime(f[22:28]).Time()
	return
}

func clamp(v, lo, hi float64) float64 { return math.Max(lo, math.Min(hi, v)) }
