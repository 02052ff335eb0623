package api

import (
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"fleetmon/alerts"
	"fleetmon/track"
)

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
	// InEffect says whether the approval covers the vehicle now; Status
	// is in_effect or the first of Reasons, StatusText says it.
	InEffect   bool             `json:"in_effect"`
	Status     string           `json:"status"`
	StatusText string           `json:"status_text"`
	Reasons    []approvalReason `json:"reasons"`
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
	if aq.VehicleID, ok = queryID(w, r, "vehicle"); !ok {
		return
	}
	if aq.UnitID, ok = queryID(w, r, "unit_id"); !ok {
		return
	}
	as, total, err := s.alerts.ListApprovals(r.Context(), aq)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	items := make([]approvalJSON, len(as))
	now := s.cfg.Now()
	for i, a := range as {
		items[i] = approvalJSON{ID: a.ID, VehicleID: a.VehicleID, Plate: a.Plate, From: formatTime(a.Start), To: formatTime(a.End),
			FenceID: a.FenceID, Driver: a.Driver, Purpose: a.Purpose, Approver: a.Approver, Source: a.Source,
			ExternalRef: a.ExternalRef, CreatedAt: formatTime(a.CreatedAt)}
		approvalStatus(&items[i], a.Start, a.End, a.VehicleSealed, now)
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
	var id int64
	err = s.change(r, func(c changeTx) (Entry, error) {
		var err error
		id, err = c.alerts.AddApproval(r.Context(), a)
		return Entry{Action: "approval.create", VehicleID: v.ID, SubjectUnitID: v.UnitID, From: a.Start, To: a.End,
			Detail: map[string]any{"id": id, "driver": a.Driver, "purpose": a.Purpose, "approver": a.Approver}}, err
	})
	if err != nil {
		s.fail(w, r, err)
		return
	}
	s.reload(r)
	out := approvalJSON{ID: id, VehicleID: v.ID, Plate: v.Plate, From: formatTime(a.Start), To: formatTime(a.End),
		FenceID: a.FenceID, Driver: a.Driver, Purpose: a.Purpose, Approver: a.Approver, Source: "fleetmon",
		CreatedAt: formatTime(s.cfg.Now())}
	sealed, err := s.alerts.SealedDuring(r.Context(), v.ID, a.Start, a.End)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	approvalStatus(&out, a.Start, a.End, sealed, s.cfg.Now())
	writeJSON(w, http.StatusCreated, out)
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
	rows, bad, ok := s.readCSV(w, r)
	if !ok {
		return
	}
	sc := principal(r).Scope()
	var recs []alerts.ApprovalRecord
	plates := map[string]track.Vehicle{}
	for i, rec := range rows {
		line := i + 1
		if line == 1 && strings.EqualFold(strings.TrimSpace(rec[0]), "vehicle_plate") {
			continue
		}
		if len(rec) != 6 {
			bad = append(bad, lineError{line, "want 6 fields vehicle_plate,driver,purpose,from,to,approver"})
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
			bad = append(bad, lineError{line, fmt.Sprintf("no vehicle %q in your jurisdiction", plate)})
			continue
		}
		from, err1 := parseApprovalTime(rec[3])
		to, err2 := parseApprovalTime(rec[4])
		if err := errors.Join(err1, err2); err != nil {
			bad = append(bad, lineError{line, strings.ReplaceAll(err.Error(), "\n", "; ")})
			continue
		}
		a := alerts.ApprovalRecord{Approval: alerts.Approval{VehicleID: v.ID, Start: from, End: to},
			Driver: strings.TrimSpace(rec[1]), Purpose: strings.TrimSpace(rec[2]), Approver: strings.TrimSpace(rec[5]), Source: "import"}
		if err := checkApproval(&a); err != nil {
			bad = append(bad, lineError{line, err.Error()})
			continue
		}
		recs = append(recs, a)
	}
	if len(bad) > 0 {
		writeLineErrors(w, r, bad)
		return
	}
	ids := make([]int64, 0, len(recs))
	err := s.change(r, func(c changeTx) (Entry, error) {
		for _, a := range recs {
			id, err := c.alerts.AddApproval(r.Context(), a)
			if err != nil {
				return Entry{}, err
			}
			ids = append(ids, id)
		}
		return Entry{Action: "approval.import", Detail: map[string]any{"approvals": len(ids), "ids": ids}}, nil
	})
	if err != nil {
		s.fail(w, r, err)
		return
	}
	s.reload(r)
	writeJSON(w, http.StatusOK, map[string]any{"imported": len(ids), "ids": ids})
}
