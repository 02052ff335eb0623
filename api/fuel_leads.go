package api

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/jackc/pgx/v5"

	"fleetmon/alerts"
	"fleetmon/fuel"
	"fleetmon/track"
)

// The leads (线索) matching found, worked through the alerts' workflow
// (open → explanation_requested → confirmed | dismissed, each step with
// its reason, audited, the audit entries being the lead's history), and
// the monthly reconciliation report per card and per unit (fuel_report.go).

// auditLeadVerification is the audit action of a lead's verification step.
const auditLeadVerification = "fuel.lead_verification"

// fuelLeadRoutes registers the leads, their verification, report and export.
func (s *Server) fuelLeadRoutes(p routeRecorder) {
	p.HandleFunc("GET /api/v1/fuel/leads", s.listLeads)
	p.HandleFunc("GET /api/v1/fuel/leads/{id}", s.getLead)
	p.HandleFunc("POST /api/v1/fuel/leads/{id}/verification", s.verifyLead)
	p.HandleFunc("GET /api/v1/fuel/report", s.fuelReport)
	p.HandleFunc("GET /api/v1/fuel/leads/export", s.exportLeads)
}

// fuelLeadJSON is a lead with its fill, vehicle and evidence.
type fuelLeadJSON struct {
	ID           int64                  `json:"id"`
	Kind         string                 `json:"kind"`
	Verification string                 `json:"verification"`
	VehicleID    int64                  `json:"vehicle_id"`
	Plate        string                 `json:"plate"`
	UnitID       int64                  `json:"unit_id"`
	Unit         string                 `json:"unit"`
	FillID       int64                  `json:"fill_id"`
	Card         string                 `json:"card"`
	At           string                 `json:"at"`
	Station      string                 `json:"station"`
	Product      string                 `json:"product"`
	Litres       float64                `json:"litres"`
	Amount       float64                `json:"amount"`
	Figures      json.RawMessage        `json:"figures"`
	Excerpt      json.RawMessage        `json:"excerpt,omitempty"`
	History      []verificationStepJSON `json:"history,omitempty"`
}

// leadQuery selects leads: the caller's jurisdiction (or a unit's subtree
// in it), a period of fill times, a vehicle, a kind, a verification state.
type leadQuery struct {
	scope         track.Scope
	from, to      time.Time
	vehicle, id   int64
	kind, verif   string
	limit, offset int
}

// leadWhere is the filter of leadQuery.args, shared by the list, its
// counts and the export.
const leadWhere = `FROM fuel_leads l JOIN fuel_fills f ON f.id = l.fill_id JOIN vehicles v ON v.id = l.vehicle_id
	WHERE v.unit_id IN (SELECT unit_subtree($1))
	  AND ($2::timestamptz IS NULL OR f.filled_at >= $2) AND ($3::timestamptz IS NULL OR f.filled_at < $3)
	  AND ($4::bigint IS NULL OR l.vehicle_id = $4) AND ($5::bigint IS NULL OR l.id = $5) AND ($6 = '' OR l.kind = $6)`

func (q leadQuery) args() []any {
	opt := func(t time.Time) any {
		if t.IsZero() {
			return nil
		}
		return t
	}
	id := func(v int64) any {
		if v == 0 {
			return nil
		}
		return v
	}
	return []any{q.scope.SQLArg(), opt(q.from), opt(q.to), id(q.vehicle), id(q.id), q.kind}
}

// leads returns the leads q selects, in fill time order, and their total.
func (s *Server) leads(ctx context.Context, q leadQuery, excerpts bool) ([]fuelLeadJSON, int, error) {
	ex := "NULL::jsonb"
	if excerpts {
		ex = "l.excerpt"
	}
	if q.limit == 0 {
		q.limit = maxExportLeads + 1
	}
	args := append(q.args(), q.verif, q.limit, q.offset)
	out := []fuelLeadJSON{}
	total := 0
	err := s.queryEach(ctx, `SELECT l.id, l.kind, l.verification, l.vehicle_id, v.plate, v.unit_id, unit_path(v.unit_id),
			f.id, f.card_no, f.filled_at, f.station, f.product, f.litres::float8, f.amount::float8, l.figures, `+ex+`, count(*) OVER ()
		`+leadWhere+` AND ($7 = '' OR l.verification = $7)
		ORDER BY f.filled_at, l.id LIMIT $8 OFFSET $9`, args, func(row pgx.CollectableRow) error {
		var l fuelLeadJSON
		var at time.Time
		var excerpt []byte
		err := row.Scan(&l.ID, &l.Kind, &l.Verification, &l.VehicleID, &l.Plate, &l.UnitID, &l.Unit,
			&l.FillID, &l.Card, &at, &l.Station, &l.Product, &l.Litres, &l.Amount, &l.Figures, &excerpt, &total)
		l.At, l.Excerpt = formatTime(at), excerpt
		out = append(out, l)
		return err
	})
	if err != nil {
		return nil, 0, fmt.Errorf("fuel leads: %w", err)
	}
	return out, total, nil
}

