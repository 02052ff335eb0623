package api

import (
	"errors"
	"fmt"
	"net/http"
	"reflect"
	"slices"
	"strings"

	"github.com/jackc/pgx/v5"

	"fleetmon/alerts"
	"fleetmon/track"
)

// Geofence editing (the geofences page): a fence renamed, given another
// kind, category, dwell threshold, speed limit, owning unit or shape, one
// change at a time and audited with it; and the refusals of a fence import,
// one per bad feature, so that a file is mended in one go.

// geofenceRoutes registers the geofence editing and the landmarks.
func (s *Server) geofenceRoutes(p routeRecorder) {
	p.HandleFunc("PATCH /api/v1/geofences/{id}", s.updateFence)
	s.landmarkRoutes(p)
}

// fencePatch is the body of PATCH /api/v1/geofences/{id}: every field
// optional, those given replace the fence's. Version, when given, must be
// the fence's current version (else 409): an editor that read version 3
// does not overwrite a change made since.
type fencePatch struct {
	Version       *int          `json:"version"`
	Name          *string       `json:"name"`
	Kind          *string       `json:"kind"`
	Category      *string       `json:"category"`
	DwellMin      *float64      `json:"dwell_min"`
	SpeedLimitKmh *float32      `json:"speed_limit_kmh"`
	UnitID        *int64        `json:"unit_id"`
	Shape         *alerts.Shape `json:"shape"`
}

// apply returns f with the patch applied, or what is wrong with the result.
func (p *fencePatch) apply(f alerts.Fence) (alerts.Fence, error) {
	if p.Name != nil {
		f.Name = *p.Name
	}
	if p.Kind != nil {
		f.Kind = alerts.FenceKind(*p.Kind)
	}
	if p.Category != nil {
		f.Category = alerts.PlaceCategory(*p.Category)
	}
	if f.Kind != alerts.FenceSensitive {
		f.Category = "" // only sensitive places have one; the store drops it too
	}
	if p.DwellMin != nil {
		if *p.DwellMin < 0 || *p.DwellMin > 7*24*60 {
			return f, errors.New("dwell_min: want 0 (the category's threshold) to 10080 minutes")
		}
		f.DwellMin = *p.DwellMin
	}
	if p.SpeedLimitKmh != nil {
		if *p.SpeedLimitKmh < 0 || *p.SpeedLimitKmh > 250 {
			return f, errors.New("speed_limit_kmh: want 0 (none) to 250")
		}
		f.SpeedLimitKmh = *p.SpeedLimitKmh
	}
	if p.UnitID != nil {
		f.UnitID, f.VehicleID = *p.UnitID, 0
	}
	if p.Shape != nil {
		f.Shape = *p.Shape
	}
	if err := alerts.CheckFenceName(f.Name); err != nil {
		return f, err
	}
	return f, alerts.CheckFence(f)
}

// errStaleFence refuses a change made against an older version.
var errStaleFence = errors.New("stale fence version")

