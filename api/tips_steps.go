package api

import (
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/jackc/pgx/v5"

	"fleetmon/track"
)

// tipSteps maps each step to the state it may start from, the state it
// leads to and the roles that may take it: registered → passed (to the
// unit, with a deadline) → replied (the unit's reply) → verified
// (substantiated or not, with the reason, the alerts and exports it rests
// on) → fed_back (what the caller was told) → closed.
var tipSteps = map[string]struct {
	from, to string
	roles    []Role
}{
	"pass":     {"registered", "passed", []Role{RoleInspector}},
	"reply":    {"passed", "replied", []Role{RoleInspector, RoleSupervisor}},
	"verify":   {"replied", "verified", []Role{RoleInspector}},
	"feedback": {"verified", "fed_back", []Role{RoleInspector}},
	"close":    {"fed_back", "closed", []Role{RoleInspector}},
}

// tipStepRequest is a step (POST /api/v1/tips/{id}/steps).
type tipStepRequest struct {
	// Key is the client's idempotency key: a step retried with the same
	// key is answered with the tip as it is, and recorded once.
	Key    string `json:"key"`
	Action string `json:"action"`
	Reason string `json:"reason"`
	// Pass: the deadline for the unit's reply, and optionally the car
	// (a tip that named none, or the wrong one) or the unit it goes to.
	Deadline  time.Time `json:"deadline"`
	VehicleID int64     `json:"vehicle_id"`
	UnitID    int64     `json:"unit_id"`
	// Verify: substantiated or unsubstantiated, and what it rests on.
	Outcome  string   `json:"outcome"`
	AlertIDs []string `json:"alert_ids"`
	Exports  []string `json:"exports"`
}

func (q *tipStepRequest) check(now time.Time) string {
	q.Reason = strings.TrimSpace(q.Reason)
	st, ok := tipSteps[q.Action]
	switch {
	case !tipKeyRe.MatchString(q.Key):
		return "key: want 8 to 64 letters, digits, _ or - (a fresh one per step, the same one on a retry)"
	case !ok:
		return "action: want pass, reply, verify, feedback or close"
	case utf8.RuneCountInString(q.Reason) > maxTipText:
		return fmt.Sprintf("reason: at most %d characters", maxTipText)
	case q.Action != "pass" && (!q.Deadline.IsZero() || q.VehicleID != 0 || q.UnitID != 0):
		return "deadline, vehicle_id, unit_id: only when passing the tip to the unit"
	case q.Action != "verify" && (q.Outcome != "" || len(q.AlertIDs) > 0 || len(q.Exports) > 0):
		return "outcome, alert_ids, exports: only when verifying"
	case q.Action == "pass" && q.Deadline.IsZero():
		return "deadline: required to pass the tip to the unit (RFC 3339)"
	case q.Action == "pass" && !q.Deadline.After(now):
		return "deadline: want a time still to come"
	case q.Action == "pass" && q.VehicleID != 0 && q.UnitID != 0:
		return "vehicle_id, unit_id: give one of them (the car's unit is the car's)"
	case q.Action == "verify" && q.Outcome != "substantiated" && q.Outcome != "unsubstantiated":
		return "outcome: want substantiated or unsubstantiated"
	case q.Action == "verify" && (len(q.AlertIDs) > 50 || len(q.Exports) > 20):
		return "alert_ids, exports: at most 50 alerts and 20 exports"
	case q.Reason == "" && st.to != "passed" && st.to != "closed":
		return "reason: required for this step (the unit's reply, the verdict's reason, or what the caller was told)"
	}
	for _, e := range q.Exports {
		if e = strings.TrimSpace(e); e == "" || utf8.RuneCountInString(e) > 200 {
			return "exports: each a file name or reference of 1 to 200 characters"
		}
	}
	return ""
}

// errTipState refuses a step the tip's state does not allow.
type errTipState struct{ action, state string }

func (e errTipState) Error() string {
	return fmt.Sprintf("%s is not allowed once a tip is %s", e.action, e.state)
}

