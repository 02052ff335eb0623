package alerts

import (
	"fmt"

	"fleetmon/track"
)

// The speeding rule (超速). Its limit depends on the fences the fix is in,
// so places, which searches the fence index once per fix, calls it.

// SpeedParams: above the limit for MinDuration or more is 超速. The limit
// is LimitKmh of the vehicle's category, else DefaultKmh, lowered by any
// fence that contains the fix and sets SpeedLimitKmh. A limit of 0 means
// no limit.
type SpeedParams struct {
	DefaultKmh  float32                    `json:"default_kmh"`
	LimitKmh    map[track.Category]float32 `json:"limit_kmh,omitempty"`
	MinDuration Duration                   `json:"min_duration"`
}

// SpeedingState is what the speeding rule remembers: the run above the
// limit, an episode once it has lasted MinDuration.
type SpeedingState struct {
	Speed *Episode `json:"speed,omitempty"`
}

// speedLimit is the vehicle's limit by its category, before any fence
// lowers it; 0 means no limit.
func (v *vehicle) speedLimit() float32 {
	if l, ok := v.par.Speed.LimitKmh[v.info.Category]; ok {
		return l
	}
	return v.par.Speed.DefaultKmh
}

// lowerLimit returns limit lowered to fence c's, when c sets a lower one
// (or limit is none).
func lowerLimit(limit float32, c *fence) float32 {
	if c.SpeedLimitKmh > 0 && (limit <= 0 || c.SpeedLimitKmh < limit) {
		return c.SpeedLimitKmh
	}
	return limit
}

// speeding runs 超速: above limit for MinDuration, from the first fix above
// to the first fix at or below.
func (v *vehicle) speeding(f Fix, limit float32) {
	st := &v.st
	over := limit > 0 && f.SpeedKmh > limit && v.enabled(RuleSpeeding)
	ep := st.Speed
	switch {
	case over && ep == nil:
		st.Speed = newEpisode(RuleSpeeding, f, f.Time)
		st.Speed.Detail = fmt.Sprintf("limit %g km/h", limit)
		ep = st.Speed
	case over:
		ep.MaxSpeedKmh = max(ep.MaxSpeedKmh, f.SpeedKmh)
		last := st.Last
		if last != nil {
			ep.DistanceM += DistanceM(last.Lat, last.Lon, f.Lat, f.Lon)
		}
	case ep != nil:
		if ep.Status == EpisodeOpen {
			v.closeEp(ep, f.Time, f)
		}
		st.Speed = nil
		return
	default:
		return
	}
	if ep.Status == "" && f.Time.Sub(ep.Start) >= v.par.Speed.MinDuration.D() {
		v.emit(ep, EpisodeOpen)
	}
}
