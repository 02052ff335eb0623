package alerts

import (
	"math"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"fleetmon/track"
)

var shanghai = mustLoc(DefaultTimeZone)

func mustLoc(name string) *time.Location {
	l, err := time.LoadLocation(name)
	if err != nil {
		panic(err)
	}
	return l
}

// at parses a local (Asia/Shanghai) time "2006-01-02 15:04[:05]".
func at(s string) time.Time {
	for _, layout := range []string{"2006-01-02 15:04:05", "2006-01-02 15:04"} {
		if t, err := time.ParseInLocation(layout, s, shanghai); err == nil {
			return t
		}
	}
	panic("bad time " + s)
}

// Home is the unit's yard in Nanjing; the test fences are around it.
const homeLat, homeLon = 32.0600, 118.7900

// trackBuilder makes labelled tracks: a vehicle parks, jitters and
// drives, one fix every `every`.
type trackBuilder struct {
	vid      int64
	t        time.Time
	lat, lon float64
	every    time.Duration
	alarm    uint32
	rnd      *rand.Rand
	out      []track.Position
}

func newTrack(vid int64, start string) *trackBuilder {
	return &trackBuilder{vid: vid, t: at(start), lat: homeLat, lon: homeLon, every: 30 * time.Second,
		rnd: rand.New(rand.NewPCG(uint64(vid), 7))}
}

func (b *trackBuilder) fix(lat, lon float64, kmh float32, acc bool) {
	var status uint32 = 2 // JT/T 808 status bit 1: 定位
	if acc {
		status |= 1
	}
	b.out = append(b.out, track.Position{VehicleID: b.vid, Time: b.t, Lat: lat, Lon: lon, SpeedKmh: kmh, Status: status, Alarm: b.alarm})
}

// move returns the point m metres from (lat, lon) on bearing deg.
func move(lat, lon, m, deg float64) (float64, float64) {
	r := deg * math.Pi / 180
	return lat + m*math.Cos(r)/mPerDegLat, lon + m*math.Sin(r)/(mPerDegLat*math.Cos(lat*math.Pi/180))
}

// park stays for d with GPS jitter of up to jitterM around the spot.
func (b *trackBuilder) park(d time.Duration, acc bool, jitterM float64) *trackBuilder {
	for end := b.t.Add(d); b.t.Before(end); b.t = b.t.Add(b.every) {
		lat, lon := move(b.lat, b.lon, jitterM*b.rnd.Float64(), 360*b.rnd.Float64())
		var kmh float32
		if jitterM > 0 {
			kmh = float32(b.rnd.Float64() * 8) // noisy GNSS speed while standing
		}
		b.fix(lat, lon, kmh, acc)
	}
	return b
}

// drive moves at kmh on bearing deg for d.
func (b *trackBuilder) drive(d time.Duration, kmh float64, deg float64) *trackBuilder {
	step := kmh / 3.6 * b.every.Seconds()
	for end := b.t.Add(d); b.t.Before(end); b.t = b.t.Add(b.every) {
		b.lat, b.lon = move(b.lat, b.lon, step, deg)
		b.fix(b.lat, b.lon, float32(kmh), true)
	}
	return b
}

// blind moves at kmh on bearing deg for d without a fix.
func (b *trackBuilder) blind(d time.Duration, kmh float64, deg float64) *trackBuilder {
	b.lat, b.lon = move(b.lat, b.lon, kmh/3.6*d.Seconds(), deg)
	b.t = b.t.Add(d)
	return b
}

func (b *trackBuilder) jump(t string) *trackBuilder { b.t = at(t); return b }

// memSource is a Source over positions held in memory: what the storage
// step will read from PostGIS.
type memSource struct{ ps []track.Position }

func (s *memSource) Positions(vid int64, after, through time.Time) ([]track.Position, error) {
	var out []track.Position
	for _, p := range s.ps {
		if p.VehicleID == vid && p.Time.After(after) && !p.Time.After(through) {
			out = append(out, p)
		}
	}
	return out, nil
}

// world is a test configuration: unit 10 (city) above unit 11 (a bureau)
// with a permitted area (10 km square around home), a parking polygon at
// home, a hotel, a prohibited place, a 40 km/h zone.
type world struct {
	cfg Config
}

func square(lat, lon, halfM float64) []Point {
	n, _ := move(lat, lon, halfM, 0)
	s, _ := move(lat, lon, halfM, 180)
	_, e := move(lat, lon, halfM, 90)
	_, w := move(lat, lon, halfM, 270)
	return []Point{{w, s}, {e, s}, {e, n}, {w, n}, {w, s}}
}

