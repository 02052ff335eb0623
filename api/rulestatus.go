package api

import (
	"net/http"
	"time"

	"fleetmon/alerts"
)

// getRulesStatus serves GET /api/v1/rules/status (every role): how far
// the rules are behind the stored positions, so that an integration can
// wait until what it sent is judged instead of sleeping. It names no
// vehicle, so no jurisdiction bounds it.
func (s *Server) getRulesStatus(w http.ResponseWriter, r *http.Request) {
	if s.cfg.Rules == nil {
		writeError(w, r, http.StatusServiceUnavailable, "unavailable", "the rules engine is not running")
		return
	}
	st, err := s.cfg.Rules.Status(r.Context())
	if err != nil {
		s.fail(w, r, err)
		return
	}
	age := 0.0
	if !st.OldestPending.IsZero() {
		age = max(0, s.cfg.Now().Sub(st.OldestPending).Seconds())
	}
	writeJSON(w, http.StatusOK, struct {
		alerts.Status
		PendingAge float64   `json:"pending_oldest_seconds"`
		Now        time.Time `json:"now"`
	}{st, age, s.cfg.Now()})
}
