package api

import (
	"bytes"
	"context"
	"errors"
	"net/http"
	"slices"

	"github.com/jackc/pgx/v5/pgconn"

	"fleetmon/alerts"
	"fleetmon/track"
)

// fenceInScope reports whether the fence's owner (a unit or a vehicle) is
// in the caller's jurisdiction.
func (s *Server) fenceInScope(ctx context.Context, sc track.Scope, f *alerts.Fence) (bool, error) {
	var err error
	if f.VehicleID != 0 {
		_, err = s.store.VehicleIn(ctx, sc, f.VehicleID)
	} else {
		_, err = s.store.UnitIn(ctx, sc, f.UnitID)
	}
	if errors.Is(err, track.ErrNotFound) {
		return false, nil
	}
	return err == nil, err
}

// listFences serves GET /api/v1/geofences: the fences owned by units and
// vehicles in the jurisdiction, optionally of one ?unit= or ?vehicle=.
func (s *Server) listFences(w http.ResponseWriter, r *http.Request) {
	unit, ok := queryID(w, r, "unit")
	if !ok {
		return
	}
	vehicle, ok := queryID(w, r, "vehicle")
	if !ok {
		return
	}
	fs, err := s.alerts.Fences(r.Context())
	if err != nil {
		s.fail(w, r, err)
		return
	}
	sc := principal(r).Scope()
	items := []alerts.Fence{}
	for i := range fs {
		f := &fs[i]
		if (unit != 0 && f.UnitID != unit) || (vehicle != 0 && f.VehicleID != vehicle) {
			continue
		}
		ok, err := s.fenceInScope(r.Context(), sc, f)
		if err != nil {
			s.fail(w, r, err)
			return
		}
		if ok {
			items = append(items, *f)
		}
	}
	list(w, items, len(items), len(items), 0)
}

// createFences serves POST /api/v1/geofences?unit=ID (or ?vehicle=ID): the
// body is GeoJSON (a Feature or FeatureCollection) or KML, told apart by
// their first character; every feature becomes a fence of that owner.
func (s *Server) createFences(w http.ResponseWriter, r *http.Request) {
	if !s.allow(w, r, RoleAdmin, RoleSupervisor) {
		return
	}
	var o alerts.Owner
	var ok bool
	if o.UnitID, ok = queryID(w, r, "unit"); !ok {
		return
	}
	if o.VehicleID, ok = queryID(w, r, "vehicle"); !ok {
		return
	}
	if (o.UnitID == 0) == (o.VehicleID == 0) {
		writeError(w, r, http.StatusBadRequest, "bad_request", "name the owner: ?unit=ID or ?vehicle=ID, not both")
		return
	}
	sc := principal(r).Scope()
	probe := alerts.Fence{UnitID: o.UnitID, VehicleID: o.VehicleID}
	if ok, err := s.fenceInScope(r.Context(), sc, &probe); err != nil || !ok {
		s.fail(w, r, cmpOr(err, track.ErrNotFound))
		return
	}
	body, ok := s.readBody(w, r)
	if !ok {
		return
	}
	var fences []alerts.Fence
	var err error
	switch t := bytes.TrimSpace(bytes.TrimPrefix(body, []byte("\ufeff"))); {
	case len(t) > 0 && t[0] == '{':
		fences, err = alerts.ImportGeoJSON(t, o)
	case len(t) > 0 && t[0] == '<':
		fences, err = alerts.ImportKML(bytes.NewReader(t), o)
	default:
		writeError(w, r, http.StatusBadRequest, "bad_request", "send GeoJSON (a Feature or FeatureCollection) or KML")
		return
	}
	if err == nil && len(fences) == 0 {
		err = errors.New("no feature")
	}
	if err != nil && writeFeatureErrors(w, r, err) {
		return
	}
	if err != nil {
		writeError(w, r, http.StatusBadRequest, "bad_request", "nothing imported: "+err.Error())
		return
	}
	out := make([]alerts.Fence, 0, len(fences))
	err = s.change(r, func(c changeTx) (Entry, error) {
		ids, names := make([]int64, 0, len(fences)), make([]string, 0, len(fences))
		for _, f := range fences {
			f, err := c.alerts.PutFence(r.Context(), f)
			if err != nil {
				return Entry{}, err
			}
			out = append(out, f)
			ids, names = append(ids, f.ID), append(names, f.Name)
		}
		return Entry{Action: "geofence.create", VehicleID: o.VehicleID, SubjectUnitID: o.UnitID,
			Detail: map[string]any{"ids": ids, "names": names}}, nil
	})
	if err != nil {
		s.fail(w, r, err)
		return
	}
	s.reload(r)
	writeJSON(w, http.StatusCreated, map[string]any{"items": out})
}

func (s *Server) deleteFence(w http.ResponseWriter, r *http.Request) {
	if !s.allow(w, r, RoleAdmin, RoleSupervisor) {
		return
	}
	id, ok := pathID(w, r)
	if !ok {
		return
	}
	fs, err := s.alerts.Fences(r.Context())
	if err != nil {
		s.fail(w, r, err)
		return
	}
	i := slices.IndexFunc(fs, func(f alerts.Fence) bool { return f.ID == id })
	if i < 0 {
		s.fail(w, r, track.ErrNotFound)
		return
	}
	f := &fs[i]
	if ok, err := s.fenceInScope(r.Context(), principal(r).Scope(), f); err != nil || !ok {
		s.fail(w, r, cmpOr(err, track.ErrNotFound))
		return
	}
	err = s.change(r, func(c changeTx) (Entry, error) {
		return Entry{Action: "geofence.delete", VehicleID: f.VehicleID, SubjectUnitID: f.UnitID,
			Detail: map[string]any{"id": f.ID, "name": f.Name, "kind": string(f.Kind)}}, c.alerts.DeleteFence(r.Context(), id)
	})
	if err != nil {
		var pe *pgconn.PgError
		if errors.As(err, &pe) && pe.Code == "23503" { // foreign_key_violation
			writeError(w, r, http.StatusConflict, "conflict", "a trip approval names this fence")
			return
		}
		s.fail(w, r, err)
		return
	}
	s.reload(r)
	w.WriteHeader(http.StatusNoContent)
}
