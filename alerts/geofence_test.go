package alerts

import (
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"

	"fleetmon/track"
)

func TestDistanceAgainstKnown(t *testing.T) {
	// Beijing Tiananmen to Shanghai People's Square: 1067 km on the sphere.
	d := DistanceM(39.9087, 116.3975, 31.2304, 121.4737)
	if math.Abs(d-1067e3) > 3e3 {
		t.Errorf("distance %.0f m", d)
	}
}

func TestShapes(t *testing.T) {
	outer := square(homeLat, homeLon, 1000)
	hole := square(homeLat, homeLon, 200)
	far := square(homeLat+1, homeLon, 1000)
	fs := []Fence{
		{ID: 1, Kind: FencePermitted, UnitID: 1, Shape: Shape{Type: ShapePolygon, Polygons: []Polygon{{outer, hole}}}},
		{ID: 2, Kind: FencePermitted, UnitID: 1, Shape: Shape{Type: ShapeMultiPolygon, Polygons: []Polygon{{outer}, {far}}}},
		{ID: 3, Kind: FencePermitted, UnitID: 1, Shape: Shape{Type: ShapeCircle, Center: Point{homeLon, homeLat}, RadiusM: 1000}},
		{ID: 4, Kind: FencePermitted, UnitID: 1, Shape: Shape{Type: ShapeCorridor, WidthM: 200,
			Line: []Point{{homeLon, homeLat}, {homeLon + 0.1, homeLat}}}},
	}
	set, err := NewFenceSet(fs)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name     string
		dist, to float64 // metres from home, bearing
		want     []int64
	}{
		{"in the hole", 100, 0, []int64{2, 3, 4}},
		{"in the ring", 500, 0, []int64{1, 2, 3}},
		{"circle edge inside", 999, 0, []int64{1, 2, 3}},
		{"circle edge outside", 1001, 0, nil},
		{"corridor 99 m aside", 99, 180, []int64{2, 3, 4}},
		{"corridor 101 m aside, 5 km along", 101, 180, nil},
		{"far polygon of the multipolygon", 111000, 0, []int64{2}},
	} {
		lat, lon := move(homeLat, homeLon, c.dist, c.to)
		if strings.Contains(c.name, "5 km along") {
			lat, lon = move(lat, lon, 5000, 90)
		}
		got := set.Containing(nil, lat, lon)
		slices.Sort(got)
		if !slices.Equal(got, c.want) {
			t.Errorf("%s: %v, want %v", c.name, got, c.want)
		}
	}
	// Signed distances in metres.
	c3, _ := compileFence(fs[2])
	lat, lon := move(homeLat, homeLon, 1250, 30)
	if d := c3.signedDistM(lat, lon); math.Abs(d-250) > 0.5 {
		t.Errorf("circle signed distance %.2f", d)
	}
	c1, _ := compileFence(fs[0])
	lat, lon = move(homeLat, homeLon, 500, 0) // 500 m from the outer edge, 300 m from the hole
	if d := c1.signedDistM(lat, lon); math.Abs(d+300) > 1 {
		t.Errorf("polygon signed distance %.2f", d)
	}
	lat, lon = move(homeLat, homeLon, 1300, 90)
	if d := c1.signedDistM(lat, lon); math.Abs(d-300) > 1 {
		t.Errorf("polygon outside distance %.2f", d)
	}
}

func TestFenceErrors(t *testing.T) {
	ok := Shape{Type: ShapeCircle, Center: Point{homeLon, homeLat}, RadiusM: 10}
	for name, f := range map[string]Fence{
		"no owner":      {Kind: FencePermitted, Shape: ok},
		"two owners":    {Kind: FencePermitted, UnitID: 1, VehicleID: 1, Shape: ok},
		"kind":          {Kind: "forbidden", UnitID: 1, Shape: ok},
		"category":      {Kind: FenceSensitive, Category: "bar", UnitID: 1, Shape: ok},
		"radius":        {Kind: FencePermitted, UnitID: 1, Shape: Shape{Type: ShapeCircle}},
		"ring":          {Kind: FencePermitted, UnitID: 1, Shape: Shape{Type: ShapePolygon, Polygons: []Polygon{{{{1, 1}, {2, 2}, {1, 1}}}}}},
		"latitude":      {Kind: FencePermitted, UnitID: 1, Shape: Shape{Type: ShapeCircle, Center: Point{0, 91}, RadiusM: 5}},
		"speed zone":    {Kind: FenceSpeedZone, UnitID: 1, Shape: ok},
		"corridor line": {Kind: FencePermitted, UnitID: 1, Shape: Shape{Type: ShapeCorridor, Line: []Point{{1, 1}}, WidthM: 5}},
	} {
		if _, err := NewFenceSet([]Fence{f}); err == nil {
			t.Errorf("%s: no error", name)
		}
	}
}