// tipStep serves POST /api/v1/tips/{id}/steps: the step is recorded as an
// event, the tip's state moved, and both audited in one transaction.
func (s *Server) tipStep(w http.ResponseWriter, r *http.Request) {
	id, ok := pathID(w, r)
	if !ok {
		return
	}
	var req tipStepRequest
	if !s.decode(w, r, &req) {
		return
	}
	now := s.cfg.Now()
	if msg := req.check(now); msg != "" {
		writeError(w, r, http.StatusBadRequest, "bad_request", msg)
		return
	}
	step := tipSteps[req.Action]
	p := principal(r)
	ctx := r.Context()
	sc := p.Scope()
	// The tip first: outside the jurisdiction it is 404 for every role.
	if _, err := s.tipIn(ctx, s.pool, sc, id, false); err != nil {
		s.fail(w, r, err)
		return
	}
	if !s.allow(w, r, step.roles...) {
		return
	}
	detail := map[string]any{"action": req.Action}
	if req.Action == "verify" {
		alertIDs := []string{}
		for _, a := range req.AlertIDs {
			e, err := s.alertIn(ctx, sc, a)
			if errors.Is(err, track.ErrNotFound) {
				writeError(w, r, http.StatusBadRequest, "bad_request", fmt.Sprintf("alert_ids: no alert %q in your jurisdiction", a))
				return
			}
			if err != nil {
				s.fail(w, r, err)
				return
			}
			alertIDs = append(alertIDs, e.ID)
		}
		exports := make([]string, len(req.Exports))
		for i, e := range req.Exports {
			exports[i] = strings.TrimSpace(e)
		}
		detail["outcome"], detail["alert_ids"], detail["exports"] = req.Outcome, alertIDs, exports
	}
	var newUnit, newVehicle int64
	switch {
	case req.VehicleID != 0:
		v, err := s.store.VehicleIn(ctx, sc, req.VehicleID)
		if errors.Is(err, track.ErrNotFound) {
			writeError(w, r, http.StatusBadRequest, "bad_request", "vehicle_id: no such vehicle in your jurisdiction")
			return
		}
		if err != nil {
			s.fail(w, r, err)
			return
		}
		newVehicle, newUnit = v.ID, v.UnitID
	case req.UnitID != 0:
		if _, err := s.store.UnitIn(ctx, sc, req.UnitID); err != nil {
			if errors.Is(err, track.ErrNotFound) {
				writeError(w, r, http.StatusBadRequest, "bad_request", "unit_id: no such unit in your jurisdiction")
				return
			}
			s.fail(w, r, err)
			return
		}
		newUnit = req.UnitID
	}
	if req.Action == "pass" {
		detail["deadline"] = formatTime(req.Deadline)
		if newUnit != 0 {
			detail["unit_id"] = newUnit
		}
		if newVehicle != 0 {
			detail["vehicle_id"] = newVehicle
		}
	}
	hash := fmt.Sprintf("%x", requestHash(req))
	detail["request"] = hash
	err := s.change(r, func(c changeTx) (Entry, error) {
		t, err := s.tipIn(ctx, c.tx, sc, id, true)
		if err != nil {
			return Entry{}, err
		}
		var was string
		err = c.tx.QueryRow(ctx, `SELECT detail->>'request' FROM tip_events WHERE tip_id = $1 AND client_key = $2`, id, req.Key).Scan(&was)
		switch {
		case err == nil && was == hash:
			return Entry{}, errTipRetry
		case err == nil:
			return Entry{}, errKeyReused
		case !errors.Is(err, pgx.ErrNoRows):
			return Entry{}, fmt.Errorf("look up step key: %w", err)
		}
		if t.State != step.from {
			return Entry{}, errTipState{req.Action, t.State}
		}
		_, err = c.tx.Exec(ctx, `UPDATE tips SET state = $2, updated_at = $3,
				deadline = CASE WHEN $4::timestamptz IS NULL THEN deadline ELSE $4 END,
				unit_id = COALESCE($5, unit_id), vehicle_id = COALESCE($6, vehicle_id),
				outcome = COALESCE($7, outcome)
			WHERE id = $1`, id, step.to, now, nullTime(req.Deadline), nullID(newUnit), nullID(newVehicle), nullString(req.Outcome))
		if err != nil {
			return Entry{}, fmt.Errorf("move tip %d to %s: %w", id, step.to, err)
		}
		if _, err := c.tx.Exec(ctx, `INSERT INTO tip_events (tip_id, client_key, action, from_state, to_state, reason, detail, actor_id, actor_name, at)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)`, id, req.Key, req.Action, t.State, step.to, req.Reason, detail,
			p.ID, p.Name, now); err != nil {
			return Entry{}, fmt.Errorf("record step of tip %d: %w", id, err)
		}
		vehicle, unit := cmpID(newVehicle, t.VehicleID), cmpID(newUnit, t.UnitID)
		ad := map[string]any{"tip_id": id, "from": t.State, "to": step.to}
		for k, v := range detail {
			if k != "request" {
				ad[k] = v
			}
		}
		return Entry{Action: "tip.step", VehicleID: vehicle, SubjectUnitID: unit, Reason: req.Reason, Detail: ad}, nil
	})
	var bad errTipState
	switch {
	case errors.As(err, &bad):
		writeError(w, r, http.StatusConflict, "tip_state", bad.Error())
		return
	case errors.Is(err, errKeyReused):
		writeError(w, r, http.StatusConflict, "key_reused", "key: already used for a different step of this tip: make a fresh key for each step")
		return
	case err != nil && !errors.Is(err, errTipRetry):
		s.fail(w, r, err)
		return
	}
	s.getTip(w, r)
}

var errKeyReused = errors.New("idempotency key reused")

func cmpID(a, b int64) int64 {
	if a != 0 {
		return a
	}
	return b
}
