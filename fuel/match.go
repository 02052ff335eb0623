package fuel

import (
	"sort"
	"time"

	"fleetmon/alerts"
	"fleetmon/track"
)

// Kind is the kind of mismatch a lead records.
type Kind string

// The kinds of lead, in the order a fill is judged.
const (
	// KindUnknownStation: the station is not in the station list, so where
	// the fill happened cannot be told.
	KindUnknownStation Kind = "unknown_station"
	// KindNoTrack: the car reported no position within the window around
	// the fill time, nor stood parked across it (a silent terminal while
	// its card was used).
	KindNoTrack Kind = "no_track"
	// KindAway: the car was never within Config.NearM of the station in
	// the window (the card filled another car, or was cashed out).
	KindAway Kind = "away"
	// KindOverTank: more litres than the tank holds.
	KindOverTank Kind = "over_tank"
	// KindOverDistance: more litres than the kilometres driven since the
	// previous fill burn at the vehicle's norm.
	KindOverDistance Kind = "over_distance"
	// KindHoliday: filled on a day off (weekend or holiday, 调休 taken
	// into account).
	KindHoliday Kind = "holiday"
	// KindAfterHours: filled on a working day before its first working
	// period began or after its last ended.
	KindAfterHours Kind = "after_hours"
)

// Kinds lists every kind, in the order a fill is judged.
var Kinds = []Kind{KindUnknownStation, KindNoTrack, KindAway, KindOverTank, KindOverDistance, KindHoliday, KindAfterHours}

// Known reports whether k is a kind of lead.
func (k Kind) Known() bool {
	for _, x := range Kinds {
		if x == k {
			return true
		}
	}
	return false
}

// Config tunes the matching. Zero fields take the defaults.
type Config struct {
	// NearM is how close to the station the car must have been, metres
	// (default 300: a forecourt, and a terminal's usual error).
	NearM float64
	// Window is how far around the fill time the track is searched, each
	// side (default 15 minutes: a statement's time is the till's, which
	// drifts, and a queue takes time).
	Window time.Duration
	// TankTolerance is the share above the tank's capacity still accepted
	// (default 0.05: the filler neck holds some).
	TankTolerance float64
	// DistanceTolerance is the share above what the kilometres driven burn
	// at the norm still accepted (default 0.3: town driving, air
	// conditioning, a tank not filled to the brim last time).
	DistanceTolerance float64
	// DistanceSlackL is the litres accepted whatever the distance (default
	// 5: a top-up, a gauge's error).
	DistanceSlackL float64
	// ExcerptPoints bounds the track excerpt kept with a lead (default 60).
	ExcerptPoints int
	// ParkedGap is the longest silence of a parked car whose reports
	// either side of an empty window still place it (default 2 h:
	// terminals report every 5 to 60 minutes with the ignition off).
	ParkedGap time.Duration
}

// WithDefaults returns c with its zero fields set to the defaults.
func (c Config) WithDefaults() Config {
	if c.NearM <= 0 {
		c.NearM = 300
	}
	if c.Window <= 0 {
		c.Window = 15 * time.Minute
	}
	if c.TankTolerance <= 0 {
		c.TankTolerance = 0.05
	}
	if c.DistanceTolerance <= 0 {
		c.DistanceTolerance = 0.3
	}
	if c.DistanceSlackL <= 0 {
		c.DistanceSlackL = 5
	}
	if c.ExcerptPoints <= 0 {
		c.ExcerptPoints = 60
	}
	if c.ParkedGap <= 0 {
		c.ParkedGap = 2 * time.Hour
	}
	return c
}

// Station is a station of the station list (WGS-84).
type Station struct {
	Name     string
	Lat, Lon float64
}

// Fill is one transaction of a card statement.
type Fill struct {
	ID      int64
	Card    string
	At      time.Time
	Station string
	Product string
	Litres  float64
	Amount  float64
	// Place is the station's entry in the list; nil when it has none.
	Place *Station
}

