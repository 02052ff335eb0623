package alerts

import (
	"fmt"
	"math"
	"slices"

	"github.com/tidwall/rtree"
)

// FenceKind says what a geofence is for.
type FenceKind string

// The fence kinds.
const (
	FencePermitted  FenceKind = "permitted"  // 允许行驶区域: leaving it is 越界
	FenceProhibited FenceKind = "prohibited" // 禁入区域
	FenceSensitive  FenceKind = "sensitive"  // 敏感区域: dwell beyond the category's time
	FenceParking    FenceKind = "parking"    // 定点停放 (designated parking)
	// FenceSpeedZone only sets a speed limit (Fence.SpeedLimitKmh).
	FenceSpeedZone FenceKind = "speed_zone"
)

// PlaceCategory is the category of a sensitive place; each has its own
// dwell threshold (Params.Places.Dwell).
type PlaceCategory string

// The sensitive place categories.
const (
	PlaceHotel       PlaceCategory = "hotel"
	PlaceGolf        PlaceCategory = "golf"
	PlaceKTVSauna    PlaceCategory = "ktv_sauna"
	PlaceScenic      PlaceCategory = "scenic"
	PlaceResidential PlaceCategory = "residential"
)

// ShapeType names a fence geometry.
type ShapeType string

// The shapes.
const (
	ShapePolygon      ShapeType = "polygon"
	ShapeMultiPolygon ShapeType = "multipolygon"
	ShapeCircle       ShapeType = "circle"
	ShapeCorridor     ShapeType = "corridor"
)

// Point is a WGS-84 position in degrees.
type Point struct {
	Lon float64 `json:"lon"`
	Lat float64 `json:"lat"`
}

// Polygon is an outer ring followed by its holes. Rings need not repeat
// their first point at the end.
type Polygon [][]Point

// Shape is a fence geometry. Which fields are used depends on Type:
// Polygons (one for a polygon, any number for a multipolygon), Center and
// RadiusM for a circle, Line and WidthM (full width, half on each side)
// for a corridor.
type Shape struct {
	Type     ShapeType `json:"type"`
	Polygons []Polygon `json:"polygons,omitempty"`
	Center   Point     `json:"center,omitzero"`
	RadiusM  float64   `json:"radius_m,omitempty"`
	Line     []Point   `json:"line,omitempty"`
	WidthM   float64   `json:"width_m,omitempty"`
}

// Fence is a geofence as stored. Exactly one of UnitID and VehicleID is
// set: a unit's fence applies to the unit's vehicles and to those of every
// unit below it.
type Fence struct {
	ID       int64         `json:"id"`
	Version  int           `json:"version"`
	Name     string        `json:"name"`
	Kind     FenceKind     `json:"kind"`
	Category PlaceCategory `json:"category,omitempty"`
	// DwellMin overrides the category's dwell threshold, in minutes; 0
	// keeps it.
	DwellMin float64 `json:"dwell_min,omitempty"`
	// SpeedLimitKmh, when positive, is the speed limit inside the fence.
	SpeedLimitKmh float32 `json:"speed_limit_kmh,omitempty"`
	UnitID        int64   `json:"unit_id,omitempty"`
	VehicleID     int64   `json:"vehicle_id,omitempty"`
	Shape         Shape   `json:"shape"`
}

// earthRadiusM is the mean Earth radius (IUGG), metres.
const earthRadiusM = 6371008.8

// mPerDegLat is metres per degree of latitude on the sphere.
const mPerDegLat = earthRadiusM * math.Pi / 180

// DistanceM returns the great-circle (haversine) distance in metres.
func DistanceM(lat1, lon1, lat2, lon2 float64) float64 {
	const r = math.Pi / 180
	dLat := (lat2 - lat1) * r
	dLon := (lon2 - lon1) * r
	s1, s2 := math.Sin(dLat/2), math.Sin(dLon/2)
	a := s1*s1 + math.Cos(lat1*r)*math.Cos(lat2*r)*s2*s2
	return 2 * earthRadiusM * math.Asin(math.Sqrt(math.Min(1, a)))
}

// fence is a Fence compiled for the rules: bounding box and shape in a form
// that answers containment and signed distance.
type fence struct {
	Fence
	minLon, minLat, maxLon, maxLat float64
}

// compileFence checks f and computes its bounding box.
func compileFence(f Fence) (*fence, error) {
	c, err := buildFence(f)
	if err != nil {
		return nil, fmt.Errorf("alerts: fence %d (%q): %w", f.ID, f.Name, err)
	}
	return c, nil
}

// CheckFence says what is wrong with f, in words fit for the person who
// drew or imported it (no fence id: a new fence has none yet), or nil.
func CheckFence(f Fence) error {
	_, err := buildFence(f)
	return err
}

