package api

import (
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"fleetmon/alerts"
	"fleetmon/track"
)

// The rules engine's endpoints (issue 5): alerts (episodes) and their
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
}

// ruleNames are the names users know the rules by.
var ruleNames = map[alerts.RuleID]string{
	alerts.RuleAfterHours:     "非工作时间用车",
	alerts.RuleHolidayUse:     "节假日用车",
	alerts.RuleOutOfArea:      "越界",
	alerts.RuleProhibited:     "禁入区域",
	alerts.RuleSensitiveDwell: "敏感区域停留",
	alerts.RuleNightParking:   "夜间未入库",
	alerts.RuleSealedMove:     "封存车辆移动",
	alerts.RulePowerCut:       "断电",
	alerts.RuleAntenna:        "天线断开/短路",
	alerts.RuleSilent:         "离线",
	alerts.RuleSpeeding:       "超速",
}

// auditVerification is the audit action of a verification step; its
// entries are also the alerts' verification history.
const auditVerification = "alert.verification"

// maxVerificationReason bounds a verification reason, in characters.
const maxVerificationReason = 2000

// alertRoutes registers the rules engine's endpoints (issue 5).
func (s *Server) alertRoutes(p routeRecorder) {
	p.HandleFunc("GET /api/v1/alerts", s.listAlerts)
	p.HandleFunc("GET /api/v1/alerts/{id}", s.getAlert)
	p.HandleFunc("POST /api/v1/alerts/{id}/verification", s.verifyAlert)
	p.HandleFunc("POST /api/v1/alerts/reevaluate", s.reevaluate)

	p.HandleFunc("GET /api/v1/geofences", s.listFences)
	p.HandleFunc("POST /api/v1/geofences", s.createFences)
	p.HandleFunc("DELETE /api/v1/geofences/{id}", s.deleteFence)
	p.HandleFunc("GET /api/v1/units/{id}/calendar", s.getCalendar)
	p.HandleFunc("PUT /api/v1/units/{id}/calendar", s.putCalendar)
	p.HandleFunc("GET /api/v1/units/{id}/rule-params", s.getParams)
	p.HandleFunc("PUT /api/v1/units/{id}/rule-params", s.putParams)
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
	Params          json.RawMessage `json:"params"`
	CalendarVersion string          `json:"calendar_version,omitempty"`
	ParamsVersion   string          `json:"params_version,omitempty"`
	// Verification and History are left out where there are none (an
	// episode of a re-evaluation diff that is not stored yet).
	Verification string                 `json:"verification,omitempty"`
	History      []verificationStepJSON `json:"history,omitempty"`
	UpdatedAt    string                 `json:"updated_at,omitempty"`
}

func toAlertJSON(e *alerts.Episode, plate string) alertJSON {
	var a alertJSON
	a.ID, a.UnitID, a.Status = e.ID, e.UnitID, string(e.Status)
	a.Vehicle.ID, a.Vehicle.Plate = e.VehicleID, plate
	a.Rule.ID, a.Rule.Name = string(e.Rule), ruleNames[e.Rule]
	a.Start = formatTime(e.Start)
	a.StartPlace = placeJSON{Lat: e.StartLat, Lon: e.StartLon}
	if !e.End.IsZero() {
		a.End = formatTime(e.End)
		a.EndPlace = &placeJSON{Lat: e.EndLat, Lon: e.EndLon}
	}
	a.DistanceM, a.MaxSpeedKmh, a.FenceID, a.ApprovalID, a.Detail = e.DistanceM, e.MaxSpeedKmh, e.FenceID, e.ApprovalID, e.Detail
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
	return out, nil
}

