package api

import (
	"fmt"
	"net/http"
	"strings"
	"unicode/utf8"

	"fleetmon/track"
)

type unitJSON struct {
	ID       int64  `json:"id"`
	ParentID int64  `json:"parent_id,omitempty"`
	Name     string `json:"name"`
	Path     string `json:"path"`
}

func toUnitJSON(u track.Unit) unitJSON {
	return unitJSON{ID: u.ID, ParentID: u.ParentID, Name: u.Name, Path: u.Path}
}

func (s *Server) listUnits(w http.ResponseWriter, r *http.Request) {
	us, err := s.store.Units(r.Context(), principal(r).Scope())
	if err != nil {
		s.fail(w, r, err)
		return
	}
	items := make([]unitJSON, len(us))
	for i, u := range us {
		items[i] = toUnitJSON(u)
	}
	list(w, items, len(items), len(items), 0)
}

func (s *Server) createUnit(w http.ResponseWriter, r *http.Request) {
	if !s.allow(w, r, RoleAdmin) {
		return
	}
	var req struct {
		ParentID int64  `json:"parent_id"`
		Name     string `json:"name"`
	}
	if !s.decode(w, r, &req) {
		return
	}
	var u track.Unit
	err := s.change(r, func(c changeTx) (Entry, error) {
		var err error
		u, err = c.store.CreateUnit(r.Context(), principal(r).Scope(), req.ParentID, req.Name)
		return Entry{Action: "unit.create", SubjectUnitID: u.ID, Detail: map[string]any{"path": u.Path}}, err
	})
	if err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusCreated, toUnitJSON(u))
}

func (s *Server) updateUnit(w http.ResponseWriter, r *http.Request) {
	if !s.allow(w, r, RoleAdmin) {
		return
	}
	id, ok := pathID(w, r)
	if !ok {
		return
	}
	var req struct {
		Name     *string `json:"name"`
		ParentID *int64  `json:"parent_id"`
	}
	if !s.decode(w, r, &req) {
		return
	}
	sc := principal(r).Scope()
	var u track.Unit
	err := s.change(r, func(c changeTx) (Entry, error) {
		before, err := c.store.UnitIn(r.Context(), sc, id)
		if err != nil {
			return Entry{}, err
		}
		u = before
		if req.Name != nil {
			if u, err = c.store.RenameUnit(r.Context(), sc, id, *req.Name); err != nil {
				return Entry{}, err
			}
		}
		if req.ParentID != nil {
			if u, err = c.store.MoveUnit(r.Context(), sc, id, *req.ParentID); err != nil {
				return Entry{}, err
			}
		}
		return Entry{Action: "unit.update", SubjectUnitID: u.ID,
			Detail: map[string]any{"before": before.Path, "after": u.Path}}, nil
	})
	if err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, toUnitJSON(u))
}

// importUnits creates the units named in a CSV body: one path per line (first
// column), an optional header "path". Administrators at the top only.
func (s *Server) importUnits(w http.ResponseWriter, r *http.Request) {
	if !s.allow(w, r, RoleAdmin) {
		return
	}
	if principal(r).UnitID != 0 {
		writeError(w, r, http.StatusForbidden, "forbidden", "only an administrator at the top imports units")
		return
	}
	recs, bad, ok := s.readCSV(w, r)
	if !ok {
		return
	}
	var paths [][]string
	for i, rec := range recs {
		line := i + 1
		p := strings.TrimSpace(rec[0])
		if line == 1 && strings.EqualFold(p, "path") {
			continue
		}
		var names []string
		for _, n := range strings.Split(p, "/") {
			n = strings.TrimSpace(n)
			if n == "" || !utf8.ValidString(n) {
				bad = append(bad, lineError{line, fmt.Sprintf("%q is not a path of unit names such as 湖北省/黄石市", p)})
				names = nil
				break
			}
			names = append(names, n)
		}
		if names != nil {
			paths = append(paths, names)
		}
	}
	if len(bad) > 0 {
		writeLineErrors(w, r, bad)
		return
	}
	var n int
	err := s.change(r, func(c changeTx) (Entry, error) {
		var err error
		n, err = c.store.ImportUnits(r.Context(), paths)
		return Entry{Action: "unit.import", Detail: map[string]any{"paths": len(paths), "units": n}}, err
	})
	if err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"paths": len(paths), "units": n})
}