// buildFence is compileFence without naming the fence in its errors.
func buildFence(f Fence) (*fence, error) {
	bad := func(format string, a ...any) error {
		return fmt.Errorf(format, a...)
	}
	switch f.Kind {
	case FencePermitted, FenceProhibited, FenceParking:
	case FenceSpeedZone:
		if !(f.SpeedLimitKmh > 0) {
			return nil, bad("speed zone needs speed_limit_kmh > 0")
		}
	case FenceSensitive:
		switch f.Category {
		case PlaceHotel, PlaceGolf, PlaceKTVSauna, PlaceScenic, PlaceResidential:
		default:
			return nil, bad("敏感区域须有类别 (a sensitive place needs a category): %v", &UnknownNameError{What: "类别 category", Name: string(f.Category), Valid: stringsOf(PlaceCategories)})
		}
	default:
		return nil, bad("%v", &UnknownNameError{What: "围栏类型 fence kind", Name: string(f.Kind), Valid: stringsOf(FenceKinds)})
	}
	if (f.UnitID == 0) == (f.VehicleID == 0) {
		return nil, bad("exactly one of unit and vehicle must own it")
	}
	c := &fence{Fence: f, minLon: math.Inf(1), minLat: math.Inf(1), maxLon: math.Inf(-1), maxLat: math.Inf(-1)}
	grow := func(p Point) error {
		if !(p.Lat >= -90 && p.Lat <= 90 && p.Lon >= -180 && p.Lon <= 180) {
			return bad("coordinate %v,%v out of range", p.Lon, p.Lat)
		}
		c.minLon, c.maxLon = math.Min(c.minLon, p.Lon), math.Max(c.maxLon, p.Lon)
		c.minLat, c.maxLat = math.Min(c.minLat, p.Lat), math.Max(c.maxLat, p.Lat)
		return nil
	}
	s := f.Shape
	switch s.Type {
	case ShapePolygon, ShapeMultiPolygon:
		if len(s.Polygons) == 0 || (s.Type == ShapePolygon && len(s.Polygons) != 1) {
			return nil, bad("%s with %d polygons", s.Type, len(s.Polygons))
		}
		for _, poly := range s.Polygons {
			if len(poly) == 0 {
				return nil, bad("polygon without rings")
			}
			for _, ring := range poly {
				n := len(ring)
				if n > 0 && ring[0] == ring[n-1] {
					n--
				}
				if n < 3 {
					return nil, bad("ring with %d points", n)
				}
				for _, p := range ring {
					if err := grow(p); err != nil {
						return nil, err
					}
				}
			}
		}
	case ShapeCircle:
		if !(s.RadiusM > 0) {
			return nil, bad("circle needs radius_m > 0")
		}
		if err := grow(s.Center); err != nil {
			return nil, err
		}
		c.pad(s.RadiusM)
	case ShapeCorridor:
		if len(s.Line) < 2 || !(s.WidthM > 0) {
			return nil, bad("corridor needs 2 or more points and width_m > 0")
		}
		for _, p := range s.Line {
			if err := grow(p); err != nil {
				return nil, err
			}
		}
		c.pad(s.WidthM / 2)
	default:
		return nil, bad("unknown shape %q", s.Type)
	}
	return c, nil
}

// pad grows the bounding box by m metres on every side.
func (c *fence) pad(m float64) {
	dLat := m / mPerDegLat
	cos := math.Cos(math.Min(89, math.Max(math.Abs(c.minLat), math.Abs(c.maxLat))+dLat) * math.Pi / 180)
	dLon := m / (mPerDegLat * cos)
	c.minLat, c.maxLat = c.minLat-dLat, c.maxLat+dLat
	c.minLon, c.maxLon = c.minLon-dLon, c.maxLon+dLon
}

// contains reports whether the point is inside the fence (on a polygon's
// edge counts either way).
func (c *fence) contains(lat, lon float64) bool {
	if lat < c.minLat || lat > c.maxLat || lon < c.minLon || lon > c.maxLon {
		return false
	}
	s := &c.Shape
	switch s.Type {
	case ShapeCircle:
		return DistanceM(lat, lon, s.Center.Lat, s.Center.Lon) <= s.RadiusM
	case ShapeCorridor:
		return lineDistM(s.Line, lat, lon) <= s.WidthM/2
	}
	for _, poly := range s.Polygons {
		if polyContains(poly, lat, lon) {
			return true
		}
	}
	return false
}

// signedDistM returns the distance in metres from the point to the fence's
// border: negative inside, positive outside.
func (c *fence) signedDistM(lat, lon float64) float64 {
	s := &c.Shape
	switch s.Type {
	case ShapeCircle:
		return DistanceM(lat, lon, s.Center.Lat, s.Center.Lon) - s.RadiusM
	case ShapeCorridor:
		return lineDistM(s.Line, lat, lon) - s.WidthM/2
	}
	d := math.Inf(1)
	in := false
	for _, poly := range s.Polygons {
		if polyContains(poly, lat, lon) {
			in = true
		}
		for _, ring := range poly {
			d = math.Min(d, ringDistM(ring, lat, lon))
		}
	}
	if in {
		return -d
	}
	return d
}

