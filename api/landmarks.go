package api

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"

	"github.com/jackc/pgx/v5"

	"fleetmon/alerts"
	"fleetmon/track"
)

// Landmarks through the API: every role reads those of its jurisdiction
// (the maps draw them, area search finds them by name); admins and
// supervisors create, edit, delete and import them, each change audited
// in its transaction. An import is a GeoJSON FeatureCollection for one
// unit, all or nothing; a landmark of the same name in that unit is
// replaced, so importing a file twice changes nothing the second time.

func (s *Server) landmarkRoutes(p routeRecorder) {
	p.HandleFunc("GET /api/v1/landmarks", s.listLandmarks)
	p.HandleFunc("POST /api/v1/landmarks", s.createLandmark)
	p.HandleFunc("POST /api/v1/landmarks/import", s.importLandmarks)
	p.HandleFunc("PATCH /api/v1/landmarks/{id}", s.updateLandmark)
	p.HandleFunc("DELETE /api/v1/landmarks/{id}", s.deleteLandmark)
}

// listLandmarks serves GET /api/v1/landmarks[?q=part of a name].
func (s *Server) listLandmarks(w http.ResponseWriter, r *http.Request) {
	q := strings.TrimSpace(r.URL.Query().Get("q"))
	ls, err := s.alerts.Landmarks(r.Context(), principal(r).Scope().SQLArg(), q)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	if ls == nil {
		ls = []alerts.Landmark{}
	}
	list(w, ls, len(ls), len(ls), 0)
}

// landmarkRequest is the body of POST and PATCH /api/v1/landmarks: PATCH
// changes the fields given, and checks version when given.
type landmarkRequest struct {
	Version  *int            `json:"version"`
	Name     *string         `json:"name"`
	Category *string         `json:"category"`
	UnitID   *int64          `json:"unit_id"`
	Geometry json.RawMessage `json:"geometry"`
}

func (q *landmarkRequest) apply(l alerts.Landmark) alerts.Landmark {
	if q.Name != nil {
		l.Name = *q.Name
	}
	if q.Category != nil {
		l.Category = *q.Category
	}
	if q.UnitID != nil {
		l.UnitID = *q.UnitID
	}
	if len(q.Geometry) > 0 {
		l.Geometry = q.Geometry
	}
	return l
}

// unitInScope refuses a unit outside the caller's jurisdiction as not found.
func (s *Server) unitInScope(r *http.Request, c changeTx, id int64) error {
	_, err := c.store.UnitIn(r.Context(), principal(r).Scope(), id)
	return err
}

// landmarkRefusal answers the refusals a landmark change can end with,
// and reports whether err was one of them.
func landmarkRefusal(w http.ResponseWriter, r *http.Request, err error) bool {
	var bad *badRequest
	var inv *alerts.InvalidGeometryError
	switch {
	case errors.As(err, &bad):
		writeError(w, r, http.StatusBadRequest, "bad_request", bad.err.Error())
	case errors.As(err, &inv):
		writeError(w, r, http.StatusBadRequest, "bad_request", inv.Error())
	case errors.Is(err, alerts.ErrLandmarkTaken):
		writeError(w, r, http.StatusConflict, "conflict", alerts.ErrLandmarkTaken.Error())
	case errors.Is(err, errStaleFence):
		writeError(w, r, http.StatusConflict, "stale_version", "the landmark was changed meanwhile: reload it and edit again")
	default:
		return false
	}
	return true
}

func landmarkEntry(action string, before, after alerts.Landmark) Entry {
	d := map[string]any{"id": cmpOr0(after.ID, before.ID), "name": cmpOrS(after.Name, before.Name)}
	if before.ID != 0 {
		d["before"] = before
	}
	if after.ID != 0 {
		d["after"] = after
	}
	return Entry{Action: action, SubjectUnitID: cmpOr0(after.UnitID, before.UnitID), Detail: d}
}

func cmpOr0(a, b int64) int64 {
	if a != 0 {
		return a
	}
	return b
}

