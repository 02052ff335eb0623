package api

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/jackc/pgx/v5"

	"fleetmon/alerts"
	"fleetmon/track"
)

// The rules engine's endpoints: alerts (episodes) and their
// verification (核查), the configuration the rules judge with (geofences,
// work calendars, rule parameters, trip approvals 派车单, the national
// holiday calendar) and re-evaluation of a past period.
//
// Who may do what:
//   - Every role reads alerts and configuration within its jurisdiction
//     (an alert belongs to its vehicle's current unit; outside, it is 404
//     and not counted).
//   - Verification: supervisors (their subtree), inspectors and admins may
//     request an explanation, confirm and dismiss. Inspectors may, although
//     they otherwise change nothing: verifying alerts is what discipline
//     inspectors (纪检监察) do, and a verdict changes no configuration, no
//     vehicle and no track. Every step is audited with its reason, and the
//     audit entries are the alert's history.
//   - Configuration: supervisors and admins within their jurisdiction; the
//     defaults (unit 0) and the holiday calendar: admins at the top only.
//     Every change is audited and reloads the running engines.
//   - Re-evaluation: admins, for a vehicle in their jurisdiction.

// Rules is what the API needs of the running rules engine; *alerts.Runner
// implements it.
type Rules interface {
	Reload(ctx context.Context) error
	Reevaluate(ctx context.Context, vehicleID int64, from, to time.Time, apply bool) (*alerts.Diff, error)
	// Status says how far the rules are behind the stored positions.
	Status(ctx context.Context) (alerts.Status, error)
}

// auditVerification is the audit action of a verification step; its
// entries are also the alerts' verification history.
const auditVerification = "alert.verification"

// maxVerificationReason bounds a verification reason, in characters.
const maxVerificationReason = 2000

// alertRoutes registers the rules engine's endpoints: alerts, and the
// configuration in fences.go, calendars.go, ruleparams.go, approvals.go
// and holidays.go.
func (s *Server) alertRoutes(p routeRecorder) {
	p.HandleFunc("GET /api/v1/alerts", s.listAlerts)
	p.HandleFunc("GET /api/v1/alerts/{id}", s.getAlert)
	p.HandleFunc("POST /api/v1/alerts/{id}/verification", s.verifyAlert)
	p.HandleFunc("POST /api/v1/alerts/reevaluate", s.reevaluate)
	p.HandleFunc("GET /api/v1/rules/status", s.getRulesStatus)
	s.alertWorkbenchRoutes(p)

	p.HandleFunc("GET /api/v1/geofences", s.listFences)
	p.HandleFunc("POST /api/v1/geofences", s.createFences)
	p.HandleFunc("DELETE /api/v1/geofences/{id}", s.deleteFence)
	p.HandleFunc("GET /api/v1/units/{id}/calendar", s.getCalendar)
	p.HandleFunc("PUT /api/v1/units/{id}/calendar", s.putCalendar)
	p.HandleFunc("GET /api/v1/units/{id}/rule-params", s.getParams)
	p.HandleFunc("PUT /api/v1/units/{id}/rule-params", s.putParams)
	p.HandleFunc("DELETE /api/v1/units/{id}/rule-params", s.deleteParams)
	p.HandleFunc("GET /api/v1/rule-params", s.paramDefs)
	p.HandleFunc("GET /api/v1/approvals", s.listApprovals)
	p.HandleFunc("POST /api/v1/approvals", s.createApproval)
	p.HandleFunc("POST /api/v1/approvals/import", s.importApprovals)
	p.HandleFunc("GET /api/v1/holidays", s.getHolidays)
	p.HandleFunc("PUT /api/v1/holidays", s.putHolidays)
}

// Alerts.

type placeJSON struct {
	Lat float64 `json:"lat"`
	Lon float64 `json:"lon"`
}

type verificationStepJSON struct {
	At     string `json:"at"`
	User   string `json:"user"`
	Action string `json:"action"`
	From   string `json:"from"`
	To     string `json:"to"`
	Reason string `json:"reason,omitempty"`
}