// borderM is the half-width of the city's permitted square.
const borderM = 50000

const (
	unitCity   = 10
	unitBureau = 11
)

var (
	hotelLat, hotelLon = move(homeLat, homeLon, 3000, 0)   // 3 km north
	golfLat, golfLon   = move(homeLat, homeLon, 3000, 180) // 3 km south
	zoneLat, zoneLon   = move(homeLat, homeLon, 2000, 270) // 2 km west
)

func testFences() []Fence {
	return []Fence{
		{ID: 1, Name: "市界", Kind: FencePermitted, UnitID: unitCity, Shape: Shape{Type: ShapePolygon, Polygons: []Polygon{{square(homeLat, homeLon, borderM)}}}},
		{ID: 2, Name: "机关车库", Kind: FenceParking, UnitID: unitBureau, Shape: Shape{Type: ShapePolygon, Polygons: []Polygon{{square(homeLat, homeLon, 150)}}}},
		{ID: 3, Name: "某酒店", Kind: FenceSensitive, Category: PlaceHotel, UnitID: unitCity, Shape: Shape{Type: ShapeCircle, Center: Point{hotelLon, hotelLat}, RadiusM: 200}},
		{ID: 4, Name: "高尔夫球场", Kind: FenceProhibited, UnitID: unitCity, Shape: Shape{Type: ShapeCircle, Center: Point{golfLon, golfLat}, RadiusM: 300}},
		{ID: 5, Name: "学校路段", Kind: FenceSpeedZone, VehicleID: 999, SpeedLimitKmh: 40, Shape: Shape{Type: ShapeCircle, Center: Point{zoneLon, zoneLat}, RadiusM: 500}},
		{ID: 6, Name: "别单位限速区", Kind: FenceSpeedZone, UnitID: 12345, SpeedLimitKmh: 40, Shape: Shape{Type: ShapeCircle, Center: Point{zoneLon, zoneLat}, RadiusM: 500}},
	}
}

func newWorld(t testing.TB, fences []Fence, approvals []Approval) *world {
	t.Helper()
	tree := Parents{unitBureau: unitCity}
	spec := CalendarSpec{ID: 1, UnitID: unitCity, Revision: 1, Week: StandardWeek()}
	cal, err := NewCalendar(spec, nil)
	if err != nil {
		t.Fatal(err)
	}
	cals, err := NewCalendars(tree, cal)
	if err != nil {
		t.Fatal(err)
	}
	fs, err := NewFenceSet(fences)
	if err != nil {
		t.Fatal(err)
	}
	pol, err := NewPolicy(tree, DefaultParams(), nil)
	if err != nil {
		t.Fatal(err)
	}
	aps, err := NewApprovals(approvals)
	if err != nil {
		t.Fatal(err)
	}
	return &world{Config{Tree: tree, Calendars: cals, Fences: fs, Policy: pol, Approvals: aps}}
}

// run feeds ps (in the order given) to a fresh engine and returns the
// episodes as a consumer that upserts by ID sees them at the end, in
// start order, without retracted ones.
func (w *world) run(t testing.TB, v track.Vehicle, ps []track.Position) []Episode {
	t.Helper()
	src := &memSource{}
	cfg := w.cfg
	if v.Sealed {
		cfg = sealedAllAlong(cfg, v.ID)
	}
	e, err := NewEngine(cfg, src)
	if err != nil {
		t.Fatal(err)
	}
	e.SetVehicle(v)
	view := map[string]Episode{}
	var out []Episode
	for i := range ps {
		src.ps = append(src.ps, ps[i]) // stored before alerts sees it
		out, err = e.Feed(out[:0], &ps[i])
		if err != nil {
			t.Fatalf("feed %d (%s): %v", i, ps[i].Time, err)
		}
		for _, ep := range out {
			view[ep.ID] = ep
		}
	}
	var eps []Episode
	for _, ep := range view {
		if ep.Status != EpisodeRetracted {
			eps = append(eps, ep)
		}
	}
	slices.SortFunc(eps, func(a, b Episode) int {
		if c := a.Start.Compare(b.Start); c != 0 {
			return c
		}
		return cmpString(string(a.Rule), string(b.Rule))
	})
	return eps
}

// sealedAllAlong is cfg with the vehicle sealed at every time: the
// engine tests' track.Vehicle{Sealed: true}.
func sealedAllAlong(cfg Config, vehicleID int64) Config {
	cfg.Seals = NewSeals([]track.SealPeriod{{VehicleID: vehicleID}})
	return cfg
}

func cmpString(a, b string) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}