const geojsonDoc = `{"type":"FeatureCollection","features":[
 {"type":"Feature","properties":{"name":"市界","kind":"permitted"},
  "geometry":{"type":"Polygon","coordinates":[[[118,31],[119,31],[119,32],[118,32],[118,31]],[[118.4,31.4],[118.6,31.4],[118.6,31.6],[118.4,31.4]]]}},
 {"type":"Feature","properties":{"name":"两处","kind":"prohibited"},
  "geometry":{"type":"MultiPolygon","coordinates":[[[[118,31],[118.1,31],[118.1,31.1],[118,31]]],[[[119,31],[119.1,31],[119.1,31.1],[119,31]]]]}},
 {"type":"Feature","properties":{"name":"某酒店","kind":"sensitive","category":"hotel","radius_m":150,"dwell_min":90},
  "geometry":{"type":"Point","coordinates":[118.79,32.06]}},
 {"type":"Feature","properties":{"name":"通勤路线","kind":"permitted","width_m":300},
  "geometry":{"type":"LineString","coordinates":[[118.7,32.0],[118.8,32.1]]}}
]}`

const kmlDoc = `<?xml version="1.0" encoding="UTF-8"?>
<kml xmlns="http://www.opengis.net/kml/2.2"><Document><Folder>
 <Placemark><name>车库</name>
  <ExtendedData><Data name="kind"><value>parking</value></Data></ExtendedData>
  <Polygon><outerBoundaryIs><LinearRing><coordinates>118.79,32.06,0 118.80,32.06,0 118.80,32.07,0 118.79,32.06,0</coordinates></LinearRing></outerBoundaryIs>
   <innerBoundaryIs><LinearRing><coordinates>118.795,32.062 118.797,32.062 118.797,32.064 118.795,32.062</coordinates></LinearRing></innerBoundaryIs></Polygon>
 </Placemark>
 <Placemark><name>球场</name>
  <ExtendedData><Data name="kind"><value>sensitive</value></Data><Data name="category"><value>golf</value></Data><Data name="radius_m"><value>500</value></Data></ExtendedData>
  <Point><coordinates>118.7,32.0</coordinates></Point>
 </Placemark>
 <Placemark><name>专线</name>
  <ExtendedData><Data name="kind"><value>permitted</value></Data><Data name="width_m"><value>100</value></Data></ExtendedData>
  <LineString><coordinates>118.7,32.0 118.8,32.0 118.8,32.1</coordinates></LineString>
 </Placemark>
</Folder></Document></kml>`

func TestImport(t *testing.T) {
	gj, err := ImportGeoJSON([]byte(geojsonDoc), Owner{UnitID: 5})
	if err != nil {
		t.Fatal(err)
	}
	if len(gj) != 4 || len(gj[0].Shape.Polygons[0]) != 2 || gj[1].Shape.Type != ShapeMultiPolygon ||
		gj[2].Shape.RadiusM != 150 || gj[2].DwellMin != 90 || gj[3].Shape.WidthM != 300 || gj[3].UnitID != 5 {
		t.Errorf("geojson: %+v", gj)
	}
	km, err := ImportKML(strings.NewReader(kmlDoc), Owner{VehicleID: 9})
	if err != nil {
		t.Fatal(err)
	}
	if len(km) != 3 || len(km[0].Shape.Polygons[0]) != 2 || km[1].Shape.Type != ShapeCircle || km[1].Category != PlaceGolf ||
		km[2].Shape.Type != ShapeCorridor || len(km[2].Shape.Line) != 3 || km[0].Name != "车库" {
		t.Errorf("kml: %+v", km)
	}
	for name, doc := range map[string]string{
		"no kind":    `{"type":"Feature","properties":{},"geometry":{"type":"Point","coordinates":[1,1]}}`,
		"no radius":  `{"type":"Feature","properties":{"kind":"parking"},"geometry":{"type":"Point","coordinates":[1,1]}}`,
		"no width":   `{"type":"Feature","properties":{"kind":"permitted"},"geometry":{"type":"LineString","coordinates":[[1,1],[2,2]]}}`,
		"geometry":   `{"type":"Feature","properties":{"kind":"permitted"},"geometry":{"type":"GeometryCollection"}}`,
		"top type":   `{"type":"Polygon"}`,
		"not json":   `{`,
		"short ring": `{"type":"Feature","properties":{"kind":"permitted"},"geometry":{"type":"Polygon","coordinates":[[[1,1],[2,2],[1,1]]]}}`,
	} {
		if _, err := ImportGeoJSON([]byte(doc), Owner{UnitID: 1}); err == nil {
			t.Errorf("geojson %s: no error", name)
		}
	}
	for name, doc := range map[string]string{
		"no placemark": `<kml><Document/></kml>`,
		"bad coords":   `<kml><Placemark><ExtendedData><Data name="kind"><value>parking</value></Data></ExtendedData><Point><coordinates>x,y</coordinates></Point></Placemark></kml>`,
		"two geoms":    `<kml><Placemark><ExtendedData><Data name="kind"><value>parking</value></Data></ExtendedData><Point><coordinates>1,1</coordinates></Point><LineString><coordinates>1,1 2,2</coordinates></LineString></Placemark></kml>`,
		"bad xml":      `<kml><Placemark>`,
	} {
		if _, err := ImportKML(strings.NewReader(doc), Owner{UnitID: 1}); err == nil {
			t.Errorf("kml %s: no error", name)
		}
	}
}