func (s *Server) listAlerts(w http.ResponseWriter, r *http.Request) {
	limit, offset, ok := page(w, r)
	if !ok {
		return
	}
	from, to, ok := period(w, r, false)
	if !ok {
		return
	}
	q := r.URL.Query()
	eq := alerts.EpisodeQuery{Scope: principal(r).Scope(), From: from, To: to, Limit: limit, Offset: offset}
	if v := q.Get("vehicle"); v != "" {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || n <= 0 {
			writeError(w, r, http.StatusBadRequest, "bad_request", "vehicle: want a vehicle id")
			return
		}
		eq.VehicleID = n
	}
	if v := q.Get("rule"); v != "" {
		if _, ok := ruleNames[alerts.RuleID(v)]; !ok {
			writeError(w, r, http.StatusBadRequest, "bad_request", "rule: want a rule id such as after_hours, holiday_use, sealed_move")
			return
		}
		eq.Rule = alerts.RuleID(v)
	}
	switch v := alerts.EpisodeStatus(q.Get("state")); v {
	case "", alerts.EpisodeOpen, alerts.EpisodeClosed, alerts.EpisodeRetracted:
		eq.Status = v
	default:
		writeError(w, r, http.StatusBadRequest, "bad_request", "state: want open, closed or retracted")
		return
	}
	switch v := alerts.Verification(q.Get("verification")); v {
	case "", alerts.VerificationOpen, alerts.VerificationExplanationRequested, alerts.VerificationConfirmed, alerts.VerificationDismissed:
		eq.Verification = v
	default:
		writeError(w, r, http.StatusBadRequest, "bad_request", "verification: want open, explanation_requested, confirmed or dismissed")
		return
	}
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
	list(w, items, total, limit, offset)
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

// verificationSteps maps each action to the states it may start from and
// the state it leads to: open → explanation_requested → confirmed |
// dismissed, and open → confirmed | dismissed directly.
var verificationSteps = map[string]struct {
	from []alerts.Verification
	to   alerts.Verification
}{
	"request_explanation": {[]alerts.Verification{alerts.VerificationOpen}, alerts.VerificationExplanationRequested},
	"confirm":             {[]alerts.Verification{alerts.VerificationOpen, alerts.VerificationExplanationRequested}, alerts.VerificationConfirmed},
	"dismiss":             {[]alerts.Verification{alerts.VerificationOpen, alerts.VerificationExplanationRequested}, alerts.VerificationDismissed},
}

// verifyAlert serves POST /api/v1/alerts/{id}/verification.
func (s *Server) verifyAlert(w http.ResponseWriter, r *http.Request) {
	if !s.allow(w, r, RoleAdmin, RoleSupervisor, RoleInspector) {
		return
	}
	var req struct {
		Action string `json:"action"`
		Reason string `json:"reason"`
	}
	if !s.decode(w, r, &req) {
		return
	}
	step, ok := verificationSteps[req.Action]
	if !ok {
		writeError(w, r, http.StatusBadRequest, "bad_request", "action: want request_explanation, confirm or dismiss")
		return
	}
	req.Reason = strings.TrimSpace(req.Reason)
	if req.Action == "dismiss" && req.Reason == "" {
		writeError(w, r, http.StatusBadRequest, "bad_request", "reason: required to dismiss an alert")
		return
	}
	if utf8.RuneCountInString(req.Reason) > maxVerificationReason || !utf8.ValidString(req.Reason) {
		writeError(w, r, http.StatusBadRequest, "bad_request", fmt.Sprintf("reason: at most %d characters", maxVerificationReason))
		return
	}
	p := principal(r)
	e, err := s.alertIn(r.Context(), p.Scope(), r.PathValue("id"))
	if err != nil {
		s.fail(w, r, err)
		return
	}
	if e.Status == alerts.EpisodeRetracted {
		writeError(w, r, http.StatusConflict, "conflict", "the alert was retracted by a re-evaluation: there is nothing to verify")
		return
	}
	_, err = s.alerts.TransitionVerification(r.Context(), e.ID, step.from, step.to, func(tx pgx.Tx, prev alerts.Verification) error {
		return appendAudit(r.Context(), tx, s.cfg.Now(), p, remoteAddr(r), Entry{Action: auditVerification,
			VehicleID: e.VehicleID, SubjectUnitID: e.UnitID, Reason: req.Reason,
			Detail: map[string]any{"alert_id": e.ID, "rule": string(e.Rule), "action": req.Action,
				"from": string(prev), "to": string(step.to)}})
	})
	if errors.Is(err, alerts.ErrVerificationState) {
		writeError(w, r, http.StatusConflict, "conflict", fmt.Sprintf("%s is not allowed once an alert is %s", req.Action, e.Verification))
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
	if err := s.audit(r, Entry{Action: "alert.reevaluate", VehicleID: v.ID, SubjectUnitID: v.UnitID, From: req.From, To: req.To,
		Detail: map[string]any{"apply": req.Apply, "applied": d.Applied, "changes": len(d.Changes), "unchanged": d.Unchanged}}); err != nil {
		s.fail(w, r, err)
		return
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

// Geofences.

// fenceInScope reports whether the fence's owner (a unit or a vehicle) is
// in the caller's jurisdiction.
func (s *Server) fenceInScope(ctx context.Context, sc track.Scope, f *alerts.Fence) (bool, error) {
	var err error
	if f.VehicleID != 0 {
		_, err = s.store.VehicleIn(ctx, sc, f.VehicleID)
	} else {
		_, err = s.store.UnitIn(ctx, sc, f.UnitID)
	}
	if errors.Is(err, track.ErrNotFound) {
		return false, nil
	}
	return err == nil, err
}

// listFences serves GET /api/v1/geofences: the fences owned by units and
// vehicles in the jurisdiction, optionally of one ?unit= or ?vehicle=.
func (s *Server) listFences(w http.ResponseWriter, r *http.Request) {
	var unit, vehicle int64
	for name, dst := range map[string]*int64{"unit": &unit, "vehicle": &vehicle} {
		if v := r.URL.Query().Get(name); v != "" {
			n, err := strconv.ParseInt(v, 10, 64)
			if err != nil || n <= 0 {
				writeError(w, r, http.StatusBadRequest, "bad_request", name+": want an id")
				return
			}
			*dst = n
		}
	}
	fs, err := s.alerts.Fences(r.Context())
	if err != nil {
		s.fail(w, r, err)
		return
	}
	sc := principal(r).Scope()
	items := []alerts.Fence{}
	for i := range fs {
		f := &fs[i]
		if (unit != 0 && f.UnitID != unit) || (vehicle != 0 && f.VehicleID != vehicle) {
			continue
		}
		ok, err := s.fenceInScope(r.Context(), sc, f)
		if err != nil {
			s.fail(w, r, err)
			return
		}
		if ok {
			items = append(items, *f)
		}
	}
	list(w, items, len(items), len(items), 0)
}

// createFences serves POST /api/v1/geofences?unit=ID (or ?vehicle=ID): the
// body is GeoJSON (a Feature or FeatureCollection) or KML, told apart by
// their first character; every feature becomes a fence of that owner.
func (s *Server) createFences(w http.ResponseWriter, r *http.Request) {
	if !s.allow(w, r, RoleAdmin, RoleSupervisor) {
		return
	}
	var o alerts.Owner
	q := r.URL.Query()
	for name, dst := range map[string]*int64{"unit": &o.UnitID, "vehicle": &o.VehicleID} {
		if v := q.Get(name); v != "" {
			n, err := strconv.ParseInt(v, 10, 64)
			if err != nil || n <= 0 {
				writeError(w, r, http.StatusBadRequest, "bad_request", name+": want an id")
				return
			}
			*dst = n
		}
	}
	if (o.UnitID == 0) == (o.VehicleID == 0) {
		writeError(w, r, http.StatusBadRequest, "bad_request", "name the owner: ?unit=ID or ?vehicle=ID, not both")
		return
	}
	sc := principal(r).Scope()
	probe := alerts.Fence{UnitID: o.UnitID, VehicleID: o.VehicleID}
	if ok, err := s.fenceInScope(r.Context(), sc, &probe); err != nil || !ok {
		s.fail(w, r, cmpOr(err, track.ErrNotFound))
		return
	}
	body, ok := s.readBody(w, r)
	if !ok {
		return
	}
	var fences []alerts.Fence
	var err error
	switch t := bytes.TrimSpace(bytes.TrimPrefix(body, []byte("\ufeff"))); {
	case len(t) > 0 && t[0] == '{':
		fences, err = alerts.ImportGeoJSON(t, o)
	case len(t) > 0 && t[0] == '<':
		fences, err = alerts.ImportKML(bytes.NewReader(t), o)
	default:
		writeError(w, r, http.StatusBadRequest, "bad_request", "send GeoJSON (a Feature or FeatureCollection) or KML")
		return
	}
	if err == nil && len(fences) == 0 {
		err = errors.New("no feature")
	}
	if err != nil {
		writeError(w, r, http.StatusBadRequest, "bad_request", "nothing imported: "+err.Error())
		return
	}
	out := make([]alerts.Fence, 0, len(fences))
	ids, names := make([]int64, 0, len(fences)), make([]string, 0, len(fences))
	for _, f := range fences {
		f, err := s.alerts.PutFence(r.Context(), f)
		if err != nil {
			s.fail(w, r, err)
			return
		}
		out = append(out, f)
		ids, names = append(ids, f.ID), append(names, f.Name)
	}
	if err := s.audit(r, Entry{Action: "geofence.create", VehicleID: o.VehicleID, SubjectUnitID: o.UnitID,
		Detail: map[string]any{"ids": ids, "names": names}}); err != nil {
		s.fail(w, r, err)
		return
	}
	s.reload(r)
	writeJSON(w, http.StatusCreated, map[string]any{"items": out})
}

func cmpOr(err, def error) error {
	if err != nil {
		return err
	}
	return def
}

// readBody reads a whole (upload) body, answering itself when it is too
// large.
func (s *Server) readBody(w http.ResponseWriter, r *http.Request) ([]byte, bool) {
	b, err := io.ReadAll(r.Body)
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			writeError(w, r, http.StatusRequestEntityTooLarge, "too_large", "request body too large")
			return nil, false
		}
		writeError(w, r, http.StatusBadRequest, "bad_request", "reading the body: "+err.Error())
		return nil, false
	}
	return b, true
}

func (s *Server) deleteFence(w http.ResponseWriter, r *http.Request) {
	if !s.allow(w, r, RoleAdmin, RoleSupervisor) {
		return
	}
	id, ok := pathID(w, r)
	if !ok {
		return
	}
	fs, err := s.alerts.Fences(r.Context())
	if err != nil {
		s.fail(w, r, err)
		return
	}
	i := slices.IndexFunc(fs, func(f alerts.Fence) bool { return f.ID == id })
	if i < 0 {
		s.fail(w, r, track.ErrNotFound)
		return
	}
	f := &fs[i]
	if ok, err := s.fenceInScope(r.Context(), principal(r).Scope(), f); err != nil || !ok {
		s.fail(w, r, cmpOr(err, track.ErrNotFound))
		return
	}
	if err := s.alerts.DeleteFence(r.Context(), id); err != nil {
		var pe *pgconn.PgError
		if errors.As(err, &pe) && pe.Code == "23503" { // foreign_key_violation
			writeError(w, r, http.StatusConflict, "conflict", "a trip approval names this fence")
			return
		}
		s.fail(w, r, err)
		return
	}
	if err := s.audit(r, Entry{Action: "geofence.delete", VehicleID: f.VehicleID, SubjectUnitID: f.UnitID,
		Detail: map[string]any{"id": f.ID, "name": f.Name, "kind": string(f.Kind)}}); err != nil {
		s.fail(w, r, err)
		return
	}
	s.reload(r)
	w.WriteHeader(http.StatusNoContent)
}

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
	spec, from := alerts.CalendarSpec{Week: alerts.StandardWeek()}, int64(0)
	found := false
	for _, u := range append(chain, 0) {
		if i := slices.IndexFunc(specs, func(c alerts.CalendarSpec) bool { return c.UnitID == u }); i >= 0 {
			spec, from, found = specs[i], u, true
			break
		}
	}
	writeJSON(w, http.StatusOK, map[string]any{"unit_id": unit, "own": found && from == unit,
		"inherited_from": from, "calendar": spec})
}

func (s *Server) putCalendar(w http.ResponseWriter, r *http.Request) {
	unit, _, ok := s.configUnit(w, r, true)
	if !ok {
		return
	}
	var spec alerts.CalendarSpec
	if !s.decode(w, r, &spec) {
		return
	}
	spec.ID, spec.UnitID, spec.Revision = 0, unit, 0
	if _, err := alerts.NewCalendar(spec, alerts.DefaultHolidays()); err != nil {
		writeError(w, r, http.StatusBadRequest, "bad_request", err.Error())
		return
	}
	spec, err := s.alerts.PutCalendar(r.Context(), spec)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	if err := s.audit(r, Entry{Action: "calendar.put", SubjectUnitID: unit,
		Detail: map[string]any{"unit_id": unit, "revision": spec.Revision, "calendar": spec}}); err != nil {
		s.fail(w, r, err)
		return
	}
	s.reload(r)
	writeJSON(w, http.StatusOK, map[string]any{"unit_id": unit, "own": true, "inherited_from": unit, "calendar": spec})
}

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
	if err := s.alerts.PutParams(r.Context(), unit, params); err != nil {
		s.fail(w, r, err)
		return
	}
	if err := s.audit(r, Entry{Action: "rule_params.put", SubjectUnitID: unit,
		Detail: map[string]any{"unit_id": unit, "params": params}}); err != nil {
		s.fail(w, r, err)
		return
	}
	s.reload(r)
	writeJSON(w, http.StatusOK, map[string]any{"unit_id": unit, "own": true, "inherited_from": unit, "params": params})
}