func cmpOrS(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

// createLandmark serves POST /api/v1/landmarks.
func (s *Server) createLandmark(w http.ResponseWriter, r *http.Request) {
	if !s.allow(w, r, RoleAdmin, RoleSupervisor) {
		return
	}
	var req landmarkRequest
	if !s.decode(w, r, &req) {
		return
	}
	if req.Name == nil || req.Category == nil || req.UnitID == nil || len(req.Geometry) == 0 {
		writeError(w, r, http.StatusBadRequest, "bad_request", "name, category, unit_id and geometry are required")
		return
	}
	l := req.apply(alerts.Landmark{})
	var out alerts.Landmark
	err := s.change(r, func(c changeTx) (Entry, error) {
		if err := s.unitInScope(r, c, l.UnitID); err != nil {
			return Entry{}, err
		}
		if err := alerts.CheckLandmark(l); err != nil {
			return Entry{}, &badRequest{err}
		}
		var err error
		out, err = c.alerts.PutLandmark(r.Context(), l)
		return landmarkEntry("landmark.create", alerts.Landmark{}, out), err
	})
	if err != nil && !landmarkRefusal(w, r, err) {
		s.fail(w, r, err)
	}
	if err == nil {
		writeJSON(w, http.StatusCreated, out)
	}
}

// lockLandmark reads landmark id for a change, refusing it (not found)
// outside the caller's jurisdiction.
func (s *Server) lockLandmark(r *http.Request, c changeTx, id int64) (alerts.Landmark, error) {
	l, err := c.alerts.LandmarkForUpdate(r.Context(), id)
	if errors.Is(err, pgx.ErrNoRows) {
		return l, track.ErrNotFound
	}
	if err != nil {
		return l, err
	}
	return l, s.unitInScope(r, c, l.UnitID)
}

// updateLandmark serves PATCH /api/v1/landmarks/{id}: the same change sent
// twice changes nothing the second time (no new version, no audit entry).
func (s *Server) updateLandmark(w http.ResponseWriter, r *http.Request) {
	if !s.allow(w, r, RoleAdmin, RoleSupervisor) {
		return
	}
	id, ok := pathID(w, r)
	if !ok {
		return
	}
	var req landmarkRequest
	if !s.decode(w, r, &req) {
		return
	}
	var after alerts.Landmark
	err := s.change(r, func(c changeTx) (Entry, error) {
		before, err := s.lockLandmark(r, c, id)
		if err != nil {
			return Entry{}, err
		}
		next := req.apply(before)
		if err := alerts.CheckLandmark(next); err != nil {
			return Entry{}, &badRequest{err}
		}
		if next.UnitID != before.UnitID {
			if err := s.unitInScope(r, c, next.UnitID); err != nil {
				return Entry{}, err
			}
		}
		if same, err := sameGeometry(r, c, before.Geometry, next.Geometry); err != nil {
			return Entry{}, err
		} else if same && next.Name == before.Name && next.Category == before.Category && next.UnitID == before.UnitID {
			after = before
			return Entry{}, errUnchanged
		}
		if req.Version != nil && *req.Version != before.Version {
			return Entry{}, errStaleFence
		}
		after, err = c.alerts.PutLandmark(r.Context(), next)
		return landmarkEntry("landmark.update", before, after), err
	})
	switch {
	case errors.Is(err, errUnchanged), err == nil:
		writeJSON(w, http.StatusOK, after)
	case !landmarkRefusal(w, r, err):
		s.fail(w, r, err)
	}
}

// sameGeometry reports whether two GeoJSON geometries are the same shape
// (point for point), as PostGIS compares them.
func sameGeometry(r *http.Request, c changeTx, a, b json.RawMessage) (bool, error) {
	var same bool
	err := c.tx.QueryRow(r.Context(), `SELECT ST_Equals(ST_GeomFromGeoJSON($1), ST_GeomFromGeoJSON($2))
		AND ST_AsGeoJSON(ST_GeomFromGeoJSON($1)) = ST_AsGeoJSON(ST_GeomFromGeoJSON($2))`, string(a), string(b)).Scan(&same)
	if err != nil {
		return false, fmt.Errorf("compare landmark geometries: %w", err)
	}
	return same, nil
}

// deleteLandmark serves DELETE /api/v1/landmarks/{id}; deleting one that
// is gone already is not found.
func (s *Server) deleteLandmark(w http.ResponseWriter, r *http.Request) {
	if !s.allow(w, r, RoleAdmin, RoleSupervisor) {
		return
	}
	id, ok := pathID(w, r)
	if !ok {
		return
	}
	err := s.change(r, func(c changeTx) (Entry, error) {
		before, err := s.lockLandmark(r, c, id)
		if err != nil {
			return Entry{}, err
		}
		return landmarkEntry("landmark.delete", before, alerts.Landmark{}), c.alerts.DeleteLandmark(r.Context(), id)
	})
	if err != nil {
		s.fail(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// importRefusedFeatures ends an import's transaction for bad features.
type importRefusedFeatures struct{ err error }

func (e *importRefusedFeatures) Error() string { return e.err.Error() }

// importLandmarks serves POST /api/v1/landmarks/import?unit=ID with a
// GeoJSON body.
func (s *Server) importLandmarks(w http.ResponseWriter, r *http.Request) {
	if !s.allow(w, r, RoleAdmin, RoleSupervisor) {
		return
	}
	unit, ok := queryID(w, r, "unit")
	if !ok {
		return
	}
	if unit == 0 {
		writeError(w, r, http.StatusBadRequest, "bad_request", "name the unit: ?unit=ID")
		return
	}
	body, ok := s.readBody(w, r)
	if !ok {
		return
	}
	if _, err := s.store.UnitIn(r.Context(), principal(r).Scope(), unit); err != nil {
		s.fail(w, r, err)
		return
	}
	ls, idx, err := alerts.ImportLandmarks(bytesTrimBOM(body), unit)
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		// Bad features: those that parsed are checked by the database
		// too, so that the answer names every bad one.
		errs := j.Unwrap()
		for i, l := range ls {
			if gerr := s.alerts.CheckLandmarkGeometry(r.Context(), l); gerr != nil {
				errs = append(errs, &alerts.FeatureError{Index: idx[i], Name: l.Name, Err: gerr})
			}
		}
		slices.SortStableFunc(errs, func(a, b error) int { return featureIndex(a) - featureIndex(b) })
		err = errors.Join(errs...)
	}
	if err != nil {
		if !writeFeatureErrors(w, r, err) {
			writeError(w, r, http.StatusBadRequest, "bad_request", "nothing imported: "+err.Error())
		}
		return
	}
	var created, updated []int64
	unchanged := 0
	err = s.change(r, func(c changeTx) (Entry, error) {
		existing, err := c.alerts.Landmarks(r.Context(), unit, "")
		if err != nil {
			return Entry{}, err
		}
		byName := map[string]alerts.Landmark{}
		for _, l := range existing {
			if l.UnitID == unit {
				byName[l.Name] = l
			}
		}
		var errs []error
		for k, l := range ls {
			if old, ok := byName[l.Name]; ok {
				same, err := sameGeometry(r, c, old.Geometry, l.Geometry)
				if err != nil {
					return Entry{}, err
				}
				if same && old.Category == l.Category {
					unchanged++
					continue
				}
				l.ID = old.ID
			}
			out, err := c.alerts.PutLandmark(r.Context(), l)
			var inv *alerts.InvalidGeometryError
			if errors.As(err, &inv) {
				errs = append(errs, &alerts.FeatureError{Index: idx[k], Name: l.Name, Err: err})
				continue
			}
			if err != nil {
				return Entry{}, err
			}
			if l.ID == 0 {
				created = append(created, out.ID)
			} else {
				updated = append(updated, out.ID)
			}
		}
		if len(errs) > 0 {
			return Entry{}, &importRefusedFeatures{errors.Join(errs...)}
		}
		if len(created)+len(updated) == 0 {
			return Entry{}, errUnchanged
		}
		return Entry{Action: "landmark.import", SubjectUnitID: unit,
			Detail: map[string]any{"created": created, "updated": updated, "unchanged": unchanged}}, nil
	})
	var refused *importRefusedFeatures
	switch {
	case errors.As(err, &refused):
		writeFeatureErrors(w, r, refused.err)
	case err != nil && !errors.Is(err, errUnchanged):
		s.fail(w, r, err)
	default:
		writeJSON(w, http.StatusOK, map[string]any{"created": len(created), "updated": len(updated), "unchanged": unchanged})
	}
}

// featureIndex is the feature number of an *alerts.FeatureError.
func featureIndex(err error) int {
	var fe *alerts.FeatureError
	if errors.As(err, &fe) {
		return fe.Index
	}
	return 0
}

// bytesTrimBOM drops a UTF-8 byte order mark, which some editors write.
func bytesTrimBOM(b []byte) []byte {
	return []byte(strings.TrimPrefix(string(b), "\ufeff"))
}
