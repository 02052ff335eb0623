package alerts

import "time"

// The sealed-vehicle rule (封存车辆移动): a vehicle sealed (封存) must not
// be driven at all; any real drive is an episode, open from the drive's
// start until it ends.

// SealedState is what the sealed-vehicle rule remembers: the episode of
// the current drive.
type SealedState struct {
	Sealed *Episode `json:"sealed,omitempty"`
}

// sealedReal opens the episode when a sealed vehicle's drive becomes real,
// from the drive's start.
func (v *vehicle) sealedReal() {
	st := &v.st
	d := &st.Drive
	if v.info.Sealed && v.enabled(RuleSealedMove) {
		ep := newEpisode(RuleSealedMove, d.Start, d.Start.Time)
		ep.DistanceM, ep.MaxSpeedKmh = d.DistM, d.MaxSpeedKmh
		v.emit(ep, EpisodeOpen)
		st.Sealed = ep
	}
}

// sealedDriving follows the drive's distance and top speed.
func (v *vehicle) sealedDriving() {
	d := &v.st.Drive
	if s := v.st.Sealed; s != nil {
		s.DistanceM, s.MaxSpeedKmh = d.DistM, d.MaxSpeedKmh
	}
}

// sealedEnded closes the episode with the drive, at end (the time the car
// stopped, at).
func (v *vehicle) sealedEnded(end time.Time, at Fix) {
	st := &v.st
	if s := st.Sealed; s != nil {
		s.DistanceM = st.Drive.StillDistM
		v.closeEp(s, end, at)
		st.Sealed = nil
	}
}
