package alerts

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// Landmarks are the places an office keeps on its maps (hotels, clubs,
// scenic spots, the unit's compound) so that people find them by name. No
// rule judges them; they live here beside the geofences because they are
// read and imported the same way (GeoJSON, the same feature errors).

// LandmarkCategories are the kinds of landmark.
var LandmarkCategories = []string{"hotel", "club", "scenic", "compound", "other"}

// Landmark is a named point or area (GeoJSON Point, Polygon or
// MultiPolygon, WGS 84) owned by a unit.
type Landmark struct {
	ID       int64           `json:"id"`
	Version  int             `json:"version"`
	Name     string          `json:"name"`
	Category string          `json:"category"`
	UnitID   int64           `json:"unit_id"`
	Geometry json.RawMessage `json:"geometry"`
}

// ErrLandmarkTaken is a landmark name already used in its unit.
var ErrLandmarkTaken = errors.New("a landmark of that name already exists in the unit")

// CheckLandmark says what is wrong with l's name, category and geometry
// (types and coordinates; the database checks the geometry's validity).
func CheckLandmark(l Landmark) error {
	if err := CheckFenceName(l.Name); err != nil {
		return err
	}
	if !slices.Contains(LandmarkCategories, l.Category) {
		return &UnknownNameError{What: "地标类别 landmark category", Name: l.Category, Valid: LandmarkCategories}
	}
	_, err := landmarkGeometry(l.Geometry)
	return err
}

// landmarkGeometry checks a GeoJSON geometry and returns it compact.
func landmarkGeometry(raw json.RawMessage) (string, error) {
	var g struct {
		Type        string          `json:"type"`
		Coordinates json.RawMessage `json:"coordinates"`
	}
	if len(raw) == 0 || json.Unmarshal(raw, &g) != nil {
		return "", errors.New("geometry: want a GeoJSON Point, Polygon or MultiPolygon")
	}
	var polys []Polygon
	switch g.Type {
	case "Point":
		var v []float64
		if err := json.Unmarshal(g.Coordinates, &v); err != nil {
			return "", fmt.Errorf("coordinates: %w", err)
		}
		p, err := pointOf(v)
		if err != nil {
			return "", err
		}
		polys = []Polygon{{{p, p, p}}} // checked as a degenerate ring below
	case "Polygon":
		var v [][][]float64
		if err := json.Unmarshal(g.Coordinates, &v); err != nil {
			return "", fmt.Errorf("coordinates: %w", err)
		}
		p, err := polygonOf(v)
		if err != nil {
			return "", err
		}
		polys = []Polygon{p}
	case "MultiPolygon":
		var v [][][][]float64
		if err := json.Unmarshal(g.Coordinates, &v); err != nil {
			return "", fmt.Errorf("coordinates: %w", err)
		}
		for _, pv := range v {
			p, err := polygonOf(pv)
			if err != nil {
				return "", err
			}
			polys = append(polys, p)
		}
	default:
		return "", fmt.Errorf("geometry %q not supported", g.Type)
	}
	if len(polys) == 0 {
		return "", errors.New("geometry without coordinates")
	}
	for _, poly := range polys {
		if len(poly) == 0 {
			return "", errors.New("polygon without rings")
		}
		for _, ring := range poly {
			if g.Type != "Point" && (len(ring) < 4 || ring[0] != ring[len(ring)-1]) {
				return "", fmt.Errorf("ring with %d points: want a closed ring of 4 or more", len(ring))
			}
			for _, p := range ring {
				if !(p.Lat >= -90 && p.Lat <= 90 && p.Lon >= -180 && p.Lon <= 180) {
					return "", fmt.Errorf("coordinate %v,%v out of range", p.Lon, p.Lat)
				}
			}
		}
	}
	b, _ := json.Marshal(g)
	return string(b), nil
}

// ImportLandmarks reads a GeoJSON FeatureCollection (or one Feature) of
// landmarks for unit: properties name and category, geometry Point,
// Polygon or MultiPolygon. All or nothing: every bad feature is a
// *FeatureError of the joined error. The good ones come back with their
// feature numbers (counted from 1) even then, for the caller to check
// against the database too and so name every bad feature at once.
func ImportLandmarks(b []byte, unit int64) ([]Landmark, []int, error) {
	raws, err := geoJSONFeatures(b)
	if err != nil {
		return nil, nil, err
	}
	var out []Landmark
	var idx []int
	var errs []error
	seen := map[string]int{}
	for i, raw := range raws {
		var ft struct {
			Type       string          `json:"type"`
			Geometry   json.RawMessage `json:"geometry"`
			Properties map[string]any  `json:"properties"`
		}
		err := json.Unmarshal(raw, &ft)
		name, _ := ft.Properties["name"].(string)
		cat, _ := ft.Properties["category"].(string)
		l := Landmark{Name: name, Category: cat, UnitID: unit, Geometry: ft.Geometry}
		switch {
		case err != nil:
		case ft.Type != "Feature":
			err = errors.New("not a Feature with a geometry")
		default:
			for k := range ft.Properties {
				if k != "name" && k != "category" {
					err = &UnknownNameError{What: "地标属性 landmark property", Name: k, Valid: []string{"name", "category"}}
				}
			}
		}
		if err == nil {
			err = CheckLandmark(l)
		}
		if j, dup := seen[name]; err == nil && dup {
			err = fmt.Errorf("name already used by feature %d", j)
		}
		if err != nil {
			errs = append(errs, &FeatureError{Index: i + 1, Name: name, Err: err})
			continue
		}
		seen[name] = i + 1
		out, idx = append(out, l), append(idx, i+1)
	}
	if len(errs) > 0 {
		return out, idx, errors.Join(errs...)
	}
	if len(out) == 0 {
		return nil, nil, errors.New("no feature")
	}
	return out, idx, nil
}