// leadQueryOf reads the list's filters: ?month= or ?from=&to=, ?unit=,
// ?vehicle=, ?kind=, ?verification=. It answers the client itself on
// error.
func (s *Server) leadQueryOf(w http.ResponseWriter, r *http.Request) (leadQuery, bool) {
	q := leadQuery{scope: principal(r).Scope()}
	v := r.URL.Query()
	ok := true
	if m := v.Get("month"); m != "" {
		q.from, q.to, ok = fuelMonth(w, r, m)
	} else {
		q.from, q.to, ok = period(w, r, false)
	}
	if !ok {
		return q, false
	}
	unit, ok := queryID(w, r, "unit")
	if !ok {
		return q, false
	}
	if unit != 0 {
		if _, err := s.store.UnitIn(r.Context(), q.scope, unit); err != nil {
			s.fail(w, r, err)
			return q, false
		}
		q.scope = track.Scope{Root: unit}
	}
	if q.vehicle, ok = queryID(w, r, "vehicle"); !ok {
		return q, false
	}
	if q.kind = v.Get("kind"); q.kind != "" && !fuel.Kind(q.kind).Known() {
		writeError(w, r, http.StatusBadRequest, "bad_request", "kind: want away, no_track, unknown_station, over_tank, over_distance, holiday or after_hours")
		return q, false
	}
	q.verif = v.Get("verification")
	if _, known := verificationOf(q.verif); q.verif != "" && !known {
		writeError(w, r, http.StatusBadRequest, "bad_request", "verification: want open, explanation_requested, confirmed or dismissed")
		return q, false
	}
	return q, true
}

// verificationOf returns v as a verification state, and whether it is one.
func verificationOf(v string) (alerts.Verification, bool) {
	for _, x := range verifications {
		if string(x) == v {
			return x, true
		}
	}
	return "", false
}

// listLeads serves GET /api/v1/fuel/leads: a page of leads (without their
// excerpts) and the counts per verification state.
func (s *Server) listLeads(w http.ResponseWriter, r *http.Request) {
	limit, offset, ok := page(w, r)
	if !ok {
		return
	}
	q, ok := s.leadQueryOf(w, r)
	if !ok {
		return
	}
	q.limit, q.offset = limit, offset
	items, total, err := s.leads(r.Context(), q, false)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	counts := map[string]int{}
	for _, v := range verifications {
		counts[string(v)] = 0
	}
	err = s.queryEach(r.Context(), `SELECT l.verification, count(*) `+leadWhere+` GROUP BY 1`, q.args(), func(row pgx.CollectableRow) error {
		var v string
		var n int
		err := row.Scan(&v, &n)
		counts[v] = n
		return err
	})
	if err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"items": items, "total": total, "limit": limit, "offset": offset, "verification_counts": counts})
}

// leadIn returns lead {id} in the caller's jurisdiction, with its excerpt
// and history; track.ErrNotFound otherwise.
func (s *Server) leadIn(r *http.Request) (fuelLeadJSON, error) {
	id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
	if err != nil || id <= 0 {
		return fuelLeadJSON{}, track.ErrNotFound
	}
	ls, _, err := s.leads(r.Context(), leadQuery{scope: principal(r).Scope(), id: id, limit: 1}, true)
	if err != nil {
		return fuelLeadJSON{}, err
	}
	if len(ls) == 0 {
		return fuelLeadJSON{}, track.ErrNotFound
	}
	l := ls[0]
	l.History = []verificationStepJSON{}
	err = s.queryEach(r.Context(), `SELECT at, actor_name, COALESCE(detail->>'action', ''), COALESCE(detail->>'from', ''),
			COALESCE(detail->>'to', ''), COALESCE(reason, '')
		FROM audit_log WHERE action = $1 AND vehicle_id = $2 AND detail->>'lead_id' = $3 ORDER BY id`,
		[]any{auditLeadVerification, l.VehicleID, strconv.FormatInt(l.ID, 10)}, func(row pgx.CollectableRow) error {
			var st verificationStepJSON
			var at time.Time
			err := row.Scan(&at, &st.User, &st.Action, &st.From, &st.To, &st.Reason)
			st.At = formatTime(at)
			l.History = append(l.History, st)
			return err
		})
	return l, err
}

// getLead serves GET /api/v1/fuel/leads/{id}: the lead with its track
// excerpt, which shows where the car was: the view is audited.
func (s *Server) getLead(w http.ResponseWriter, r *http.Request) {
	l, err := s.leadIn(r)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	if err := s.auditFirst(r, Entry{Action: "fuel.lead_view", VehicleID: l.VehicleID, SubjectUnitID: l.UnitID,
		Detail: map[string]any{"lead_id": l.ID}}); err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, l)
}

// verifyLead serves POST /api/v1/fuel/leads/{id}/verification {action,
// reason}: the steps and rules of an alert's verification.
func (s *Server) verifyLead(w http.ResponseWriter, r *http.Request) {
	if !s.allow(w, r, RoleAdmin, RoleSupervisor, RoleInspector) {
		return
	}
	req, step, ok := s.readStep(w, r, "a lead")
	if !ok {
		return
	}
	l, err := s.leadIn(r)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	err = s.change(r, func(c changeTx) (Entry, error) {
		prev, err := fuel.TransitionLead(r.Context(), c.tx, l.ID, step.from, step.to)
		return Entry{Action: auditLeadVerification, VehicleID: l.VehicleID, SubjectUnitID: l.UnitID, Reason: req.Reason,
			Detail: map[string]any{"lead_id": strconv.FormatInt(l.ID, 10), "kind": l.Kind, "card": l.Card, "action": req.Action,
				"from": string(prev), "to": string(step.to)}}, err
	})
	if errors.Is(err, fuel.ErrVerificationState) {
		writeError(w, r, http.StatusConflict, "verification_state", fmt.Sprintf("%s is not allowed once a lead is %s", req.Action, l.Verification))
		return
	}
	if err != nil {
		s.fail(w, r, err)
		return
	}
	if l, err = s.leadIn(r); err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, l)
}
