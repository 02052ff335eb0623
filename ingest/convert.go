package ingest

import (
	"encoding/hex"
	"fmt"
	"strconv"
	"time"

	"fleetmon/ingest/jt808"
	"fleetmon/track"
)

// terminalZone is the zone of JT/T 808 BCD times: GMT+8 (JT/T 808-2019 表 23).
var terminalZone = time.FixedZone("GMT+8", 8*3600)

// toPosition converts a decoded 0x0200 body to a domain position: units and
// the time zone are converted here, once. items is a scratch buffer for the
// JSON of the other items; the returned position owns a copy.
func toPosition(loc *jt808.Location, p *track.Position, items []byte) ([]byte, error) {
	t, err := loc.TimeIn(terminalZone)
	if err != nil {
		return items, fmt.Errorf("location time: %w", err)
	}
	p.Time = t
	// JT/T 808 表23: latitude and longitude in 10^-6 degrees. A value out of
	// range is a broken terminal (or test data), not a place.
	if loc.LatE6 > 90e6 || loc.LonE6 > 180e6 {
		return items, fmt.Errorf("position out of range: latitude %d, longitude %d (10^-6 degrees)", loc.LatE6, loc.LonE6)
	}
	p.Lat, p.Lon = loc.Lat(), loc.Lon()
	p.SpeedKmh = float32(loc.SpeedDeciKmh) / 10
	p.Heading = int16(loc.Heading % 360)
	p.AltitudeM = int32(int16(loc.AltitudeM)) // 2019 表 23: metres; negative below sea level as two's complement
	p.Alarm, p.Status = loc.Alarm, loc.Status
	p.Has = 0
	if loc.Has(jt808.ItemMileage) {
		p.Has |= track.HasMileage
		p.MileageKm = float64(loc.MileageDeciKm) / 10
	}
	if loc.Has(jt808.ItemFuel) {
		p.Has |= track.HasFuel
		p.FuelL = float32(loc.FuelDeciL) / 10
	}
	if loc.Has(jt808.ItemRecSpeed) {
		p.Has |= track.HasRecSpeed
		p.RecSpeedKmh = float32(loc.RecSpeedDeciKmh) / 10
	}
	if loc.Has(jt808.ItemSignal) {
		p.Has |= track.HasSignal
		p.Signal = loc.Signal
	}
	if loc.Has(jt808.ItemSatellites) {
		p.Has |= track.HasSatellites
		p.Satellites = loc.Satellites
	}
	items = appendItemsJSON(items[:0], loc)
	if len(items) > 0 {
		p.Items = append([]byte(nil), items...)
	} else {
		p.Items = nil
	}
	return items, nil
}

// appendItemsJSON appends a JSON object with the items that have no column
// of their own: decoded standard items by name, unknown (vendor) items as
// hex under their id. Nothing is appended when there are none.
func appendItemsJSON(dst []byte, loc *jt808.Location) []byte {
	start := len(dst)
	sep := func() {
		if len(dst) == start {
			dst = append(dst, '{')
		} else {
			dst = append(dst, ',')
		}
	}
	num := func(name string, v uint64) {
		sep()
		dst = append(dst, '"')
		dst = append(dst, name...)
		dst = append(dst, '"', ':')
		dst = strconv.AppendUint(dst, v, 10)
	}
	if loc.Has(jt808.ItemAlarmEventID) {
		num("alarm_event_id", uint64(loc.AlarmEventID))
	}
	if loc.Has(jt808.ItemOverSpeed) {
		num("overspeed_type", uint64(loc.OverSpeed.AreaType))
		if loc.OverSpeed.AreaType != 0 {
			num("overspeed_area", uint64(loc.OverSpeed.AreaID))
		}
	}
	if loc.Has(jt808.ItemAreaAlarm) {
		num("area_type", uint64(loc.AreaAlarm.AreaType))
		num("area_id", uint64(loc.AreaAlarm.AreaID))
		num("area_direction", uint64(loc.AreaAlarm.Direction))
	}
	if loc.Has(jt808.ItemRouteTime) {
		num("route_id", uint64(loc.RouteTime.RouteID))
		num("route_seconds", uint64(loc.RouteTime.DurationS))
		num("route_result", uint64(loc.RouteTime.Result))
	}
	if loc.Has(jt808.ItemExtStatus) {
		num("ext_status", uint64(loc.ExtStatus))
	}
	if loc.Has(jt808.ItemIOStatus) {
		num("io_status", uint64(loc.IOStatus))
	}
	if loc.Has(jt808.ItemAnalog) {
		num("analog", uint64(loc.Analog))
	}
	for _, it := range loc.Extra[:loc.NExtra] {
		sep()
		dst = append(dst, `"0x`...)
		dst = hex.AppendEncode(dst, []byte{it.ID})
		dst = append(dst, `":"`...)
		dst = hex.AppendEncode(dst, it.Val)
		dst = append(dst, '"')
	}
	if len(dst) > start {
		dst = append(dst, '}')
	}
	return dst
}
