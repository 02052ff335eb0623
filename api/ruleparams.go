package api

import (
	"encoding/json"
	"net/http"

	"fleetmon/alerts"
)

// Rule parameters, per unit: a unit sets only some (overrides) and
// inherits each of the others from the nearest unit above it that sets
// it, else from the defaults (unit 0), else fleetmon's own. Reading shows
// every parameter's effective value and where it comes from.

// paramsJSON is the answer of every rule-params endpoint.
type paramsJSON struct {
	UnitID int64 `json:"unit_id"`
	// Overrides are what the unit itself sets.
	Overrides alerts.Overrides `json:"overrides"`
	// Effective lists every parameter in force for the unit, with its
	// value, unit, description and source.
	Effective []alerts.EffectiveParam `json:"effective"`
	// Params are the effective parameters nested by rule, as the alerts
	// record them.
	Params alerts.Params `json:"params"`
}

// paramsOf answers unit's parameters as stored now.
func (s *Server) paramsOf(w http.ResponseWriter, r *http.Request, unit int64, status int) {
	layers, err := s.alerts.Params(r.Context())
	if err != nil {
		s.fail(w, r, err)
		return
	}
	tree, err := s.alerts.Tree(r.Context())
	if err != nil {
		s.fail(w, r, err)
		return
	}
	p, eff, err := alerts.Effective(tree, layers, unit)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	own := layers[unit]
	if own == nil {
		own = alerts.Overrides{}
	}
	writeJSON(w, status, paramsJSON{UnitID: unit, Overrides: own, Effective: eff, Params: p})
}

func (s *Server) getParams(w http.ResponseWriter, r *http.Request) {
	unit, _, ok := s.configUnit(w, r, false)
	if !ok {
		return
	}
	s.paramsOf(w, r, unit, http.StatusOK)
}

// paramDefs serves GET /api/v1/rule-params: the parameter table (name,
// unit, description), for a form to be built from.
func (s *Server) paramDefs(w http.ResponseWriter, r *http.Request) {
	defs := alerts.ParamDefs()
	list(w, defs, len(defs), len(defs), 0)
}

// putParams replaces what a unit sets: the body names the parameters the
// unit overrides, dotted ({"drive.min_duration": "5m"}) or nested
// ({"drive": {"min_duration": "5m"}}); every other is inherited.
func (s *Server) putParams(w http.ResponseWriter, r *http.Request) {
	unit, _, ok := s.configUnit(w, r, true)
	if !ok {
		return
	}
	var raw json.RawMessage
	if !s.decode(w, r, &raw) {
		return
	}
	o, err := alerts.ParseOverrides(raw)
	if err == nil {
		err = o.Check()
	}
	if err != nil {
		writeError(w, r, http.StatusBadRequest, "bad_request", err.Error())
		return
	}
	err = s.change(r, func(c changeTx) (Entry, error) {
		return Entry{Action: "rule_params.put", SubjectUnitID: unit,
			Detail: map[string]any{"unit_id": unit, "overrides": o}}, c.alerts.PutParams(r.Context(), unit, o)
	})
	if err != nil {
		s.fail(w, r, err)
		return
	}
	s.reload(r)
	s.paramsOf(w, r, unit, http.StatusOK)
}

// deleteParams removes everything a unit sets: it inherits every
// parameter again.
func (s *Server) deleteParams(w http.ResponseWriter, r *http.Request) {
	unit, _, ok := s.configUnit(w, r, true)
	if !ok {
		return
	}
	err := s.change(r, func(c changeTx) (Entry, error) {
		had, err := c.alerts.DeleteParams(r.Context(), unit)
		return Entry{Action: "rule_params.delete", SubjectUnitID: unit,
			Detail: map[string]any{"unit_id": unit, "had_overrides": had}}, err
	})
	if err != nil {
		s.fail(w, r, err)
		return
	}
	s.reload(r)
	s.paramsOf(w, r, unit, http.StatusOK)
}