// landmarkCols selects a landmark, its geometry as GeoJSON.
const landmarkCols = `id, version, name, category, unit_id, ST_AsGeoJSON(geom)::jsonb`

func scanLandmark(r pgx.Row) (Landmark, error) {
	var l Landmark
	var v int32
	err := r.Scan(&l.ID, &v, &l.Name, &l.Category, &l.UnitID, &l.Geometry)
	l.Version = int(v)
	return l, err
}

// Landmarks lists the landmarks of the units in root's subtree (root nil:
// every unit) whose name contains q (any, when q is empty), by name.
func (s *Store) Landmarks(ctx context.Context, root any, q string) ([]Landmark, error) {
	rows, err := s.db.Query(ctx, `SELECT `+landmarkCols+` FROM landmarks
		WHERE unit_id IN (SELECT unit_subtree($1)) AND ($2 = '' OR strpos(lower(name), lower($2)) > 0)
		ORDER BY name, id`, root, q)
	if err != nil {
		return nil, fmt.Errorf("list landmarks: %w", err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (Landmark, error) { return scanLandmark(r) })
	if err != nil {
		return nil, fmt.Errorf("list landmarks: %w", err)
	}
	return out, nil
}

// LandmarkForUpdate reads landmark id, locking it for the rest of the
// store's transaction; pgx.ErrNoRows when there is none.
func (s *Store) LandmarkForUpdate(ctx context.Context, id int64) (Landmark, error) {
	l, err := scanLandmark(s.db.QueryRow(ctx, `SELECT `+landmarkCols+` FROM landmarks WHERE id = $1 FOR UPDATE`, id))
	if err != nil {
		return l, fmt.Errorf("landmark %d: %w", id, err)
	}
	return l, nil
}

// PutLandmark stores l after checking it: a new one when l.ID is 0, else
// it replaces landmark l.ID and moves its version on. A name taken in the
// unit is ErrLandmarkTaken; a geometry the database finds invalid (a ring
// crossing itself) is an error saying so.
func (s *Store) PutLandmark(ctx context.Context, l Landmark) (Landmark, error) {
	if err := CheckLandmark(l); err != nil {
		return l, err
	}
	if err := s.CheckLandmarkGeometry(ctx, l); err != nil {
		return l, err
	}
	gj, _ := landmarkGeometry(l.Geometry)
	var row pgx.Row
	if l.ID == 0 {
		row = s.db.QueryRow(ctx, `INSERT INTO landmarks (name, category, unit_id, geom)
			VALUES ($1, $2, $3, ST_SetSRID(ST_GeomFromGeoJSON($4), 4326)) RETURNING `+landmarkCols, l.Name, l.Category, l.UnitID, gj)
	} else {
		row = s.db.QueryRow(ctx, `UPDATE landmarks SET name = $1, category = $2, unit_id = $3,
			geom = ST_SetSRID(ST_GeomFromGeoJSON($4), 4326), version = version + 1, updated_at = now()
			WHERE id = $5 RETURNING `+landmarkCols, l.Name, l.Category, l.UnitID, gj, l.ID)
	}
	out, err := scanLandmark(row)
	var pe *pgconn.PgError
	if errors.As(err, &pe) && pe.Code == "23505" { // unique_violation
		return l, ErrLandmarkTaken
	}
	if err != nil {
		return l, fmt.Errorf("store landmark %q: %w", l.Name, err)
	}
	return out, nil
}

// CheckLandmarkGeometry asks the database whether l's geometry (checked
// by CheckLandmark) is valid: an *InvalidGeometryError when it is not.
func (s *Store) CheckLandmarkGeometry(ctx context.Context, l Landmark) error {
	gj, err := landmarkGeometry(l.Geometry)
	if err != nil {
		return err
	}
	var valid bool
	var reason string
	if err := s.db.QueryRow(ctx, `SELECT ST_IsValid(g), ST_IsValidReason(g) FROM ST_SetSRID(ST_GeomFromGeoJSON($1), 4326) g`, gj).
		Scan(&valid, &reason); err != nil {
		return fmt.Errorf("check landmark %q: %w", l.Name, err)
	}
	if !valid {
		return &InvalidGeometryError{Reason: reason}
	}
	return nil
}

// InvalidGeometryError is an area the database finds invalid.
type InvalidGeometryError struct{ Reason string }

func (e *InvalidGeometryError) Error() string {
	return "geometry is not valid (" + strings.TrimSpace(e.Reason) + "): a ring must not cross itself"
}

// DeleteLandmark removes a landmark.
func (s *Store) DeleteLandmark(ctx context.Context, id int64) error {
	if _, err := s.db.Exec(ctx, "DELETE FROM landmarks WHERE id = $1", id); err != nil {
		return fmt.Errorf("delete landmark %d: %w", id, err)
	}
	return nil
}
