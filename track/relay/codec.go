package relay

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"time"

	"fleetmon/track"
)

// formatV1 is the first byte of a positions message: the version of the
// layout below. A node that reads another version counts the message as
// malformed, so nodes of different releases degrade to a partial live view
// rather than misreading each other.
const formatV1 = 1

// recordSize is one position on the wire: vehicle, terminal, device and
// received time (Unix microseconds), latitude and longitude (float64 bits),
// speed (float32 bits), heading, altitude, alarm, status, backfill; big
// endian. Only what the live stream and the map need travels: the database
// has the rest.
const recordSize = 8 + 8 + 8 + 8 + 8 + 8 + 4 + 2 + 4 + 4 + 4 + 1

// errFormat marks a positions message that does not decode.
var errFormat = errors.New("relay: malformed positions message")

// appendPositions appends ps as one positions message to dst.
func appendPositions(dst []byte, ps []track.Position) []byte {
	dst = append(dst, formatV1)
	dst = binary.AppendUvarint(dst, uint64(len(ps)))
	for i := range ps {
		p := &ps[i]
		dst = binary.BigEndian.AppendUint64(dst, uint64(p.VehicleID))
		dst = binary.BigEndian.AppendUint64(dst, uint64(p.TerminalID))
		dst = binary.BigEndian.AppendUint64(dst, uint64(p.Time.UnixMicro()))
		dst = binary.BigEndian.AppendUint64(dst, uint64(p.Received.UnixMicro()))
		dst = binary.BigEndian.AppendUint64(dst, math.Float64bits(p.Lat))
		dst = binary.BigEndian.AppendUint64(dst, math.Float64bits(p.Lon))
		dst = binary.BigEndian.AppendUint32(dst, math.Float32bits(p.SpeedKmh))
		dst = binary.BigEndian.AppendUint16(dst, uint16(p.Heading))
		dst = binary.BigEndian.AppendUint32(dst, uint32(p.AltitudeM))
		dst = binary.BigEndian.AppendUint32(dst, p.Alarm)
		dst = binary.BigEndian.AppendUint32(dst, p.Status)
		var b byte
		if p.Backfill {
			b = 1
		}
		dst = append(dst, b)
	}
	return dst
}

// decodePositions appends the positions of one message to dst. It retains
// nothing of src.
func decodePositions(dst []track.Position, src []byte) ([]track.Position, error) {
	if len(src) == 0 || src[0] != formatV1 {
		return dst, fmt.Errorf("%w: unknown version", errFormat)
	}
	n, k := binary.Uvarint(src[1:])
	if k <= 0 {
		return dst, fmt.Errorf("%w: count", errFormat)
	}
	b := src[1+k:]
	if n > uint64(len(b)/recordSize) || uint64(len(b)) != n*recordSize {
		return dst, fmt.Errorf("%w: %d bytes for %d positions", errFormat, len(b), n)
	}
	be := binary.BigEndian
	for ; len(b) > 0; b = b[recordSize:] {
		p := track.Position{
			VehicleID:  int64(be.Uint64(b[0:])),
			TerminalID: int64(be.Uint64(b[8:])),
			Time:       time.UnixMicro(int64(be.Uint64(b[16:]))),
			Received:   time.UnixMicro(int64(be.Uint64(b[24:]))),
			Lat:        math.Float64frombits(be.Uint64(b[32:])),
			Lon:        math.Float64frombits(be.Uint64(b[40:])),
			SpeedKmh:   math.Float32frombits(be.Uint32(b[48:])),
			Heading:    int16(be.Uint16(b[52:])),
			AltitudeM:  int32(be.Uint32(b[54:])),
			Alarm:      be.Uint32(b[58:]),
			Status:     be.Uint32(b[62:]),
			Backfill:   b[66] == 1,
		}
		dst = append(dst, p)
	}
	return dst, nil
}