// updateFence serves PATCH /api/v1/geofences/{id}. Sending the same change
// again changes nothing and writes no audit entry: the fence keeps its
// version.
func (s *Server) updateFence(w http.ResponseWriter, r *http.Request) {
	if !s.allow(w, r, RoleAdmin, RoleSupervisor) {
		return
	}
	id, ok := pathID(w, r)
	if !ok {
		return
	}
	var req fencePatch
	if !s.decode(w, r, &req) {
		return
	}
	sc := principal(r).Scope()
	var before, after alerts.Fence
	unchanged := false
	// The row lock orders concurrent edits of one fence: the second reads
	// what the first committed.
	err := s.change(r, func(c changeTx) (Entry, error) {
		var version int
		err := c.tx.QueryRow(r.Context(), "SELECT version FROM alert_fences WHERE id = $1 FOR UPDATE", id).Scan(&version)
		if errors.Is(err, pgx.ErrNoRows) {
			return Entry{}, track.ErrNotFound
		}
		if err != nil {
			return Entry{}, fmt.Errorf("lock fence %d: %w", id, err)
		}
		fs, err := s.alerts.Fences(r.Context())
		if err != nil {
			return Entry{}, err
		}
		i := slices.IndexFunc(fs, func(f alerts.Fence) bool { return f.ID == id })
		if i < 0 {
			return Entry{}, track.ErrNotFound
		}
		before = fs[i]
		if ok, err := s.fenceInScope(r.Context(), sc, &before); err != nil || !ok {
			return Entry{}, cmpOr(err, track.ErrNotFound)
		}
		next, err := req.apply(before)
		if err != nil {
			return Entry{}, &badRequest{err}
		}
		if next.UnitID != before.UnitID {
			if ok, err := s.fenceInScope(r.Context(), sc, &next); err != nil || !ok {
				return Entry{}, cmpOr(err, track.ErrNotFound)
			}
		}
		if reflect.DeepEqual(next, before) {
			// Nothing to change (a request sent twice): no new version,
			// no audit entry, and the version check does not apply to
			// what the caller already has.
			unchanged, after = true, before
			return Entry{}, errUnchanged
		}
		if req.Version != nil && *req.Version != before.Version {
			return Entry{}, errStaleFence
		}
		after, err = c.alerts.PutFence(r.Context(), next)
		if err != nil {
			return Entry{}, err
		}
		return Entry{Action: "geofence.update", VehicleID: after.VehicleID, SubjectUnitID: after.UnitID,
			Detail: map[string]any{"id": id, "before": before, "after": after, "changed": fenceChanges(before, after)}}, nil
	})
	var bad *badRequest
	switch {
	case unchanged && errors.Is(err, errUnchanged):
		writeJSON(w, http.StatusOK, after)
		return
	case errors.As(err, &bad):
		writeError(w, r, http.StatusBadRequest, "bad_request", bad.err.Error())
		return
	case errors.Is(err, errStaleFence):
		writeError(w, r, http.StatusConflict, "stale_version",
			fmt.Sprintf("the fence was changed meanwhile (now version %d): reload it and edit again", before.Version))
		return
	case err != nil:
		s.fail(w, r, err)
		return
	}
	s.reload(r)
	writeJSON(w, http.StatusOK, after)
}

// badRequest carries a refusal out of a change's transaction.
type badRequest struct{ err error }

func (b *badRequest) Error() string { return b.err.Error() }

// fenceChanges names the fields that differ, for the audit log's readers.
func fenceChanges(a, b alerts.Fence) []string {
	var out []string
	add := func(name string, differ bool) {
		if differ {
			out = append(out, name)
		}
	}
	add("name", a.Name != b.Name)
	add("kind", a.Kind != b.Kind)
	add("category", a.Category != b.Category)
	add("dwell_min", a.DwellMin != b.DwellMin)
	add("speed_limit_kmh", a.SpeedLimitKmh != b.SpeedLimitKmh)
	add("unit_id", a.UnitID != b.UnitID || a.VehicleID != b.VehicleID)
	add("shape", !reflect.DeepEqual(a.Shape, b.Shape))
	return out
}

// featureError is one bad feature of a refused fence or landmark import.
type featureError struct {
	Index   int    `json:"index"`
	Name    string `json:"name,omitempty"`
	Message string `json:"message"`
}

// writeFeatureErrors answers 400 bad_features when err holds
// *alerts.FeatureError (every bad feature, in the message and one by one
// in features, in the client's language), and reports whether it did.
func writeFeatureErrors(w http.ResponseWriter, r *http.Request, err error) bool {
	errs := []error{err}
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		errs = j.Unwrap()
	}
	var out []featureError
	msgs := make([]string, 0, len(errs))
	for _, e := range errs {
		var fe *alerts.FeatureError
		if !errors.As(e, &fe) {
			return false
		}
		out = append(out, featureError{Index: fe.Index, Name: fe.Name, Message: forClient(r, fe.Err.Error())})
		msgs = append(msgs, fe.Error())
	}
	var b struct {
		Error struct {
			Code     string         `json:"code"`
			Message  string         `json:"message"`
			Features []featureError `json:"features"`
		} `json:"error"`
	}
	b.Error.Code, b.Error.Features = "bad_features", out
	b.Error.Message = forClient(r, fmt.Sprintf("nothing imported: %s", strings.Join(msgs, "; ")))
	writeJSON(w, http.StatusBadRequest, b)
	return true
}