// Trip approvals (派车单).

type approvalJSON struct {
	ID          int64  `json:"id"`
	VehicleID   int64  `json:"vehicle_id"`
	Plate       string `json:"plate"`
	From        string `json:"from"`
	To          string `json:"to"`
	FenceID     int64  `json:"fence_id,omitempty"`
	Driver      string `json:"driver"`
	Purpose     string `json:"purpose"`
	Approver    string `json:"approver"`
	Source      string `json:"source"`
	ExternalRef string `json:"external_ref,omitempty"`
	CreatedAt   string `json:"created_at"`
}

func (s *Server) listApprovals(w http.ResponseWriter, r *http.Request) {
	limit, offset, ok := page(w, r)
	if !ok {
		return
	}
	from, to, ok := period(w, r, false)
	if !ok {
		return
	}
	aq := alerts.ApprovalQuery{Scope: principal(r).Scope(), From: from, To: to, Limit: limit, Offset: offset}
	if v := r.URL.Query().Get("vehicle"); v != "" {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || n <= 0 {
			writeError(w, r, http.StatusBadRequest, "bad_request", "vehicle: want a vehicle id")
			return
		}
		aq.VehicleID = n
	}
	as, total, err := s.alerts.ListApprovals(r.Context(), aq)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	items := make([]approvalJSON, len(as))
	for i, a := range as {
		items[i] = approvalJSON{ID: a.ID, VehicleID: a.VehicleID, Plate: a.Plate, From: formatTime(a.Start), To: formatTime(a.End),
			FenceID: a.FenceID, Driver: a.Driver, Purpose: a.Purpose, Approver: a.Approver, Source: a.Source,
			ExternalRef: a.ExternalRef, CreatedAt: formatTime(a.CreatedAt)}
	}
	list(w, items, total, limit, offset)
}

