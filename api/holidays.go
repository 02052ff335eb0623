package api

import (
	"errors"
	"net/http"
	"strconv"
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
// events (?year= takes one year of it); each year it holds replaces the
// stored one. All or nothing: a file with a bad entry imports nothing and
// every bad entry is answered. A year given again with the same days is
// left alone, and a file that changes nothing is not audited.
func (s *Server) putHolidays(w http.ResponseWriter, r *http.Request) {
	p := principal(r)
	if !s.allow(w, r, RoleAdmin) {
		return
	}
	if p.UnitID != 0 {
		writeError(w, r, http.StatusForbidden, "forbidden", "only an administrator at the top imports the holiday calendar")
		return
	}
	h, source, ok := s.parseHolidayFile(w, r)
	if !ok {
		return
	}
	years, f := h.Years(), h.File()
	var changed []int
	err := s.change(r, func(c changeTx) (Entry, error) {
		for _, y := range years {
			ch, err := c.alerts.PutHolidayYearIfChanged(r.Context(), y, f.Years[strconv.Itoa(y)], source)
			if err != nil {
				return Entry{}, err
			}
			if ch {
				changed = append(changed, y)
			}
		}
		if len(changed) == 0 {
			return Entry{}, errUnchanged
		}
		return Entry{Action: "holidays.import", Detail: map[string]any{"years": changed, "source": source}}, nil
	})
	if err != nil && !errors.Is(err, errUnchanged) {
		s.failCalendar(w, r, err)
		return
	}
	if len(changed) > 0 {
		s.reload(r)
	}
	if changed == nil {
		changed = []int{}
	}
	writeJSON(w, http.StatusOK, map[string]any{"years": years, "changed": changed})
}