// Vehicle is what a vehicle's fills are judged against.
type Vehicle struct {
	ID, UnitID int64
	// TankL and NormL100km are the tank's capacity and the consumption
	// norm; 0 when not recorded, and then neither check is made.
	TankL, NormL100km float64
	// Calendar is the vehicle's unit's work calendar; nil: no time check.
	Calendar *alerts.Calendar
}

// Point is a position of a lead's track excerpt.
type Point struct {
	Time     time.Time `json:"t"`
	Lat      float64   `json:"lat"`
	Lon      float64   `json:"lon"`
	SpeedKmh float32   `json:"speed_kmh"`
}

// Figures are the numbers a lead stands on; only those of its kind are set.
type Figures struct {
	Litres float64 `json:"litres"`
	// NearestM is the least distance between the car and the station in
	// the window, metres, at NearestAt.
	NearestM  *float64   `json:"nearest_m,omitempty"`
	NearestAt *time.Time `json:"nearest_at,omitempty"`
	LimitM    float64    `json:"limit_m,omitempty"`
	TankL     float64    `json:"tank_l,omitempty"`
	// PreviousAt is the previous fill's time; KmSince the kilometres
	// driven since; ExpectedL what they burn at NormL100km; AllowedL what
	// was accepted with the tolerance and slack.
	PreviousAt *time.Time `json:"previous_at,omitempty"`
	KmSince    *float64   `json:"km_since,omitempty"`
	NormL100km float64    `json:"norm_l_100km,omitempty"`
	ExpectedL  *float64   `json:"expected_l,omitempty"`
	AllowedL   *float64   `json:"allowed_l,omitempty"`
	// DayKind is weekend or holiday (with its name) for KindHoliday; for
	// KindAfterHours, WorkStart and WorkEnd bound the working day.
	DayKind   string     `json:"day_kind,omitempty"`
	DayName   string     `json:"day_name,omitempty"`
	WorkStart *time.Time `json:"work_start,omitempty"`
	WorkEnd   *time.Time `json:"work_end,omitempty"`
}

// Lead is one mismatch of one fill.
type Lead struct {
	FillID    int64
	VehicleID int64
	Kind      Kind
	Figures   Figures
	// Excerpt is the track around the fill time (Config.Window each side),
	// thinned to at most Config.ExcerptPoints.
	Excerpt []Point
}

// movingKmh and jumpM decide which steps of the track count as driven: a
// parked terminal's drift is no kilometre, a step across a gap is.
const (
	movingKmh = 3
	jumpM     = 200
)