// maxApprovalText bounds a driver, purpose or approver, in characters.
const maxApprovalText = 200

func checkApproval(a *alerts.ApprovalRecord) error {
	if !a.End.After(a.Start) || a.End.Sub(a.Start) > maxPeriod {
		return errors.New("from, to: want from before to, at most 366 days apart")
	}
	for _, v := range []string{a.Driver, a.Purpose, a.Approver} {
		if !utf8.ValidString(v) || utf8.RuneCountInString(v) > maxApprovalText {
			return fmt.Errorf("driver, purpose, approver: at most %d characters", maxApprovalText)
		}
	}
	return nil
}

func (s *Server) createApproval(w http.ResponseWriter, r *http.Request) {
	if !s.allow(w, r, RoleAdmin, RoleSupervisor) {
		return
	}
	var req struct {
		VehicleID int64     `json:"vehicle_id"`
		Driver    string    `json:"driver"`
		Purpose   string    `json:"purpose"`
		From      time.Time `json:"from"`
		To        time.Time `json:"to"`
		Approver  string    `json:"approver"`
		FenceID   int64     `json:"fence_id"`
	}
	if !s.decode(w, r, &req) {
		return
	}
	sc := principal(r).Scope()
	v, err := s.store.VehicleIn(r.Context(), sc, req.VehicleID)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	a := alerts.ApprovalRecord{Approval: alerts.Approval{VehicleID: v.ID, Start: req.From, End: req.To, FenceID: req.FenceID},
		Driver: strings.TrimSpace(req.Driver), Purpose: strings.TrimSpace(req.Purpose), Approver: strings.TrimSpace(req.Approver)}
	if err := checkApproval(&a); err != nil {
		writeError(w, r, http.StatusBadRequest, "bad_request", err.Error())
		return
	}
	if a.FenceID != 0 {
		fs, err := s.alerts.Fences(r.Context())
		if err != nil {
			s.fail(w, r, err)
			return
		}
		i := slices.IndexFunc(fs, func(f alerts.Fence) bool { return f.ID == a.FenceID })
		ok := i >= 0
		if ok {
			if ok, err = s.fenceInScope(r.Context(), sc, &fs[i]); err != nil {
				s.fail(w, r, err)
				return
			}
		}
		if !ok {
			writeError(w, r, http.StatusBadRequest, "bad_request", "fence_id: no such fence in your jurisdiction")
			return
		}
	}
	id, err := s.alerts.AddApproval(r.Context(), a)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	if err := s.audit(r, Entry{Action: "approval.create", VehicleID: v.ID, SubjectUnitID: v.UnitID, From: a.Start, To: a.End,
		Detail: map[string]any{"id": id, "driver": a.Driver, "purpose": a.Purpose, "approver": a.Approver}}); err != nil {
		s.fail(w, r, err)
		return
	}
	s.reload(r)
	writeJSON(w, http.StatusCreated, approvalJSON{ID: id, VehicleID: v.ID, Plate: v.Plate, From: formatTime(a.Start), To: formatTime(a.End),
		FenceID: a.FenceID, Driver: a.Driver, Purpose: a.Purpose, Approver: a.Approver, Source: "fleetmon",
		CreatedAt: formatTime(s.cfg.Now())})
}