type alertJSON struct {
	ID      string `json:"id"`
	Vehicle struct {
		ID    int64  `json:"id"`
		Plate string `json:"plate,omitempty"`
	} `json:"vehicle"`
	UnitID int64 `json:"unit_id"`
	Rule   struct {
		ID   string `json:"id"`
		Name string `json:"name"`
	} `json:"rule"`
	Status          string          `json:"status"`
	Start           string          `json:"start"`
	End             string          `json:"end,omitempty"`
	StartPlace      placeJSON       `json:"start_place"`
	EndPlace        *placeJSON      `json:"end_place,omitempty"`
	DistanceM       float64         `json:"distance_m"`
	MaxSpeedKmh     float32         `json:"max_speed_kmh"`
	FenceID         int64           `json:"fence_id,omitempty"`
	ApprovalID      int64           `json:"approval_id,omitempty"`
	Detail          string          `json:"detail,omitempty"`
	DetailZh        string          `json:"detail_zh,omitempty"`
	Params          json.RawMessage `json:"params"`
	CalendarVersion string          `json:"calendar_version,omitempty"`
	ParamsVersion   string          `json:"params_version,omitempty"`
	// Verification and History are left out where there are none (an
	// episode of a re-evaluation diff that is not stored yet).
	Verification string                 `json:"verification,omitempty"`
	History      []verificationStepJSON `json:"history,omitempty"`
	UpdatedAt    string                 `json:"updated_at,omitempty"`
	// What the alert was judged against, and the explanations recorded
	// (alert_workbench.go); left out likewise.
	DurationS float64 `json:"duration_s,omitempty"`
	FenceName string  `json:"fence_name,omitempty"`
	// SpeedLimitKmh is the limit a speeding alert broke.
	SpeedLimitKmh float32           `json:"speed_limit_kmh,omitempty"`
	Approval      *approvalRefJSON  `json:"approval,omitempty"`
	Calendar      *calendarRefJSON  `json:"calendar,omitempty"`
	Explanations  []explanationJSON `json:"explanations,omitempty"`
}

func toAlertJSON(e *alerts.Episode, plate string) alertJSON {
	var a alertJSON
	a.ID, a.UnitID, a.Status = e.ID, e.UnitID, string(e.Status)
	a.Vehicle.ID, a.Vehicle.Plate = e.VehicleID, plate
	a.Rule.ID, a.Rule.Name = string(e.Rule), e.Rule.Name()
	a.Start = formatTime(e.Start)
	a.StartPlace = placeJSON{Lat: e.StartLat, Lon: e.StartLon}
	if !e.End.IsZero() {
		a.End = formatTime(e.End)
		a.EndPlace = &placeJSON{Lat: e.EndLat, Lon: e.EndLon}
	}
	a.DistanceM, a.MaxSpeedKmh, a.FenceID, a.ApprovalID, a.Detail = e.DistanceM, e.MaxSpeedKmh, e.FenceID, e.ApprovalID, e.Detail
	if e.Detail != "" {
		a.DetailZh = zhMessage(e.Detail)
	}
	a.Params = json.RawMessage("{}")
	if e.Params != "" && json.Valid([]byte(e.Params)) {
		a.Params = json.RawMessage(e.Params)
	}
	a.CalendarVersion, a.ParamsVersion = e.CalendarVersion, e.ParamsVersion
	return a
}

