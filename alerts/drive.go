package alerts

import (
	"time"

	"fleetmon/track"
)

// Drives: what a drive is, as opposed to GPS drift while parked. The
// rules that judge drives (after-hours and holiday use in
// rule_afterhours.go, sealed vehicle in rule_sealed.go) keep their own
// state; drive tells them, through one method each, as the drive moves on
// (afterHoursSegment, afterHoursDriving, sealedDriving), becomes real
// (driveBecameReal) and ends (driveEnded). The engine also records the
// drives it sees for the daily dispatch report (dispatch.go).

// DriveParams say what a drive is, as opposed to GPS drift while parked.
// A drive starts at the first fix with ACC on that is moving (speed at
// least MovingKmh or more than StopRadiusM from where the car stood). It
// is real once it has gone far enough and long enough (Match "all"): two
// consecutive fixes MinDistanceM or more from its start, and MinDuration
// since it started. With Match "any", as deployments write "1 km 或 5
// 分钟", either is enough; the duration then counts only while the car is
// more than StopRadiusM from its start and has not stood still for
// StopDuration, so that a parked car's GNSS drift never lasts long enough.
// A drive ends at ACC off, or when the car
// has stayed within StopRadiusM for StopDuration (the end is then the time
// it stopped). A fix implying more than MaxPlausibleKmh from the previous
// one is a GPS outlier and is skipped by every positional rule (the alarm
// bits it carries are still judged).
type DriveParams struct {
	MinDistanceM    float64  `json:"min_distance_m"`
	MinDuration     Duration `json:"min_duration"`
	Match           string   `json:"match"`
	MovingKmh       float32  `json:"moving_kmh"`
	StopRadiusM     float64  `json:"stop_radius_m"`
	StopDuration    Duration `json:"stop_duration"`
	MaxPlausibleKmh float64  `json:"max_plausible_kmh"`
}

// The values of DriveParams.Match.
const (
	DriveMatchAll = "all" // distance and duration
	DriveMatchAny = "any" // distance or duration
)

// DriveState follows the current drive (see DriveParams).
type DriveState struct {
	Active bool `json:"active"`
	Real   bool `json:"real"`
	Start  Fix  `json:"start"`
	// Far counts consecutive fixes MinDistanceM or more from Start.
	Far         int     `json:"far"`
	DistM       float64 `json:"dist_m"`
	MaxSpeedKmh float32 `json:"max_speed_kmh"`
	// Still is the first fix of the current stationary run and StillDistM
	// the drive's distance then.
	Still      Fix     `json:"still"`
	StillDistM float64 `json:"still_dist_m"`
}

// drive follows drives and tells the rules that judge them (after-hours
// and holiday use, sealed vehicle) as the drive moves on, becomes real
// and ends.
func (v *vehicle) drive(f Fix) {
	st := &v.st
	d := &st.Drive
	P := v.par.Drive
	if d.Active {
		// Silent for longer than a stop and hardly moved meanwhile (not a
		// tunnel): the car stopped at its last fix, whatever comes next.
		last := *st.Last
		gap := f.Time.Sub(last.Time)
		if gap > P.StopDuration.D() && DistanceM(last.Lat, last.Lon, f.Lat, f.Lon)/gap.Seconds()*3.6 < float64(P.MovingKmh) {
			v.driveEnded(last.Time, last)
		}
	}
	if !d.Active {
		if st.Last == nil || !f.Acc {
			return
		}
		last := *st.Last
		step := DistanceM(last.Lat, last.Lon, f.Lat, f.Lon)
		if f.SpeedKmh < P.MovingKmh && step <= P.StopRadiusM {
			return
		}
		start := last
		if f.Time.Sub(last.Time) > P.StopDuration.D() {
			start = f // it was parked long since: the drive starts now
			step = 0
		}
		*d = DriveState{Active: true, Start: start, Still: f, DistM: step, StillDistM: step, MaxSpeedKmh: f.SpeedKmh}
		v.afterHoursSegment(start.Time, f.Time, step, start, f)
	} else {
		last := *st.Last
		step := DistanceM(last.Lat, last.Lon, f.Lat, f.Lon)
		d.DistM += step
		d.MaxSpeedKmh = max(d.MaxSpeedKmh, f.SpeedKmh)
		if DistanceM(d.Still.Lat, d.Still.Lon, f.Lat, f.Lon) > P.StopRadiusM {
			d.Still, d.StillDistM = f, d.DistM
		}
		v.afterHoursSegment(last.Time, f.Time, step, last, f)
	}
	if DistanceM(d.Start.Lat, d.Start.Lon, f.Lat, f.Lon) >= P.MinDistanceM {
		d.Far++
	} else {
		d.Far = 0
	}
	// Two consecutive far fixes: one far fix may be a GNSS jump.
	if !d.Real && v.driveIsReal(f) {
		d.Real = true
		v.driveBecameReal()
	}
	if d.Real {
		v.afterHoursDriving(f)
		v.sealedDriving(f)
	}
	if !f.Acc || f.Time.Sub(d.Still.Time) >= P.StopDuration.D() {
		v.driveEnded(d.Still.Time, d.Still)
	}
}