// polyContains tests by even-odd ray casting in degrees, holes included:
// edges are short next to the curvature that matters at city scale.
func polyContains(poly Polygon, lat, lon float64) bool {
	in := false
	for _, ring := range poly {
		n := len(ring)
		for i, j := 0, n-1; i < n; j, i = i, i+1 {
			a, b := ring[i], ring[j]
			if (a.Lat > lat) != (b.Lat > lat) &&
				lon < (b.Lon-a.Lon)*(lat-a.Lat)/(b.Lat-a.Lat)+a.Lon {
				in = !in
			}
		}
	}
	return in
}

// The distance helpers project onto a local equirectangular plane centred
// on the query point (x east, y north, metres): exact at the point,
// within 0.1 % over the tens of kilometres a fence spans in China.

func ringDistM(ring []Point, lat, lon float64) float64 {
	kx := mPerDegLat * math.Cos(lat*math.Pi/180)
	best := math.Inf(1)
	n := len(ring)
	for i, j := 0, n-1; i < n; j, i = i, i+1 {
		best = math.Min(best, segDist2(ring[j], ring[i], lat, lon, kx))
	}
	return math.Sqrt(best)
}

func lineDistM(line []Point, lat, lon float64) float64 {
	kx := mPerDegLat * math.Cos(lat*math.Pi/180)
	best := math.Inf(1)
	for i := 1; i < len(line); i++ {
		best = math.Min(best, segDist2(line[i-1], line[i], lat, lon, kx))
	}
	return math.Sqrt(best)
}

// segDist2 is the squared distance in m² from (lat, lon) to segment ab.
func segDist2(a, b Point, lat, lon, kx float64) float64 {
	ax, ay := (a.Lon-lon)*kx, (a.Lat-lat)*mPerDegLat
	bx, by := (b.Lon-lon)*kx, (b.Lat-lat)*mPerDegLat
	dx, dy := bx-ax, by-ay
	t := 0.0
	if l2 := dx*dx + dy*dy; l2 > 0 {
		t = math.Max(0, math.Min(1, -(ax*dx+ay*dy)/l2))
	}
	x, y := ax+t*dx, ay+t*dy
	return x*x + y*y
}

// FenceSet holds the fences with an R-tree over their bounding boxes. It
// is immutable and safe for concurrent use.
type FenceSet struct {
	tree      rtree.RTreeG[*fence]
	byID      map[int64]*fence
	byUnit    map[int64][]*fence
	byVehicle map[int64][]*fence
}

// NewFenceSet checks and indexes fences.
func NewFenceSet(fences []Fence) (*FenceSet, error) {
	s := &FenceSet{byID: map[int64]*fence{}, byUnit: map[int64][]*fence{}, byVehicle: map[int64][]*fence{}}
	for _, f := range fences {
		c, err := compileFence(f)
		if err != nil {
			return nil, err
		}
		if _, dup := s.byID[f.ID]; dup {
			return nil, fmt.Errorf("alerts: fence id %d given twice", f.ID)
		}
		s.byID[f.ID] = c
		if f.VehicleID != 0 {
			s.byVehicle[f.VehicleID] = append(s.byVehicle[f.VehicleID], c)
		} else {
			s.byUnit[f.UnitID] = append(s.byUnit[f.UnitID], c)
		}
		s.tree.Insert([2]float64{c.minLon, c.minLat}, [2]float64{c.maxLon, c.maxLat}, c)
	}
	return s, nil
}

// Len returns the number of fences.
func (s *FenceSet) Len() int { return len(s.byID) }

// Fence returns the fence with the id.
func (s *FenceSet) Fence(id int64) (Fence, bool) {
	c, ok := s.byID[id]
	if !ok {
		return Fence{}, false
	}
	return c.Fence, true
}

// Containing appends to dst the ids of every fence that contains the
// point, whoever owns it, in no particular order.
func (s *FenceSet) Containing(dst []int64, lat, lon float64) []int64 {
	s.search(lat, lon, func(c *fence) {
		dst = append(dst, c.ID)
	})
	return dst
}

// search calls fn for each fence containing the point.
func (s *FenceSet) search(lat, lon float64, fn func(*fence)) {
	p := [2]float64{lon, lat}
	s.tree.Search(p, p, func(_, _ [2]float64, c *fence) bool {
		if c.contains(lat, lon) {
			fn(c)
		}
		return true
	})
}

// nearest returns the fences of one kind for a vehicle from its nearest
// owner: the vehicle's own, else its unit's, else the nearest ancestor's.
// Used for permitted areas and designated parking, where a closer owner's
// choice replaces a farther one's.
func (s *FenceSet) nearest(kind FenceKind, vehicle int64, chain []int64) []*fence {
	pick := func(fs []*fence) []*fence {
		var out []*fence
		for _, f := range fs {
			if f.Kind == kind {
				out = append(out, f)
			}
		}
		return out
	}
	if out := pick(s.byVehicle[vehicle]); out != nil {
		return out
	}
	for _, u := range chain {
		if out := pick(s.byUnit[u]); out != nil {
			return out
		}
	}
	return nil
}

// appliesTo reports whether the fence is the vehicle's or one of its
// units'.
func (c *fence) appliesTo(vehicle int64, chain []int64) bool {
	if c.VehicleID != 0 {
		return c.VehicleID == vehicle
	}
	return slices.Contains(chain, c.UnitID)
}