// approvalTimeLayouts are the times an approval CSV may hold: RFC 3339,
// or a local time (China Standard Time) as spreadsheets write it.
var approvalTimeLayouts = []string{"2006-01-02 15:04:05", "2006-01-02 15:04", "2006/01/02 15:04:05", "2006/01/02 15:04"}

func parseApprovalTime(v string) (time.Time, error) {
	v = strings.TrimSpace(v)
	if t, err := time.Parse(time.RFC3339, v); err == nil {
		return t, nil
	}
	for _, l := range approvalTimeLayouts {
		if t, err := time.ParseInLocation(l, v, cst); err == nil {
			return t, nil
		}
	}
	return time.Time{}, fmt.Errorf("%q is not a time such as 2026-11-20 08:30 or 2026-11-20T08:30:00+08:00", v)
}

// importApprovals serves POST /api/v1/approvals/import: a CSV body of
// vehicle_plate,driver,purpose,from,to,approver (header optional), every
// vehicle in the jurisdiction. All rows or none are stored.
func (s *Server) importApprovals(w http.ResponseWriter, r *http.Request) {
	if !s.allow(w, r, RoleAdmin, RoleSupervisor) {
		return
	}
	cr := csv.NewReader(r.Body)
	cr.FieldsPerRecord = -1
	sc := principal(r).Scope()
	var recs []alerts.ApprovalRecord
	var errs []string
	plates := map[string]track.Vehicle{}
	for line := 1; ; line++ {
		rec, err := cr.Read()
		if err == io.EOF {
			break
		}
		if err != nil {
			var mbe *http.MaxBytesError
			if errors.As(err, &mbe) {
				writeError(w, r, http.StatusRequestEntityTooLarge, "too_large", "request body too large")
				return
			}
			errs = append(errs, err.Error())
			break
		}
		rec[0] = strings.TrimPrefix(rec[0], "\ufeff")
		if line == 1 && strings.EqualFold(strings.TrimSpace(rec[0]), "vehicle_plate") {
			continue
		}
		if len(rec) != 6 {
			errs = append(errs, fmt.Sprintf("line %d: want 6 fields vehicle_plate,driver,purpose,from,to,approver", line))
			continue
		}
		plate := strings.TrimSpace(rec[0])
		v, ok := plates[plate]
		if !ok {
			vs, _, err := s.store.VehiclesIn(r.Context(), sc, track.VehicleFilter{Plate: plate, Limit: 10})
			if err != nil {
				s.fail(w, r, err)
				return
			}
			if i := slices.IndexFunc(vs, func(v track.Vehicle) bool { return v.Plate == plate }); i >= 0 {
				v, ok = vs[i], true
				plates[plate] = v
			}
		}
		if !ok {
			errs = append(errs, fmt.Sprintf("line %d: no vehicle %q in your jurisdiction", line, plate))
			continue
		}
		from, err1 := parseApprovalTime(rec[3])
		to, err2 := parseApprovalTime(rec[4])
		if err := errors.Join(err1, err2); err != nil {
			errs = append(errs, fmt.Sprintf("line %d: %s", line, strings.ReplaceAll(err.Error(), "\n", "; ")))
			continue
		}
		a := alerts.ApprovalRecord{Approval: alerts.Approval{VehicleID: v.ID, Start: from, End: to},
			Driver: strings.TrimSpace(rec[1]), Purpose: strings.TrimSpace(rec[2]), Approver: strings.TrimSpace(rec[5]), Source: "import"}
		if err := checkApproval(&a); err != nil {
			errs = append(errs, fmt.Sprintf("line %d: %v", line, err))
			continue
		}
		recs = append(recs, a)
	}
	if len(errs) > 0 {
		writeError(w, r, http.StatusBadRequest, "bad_request", "nothing imported: "+strings.Join(errs, "; "))
		return
	}
	ids := make([]int64, 0, len(recs))
	for _, a := range recs {
		id, err := s.alerts.AddApproval(r.Context(), a)
		if err != nil {
			s.fail(w, r, err)
			return
		}
		ids = append(ids, id)
	}
	if err := s.audit(r, Entry{Action: "approval.import", Detail: map[string]any{"approvals": len(ids), "ids": ids}}); err != nil {
		s.fail(w, r, err)
		return
	}
	s.reload(r)
	writeJSON(w, http.StatusOK, map[string]any{"imported": len(ids), "ids": ids})
}

// The national holiday calendar.

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
	for _, y := range years {
		if err := s.alerts.PutHolidayYear(r.Context(), y, f.Years[strconv.Itoa(y)], source); err != nil {
			s.fail(w, r, err)
			return
		}
	}
	if err := s.audit(r, Entry{Action: "holidays.import", Detail: map[string]any{"years": years, "source": source}}); err != nil {
		s.fail(w, r, err)
		return
	}
	s.reload(r)
	writeJSON(w, http.StatusOK, map[string]any{"years": years})
}