// alertsJSON turns listed episodes into their JSON with their
// verification history (one query for all of them).
func (s *Server) alertsJSON(ctx context.Context, eps []alerts.ListedEpisode) ([]alertJSON, error) {
	out := make([]alertJSON, len(eps))
	if len(eps) == 0 {
		return out, nil
	}
	ids := make([]string, len(eps))
	vids := make([]int64, 0, len(eps))
	at := make(map[string]int, len(eps))
	for i := range eps {
		e := &eps[i]
		out[i] = toAlertJSON(&e.Episode, e.Plate)
		out[i].Verification = string(e.Verification)
		out[i].History = []verificationStepJSON{}
		out[i].UpdatedAt = formatTime(e.UpdatedAt)
		ids[i] = e.ID
		at[e.ID] = i
		if !slices.Contains(vids, e.VehicleID) {
			vids = append(vids, e.VehicleID)
		}
	}
	// The audit entries are the history; vehicle_id rides on their index.
	rows, err := s.pool.Query(ctx, `SELECT detail->>'alert_id', at, actor_name, COALESCE(detail->>'action', ''),
			COALESCE(detail->>'from', ''), COALESCE(detail->>'to', ''), COALESCE(reason, '')
		FROM audit_log WHERE action = $1 AND vehicle_id = ANY($2) AND detail->>'alert_id' = ANY($3)
		ORDER BY id`, auditVerification, vids, ids)
	if err != nil {
		return nil, fmt.Errorf("verification history: %w", err)
	}
	var id string
	var step verificationStepJSON
	var when time.Time
	_, err = pgx.ForEachRow(rows, []any{&id, &when, &step.User, &step.Action, &step.From, &step.To, &step.Reason}, func() error {
		step.At = formatTime(when)
		if i, ok := at[id]; ok {
			out[i].History = append(out[i].History, step)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("verification history: %w", err)
	}
	return out, s.judgedAgainst(ctx, out)
}

func (s *Server) listAlerts(w http.ResponseWriter, r *http.Request) {
	limit, offset, ok := page(w, r)
	if !ok {
		return
	}
	eq, ok := s.alertQuery(w, r)
	if !ok {
		return
	}
	eq.Limit, eq.Offset = limit, offset
	eps, total, err := s.alerts.ListEpisodes(r.Context(), eq)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	items, err := s.alertsJSON(r.Context(), eps)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	counts, err := s.verificationCounts(r.Context(), eq)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"items": items, "total": total, "limit": limit, "offset": offset, "counts": counts})
}

// alertIn returns the alert with id if it is in the caller's jurisdiction
// (retracted ones too), else track.ErrNotFound.
func (s *Server) alertIn(ctx context.Context, sc track.Scope, id string) (alerts.ListedEpisode, error) {
	eps, _, err := s.alerts.ListEpisodes(ctx, alerts.EpisodeQuery{Scope: sc, IDs: []string{id}, WithRetracted: true})
	if err != nil {
		return alerts.ListedEpisode{}, err
	}
	if len(eps) == 0 {
		return alerts.ListedEpisode{}, track.ErrNotFound
	}
	return eps[0], nil
}

func (s *Server) getAlert(w http.ResponseWriter, r *http.Request) {
	e, err := s.alertIn(r.Context(), principal(r).Scope(), r.PathValue("id"))
	if err != nil {
		s.fail(w, r, err)
		return
	}
	items, err := s.alertsJSON(r.Context(), []alerts.ListedEpisode{e})
	if err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, items[0])
}

// verificationStep is a step of the workflow: the states it may start
// from and the state it leads to.
type verificationStep struct {
	from []alerts.Verification
	to   alerts.Verification
}

// verificationSteps maps each action to the states it may start from and
// the state it leads to: open → explanation_requested → confirmed |
// dismissed, and open → confirmed | dismissed directly.
var verificationSteps = map[string]verificationStep{
	"request_explanation": {[]alerts.Verification{alerts.VerificationOpen}, alerts.VerificationExplanationRequested},
	"confirm":             {[]alerts.Verification{alerts.VerificationOpen, alerts.VerificationExplanationRequested}, alerts.VerificationConfirmed},
	"dismiss":             {[]alerts.Verification{alerts.VerificationOpen, alerts.VerificationExplanationRequested}, alerts.VerificationDismissed},
}

// stepRequest is the body of a verification step.
type stepRequest struct {
	Action string `json:"action"`
	Reason string `json:"reason"`
}

// readStep reads a verification step's body (of an alert, or of another
// case worked the same way, named by what): the action, and its reason,
// which a verdict needs. It answers the client itself on error.
func (s *Server) readStep(w http.ResponseWriter, r *http.Request, what string) (stepRequest, verificationStep, bool) {
	var req stepRequest
	if !s.decode(w, r, &req) {
		return req, verificationStep{}, false
	}
	step, ok := verificationSteps[req.Action]
	if !ok {
		writeError(w, r, http.StatusBadRequest, "bad_request", "action: want request_explanation, confirm or dismiss")
		return req, step, false
	}
	req.Reason = strings.TrimSpace(req.Reason)
	// A verdict, either way, is evidence: it says why.
	if (req.Action == "confirm" || req.Action == "dismiss") && req.Reason == "" {
		writeError(w, r, http.StatusBadRequest, "bad_request", "reason: required to confirm or dismiss "+what)
		return req, step, false
	}
	if utf8.RuneCountInString(req.Reason) > maxVerificationReason || !utf8.ValidString(req.Reason) {
		writeError(w, r, http.StatusBadRequest, "bad_request", fmt.Sprintf("reason: at most %d characters", maxVerificationReason))
		return req, step, false
	}
	return req, step, true
}

