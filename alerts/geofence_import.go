package alerts

import (
	"bytes"
	"encoding/json"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"
)

// Owner names who a fence belongs to: exactly one of the two.
type Owner struct {
	UnitID, VehicleID int64
}

// fenceProps are the properties an imported feature carries.
type fenceProps struct {
	Name          string  `json:"name"`
	Kind          string  `json:"kind"`
	Category      string  `json:"category"`
	RadiusM       float64 `json:"radius_m"`
	WidthM        float64 `json:"width_m"`
	DwellMin      float64 `json:"dwell_min"`
	SpeedLimitKmh float32 `json:"speed_limit_kmh"`
}

// fencePropNames are the properties a feature may carry; any other is
// refused rather than ignored, since a misspelt one (radius for radius_m)
// would silently make a different fence.
var fencePropNames = []string{"name", "kind", "category", "radius_m", "width_m", "dwell_min", "speed_limit_kmh"}

func unknownFenceProp(name string) error {
	return &UnknownNameError{What: "围栏属性 fence property", Name: name, Valid: fencePropNames}
}

// FeatureError is what is wrong with one feature of an imported file
// (a GeoJSON feature, counted from 1, or a KML Placemark, counted from 1
// in document order), named when it has a name.
type FeatureError struct {
	Index int
	Name  string
	Err   error
}

func (e *FeatureError) Error() string {
	if e.Name != "" {
		return fmt.Sprintf("feature %d (%q): %v", e.Index, e.Name, e.Err)
	}
	return fmt.Sprintf("feature %d: %v", e.Index, e.Err)
}

func (e *FeatureError) Unwrap() error { return e.Err }

// MaxFenceName is the longest fence name, in characters.
const MaxFenceName = 64

// CheckFenceName refuses an empty name or one longer than MaxFenceName.
func CheckFenceName(name string) error {
	if n := utf8.RuneCountInString(name); n == 0 || n > MaxFenceName || strings.TrimSpace(name) != name {
		return fmt.Errorf("name: want 1 to %d characters, no leading or trailing space", MaxFenceName)
	}
	return nil
}

func (p fenceProps) fence(o Owner, s Shape) (Fence, error) {
	if err := CheckFenceName(p.Name); err != nil {
		return Fence{}, err
	}
	f := Fence{Name: p.Name, Kind: FenceKind(p.Kind), Category: PlaceCategory(p.Category),
		DwellMin: p.DwellMin, SpeedLimitKmh: p.SpeedLimitKmh, UnitID: o.UnitID, VehicleID: o.VehicleID, Shape: s}
	switch s.Type {
	case ShapeCircle:
		f.Shape.RadiusM = p.RadiusM
	case ShapeCorridor:
		f.Shape.WidthM = p.WidthM
	}
	return f, CheckFence(f)
}

