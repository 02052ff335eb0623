package ingest

import (
	"encoding/hex"
	"fmt"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"fleetmon/ingest/jt808"
	"fleetmon/track"
)

// DeviceTimes bounds the device times a position may carry. A time outside
// them is refused (0x8001 result 2 on TCP, parked on MQTT) rather than
// stored: a report dated years ahead would otherwise create a partition
// for that year and stay the vehicle's newest report, so that genuine
// reports after it no longer move the vehicle.
type DeviceTimes struct {
	// MaxClockSkew is how far past fleetd's clock, when the report arrives,
	// a device time may lie. Default 10 minutes. A terminal with a GNSS fix
	// takes its clock from the satellites, and one without keeps an RTC that
	// drifts seconds a day, so a genuine report is never minutes ahead;
	// fleetd's own clock may be off by a little too. Every minute allowed is
	// a minute during which a wrong clock can hold the vehicle's latest
	// state ahead of the genuine reports, so the margin stays small.
	MaxClockSkew time.Duration
	// Earliest is the earliest device time accepted. Default 2011-01-01
	// GMT+8, the year JT/T 808 was published: no terminal reported before
	// it, while a terminal whose clock was reset reports 2000-01-01 (the
	// wire's two-digit year cannot say anything before 2000). Back-fills
	// of reports kept for months or a year are well after it.
	Earliest time.Time
}

func (d *DeviceTimes) defaults() {
	if d.MaxClockSkew <= 0 {
		d.MaxClockSkew = 10 * time.Minute
	}
	if d.Earliest.IsZero() {
		d.Earliest = time.Date(2011, 1, 1, 0, 0, 0, 0, jt808.CST())
	}
}

// refusal is why a position was refused: the reason label of the refused
// positions metrics.
type refusal uint8

const (
	refusedInvalid refusal = iota // an impossible time or coordinate
	refusedFuture                 // a device time beyond the clock skew
	refusedPast                   // a device time before DeviceTimes.Earliest
	numRefusals
)

var refusalLabels = [numRefusals]string{"invalid", "future", "past"}

// refusedCounters counts refused positions by reason.
type refusedCounters [numRefusals]prometheus.Counter

func newRefusedCounters(vec *prometheus.CounterVec) *refusedCounters {
	var c refusedCounters
	for i, l := range refusalLabels {
		c[i] = vec.WithLabelValues(l)
	}
	return &c
}

// check refuses a device time outside d, for a report received at
// received.
func (d *DeviceTimes) check(t, received time.Time) (refusal, error) {
	if t.After(received.Add(d.MaxClockSkew)) {
		return refusedFuture, fmt.Errorf("device time %s is in the future (more than %v ahead of the platform's clock)",
			t.Format(time.RFC3339), d.MaxClockSkew)
	}
	if t.Before(d.Earliest) {
		return refusedPast, fmt.Errorf("device time %s is before %s: the terminal's clock is not set",
			t.Format(time.RFC3339), d.Earliest.Format(time.DateOnly))
	}
	return 0, nil
}

// converter is the one conversion from a decoded JT/T 808 location message
// (0x0200, 0x0201, 0x0704) to the positions it carries and the raw frame
// that carried it, used by the TCP session and the MQTT subscriber alike so
// that both transports store the same rows and refuse the same items. Each
// owner keeps its own (it holds scratch space): it is not safe for
// concurrent use.
type converter struct {
	ids     *track.FrameIDs
	times   DeviceTimes
	refused *refusedCounters
	items   []byte // scratch for the JSON of the items without a column
}

// reports is what one location message yields.
type reports struct {
	positions []track.Position // owned by the caller (the sink keeps them)
	frame     track.RawFrame   // DispMalformed when an item was refused
	kind      string           // live, batch or backfill: the positions metric's label
	refused   int              // items left out
	why       error            // why the first of them was
}

// carriesPositions reports whether messages with id are location reports
// that convert turns into positions.
func carriesPositions(id jt808.MsgID) bool {
	return id == jt808.IDLocation || id == jt808.IDQueryLocationReply || id == jt808.IDBatchLocation
}

// convert turns m, a decoded location message of term's that arrived as raw
// (its un-escaped frame) with header h, into positions and its raw frame.
// ok is false when m carries no positions.
//
// The rule for an item that cannot be stored (an impossible time or
// coordinate, a device time outside c.times): it is left out, counted in refused, and the other items are
// still returned. A blind-zone batch holds reports the terminal kept while
// offline, possibly for days; refusing all of them for one bad item would
// lose the good ones for ever, since a terminal does not fix a batch and
// send it again. The frame is then marked malformed, and the transport
// answers as for a body that does not decode (0x8001 result 2 on TCP; parked
// with the reason on MQTT), because an acknowledgement would claim that
// every item was stored.
func (c *converter) convert(m jt808.Message, h *jt808.Header, raw []byte, term track.Terminal, received time.Time) (r reports, ok bool) {
	var one *jt808.Location
	var batch []jt808.Location
	backfill := false
	switch m := m.(type) {
	case *jt808.Location:
		one, r.kind = m, "live"
	case *jt808.QueryLocationReply:
		one, r.kind = &m.Location, "live"
	case *jt808.BatchLocation:
		batch, r.kind = m.Items, "batch"
		if m.Type == jt808.BatchBlindZone {
			backfill, r.kind = true, "backfill"
		}
	default:
		return r, false
	}
	r.frame = track.RawFrame{ID: c.ids.Next(), Received: received, TerminalID: term.ID, Phone: term.Phone,
		MsgID: uint16(h.ID), Serial: h.Serial, Frame: append([]byte(nil), raw...), Disposition: track.DispOK}
	n := len(batch)
	if one != nil {
		n = 1
	}
	r.positions = make([]track.Position, 0, n)
	add := func(loc *jt808.Location) {
		var p track.Position
		var err error
		if c.items, err = toPosition(loc, &p, c.items); err != nil {
			c.refused[refusedInvalid].Inc()
		} else if why, terr := c.times.check(p.Time, received); terr != nil {
			c.refused[why].Inc()
			err = terr
		}
		if err != nil {
			if r.refused++; r.why == nil {
				r.why = err
			}
			return
		}
		p.VehicleID, p.TerminalID = term.VehicleID, term.ID
		p.Received, p.FrameID, p.Backfill = received, r.frame.ID, backfill
		r.positions = append(r.positions, p)
	}
	if one != nil {
		add(one)
	}
	for i := range batch {
		add(&batch[i])
	}
	if r.refused > 0 {
		r.frame.Disposition = track.DispMalformed
	}
	return r, true
}

// toPosition converts a decoded 0x0200 body to a domain position: units and
// the time zone are converted here, once. items is a scratch buffer for the
// JSON of the other items; the returned position owns a copy.
func toPosition(loc *jt808.Location, p *track.Position, items []byte) ([]byte, error) {
	t, err := loc.Timestamp()
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