// driveIsReal says whether the drive has become real at f (see
// DriveParams).
func (v *vehicle) driveIsReal(f Fix) bool {
	P, d := &v.par.Drive, &v.st.Drive
	far := d.Far >= 2
	long := f.Time.Sub(d.Start.Time) >= P.MinDuration.D()
	if P.Match != DriveMatchAny {
		return far && long
	}
	moving := f.Time.Sub(d.Still.Time) < P.StopDuration.D() &&
		DistanceM(d.Start.Lat, d.Start.Lon, f.Lat, f.Lon) > P.StopRadiusM
	return far || (long && moving)
}

// driveBecameReal tells the rules that judge drives that the drive is
// real: it is movement, not GPS drift.
func (v *vehicle) driveBecameReal() {
	v.afterHoursReal()
	v.sealedReal()
}

// driveEnded closes the drive at end (the time the car stopped, at).
func (v *vehicle) driveEnded(end time.Time, at Fix) {
	st := &v.st
	d := &st.Drive
	if d.Real && v.drives != nil {
		*v.drives = append(*v.drives, v.driveOf(end, at))
	}
	v.afterHoursEnded(end, at)
	v.sealedEnded(end, at)
	*d = DriveState{}
}

// Drive is one real drive as the rules see it (see DriveParams): real
// movement, not GPS drift while parked. It runs from the fix the car left
// from to the time it stopped.
type Drive struct {
	VehicleID          int64     `json:"vehicle_id"`
	Start              time.Time `json:"start"`
	End                time.Time `json:"end"`
	StartLat, StartLon float64
	EndLat, EndLon     float64
	DistanceM          float64 `json:"distance_m"`
	MaxSpeedKmh        float32 `json:"max_speed_kmh"`
	// Ongoing: the data ended during the drive; End is its last fix.
	Ongoing bool `json:"ongoing,omitempty"`
}

func (v *vehicle) driveOf(end time.Time, at Fix) Drive {
	d := &v.st.Drive
	dist := d.DistM
	if end.Equal(d.Still.Time) {
		dist = d.StillDistM
	}
	return Drive{VehicleID: v.info.ID, Start: d.Start.Time, End: end, StartLat: d.Start.Lat, StartLon: d.Start.Lon,
		EndLat: at.Lat, EndLon: at.Lon, DistanceM: dist, MaxSpeedKmh: d.MaxSpeedKmh}
}

// RecordDrives makes the engine collect every real drive of the vehicles
// registered from now on, as it ends; Drives returns them.
func (e *Engine) RecordDrives() {
	if e.drives == nil {
		e.drives = new([]Drive)
	}
	for _, v := range e.vs {
		v.drives = e.drives
	}
}

// Drives appends to dst the drives recorded since the last call, and
// those still under way at the vehicles' last fix (Ongoing), and forgets
// the ended ones.
func (e *Engine) Drives(dst []Drive) []Drive {
	if e.drives != nil {
		dst = append(dst, *e.drives...)
		*e.drives = (*e.drives)[:0]
	}
	for _, v := range e.vs {
		if d := &v.st.Drive; d.Active && d.Real && v.st.Last != nil {
			dr := v.driveOf(v.st.Last.Time, *v.st.Last)
			dr.Ongoing = true
			dst = append(dst, dr)
		}
	}
	return dst
}

// DrivesOf runs the rules' drive detection over one vehicle's positions
// (in device-time order) with cfg, and returns its drives, the last one
// Ongoing if the data ends during it.
func DrivesOf(cfg Config, v track.Vehicle, ps []track.Position) ([]Drive, error) {
	e, err := NewEngine(cfg, nil)
	if err != nil {
		return nil, err
	}
	e.RecordDrives()
	e.SetVehicle(v)
	var out []Episode
	for i := range ps {
		if out, err = e.Feed(out[:0], &ps[i]); err != nil {
			return nil, err
		}
	}
	return e.Drives(nil), nil
}