// ImportGeoJSON reads a GeoJSON (RFC 7946) Feature or FeatureCollection:
// all of it or nothing, every bad feature a *FeatureError of the joined
// error.
// Geometry: Polygon, MultiPolygon, Point (a circle: needs radius_m) or
// LineString (a corridor: needs width_m). Properties: name, kind,
// category, radius_m, width_m, and optionally dwell_min and
// speed_limit_kmh. Fences come back with ID 0, for the store to number.
func ImportGeoJSON(b []byte, o Owner) ([]Fence, error) {
	raws, err := geoJSONFeatures(b)
	if err != nil {
		return nil, err
	}
	out := make([]Fence, 0, len(raws))
	var errs []error
	for i, raw := range raws {
		f, err := geoJSONFeature(raw, o)
		if err != nil {
			var named struct {
				Properties struct {
					Name any `json:"name"`
				} `json:"properties"`
			}
			_ = json.Unmarshal(raw, &named) // the name only labels the error
			name, _ := named.Properties.Name.(string)
			errs = append(errs, &FeatureError{Index: i + 1, Name: name, Err: err})
			continue
		}
		out = append(out, f)
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return out, nil
}

// geoJSONFeatures splits a GeoJSON Feature or FeatureCollection into
// its features.
func geoJSONFeatures(b []byte) ([]json.RawMessage, error) {
	var doc struct {
		Type     string            `json:"type"`
		Features []json.RawMessage `json:"features"`
	}
	if err := json.Unmarshal(b, &doc); err != nil {
		return nil, fmt.Errorf("alerts: geojson: %w", err)
	}
	switch doc.Type {
	case "FeatureCollection":
		return doc.Features, nil
	case "Feature":
		return []json.RawMessage{b}, nil
	}
	return nil, fmt.Errorf("alerts: geojson: type %q, want Feature or FeatureCollection", doc.Type)
}

func geoJSONFeature(raw json.RawMessage, o Owner) (Fence, error) {
	var ft struct {
		Type     string `json:"type"`
		Geometry *struct {
			Type        string          `json:"type"`
			Coordinates json.RawMessage `json:"coordinates"`
		} `json:"geometry"`
		Properties json.RawMessage `json:"properties"`
	}
	if err := json.Unmarshal(raw, &ft); err != nil {
		return Fence{}, err
	}
	var props fenceProps
	if len(ft.Properties) > 0 && string(ft.Properties) != "null" {
		var names map[string]json.RawMessage
		if err := json.Unmarshal(ft.Properties, &names); err != nil {
			return Fence{}, fmt.Errorf("properties: %w", err)
		}
		for name := range names {
			if !slices.Contains(fencePropNames, name) {
				return Fence{}, unknownFenceProp(name)
			}
		}
		if err := json.Unmarshal(ft.Properties, &props); err != nil {
			return Fence{}, fmt.Errorf("properties: %w", err)
		}
	}
	if ft.Type != "Feature" || ft.Geometry == nil {
		return Fence{}, errors.New("not a Feature with a geometry")
	}
	var s Shape
	c := ft.Geometry.Coordinates
	switch ft.Geometry.Type {
	case "Polygon":
		var v [][][]float64
		if err := json.Unmarshal(c, &v); err != nil {
			return Fence{}, fmt.Errorf("coordinates: %w", err)
		}
		p, err := polygonOf(v)
		if err != nil {
			return Fence{}, err
		}
		s = Shape{Type: ShapePolygon, Polygons: []Polygon{p}}
	case "MultiPolygon":
		var v [][][][]float64
		if err := json.Unmarshal(c, &v); err != nil {
			return Fence{}, fmt.Errorf("coordinates: %w", err)
		}
		s = Shape{Type: ShapeMultiPolygon}
		for _, pv := range v {
			p, err := polygonOf(pv)
			if err != nil {
				return Fence{}, err
			}
			s.Polygons = append(s.Polygons, p)
		}
	case "Point":
		var v []float64
		if err := json.Unmarshal(c, &v); err != nil {
			return Fence{}, fmt.Errorf("coordinates: %w", err)
		}
		p, err := pointOf(v)
		if err != nil {
			return Fence{}, err
		}
		s = Shape{Type: ShapeCircle, Center: p}
	case "LineString":
		var v [][]float64
		if err := json.Unmarshal(c, &v); err != nil {
			return Fence{}, fmt.Errorf("coordinates: %w", err)
		}
		line, err := lineOf(v)
		if err != nil {
			return Fence{}, err
		}
		s = Shape{Type: ShapeCorridor, Line: line}
	default:
		return Fence{}, fmt.Errorf("geometry %q not supported", ft.Geometry.Type)
	}
	return props.fence(o, s)
}

func pointOf(v []float64) (Point, error) {
	if len(v) < 2 {
		return Point{}, errors.New("position with fewer than 2 numbers")
	}
	return Point{Lon: v[0], Lat: v[1]}, nil
}

func lineOf(v [][]float64) ([]Point, error) {
	out := make([]Point, 0, len(v))
	for _, pv := range v {
		p, err := pointOf(pv)
		if err != nil {
			return nil, err
		}
		out = append(out, p)
	}
	return out, nil
}

func polygonOf(v [][][]float64) (Polygon, error) {
	p := make(Polygon, 0, len(v))
	for _, rv := range v {
		ring, err := lineOf(rv)
		if err != nil {
			return nil, err
		}
		p = append(p, ring)
	}
	return p, nil
}

// kmlPlacemark is the part of a KML 2.2 Placemark that fences use.
type kmlPlacemark struct {
	Name    string       `xml:"name"`
	Data    []kmlData    `xml:"ExtendedData>Data"`
	Polygon []kmlPolygon `xml:"Polygon"`
	Multi   []kmlPolygon `xml:"MultiGeometry>Polygon"`
	Line    *kmlCoords   `xml:"LineString"`
	Point   *kmlCoords   `xml:"Point"`
	MultiLn []kmlCoords  `xml:"MultiGeometry>LineString"`
	MultiPt []kmlCoords  `xml:"MultiGeometry>Point"`
}

type kmlData struct {
	Name  string `xml:"name,attr"`
	Value string `xml:"value"`
}

type kmlPolygon struct {
	Outer string   `xml:"outerBoundaryIs>LinearRing>coordinates"`
	Inner []string `xml:"innerBoundaryIs>LinearRing>coordinates"`
}

type kmlCoords struct {
	Coordinates string `xml:"coordinates"`
}

// ImportKML reads the Placemarks of a KML document (at any depth, in
// Folders or Documents): Polygon or MultiGeometry of Polygons, LineString
// (a corridor: needs width_m) or Point (a circle: needs radius_m). The
// properties of ImportGeoJSON come from ExtendedData <Data name="...">.
// Like ImportGeoJSON, it answers every bad Placemark at once.
func ImportKML(r io.Reader, o Owner) ([]Fence, error) {
	dec := xml.NewDecoder(r)
	var out []Fence
	var errs []error
	n := 0
	for {
		tok, err := dec.Token()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("alerts: kml: %w", err)
		}
		se, ok := tok.(xml.StartElement)
		if !ok || se.Name.Local != "Placemark" {
			continue
		}
		n++
		var pm kmlPlacemark
		if err := dec.DecodeElement(&pm, &se); err != nil {
			return nil, fmt.Errorf("alerts: kml: %w", err)
		}
		f, err := pm.fence(o)
		if err != nil {
			errs = append(errs, &FeatureError{Index: n, Name: strings.TrimSpace(pm.Name), Err: err})
			continue
		}
		out = append(out, f)
	}
	if n == 0 {
		return nil, errors.New("alerts: kml: no Placemark")
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return out, nil
}

func (pm *kmlPlacemark) fence(o Owner) (Fence, error) {
	p := fenceProps{Name: strings.TrimSpace(pm.Name)}
	for _, d := range pm.Data {
		v := strings.TrimSpace(d.Value)
		num := func() (float64, error) {
			x, err := strconv.ParseFloat(v, 64)
			if err != nil {
				return 0, fmt.Errorf("data %s: %q is not a number", d.Name, v)
			}
			return x, nil
		}
		var err error
		switch d.Name {
		case "name":
			p.Name = v
		case "kind":
			p.Kind = v
		case "category":
			p.Category = v
		case "radius_m":
			p.RadiusM, err = num()
		case "width_m":
			p.WidthM, err = num()
		case "dwell_min":
			p.DwellMin, err = num()
		case "speed_limit_kmh":
			var x float64
			x, err = num()
			p.SpeedLimitKmh = float32(x)
		default:
			err = unknownFenceProp(d.Name)
		}
		if err != nil {
			return Fence{}, err
		}
	}
	polys := append(pm.Polygon, pm.Multi...)
	geoms := 0
	for _, has := range []bool{len(polys) > 0, pm.Line != nil || len(pm.MultiLn) > 0, pm.Point != nil || len(pm.MultiPt) > 0} {
		if has {
			geoms++
		}
	}
	if geoms != 1 || len(pm.MultiLn) > 1 || len(pm.MultiPt) > 1 || (pm.Line != nil && len(pm.MultiLn) > 0) {
		return Fence{}, errors.New("want exactly one of Polygon(s), one LineString or one Point")
	}
	var s Shape
	switch {
	case len(polys) > 0:
		s.Type = ShapePolygon
		if len(polys) > 1 {
			s.Type = ShapeMultiPolygon
		}
		for _, kp := range polys {
			outer, err := kmlCoordsOf(kp.Outer)
			if err != nil {
				return Fence{}, err
			}
			poly := Polygon{outer}
			for _, in := range kp.Inner {
				ring, err := kmlCoordsOf(in)
				if err != nil {
					return Fence{}, err
				}
				poly = append(poly, ring)
			}
			s.Polygons = append(s.Polygons, poly)
		}
	case pm.Line != nil || len(pm.MultiLn) == 1:
		c := pm.Line
		if c == nil {
			c = &pm.MultiLn[0]
		}
		line, err := kmlCoordsOf(c.Coordinates)
		if err != nil {
			return Fence{}, err
		}
		s = Shape{Type: ShapeCorridor, Line: line}
	default:
		c := pm.Point
		if c == nil {
			c = &pm.MultiPt[0]
		}
		pts, err := kmlCoordsOf(c.Coordinates)
		if err != nil || len(pts) != 1 {
			return Fence{}, fmt.Errorf("point coordinates %q", c.Coordinates)
		}
		s = Shape{Type: ShapeCircle, Center: pts[0]}
	}
	return p.fence(o, s)
}

// kmlCoordsOf parses "lon,lat[,alt] lon,lat[,alt] ...".
func kmlCoordsOf(s string) ([]Point, error) {
	var out []Point
	for _, tuple := range strings.Fields(s) {
		parts := bytes.Split([]byte(tuple), []byte(","))
		if len(parts) < 2 {
			return nil, fmt.Errorf("coordinates: bad tuple %q", tuple)
		}
		lon, err1 := strconv.ParseFloat(string(parts[0]), 64)
		lat, err2 := strconv.ParseFloat(string(parts[1]), 64)
		if err1 != nil || err2 != nil {
			return nil, fmt.Errorf("coordinates: bad tuple %q", tuple)
		}
		out = append(out, Point{Lon: lon, Lat: lat})
	}
	if len(out) == 0 {
		return nil, errors.New("coordinates: empty")
	}
	return out, nil
}
