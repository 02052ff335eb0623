package api

import (
	"bytes"
	"errors"
	"net/http"
	"strconv"

	"fleetmon/alerts"
)

// Editing calendars beyond PUT: clearing a unit's own calendar so that it
// inherits again, and a unit's own days (an extra day off, a duty day)
// imported for a year from a holiday file, as the national calendar is.

func (s *Server) calendarRoutes(p routeRecorder) {
	p.HandleFunc("DELETE /api/v1/units/{id}/calendar", s.clearCalendar)
	p.HandleFunc("POST /api/v1/units/{id}/calendar/days", s.importUnitDays)
}

// clearCalendar removes the unit's own calendar: it inherits its nearest
// ancestor's again. A unit without one is left as it is ("changed":
// false, nothing audited).
func (s *Server) clearCalendar(w http.ResponseWriter, r *http.Request) {
	unit, chain, ok := s.configUnit(w, r, true)
	if !ok {
		return
	}
	if unit == 0 {
		writeError(w, r, http.StatusBadRequest, "bad_request", "the default calendar cannot be cleared: edit it instead")
		return
	}
	changed := false
	err := s.change(r, func(c changeTx) (Entry, error) {
		var err error
		if changed, err = c.alerts.DeleteCalendar(r.Context(), unit); err != nil || !changed {
			return Entry{}, orUnchanged(err)
		}
		return Entry{Action: "calendar.clear", SubjectUnitID: unit, Detail: map[string]any{"unit_id": unit}}, nil
	})
	if err != nil && !errors.Is(err, errUnchanged) {
		s.fail(w, r, err)
		return
	}
	s.answerCalendar(w, r, unit, chain, changed)
}

func orUnchanged(err error) error {
	if err != nil {
		return err
	}
	return errUnchanged
}

// parseHolidayFile reads a holiday file: the holidays-cn.json shape or an
// iCalendar file, and ?year= when given, which takes that year's days
// alone (a public feed holds many years). It answers the client itself
// and returns false when the file is refused.
func (s *Server) parseHolidayFile(w http.ResponseWriter, r *http.Request) (*alerts.HolidaySet, string, bool) {
	year := 0
	if v := r.URL.Query().Get("year"); v != "" {
		y, err := strconv.Atoi(v)
		if err != nil || y < 2000 || y > 2200 {
			writeError(w, r, http.StatusBadRequest, "bad_request", "year: want a year such as 2027")
			return nil, "", false
		}
		year = y
	}
	body, ok := s.readBody(w, r)
	if !ok {
		return nil, "", false
	}
	var h *alerts.HolidaySet
	var err error
	source := "json import"
	switch t := bytes.TrimSpace(bytes.TrimPrefix(body, []byte("\ufeff"))); {
	case len(t) > 0 && t[0] == '{':
		h, err = alerts.ParseHolidaysJSON(t)
	case bytes.HasPrefix(bytes.ToUpper(t), []byte("BEGIN:VCALENDAR")):
		source = "ics import"
		h, err = alerts.ParseHolidaysICS(body)
	default:
		writeError(w, r, http.StatusBadRequest, "bad_request", "nothing imported: send the holidays-cn.json shape or an iCalendar file")
		return nil, "", false
	}
	if err != nil {
		s.failCalendar(w, r, err)
		return nil, "", false
	}
	if year != 0 {
		if h, _, err = h.OnlyYear(year); err != nil {
			s.failCalendar(w, r, err)
			return nil, "", false
		}
	}
	if len(h.Years()) == 0 || year != 0 && !h.Covers(year) {
		writeError(w, r, http.StatusBadRequest, "bad_request", "nothing imported: the file holds no day of "+strconv.Itoa(year))
		return nil, "", false
	}
	return h, source, true
}

// importUnitDays serves POST /api/v1/units/{id}/calendar/days: the days of
// a holiday file become the unit's own for the years it holds (each
// holiday an extra day off, each make-up workday a duty day with weekday
// hours), replacing the unit's own days of those years; its other days and
// its working hours stay. A unit without a calendar of its own gets one,
// a copy of the one it inherits. All or nothing, audited; the same file
// again changes nothing.
func (s *Server) importUnitDays(w http.ResponseWriter, r *http.Request) {
	unit, chain, ok := s.configUnit(w, r, true)
	if !ok {
		return
	}
	h, source, ok := s.parseHolidayFile(w, r)
	if !ok {
		return
	}
	years, days := h.Years(), alerts.UnitDays(h)
	s.storeCalendar(w, r, unit, chain, func(c changeTx) (alerts.CalendarSpec, Entry, error) {
		specs, err := c.alerts.CalendarsForUpdate(r.Context())
		if err != nil {
			return alerts.CalendarSpec{}, Entry{}, err
		}
		spec, _, _ := resolveCalendar(specs, chain)
		spec.Overrides = alerts.ReplaceYears(spec.Overrides, years, days)
		if _, err := alerts.NewCalendar(spec, alerts.DefaultHolidays()); err != nil {
			return spec, Entry{}, err
		}
		listed := make([]string, len(days))
		for i, o := range days {
			listed[i] = o.Date.String() + " " + o.Name
		}
		return spec, Entry{Action: "calendar.days_import", Detail: map[string]any{"years": years, "source": source, "days": listed}}, nil
	})
}
