package alerts

import (
	"encoding/hex"
	"fmt"
	"hash/fnv"
	"time"
)

// EpisodeStatus is the state of an episode as last emitted.
type EpisodeStatus string

// The statuses. A retracted episode was emitted before late data showed it
// did not happen (e.g. a silence filled by a blind-zone back-fill).
const (
	EpisodeOpen      EpisodeStatus = "open"
	EpisodeClosed    EpisodeStatus = "closed"
	EpisodeRetracted EpisodeStatus = "retracted"
)

// Episode is one alert: a rule broken over a span of time. Consumers
// upsert episodes by ID; the same ID comes again when the episode closes
// or is corrected.
type Episode struct {
	// ID is derived from vehicle, rule, fence and start, so that
	// re-evaluation finds the same episode again.
	ID        string        `json:"id"`
	Status    EpisodeStatus `json:"status"`
	Rule      RuleID        `json:"rule"`
	VehicleID int64         `json:"vehicle_id"`
	UnitID    int64         `json:"unit_id"`
	FenceID   int64         `json:"fence_id,omitempty"`
	// ApprovalID is the approval whose window the drive overran, if any.
	ApprovalID int64     `json:"approval_id,omitempty"`
	Start      time.Time `json:"start"`
	// End is zero while the episode is open.
	End                time.Time `json:"end,omitzero"`
	StartLat, StartLon float64
	EndLat, EndLon     float64
	DistanceM          float64 `json:"distance_m"`
	MaxSpeedKmh        float32 `json:"max_speed_kmh"`
	// Detail is the holiday's name, the fence's name or the alarm.
	Detail          string `json:"detail,omitempty"`
	CalendarVersion string `json:"calendar_version,omitempty"`
	ParamsVersion   string `json:"params_version"`
	// Params is the JSON of the rule's parameters it was judged with.
	Params string `json:"params"`
}

// episodeID derives an episode's ID from what identifies it, so that a
// re-evaluation emits the same episode under the same ID.
func episodeID(vehicle int64, r RuleID, fence int64, start time.Time) string {
	h := fnv.New64a()
	fmt.Fprintf(h, "%d/%s/%d/%d", vehicle, r, fence, start.UnixNano())
	return hex.EncodeToString(h.Sum(nil))
}

// sameEpisode says whether a and b say the same thing, their times
// compared as instants (the same instant may carry another location).
func sameEpisode(a, b *Episode) bool {
	x, y := *a, *b
	if !x.Start.Equal(y.Start) || !x.End.Equal(y.End) {
		return false
	}
	x.Start, x.End, y.Start, y.End = time.Time{}, time.Time{}, time.Time{}, time.Time{}
	return x == y
}

// emit stamps ep with the common fields, marks it with status and appends
// a copy to v.out.
func (v *vehicle) emit(ep *Episode, status EpisodeStatus) {
	v.stamp(ep, status)
	v.out = append(v.out, *ep)
}

// stamp sets ep's status and the fields every episode of the vehicle
// carries: ids, its deterministic ID and what it was judged with.
func (v *vehicle) stamp(ep *Episode, status EpisodeStatus) {
	ep.Status = status
	ep.VehicleID = v.info.ID
	ep.UnitID = v.info.UnitID
	ep.ID = episodeID(ep.VehicleID, ep.Rule, ep.FenceID, ep.Start)
	ep.ParamsVersion = v.par.version
	ep.Params = v.par.ruleJSON[ep.Rule]
	switch ep.Rule {
	case RuleAfterHours, RuleHolidayUse, RuleNightParking:
		ep.CalendarVersion = v.cal.version
	}
}

// newEpisode starts an episode of rule r at time start, placed at fix at.
func newEpisode(r RuleID, at Fix, start time.Time) *Episode {
	return &Episode{Rule: r, Start: start, StartLat: at.Lat, StartLon: at.Lon, MaxSpeedKmh: at.SpeedKmh}
}

// closeEp ends ep at end, placed at fix at, and emits it closed.
func (v *vehicle) closeEp(ep *Episode, end time.Time, at Fix) {
	ep.End, ep.EndLat, ep.EndLon = end, at.Lat, at.Lon
	v.emit(ep, EpisodeClosed)
}