// Match judges one vehicle's fills (in time order) against pts, its track
// in time order from at least prev's time (or the first fill's, less the
// window) to the last fill's time plus the window. prev, when not nil, is
// the fill before the first, which the distance check of the first one
// counts from. The result depends on nothing else.
func Match(v Vehicle, prev *Fill, fills []Fill, pts []track.TrackPoint, cfg Config) []Lead {
	cfg = cfg.WithDefaults()
	// cum[i] is the distance driven from pts[0] to pts[i], metres.
	cum := make([]float64, len(pts))
	for i := 1; i < len(pts); i++ {
		a, b := &pts[i-1], &pts[i]
		d := track.DistanceM(a.Lat, a.Lon, b.Lat, b.Lon)
		if a.SpeedKmh < movingKmh && b.SpeedKmh < movingKmh && d < jumpM {
			d = 0
		}
		cum[i] = cum[i-1] + d
	}
	// at returns the index of the first point at or after t.
	at := func(t time.Time) int {
		return sort.Search(len(pts), func(i int) bool { return !pts[i].Time.Before(t) })
	}
	// drivenTo is the distance driven up to t, metres.
	drivenTo := func(t time.Time) float64 {
		i := at(t.Add(time.Nanosecond)) - 1
		if i < 0 {
			return 0
		}
		return cum[i]
	}
	var out []Lead
	for i := range fills {
		f := &fills[i]
		lead := func(k Kind, fig Figures) {
			fig.Litres = f.Litres
			out = append(out, Lead{FillID: f.ID, VehicleID: v.ID, Kind: k, Figures: fig})
		}
		lo, hi := at(f.At.Add(-cfg.Window)), at(f.At.Add(cfg.Window+time.Nanosecond))
		if lo == hi && lo > 0 && hi < len(pts) && parkedBetween(&pts[lo-1], &pts[hi], cfg) {
			// A parked terminal that reports seldom (or sleeps with the
			// ignition off): the reports either side, close in time and
			// place, say where the car stood at the fill.
			lo, hi = lo-1, hi+1
		}
		start := len(out)
		switch {
		case f.Place == nil:
			lead(KindUnknownStation, Figures{})
		case lo == hi:
			lead(KindNoTrack, Figures{})
		default:
			best, bestAt := -1.0, time.Time{}
			for j := lo; j < hi; j++ {
				d := track.DistanceM(pts[j].Lat, pts[j].Lon, f.Place.Lat, f.Place.Lon)
				if best < 0 || d < best {
					best, bestAt = d, pts[j].Time
				}
			}
			if best > cfg.NearM {
				lead(KindAway, Figures{NearestM: &best, NearestAt: &bestAt, LimitM: cfg.NearM})
			}
		}
		if v.TankL > 0 && f.Litres > v.TankL*(1+cfg.TankTolerance) {
			lead(KindOverTank, Figures{TankL: v.TankL})
		}
		var before *Fill
		if i > 0 {
			before = &fills[i-1]
		} else {
			before = prev
		}
		if v.NormL100km > 0 && before != nil {
			km := (drivenTo(f.At) - drivenTo(before.At)) / 1000
			expected := km * v.NormL100km / 100
			allowed := expected*(1+cfg.DistanceTolerance) + cfg.DistanceSlackL
			if f.Litres > allowed {
				pa := before.At
				lead(KindOverDistance, Figures{PreviousAt: &pa, KmSince: &km, NormL100km: v.NormL100km, ExpectedL: &expected, AllowedL: &allowed})
			}
		}
		if v.Calendar != nil {
			judgeTime(v.Calendar, f.At, lead)
		}
		if len(out) > start {
			ex := excerpt(pts[lo:hi], cfg.ExcerptPoints)
			for j := start; j < len(out); j++ {
				out[j].Excerpt = ex
			}
		}
	}
	return out
}

// parkedBetween reports whether the car stood still from a to b: at most
// Config.ParkedGap apart in time, and within Config.NearM of each other.
func parkedBetween(a, b *track.TrackPoint, cfg Config) bool {
	return b.Time.Sub(a.Time) <= cfg.ParkedGap && track.DistanceM(a.Lat, a.Lon, b.Lat, b.Lon) <= cfg.NearM
}

// judgeTime records a fill on a day off, or on a working day outside its
// working hours (a lunch break is within them: people fill up at noon).
func judgeTime(c *alerts.Calendar, t time.Time, lead func(Kind, Figures)) {
	d := alerts.DateOf(t.In(c.Location()))
	kind, name := c.DayKind(d)
	if !kind.Working() {
		lead(KindHoliday, Figures{DayKind: kind.String(), DayName: name})
		return
	}
	ps := c.WorkingPeriods(d)
	if len(ps) == 0 {
		lead(KindAfterHours, Figures{})
		return
	}
	start, end := ps[0].Start, ps[len(ps)-1].End
	if t.Before(start) || !t.Before(end) {
		lead(KindAfterHours, Figures{WorkStart: &start, WorkEnd: &end})
	}
}

// excerpt thins pts to at most n points, evenly, keeping the first and
// the last.
func excerpt(pts []track.TrackPoint, n int) []Point {
	out := make([]Point, 0, min(len(pts), n))
	step := 1.0
	if len(pts) > n {
		step = float64(len(pts)-1) / float64(n-1)
	}
	for k := 0; k < n; k++ {
		j := int(float64(k)*step + 0.5)
		if j >= len(pts) {
			break
		}
		p := &pts[j]
		out = append(out, Point{Time: p.Time, Lat: p.Lat, Lon: p.Lon, SpeedKmh: p.SpeedKmh})
	}
	return out
}
