package api

import (
	"net/http"
	"slices"
	"strconv"

	"fleetmon/alerts"
)

// Calendars and rule parameters, per unit. Unit 0 is the default for
// every unit without its own up the tree.

// configUnit reads the {id} of a unit whose calendar or parameters are
// read (write false) or written: a unit in the jurisdiction, or 0, which
// anyone may read and only an administrator at the top may write. It
// returns the unit and its chain (itself, then its ancestors).
func (s *Server) configUnit(w http.ResponseWriter, r *http.Request, write bool) (int64, []int64, bool) {
	p := principal(r)
	if write && !s.allow(w, r, RoleAdmin, RoleSupervisor) {
		return 0, nil, false
	}
	id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
	if err != nil || id < 0 {
		writeError(w, r, http.StatusNotFound, "not_found", "not found")
		return 0, nil, false
	}
	if id == 0 {
		if write && (p.Role != RoleAdmin || p.UnitID != 0) {
			writeError(w, r, http.StatusForbidden, "forbidden", "only an administrator at the top sets the defaults")
			return 0, nil, false
		}
		return 0, nil, true
	}
	if _, err := s.store.UnitIn(r.Context(), p.Scope(), id); err != nil {
		s.fail(w, r, err)
		return 0, nil, false
	}
	tree, err := s.alerts.Tree(r.Context())
	if err != nil {
		s.fail(w, r, err)
		return 0, nil, false
	}
	return id, alerts.Chain(tree, id), true
}

func (s *Server) getCalendar(w http.ResponseWriter, r *http.Request) {
	unit, chain, ok := s.configUnit(w, r, false)
	if !ok {
		return
	}
	specs, err := s.alerts.Calendars(r.Context())
	if err != nil {
		s.fail(w, r, err)
		return
	}
	spec, from := alerts.CalendarSpec{Week: alerts.StandardWeek()}, int64(0)
	found := false
	for _, u := range append(chain, 0) {
		if i := slices.IndexFunc(specs, func(c alerts.CalendarSpec) bool { return c.UnitID == u }); i >= 0 {
			spec, from, found = specs[i], u, true
			break
		}
	}
	writeJSON(w, http.StatusOK, map[string]any{"unit_id": unit, "own": found && from == unit,
		"inherited_from": from, "calendar": spec})
}

func (s *Server) putCalendar(w http.ResponseWriter, r *http.Request) {
	unit, _, ok := s.configUnit(w, r, true)
	if !ok {
		return
	}
	var spec alerts.CalendarSpec
	if !s.decode(w, r, &spec) {
		return
	}
	spec.ID, spec.UnitID, spec.Revision = 0, unit, 0
	if _, err := alerts.NewCalendar(spec, alerts.DefaultHolidays()); err != nil {
		writeError(w, r, http.StatusBadRequest, "bad_request", err.Error())
		return
	}
	err := s.change(r, func(c changeTx) (Entry, error) {
		var err error
		spec, err = c.alerts.PutCalendar(r.Context(), spec)
		return Entry{Action: "calendar.put", SubjectUnitID: unit,
			Detail: map[string]any{"unit_id": unit, "revision": spec.Revision, "calendar": spec}}, err
	})
	if err != nil {
		s.fail(w, r, err)
		return
	}
	s.reload(r)
	writeJSON(w, http.StatusOK, map[string]any{"unit_id": unit, "own": true, "inherited_from": unit, "calendar": spec})
}
