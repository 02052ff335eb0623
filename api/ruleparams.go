package api

import (
	"net/http"

	"fleetmon/alerts"
)

func (s *Server) getParams(w http.ResponseWriter, r *http.Request) {
	unit, chain, ok := s.configUnit(w, r, false)
	if !ok {
		return
	}
	def, units, err := s.alerts.Params(r.Context())
	if err != nil {
		s.fail(w, r, err)
		return
	}
	params, from := def, int64(0)
	for _, u := range chain {
		if p, ok := units[u]; ok {
			params, from = p, u
			break
		}
	}
	writeJSON(w, http.StatusOK, map[string]any{"unit_id": unit, "own": unit != 0 && from == unit,
		"inherited_from": from, "params": params})
}

func (s *Server) putParams(w http.ResponseWriter, r *http.Request) {
	unit, _, ok := s.configUnit(w, r, true)
	if !ok {
		return
	}
	// Fields left out keep the defaults.
	params := alerts.DefaultParams()
	if !s.decode(w, r, &params) {
		return
	}
	if _, err := alerts.NewPolicy(nil, params, nil); err != nil {
		writeError(w, r, http.StatusBadRequest, "bad_request", err.Error())
		return
	}
	err := s.change(r, func(c changeTx) (Entry, error) {
		return Entry{Action: "rule_params.put", SubjectUnitID: unit,
			Detail: map[string]any{"unit_id": unit, "params": params}}, c.alerts.PutParams(r.Context(), unit, params)
	})
	if err != nil {
		s.fail(w, r, err)
		return
	}
	s.reload(r)
	writeJSON(w, http.StatusOK, map[string]any{"unit_id": unit, "own": true, "inherited_from": unit, "params": params})
}