// verifyAlert serves POST /api/v1/alerts/{id}/verification.
func (s *Server) verifyAlert(w http.ResponseWriter, r *http.Request) {
	if !s.allow(w, r, RoleAdmin, RoleSupervisor, RoleInspector) {
		return
	}
	req, step, ok := s.readStep(w, r, "an alert")
	if !ok {
		return
	}
	e, ok := s.verifiableAlert(w, r)
	if !ok {
		return
	}
	err := s.change(r, func(c changeTx) (Entry, error) {
		prev, err := c.alerts.TransitionVerification(r.Context(), e.ID, step.from, step.to, nil)
		return Entry{Action: auditVerification, VehicleID: e.VehicleID, SubjectUnitID: e.UnitID, Reason: req.Reason,
			Detail: map[string]any{"alert_id": e.ID, "rule": string(e.Rule), "action": req.Action,
				"from": string(prev), "to": string(step.to)}}, err
	})
	if errors.Is(err, alerts.ErrVerificationState) {
		s.refuseStep(w, r, req.Action, e.ID)
		return
	}
	if err != nil {
		s.fail(w, r, err)
		return
	}
	s.getAlert(w, r)
}

// reevaluate serves POST /api/v1/alerts/reevaluate (admins).
func (s *Server) reevaluate(w http.ResponseWriter, r *http.Request) {
	if !s.allow(w, r, RoleAdmin) {
		return
	}
	var req struct {
		VehicleID int64     `json:"vehicle_id"`
		From      time.Time `json:"from"`
		To        time.Time `json:"to"`
		Apply     bool      `json:"apply"`
	}
	if !s.decode(w, r, &req) {
		return
	}
	if !req.To.After(req.From) || req.To.Sub(req.From) > maxPeriod {
		writeError(w, r, http.StatusBadRequest, "bad_request", "from, to: want RFC 3339 times, from before to, at most 366 days apart")
		return
	}
	v, err := s.store.VehicleIn(r.Context(), principal(r).Scope(), req.VehicleID)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	if s.cfg.Rules == nil {
		writeError(w, r, http.StatusServiceUnavailable, "unavailable", "the rules engine is not running")
		return
	}
	// The runner applies a re-evaluation in transactions of its own: the
	// entry commits first, so that nothing is applied, nor a preview
	// shown, unaudited. The counts of what changed are in the answer.
	if err := s.auditFirst(r, Entry{Action: "alert.reevaluate", VehicleID: v.ID, SubjectUnitID: v.UnitID, From: req.From, To: req.To,
		Detail: map[string]any{"apply": req.Apply}}); err != nil {
		s.fail(w, r, err)
		return
	}
	d, err := s.cfg.Rules.Reevaluate(r.Context(), v.ID, req.From, req.To, req.Apply)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	type changeJSON struct {
		Kind string     `json:"kind"`
		Old  *alertJSON `json:"old,omitempty"`
		New  *alertJSON `json:"new,omitempty"`
	}
	changes := make([]changeJSON, len(d.Changes))
	for i, c := range d.Changes {
		changes[i].Kind = string(c.Kind)
		if c.Old != nil {
			a := toAlertJSON(&c.Old.Episode, v.Plate)
			a.Verification = string(c.Old.Verification)
			changes[i].Old = &a
		}
		if c.New != nil {
			a := toAlertJSON(c.New, v.Plate)
			changes[i].New = &a
		}
	}
	writeJSON(w, http.StatusOK, map[string]any{"vehicle_id": v.ID, "from": formatTime(d.From), "to": formatTime(d.To),
		"applied": d.Applied, "unchanged": d.Unchanged, "changes": changes})
}

// reload hands changed configuration to the running engines. The change
// is stored already: a failure is logged, not answered (the next start, or
// the next change, takes it up).
func (s *Server) reload(r *http.Request) {
	if s.cfg.Rules == nil {
		return
	}
	if err := s.cfg.Rules.Reload(r.Context()); err != nil {
		s.log.Error("api: reload the rules", "request_id", requestID(r), "err", err)
	}
}
