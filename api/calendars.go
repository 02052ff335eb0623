package api

import (
	"errors"
	"fmt"
	"net/http"
	"regexp"
	"slices"
	"strconv"
	"strings"

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

// resolveCalendar returns the calendar of the first unit of chain (then
// the default, unit 0) that has one, and that unit; the standard week when
// none has.
func resolveCalendar(specs []alerts.CalendarSpec, chain []int64) (alerts.CalendarSpec, int64, bool) {
	for _, u := range append(slices.Clone(chain), 0) {
		if i := slices.IndexFunc(specs, func(c alerts.CalendarSpec) bool { return c.UnitID == u }); i >= 0 {
			return specs[i], u, true
		}
	}
	return alerts.CalendarSpec{Week: alerts.StandardWeek()}, 0, false
}

// calendarJSON is a unit's calendar as the API shows it: the calendar
// that applies, where it comes from, and what the unit would inherit
// without its own (parent), so that a client can show what the unit
// overrides.
func (s *Server) calendarJSON(r *http.Request, unit int64, chain []int64, specs []alerts.CalendarSpec) (map[string]any, error) {
	spec, from, found := resolveCalendar(specs, chain)
	out := map[string]any{"unit_id": unit, "own": found && from == unit,
		"inherited_from": from, "calendar": spec}
	name, err := s.unitName(r, from)
	if err != nil {
		return nil, err
	}
	out["inherited_from_name"] = name
	if unit != 0 {
		pspec, pfrom, _ := resolveCalendar(specs, chain[1:])
		pname, err := s.unitName(r, pfrom)
		if err != nil {
			return nil, err
		}
		out["parent"] = map[string]any{"inherited_from": pfrom, "inherited_from_name": pname, "calendar": pspec}
	}
	return out, nil
}

// unitName is a unit's name ("" for 0, the default). It may name a unit
// above the caller's jurisdiction: the caller's own unit path names it
// already.
func (s *Server) unitName(r *http.Request, id int64) (string, error) {
	if id == 0 {
		return "", nil
	}
	var name string
	if err := s.pool.QueryRow(r.Context(), "SELECT name FROM units WHERE id = $1", id).Scan(&name); err != nil {
		return "", fmt.Errorf("name unit %d: %w", id, err)
	}
	return name, nil
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
	out, err := s.calendarJSON(r, unit, chain, specs)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, out)
}

// calendarProblem is a calendar's refusal in the client's terms, without
// the package and calendar id.
var calendarPrefix = regexp.MustCompile(`^alerts: calendar \d+: `)

func calendarProblem(err error) string { return calendarPrefix.ReplaceAllString(err.Error(), "") }

// putCalendar sets the unit's own calendar. The same calendar again
// changes nothing: no new revision, no audit entry ("changed": false).
func (s *Server) putCalendar(w http.ResponseWriter, r *http.Request) {
	unit, chain, ok := s.configUnit(w, r, true)
	if !ok {
		return
	}
	var spec alerts.CalendarSpec
	if !s.decode(w, r, &spec) {
		return
	}
	spec.ID, spec.UnitID, spec.Revision = 0, unit, 0
	if _, err := alerts.NewCalendar(spec, alerts.DefaultHolidays()); err != nil {
		writeError(w, r, http.StatusBadRequest, "bad_request", calendarProblem(err))
		return
	}
	s.storeCalendar(w, r, unit, chain, func(c changeTx) (alerts.CalendarSpec, Entry, error) {
		return spec, Entry{Action: "calendar.put"}, nil
	})
}

// storeCalendar stores the calendar fn makes (from the calendars as
// stored, locked) and audits it with fn's entry, in one transaction, and
// answers with the unit's calendar. Nothing changed: nothing audited.
func (s *Server) storeCalendar(w http.ResponseWriter, r *http.Request, unit int64, chain []int64,
	fn func(c changeTx) (alerts.CalendarSpec, Entry, error)) {
	changed := false
	err := s.change(r, func(c changeTx) (Entry, error) {
		spec, e, err := fn(c)
		if err != nil {
			return e, err
		}
		spec.UnitID = unit
		spec, changed, err = c.alerts.PutCalendarIfChanged(r.Context(), spec)
		if err != nil {
			return e, err
		}
		if !changed {
			return e, errUnchanged
		}
		if e.Detail == nil {
			e.Detail = map[string]any{}
		}
		e.SubjectUnitID = unit
		e.Detail["unit_id"], e.Detail["revision"], e.Detail["calendar"] = unit, spec.Revision, spec
		return e, nil
	})
	if err != nil && !errors.Is(err, errUnchanged) {
		s.failCalendar(w, r, err)
		return
	}
	s.answerCalendar(w, r, unit, chain, changed)
}

// answerCalendar reloads the rules after a change and answers the unit's
// calendar as it now stands, and whether the request changed it.
func (s *Server) answerCalendar(w http.ResponseWriter, r *http.Request, unit int64, chain []int64, changed bool) {
	if changed {
		s.reload(r)
	}
	specs, err := s.alerts.Calendars(r.Context())
	if err != nil {
		s.fail(w, r, err)
		return
	}
	out, err := s.calendarJSON(r, unit, chain, specs)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	out["changed"] = changed
	writeJSON(w, http.StatusOK, out)
}

// errUnchanged rolls back a change that changed nothing, so that it
// leaves no audit entry.
var errUnchanged = errors.New("nothing changed")

// failCalendar answers a refused calendar, problem by problem, or err.
func (s *Server) failCalendar(w http.ResponseWriter, r *http.Request, err error) {
	var probs alerts.CalendarProblems
	switch {
	case errors.As(err, &probs):
		lines := make([]lineError, len(probs))
		for i, p := range probs {
			lines[i] = lineError{Line: p.Line, Message: p.Msg}
		}
		writeLineErrors(w, r, lines)
	case strings.HasPrefix(err.Error(), "alerts: calendar "):
		writeError(w, r, http.StatusBadRequest, "bad_request", calendarProblem(err))
	default:
		s.fail(w, r, err)
	}
}
