package alerts

import (
	"time"

	"fleetmon/track"
)

// The working-time rules: after-hours use (非工作时间用车) and holiday use
// (节假日用车). A real drive's pieces outside the unit's working time and
// not covered by an approval make one violation run, which becomes an
// after-hours or a holiday-use episode by the kind of day it falls on.

// TimeParams are for after-hours and holiday use. A part of a real drive
// outside working time and not covered by an approval is a violation when
// it lasts MinViolation or more.
type TimeParams struct {
	MinViolation Duration         `json:"min_violation"`
	Exempt       []track.Category `json:"exempt,omitempty"`
}

// AfterHoursState is what the working-time rules remember: the current
// violation run, and the runs that ended before the drive was known to be
// real (emitted if it becomes real, forgotten if it ends first).
type AfterHoursState struct {
	TimeRun *Episode  `json:"time_run,omitempty"`
	Pending []Episode `json:"pending,omitempty"`
}

// afterHoursReal emits the violation runs held while the drive was not
// yet known to be real.
func (v *vehicle) afterHoursReal() {
	st := &v.st
	for i := range st.Pending {
		v.emit(&st.Pending[i], EpisodeClosed)
	}
	st.Pending = nil
}

// afterHoursDriving opens the current violation run once it has lasted
// MinViolation in a real drive.
func (v *vehicle) afterHoursDriving(f Fix) {
	if r := v.st.TimeRun; r != nil && r.Status == "" && f.Time.Sub(r.Start) >= v.par.Time.MinViolation.D() {
		v.emit(r, EpisodeOpen)
	}
}

// afterHoursEnded ends the violation run with the drive, at end (the time
// the car stopped, at), without the distance covered after it stopped
// moving. A drive that never became real leaves nothing.
func (v *vehicle) afterHoursEnded(end time.Time, at Fix) {
	st := &v.st
	d := &st.Drive
	if r := st.TimeRun; r != nil {
		if d.Real {
			r.DistanceM = max(0, r.DistanceM-(d.DistM-d.StillDistM))
			v.endRun(maxTime(end, r.Start), at)
		}
		st.TimeRun = nil
	}
	st.Pending = nil
}

func maxTime(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}

// calStatus returns the calendar's status at t, cached while it holds.
func (v *vehicle) calStatus(t time.Time) calStatus {
	if !v.csValid || t.Before(v.cs.from) || !t.Before(v.cs.until) {
		v.cs, v.csValid = v.cal.status(t), true
	}
	return v.cs
}

// afterHoursSegment judges the drive between fixes a (at time ta) and f:
// pieces outside working time and not approved extend the violation run.
func (v *vehicle) afterHoursSegment(ta, tb time.Time, dist float64, a, f Fix) {
	after, hol := v.enabled(RuleAfterHours), v.enabled(RuleHolidayUse)
	if !after && !hol {
		return
	}
	span := tb.Sub(ta)
	for t := ta; t.Before(tb); {
		cs := v.calStatus(t)
		next := cs.until
		covered, apNext, overrun := v.approvalAt(t, f, v.fences)
		if !apNext.IsZero() && apNext.Before(next) {
			next = apNext
		}
		if tb.Before(next) {
			next = tb
		}
		rule := RuleHolidayUse
		if cs.kind.Working() {
			rule = RuleAfterHours
		}
		viol := !cs.working && !covered && ((rule == RuleAfterHours && after) || (rule == RuleHolidayUse && hol))
		share := dist
		if span > 0 {
			share = dist * float64(next.Sub(t)) / float64(span)
		}
		v.timePiece(t, viol, rule, cs.name, share, a, f, overrun)
		t = next
	}
}

func (v *vehicle) timePiece(t time.Time, viol bool, rule RuleID, detail string, dist float64, a, f Fix, overrun int64) {
	st := &v.st
	r := st.TimeRun
	if r != nil && (!viol || r.Rule != rule || r.Detail != detail) {
		v.endRun(t, a)
		r = nil
	}
	if !viol {
		return
	}
	if r == nil {
		r = newEpisode(rule, a, t)
		r.Detail, r.ApprovalID = detail, overrun
		st.TimeRun = r
	}
	r.DistanceM += dist
	r.MaxSpeedKmh = max(r.MaxSpeedKmh, f.SpeedKmh)
}

// endRun ends the violation run at t.
func (v *vehicle) endRun(t time.Time, at Fix) {
	st := &v.st
	r := st.TimeRun
	st.TimeRun = nil
	r.End, r.EndLat, r.EndLon = t, at.Lat, at.Lon
	switch {
	case r.Status == EpisodeOpen:
		v.emit(r, EpisodeClosed)
	case t.Sub(r.Start) < v.par.Time.MinViolation.D():
	case st.Drive.Real:
		v.emit(r, EpisodeClosed)
	case len(st.Pending) < 8: // a drive has few boundaries before it is real
		st.Pending = append(st.Pending, *r)
	}
}
