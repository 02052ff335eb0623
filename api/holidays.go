package api

import (
	"bytes"
	"net/http"
	"strconv"

	"fleetmon/alerts"
)

// getHolidays serves GET /api/v1/holidays: the calendar the rules judge
// with, the years fleetmon ships included (seeded here if the engine has
// not done so yet).
func (s *Server) getHolidays(w http.ResponseWriter, r *http.Request) {
	if err := s.alerts.EnsureHolidays(r.Context()); err != nil {
		s.fail(w, r, err)
		return
	}
	h, err := s.alerts.Holidays(r.Context())
	if err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"version": h.Version(), "years": h.File().Years})
}

// putHolidays serves PUT /api/v1/holidays (administrators at the top): the
// body is the holidays-cn.json shape or an iCalendar file of whole-day
// events; each year it holds replaces the stored one.
func (s *Server) putHolidays(w http.ResponseWriter, r *http.Request) {
	p := principal(r)
	if !s.allow(w, r, RoleAdmin) {
		return
	}
	if p.UnitID != 0 {
		writeError(w, r, http.StatusForbidden, "forbidden", "only an administrator at the top imports the holiday calendar")
		return
	}
	body, ok := s.readBody(w, r)
	if !ok {
		return
	}
	var h *alerts.HolidaySet
	var err error
	source := "import"
	switch t := bytes.TrimSpace(bytes.TrimPrefix(body, []byte("\ufeff"))); {
	case len(t) > 0 && t[0] == '{':
		h, err = alerts.ParseHolidaysJSON(t)
	case bytes.HasPrefix(t, []byte("BEGIN:VCALENDAR")):
		source = "ics import"
		h, err = alerts.ParseHolidaysICS(t)
	default:
		writeError(w, r, http.StatusBadRequest, "bad_request", "send the holidays-cn.json shape or an iCalendar file")
		return
	}
	if err != nil {
		writeError(w, r, http.StatusBadRequest, "bad_request", "nothing imported: "+err.Error())
		return
	}
	years := h.Years()
	if len(years) == 0 {
		writeError(w, r, http.StatusBadRequest, "bad_request", "nothing imported: no year")
		return
	}
	f := h.File()
	err = s.change(r, func(c changeTx) (Entry, error) {
		for _, y := range years {
			if err := c.alerts.PutHolidayYear(r.Context(), y, f.Years[strconv.Itoa(y)], source); err != nil {
				return Entry{}, err
			}
		}
		return Entry{Action: "holidays.import", Detail: map[string]any{"years": years, "source": source}}, nil
	})
	if err != nil {
		s.fail(w, r, err)
		return
	}
	s.reload(r)
	writeJSON(w, http.StatusOK, map[string]any{"years": years})
}
