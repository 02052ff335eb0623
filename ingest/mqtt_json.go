package ingest

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strings"
	"time"

	"fleetmon/track"
)

// JSONPosition is the position format of JSONTopic. phone, time, lat and lon
// are required; time is RFC 3339 (give the offset: +08:00 for terminals'
// Beijing time). South and west are negative.
type JSONPosition struct {
	Phone      string    `json:"phone"`
	Time       time.Time `json:"time"`
	Lat        *float64  `json:"lat"`
	Lon        *float64  `json:"lon"`
	SpeedKmh   float32   `json:"speed_kmh"`
	Heading    int16     `json:"heading"`
	AltitudeM  int32     `json:"altitude_m"`
	Alarm      uint32    `json:"alarm"`
	Status     uint32    `json:"status"`
	MileageKm  *float64  `json:"mileage_km"`
	FuelL      *float32  `json:"fuel_l"`
	Signal     *uint8    `json:"signal"`
	Satellites *uint8    `json:"satellites"`
	Backfill   bool      `json:"backfill"`
}

// decodeJSON decodes JSONTopic's format. A message that is not one
// terminal's well-formed positions is parked whole; a position whose values
// cannot be stored is left out by the same rule as a batch item on TCP (see
// converter.convert): the rest are stored and the message parked beside
// them with the reason.
func (s *Subscriber) decodeJSON(ctx context.Context, payload []byte, received time.Time) (decoded, error) {
	var list []JSONPosition
	t := bytes.TrimSpace(payload)
	var err error
	if t[0] == '[' {
		err = json.Unmarshal(t, &list)
	} else {
		var one JSONPosition
		err = json.Unmarshal(t, &one)
		list = []JSONPosition{one}
	}
	if err != nil {
		return decoded{}, fmt.Errorf("json: %w", err)
	}
	if len(list) == 0 {
		return decoded{}, errors.New("json: empty array")
	}
	var term track.Terminal
	var phone string
	for i := range list {
		j := &list[i]
		if err := j.validate(); err != nil {
			return decoded{}, fmt.Errorf("json position %d: %w", i, err)
		}
		norm, err := track.NormalizePhone(j.Phone)
		if err != nil {
			return decoded{}, fmt.Errorf("json position %d: %w", i, err)
		}
		if phone != "" && norm != phone {
			return decoded{}, fmt.Errorf("json position %d: one message carries one terminal's positions (%s, then %s)", i, phone, norm)
		}
		phone = norm
	}
	term, ok, err := s.terminal(ctx, phone)
	if err != nil {
		return decoded{}, fmt.Errorf("look up terminal %s: %w", phone, err)
	} else if !ok {
		return decoded{}, fmt.Errorf("%w: %s", errUnknownTerminal, phone)
	}
	// The JSON message itself is the evidence: kept in raw_frames with
	// msg_id 0.
	rf := track.RawFrame{ID: s.ids.Next(), Received: received, TerminalID: term.ID, Phone: phone,
		Frame: append([]byte(nil), payload...), Disposition: track.DispJSON}
	var out decoded
	refused := 0
	var why error
	for i := range list {
		j := &list[i]
		if reason, err := j.check(&s.conv.times, received); err != nil {
			s.conv.refused[reason].Inc()
			if refused++; why == nil {
				why = fmt.Errorf("json position %d: %w", i, err)
			}
			continue
		}
		p := track.Position{VehicleID: term.VehicleID, TerminalID: term.ID, Time: j.Time.Truncate(time.Second),
			Received: received, Lat: *j.Lat, Lon: *j.Lon, SpeedKmh: j.SpeedKmh, Heading: j.Heading % 360,
			AltitudeM: j.AltitudeM, Alarm: j.Alarm, Status: j.Status, Backfill: j.Backfill, FrameID: rf.ID}
		if j.MileageKm != nil {
			p.Has |= track.HasMileage
			p.MileageKm = *j.MileageKm
		}
		if j.FuelL != nil {
			p.Has |= track.HasFuel
			p.FuelL = *j.FuelL
		}
		if j.Signal != nil {
			p.Has |= track.HasSignal
			p.Signal = *j.Signal
		}
		if j.Satellites != nil {
			p.Has |= track.HasSatellites
			p.Satellites = *j.Satellites
		}
		out.positions = append(out.positions, p)
	}
	if len(out.positions) == 0 {
		return decoded{}, why
	}
	if refused > 0 {
		out.refused = fmt.Errorf("%d of %d positions refused, the first: %w", refused, len(list), why)
	}
	out.frames = []track.RawFrame{rf}
	return out, nil
}

// validate checks what makes a message one terminal's positions: a message
// failing it is parked whole.
func (j *JSONPosition) validate() error {
	switch {
	case j.Phone == "":
		return errors.New("phone is required")
	case j.Time.IsZero():
		return errors.New("time is required (RFC 3339)")
	case j.Lat == nil || j.Lon == nil:
		return errors.New("lat and lon are required")
	}
	if strings.TrimSpace(j.Phone) != j.Phone {
		return errors.New("phone has spaces")
	}
	return nil
}

// check checks the values of a well-formed position received at received:
// one failing it is left out of its message.
func (j *JSONPosition) check(times *DeviceTimes, received time.Time) (refusal, error) {
	if math.IsNaN(*j.Lat) || math.Abs(*j.Lat) > 90 || math.IsNaN(*j.Lon) || math.Abs(*j.Lon) > 180 {
		return refusedInvalid, fmt.Errorf("position out of range: lat %v, lon %v", *j.Lat, *j.Lon)
	}
	return times.check(j.Time, received)
}