// FuzzImportGeoJSON checks that no input panics.
func FuzzImportGeoJSON(f *testing.F) {
	f.Add([]byte(geojsonDoc))
	f.Fuzz(func(t *testing.T, b []byte) {
		_, _ = ImportGeoJSON(b, Owner{UnitID: 1})
	})
}

// manyFences makes n fences around home (within ~40 km): circles,
// 12-vertex polygons and corridors, of every kind the index serves, owned
// by the city so that every vehicle checks them.
func manyFences(n int) []Fence {
	rnd := rand.New(rand.NewPCG(1, 2))
	out := make([]Fence, 0, n+2)
	kinds := []FenceKind{FenceProhibited, FenceSensitive, FenceSpeedZone}
	for i := range n {
		lat, lon := move(homeLat, homeLon, 40000*math.Sqrt(rnd.Float64()), 360*rnd.Float64())
		r := 50 + 250*rnd.Float64()
		f := Fence{ID: int64(100 + i), Name: "f", Kind: kinds[i%3], UnitID: unitCity}
		switch f.Kind {
		case FenceSensitive:
			f.Category = PlaceHotel
		case FenceSpeedZone:
			f.SpeedLimitKmh = 60
		}
		switch i % 4 {
		case 0:
			f.Shape = Shape{Type: ShapeCircle, Center: Point{lon, lat}, RadiusM: r}
		case 1, 2:
			ring := make([]Point, 12)
			for k := range ring {
				la, lo := move(lat, lon, r*(0.7+0.3*rnd.Float64()), float64(k)*30)
				ring[k] = Point{lo, la}
			}
			f.Shape = Shape{Type: ShapePolygon, Polygons: []Polygon{{ring}}}
		case 3:
			la, lo := move(lat, lon, 1000, 360*rnd.Float64())
			f.Shape = Shape{Type: ShapeCorridor, Line: []Point{{lon, lat}, {lo, la}}, WidthM: 30}
		}
		out = append(out, f)
	}
	return out
}

// BenchmarkEngine feeds positions of 1,000 vehicles driving around the
// city through every rule with 10,000 fences loaded; reports fixes/s on
// one core.
func BenchmarkEngine(b *testing.B) {
	fences := slices.Concat(testFences(), manyFences(10000))
	w := newWorld(b, fences, nil)
	e, err := NewEngine(w.cfg, nil)
	if err != nil {
		b.Fatal(err)
	}
	const vehicles = 1000
	// Each vehicle drives a random walk: one fix every 10 s at 0–80 km/h.
	rnd := rand.New(rand.NewPCG(3, 4))
	type car struct {
		lat, lon, deg float64
	}
	cars := make([]car, vehicles)
	for i := range cars {
		e.SetVehicle(track.Vehicle{ID: int64(i + 1), UnitID: unitBureau, Category: track.CategoryGeneral})
		lat, lon := move(homeLat, homeLon, 30000*rnd.Float64(), 360*rnd.Float64())
		cars[i] = car{lat, lon, 360 * rnd.Float64()}
	}
	// Precompute a day of fixes so that the loop measures the engine only.
	const rounds = 200
	ps := make([]track.Position, 0, vehicles*rounds)
	t0 := at("2026-03-10 07:00")
	for r := range rounds {
		for i := range cars {
			c := &cars[i]
			kmh := 80 * rnd.Float64()
			c.deg += 30 * (rnd.Float64() - 0.5)
			c.lat, c.lon = move(c.lat, c.lon, kmh/3.6*10, c.deg)
			if DistanceM(c.lat, c.lon, homeLat, homeLon) > 35000 {
				c.deg += 180
			}
			ps = append(ps, track.Position{VehicleID: int64(i + 1), Time: t0.Add(time.Duration(r) * 10 * time.Second),
				Lat: c.lat, Lon: c.lon, SpeedKmh: float32(kmh), Status: 3})
		}
	}
	var out []Episode
	b.ReportAllocs()
	b.ResetTimer()
	n := 0
	for i := 0; i < b.N; i++ {
		if n == len(ps) {
			// Start the day again an hour later, in order.
			b.StopTimer()
			for k := range ps {
				ps[k].Time = ps[k].Time.Add(time.Duration(rounds)*10*time.Second + time.Hour)
			}
			n = 0
			b.StartTimer()
		}
		out, err = e.Feed(out[:0], &ps[n])
		if err != nil {
			b.Fatal(err)
		}
		n++
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "fixes/s")
}

