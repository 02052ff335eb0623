package alerts

import "time"

// The silent-terminal rule (离线 while in use): a terminal that falls
// silent while the car is driving is the usual way to evade monitoring.
// The fix path judges the gap when the terminal speaks again; the clock
// (silentClock) judges it while the terminal is still silent.

// EvasionParams: a gap longer than SilentAfter between a moving fix (ACC
// on, at least Drive.MovingKmh) and a next fix SilentMinDistanceM or more
// away is a silent episode covering the gap.
type EvasionParams struct {
	SilentAfter        Duration `json:"silent_after"`
	SilentMinDistanceM float64  `json:"silent_min_distance_m"`
}

// silent emits a closed episode over the gap before f when it began while
// moving and ended far away. The rule keeps no state: the gap is between
// the last fix and f.
func (v *vehicle) silent(f Fix) {
	ev := v.par.Evasion
	if !v.enabled(RuleSilent) || ev.SilentAfter.D() <= 0 || v.st.Last == nil {
		return
	}
	last := *v.st.Last
	if f.Time.Sub(last.Time) <= ev.SilentAfter.D() || !v.inUse(last) {
		return
	}
	if d := DistanceM(last.Lat, last.Lon, f.Lat, f.Lon); d >= ev.SilentMinDistanceM {
		ep := newEpisode(RuleSilent, last, last.Time)
		ep.DistanceM = d
		ep.MaxSpeedKmh = max(last.SpeedKmh, f.SpeedKmh)
		v.closeEp(ep, f.Time, f)
	}
}

// silentClock appends the episode of a terminal silent since a fix that
// showed the car in use, as the clock sees it at asOf.
func (v *vehicle) silentClock(dst []Episode, asOf time.Time) []Episode {
	last := *v.st.Last
	if ev := v.par.Evasion; v.enabled(RuleSilent) && ev.SilentAfter.D() > 0 && asOf.Sub(last.Time) > ev.SilentAfter.D() && v.inUse(last) {
		ep := newEpisode(RuleSilent, last, last.Time)
		v.stamp(ep, EpisodeOpen)
		dst = append(dst, *ep)
	}
	return dst
}

// inUse says whether the vehicle was evidently in use at fix f (ACC on
// and moving), so that a terminal falling silent then is suspect.
func (v *vehicle) inUse(f Fix) bool {
	return f.Acc && f.SpeedKmh >= v.par.Drive.MovingKmh
}