// BenchmarkContaining is the index alone: which of 10,000 fences contain a
// point.
func BenchmarkContaining(b *testing.B) {
	set, err := NewFenceSet(manyFences(10000))
	if err != nil {
		b.Fatal(err)
	}
	rnd := rand.New(rand.NewPCG(5, 6))
	pts := make([][2]float64, 4096)
	for i := range pts {
		pts[i][0], pts[i][1] = move(homeLat, homeLon, 40000*rnd.Float64(), 360*rnd.Float64())
	}
	var dst []int64
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		p := pts[i%len(pts)]
		dst = set.Containing(dst[:0], p[0], p[1])
	}
}

// TestImportReportsEveryBadFeature: a file with several bad features is
// refused whole, and the error names each of them (index and name), so
// that it is mended in one go.
func TestImportReportsEveryBadFeature(t *testing.T) {
	doc := `{"type":"FeatureCollection","features":[
 {"type":"Feature","properties":{"name":"好","kind":"parking"},"geometry":{"type":"Polygon","coordinates":[[[1,1],[2,1],[2,2],[1,1]]]}},
 {"type":"Feature","properties":{"name":"短环","kind":"parking"},"geometry":{"type":"Polygon","coordinates":[[[1,1],[2,2],[1,1]]]}},
 {"type":"Feature","properties":{"kind":"parking"},"geometry":{"type":"Polygon","coordinates":[[[1,1],[2,1],[2,2],[1,1]]]}},
 {"type":"Feature","properties":{"name":"宾馆","kind":"sensitive"},"geometry":{"type":"Polygon","coordinates":[[[1,1],[2,1],[2,2],[1,1]]]}}]}`
	fs, err := ImportGeoJSON([]byte(doc), Owner{UnitID: 1})
	if err == nil || fs != nil {
		t.Fatalf("bad file: %v %v", fs, err)
	}
	var fe []*FeatureError
	for _, e := range err.(interface{ Unwrap() []error }).Unwrap() {
		fe = append(fe, e.(*FeatureError))
	}
	if len(fe) != 3 || fe[0].Index != 2 || fe[0].Name != "短环" || fe[1].Index != 3 || fe[1].Name != "" ||
		fe[2].Index != 4 || !strings.Contains(fe[2].Error(), `feature 4 ("宾馆"): `) {
		t.Errorf("errors: %v", err)
	}
	kml := `<kml><Document>
 <Placemark><name>甲</name><ExtendedData><Data name="kind"><value>parking</value></Data></ExtendedData><Polygon><outerBoundaryIs><LinearRing><coordinates>1,1 2,1 2,2 1,1</coordinates></LinearRing></outerBoundaryIs></Polygon></Placemark>
 <Placemark><name>乙</name><ExtendedData><Data name="kind"><value>nope</value></Data></ExtendedData><Polygon><outerBoundaryIs><LinearRing><coordinates>1,1 2,1 2,2 1,1</coordinates></LinearRing></outerBoundaryIs></Polygon></Placemark>
 <Placemark><name>丙</name><ExtendedData><Data name="kind"><value>parking</value></Data></ExtendedData><Polygon><outerBoundaryIs><LinearRing><coordinates>1,1 200,1 2,2 1,1</coordinates></LinearRing></outerBoundaryIs></Polygon></Placemark>
</Document></kml>`
	if fs, err := ImportKML(strings.NewReader(kml), Owner{UnitID: 1}); fs != nil ||
		err == nil || !strings.Contains(err.Error(), `feature 2 ("乙")`) || !strings.Contains(err.Error(), `feature 3 ("丙"): coordinate 200,1 out of range`) {
		t.Errorf("bad kml: %v %v", fs, err)
	}
}
