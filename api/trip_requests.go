package api

import (
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"time"
	"unicode/utf8"

	"fleetmon/alerts"
)

// Requests for a car (用车申请 → 审批 → 派车). Who does what, by least
// privilege: staff (and an office's OA system, through an API token of a
// staff or supervisor account) file requests and read their own; a
// supervisor or administrator of the unit's jurisdiction approves or
// rejects them (never their own) and dispatches a vehicle and driver, and
// records emergency use afterwards (补录); inspectors read them all and
// change nothing. Every step is audited in its transaction, and a step
// sent twice changes nothing the second time.

func (s *Server) tripRoutes(p routeRecorder) {
	p.HandleFunc("GET /api/v1/trip-requests", s.listTripRequests)
	p.HandleFunc("POST /api/v1/trip-requests", s.createTripRequest)
	p.HandleFunc("POST /api/v1/trip-requests/emergency", s.recordEmergencyTrip)
	p.HandleFunc("GET /api/v1/trip-requests/{id}", s.getTripRequest)
	p.HandleFunc("POST /api/v1/trip-requests/{id}/approve", s.decideTripRequest(true))
	p.HandleFunc("POST /api/v1/trip-requests/{id}/reject", s.decideTripRequest(false))
	p.HandleFunc("POST /api/v1/trip-requests/{id}/dispatch", s.dispatchTripRequest)
	p.HandleFunc("GET /api/v1/drivers", s.listDrivers)
	p.HandleFunc("POST /api/v1/drivers", s.createDriver)
}

// staffRoutes are all a staff account may reach: its requests, the
// landmarks to name a destination by, and its own account.
var staffRoutes = map[string]bool{
	"GET /api/v1/trip-requests":      true,
	"POST /api/v1/trip-requests":     true,
	"GET /api/v1/trip-requests/{id}": true,
	"GET /api/v1/landmarks":          true,
	"GET /api/v1/me":                 true,
	"POST /api/v1/me/password":       true,
	"POST /api/v1/logout":            true,
	"GET /api/v1/openapi.yaml":       true,
	"GET /api/v1/ui/config":          true,
}

// staffMay says whether a staff account may use the route pattern.
func staffMay(pattern string) bool { return staffRoutes[pattern] }

// maxTripWindow bounds a request's time window.
const maxTripWindow = 31 * 24 * time.Hour

// tripFields are what a request (and an emergency record) gives.
type tripFields struct {
	ClientRef      string          `json:"client_ref"`
	UnitID         int64           `json:"unit_id"`
	Purpose        string          `json:"purpose"`
	Passengers     int             `json:"passengers"`
	Destination    string          `json:"destination"`
	DestLandmarkID int64           `json:"dest_landmark_id"`
	DestArea       json.RawMessage `json:"dest_area"`
	From           time.Time       `json:"from"`
	To             time.Time       `json:"to"`
}

// check reads f into a newTrip for p, checking what it can without the
// database.
func (f *tripFields) check(p *Principal) (newTrip, error) {
	n := newTrip{clientRef: strings.TrimSpace(f.ClientRef), purpose: strings.TrimSpace(f.Purpose), passengers: f.Passengers,
		destination: strings.TrimSpace(f.Destination), landmarkID: f.DestLandmarkID, from: f.From, to: f.To, unitID: f.UnitID}
	bad := func(msg string) (newTrip, error) { return n, refuse(http.StatusBadRequest, "bad_request", "%s", msg) }
	switch {
	case n.clientRef == "" || utf8.RuneCountInString(n.clientRef) > 64:
		return bad("client_ref: want 1 to 64 characters, your own key for the request")
	case n.purpose == "" || utf8.RuneCountInString(n.purpose) > maxApprovalText:
		return bad("purpose: want 1 to 200 characters")
	case n.passengers < 1 || n.passengers > 60:
		return bad("passengers: want 1 to 60")
	case utf8.RuneCountInString(n.destination) > maxApprovalText:
		return bad("destination: at most 200 characters")
	case n.destination == "" && n.landmarkID == 0 && len(f.DestArea) == 0:
		return bad("destination: name it, choose a landmark or draw an area")
	case !n.to.After(n.from) || n.to.Sub(n.from) > maxTripWindow:
		return bad("from, to: want from before to, at most 31 days apart")
	}
	if len(f.DestArea) > 0 && string(f.DestArea) != "null" {
		if err := alerts.CheckLandmark(alerts.Landmark{Name: "destination", Category: "other", Geometry: f.DestArea}); err != nil {
			return bad("dest_area: " + err.Error())
		}
		n.area = string(f.DestArea)
	}
	if p.Role == RoleStaff {
		if n.unitID != 0 && n.unitID != p.UnitID {
			return n, refuse(http.StatusForbidden, "forbidden", "your role may not do this")
		}
		n.unitID = p.UnitID
	} else if n.unitID == 0 {
		n.unitID = p.UnitID
	}
	if n.unitID == 0 {
		return bad("unit_id: required")
	}
	return n, nil
}

// checkTripPlaces checks, in c, that the unit and the landmark are in the
// caller's jurisdiction and the drawn area is valid.
func (s *Server) checkTripPlaces(r *http.Request, c changeTx, n newTrip) error {
	if err := s.unitInScope(r, c, n.unitID); err != nil {
		return err
	}
	if n.landmarkID != 0 {
		var ok bool
		if err := c.tx.QueryRow(r.Context(), `SELECT EXISTS (SELECT 1 FROM landmarks
			WHERE id = $1 AND unit_id IN (SELECT unit_subtree($2)))`, n.landmarkID, principal(r).Scope().SQLArg()).Scan(&ok); err != nil {
			return err
		}
		if !ok {
			return refuse(http.StatusBadRequest, "bad_request", "dest_landmark_id: no such landmark in your jurisdiction")
		}
	}
	if n.area != "" {
		err := c.alerts.CheckLandmarkGeometry(r.Context(), alerts.Landmark{Name: "destination", Geometry: json.RawMessage(n.area)})
		var inv *alerts.InvalidGeometryError
		if errors.As(err, &inv) {
			return refuse(http.StatusBadRequest, "bad_request", "dest_area: %v", err)
		}
		return err
	}
	return nil
}

// newTrip stores n for the caller in c, once its places are checked, and
// returns its id.
func (s *Server) newTrip(r *http.Request, c changeTx, n newTrip) (int64, error) {
	if err := s.checkTripPlaces(r, c, n); err != nil {
		return 0, err
	}
	return insertTrip(r.Context(), c.tx, principal(r), n)
}

func tripEntry(action string, t tripRequestJSON, detail map[string]any) Entry {
	if detail == nil {
		detail = map[string]any{}
	}
	detail["request_id"] = t.ID
	return Entry{Action: action, SubjectUnitID: t.UnitID, VehicleID: t.VehicleID, From: t.start, To: t.end, Detail: detail}
}

// createTripRequest serves POST /api/v1/trip-requests. A request sent
// again with the same client_ref answers 200 with the request stored the
// first time, and stores nothing.
func (s *Server) createTripRequest(w http.ResponseWriter, r *http.Request) {
	if !s.allow(w, r, RoleStaff, RoleSupervisor, RoleAdmin) {
		return
	}
	var req tripFields
	if !s.decode(w, r, &req) {
		return
	}
	p := principal(r)
	n, err := req.check(p)
	if err != nil {
		s.tripFail(w, r, err)
		return
	}
	var id int64
	err = s.change(r, func(c changeTx) (Entry, error) {
		var err error
		if id, err = s.newTrip(r, c, n); err != nil {
			return Entry{}, err
		}
		t, err := tripIn(r.Context(), c.tx, p, id, false)
		return tripEntry("trip_request.create", t, map[string]any{"client_ref": n.clientRef, "purpose": n.purpose,
			"passengers": n.passengers, "destination": n.destination}), err
	})
	s.answerTrip(w, r, err, id, n.clientRef)
}

// answerTrip answers a request's creation: 201 with it, or 200 with the
// one the client_ref made before.
func (s *Server) answerTrip(w http.ResponseWriter, r *http.Request, err error, id int64, ref string) {
	status := http.StatusCreated
	var t tripRequestJSON
	switch {
	case errors.Is(err, errTripExists):
		status = http.StatusOK
		t, err = tripByRef(r.Context(), s.pool, principal(r), ref)
	case err == nil:
		t, err = tripIn(r.Context(), s.pool, principal(r), id, false)
	}
	if err != nil {
		s.tripFail(w, r, err)
		return
	}
	writeJSON(w, status, t)
}

func (s *Server) getTripRequest(w http.ResponseWriter, r *http.Request) {
	id, ok := pathID(w, r)
	if !ok {
		return
	}
	t, err := tripIn(r.Context(), s.pool, principal(r), id, false)
	if err != nil {
		s.tripFail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, t)
}

// listTripRequests serves GET /api/v1/trip-requests: newest first, within
// the caller's jurisdiction (staff: their own), ?status= to choose.
func (s *Server) listTripRequests(w http.ResponseWriter, r *http.Request) {
	limit, offset, ok := page(w, r)
	if !ok {
		return
	}
	status := r.URL.Query().Get("status")
	switch status {
	case "", "pending", "approved", "rejected", "dispatched":
	default:
		writeError(w, r, http.StatusBadRequest, "bad_request", "status: want pending, approved, rejected or dispatched")
		return
	}
	args := append(tripScopeArgs(principal(r)), status, limit, offset)
	rows, err := s.pool.Query(r.Context(), tripSelect+` WHERE `+tripScope+` AND ($3 = '' OR t.status = $3)
		ORDER BY t.created_at DESC, t.id DESC LIMIT $4 OFFSET $5`, args...)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	defer rows.Close()
	items, total := []tripRequestJSON{}, 0
	for rows.Next() {
		t, n, err := scanTrip(rows)
		if err != nil {
			s.fail(w, r, err)
			return
		}
		items, total = append(items, t), n
	}
	if err := rows.Err(); err != nil {
		s.fail(w, r, err)
		return
	}
	list(w, items, total, limit, offset)
}

// decideTripRequest serves approve and reject: a supervisor or
// administrator of the jurisdiction decides a pending request, with a
// reason (required to reject). Deciding it the same way again changes
// nothing; deciding it otherwise is a conflict.
func (s *Server) decideTripRequest(approve bool) http.HandlerFunc {
	status, action := "approved", "trip_request.approve"
	if !approve {
		status, action = "rejected", "trip_request.reject"
	}
	return func(w http.ResponseWriter, r *http.Request) {
		if !s.allow(w, r, RoleSupervisor, RoleAdmin) {
			return
		}
		id, ok := pathID(w, r)
		if !ok {
			return
		}
		var req struct {
			Reason string `json:"reason"`
		}
		if !s.decode(w, r, &req) {
			return
		}
		reason := strings.TrimSpace(req.Reason)
		if utf8.RuneCountInString(reason) > maxReason || (!approve && reason == "") {
			writeError(w, r, http.StatusBadRequest, "bad_request", "reason: a rejection needs one, at most 500 characters")
			return
		}
		p := principal(r)
		changed := true
		err := s.change(r, func(c changeTx) (Entry, error) {
			t, err := tripIn(r.Context(), c.tx, p, id, true)
			switch {
			case err != nil:
				return Entry{}, err
			case t.requesterID == p.ID:
				return Entry{}, refuse(http.StatusForbidden, "own_request", "you may not decide your own request")
			case t.Status == status:
				changed = false
				return Entry{}, errUnchanged
			case t.Status != "pending":
				return Entry{}, refuse(http.StatusConflict, "request_state", "the request is %s already", t.Status)
			}
			_, err = c.tx.Exec(r.Context(), `UPDATE trip_requests SET status = $2, decided_by = $3, decided_at = $4,
				decision_reason = $5 WHERE id = $1`, id, status, p.ID, s.cfg.Now(), reason)
			e := tripEntry(action, t, nil)
			e.Reason = reason
			return e, err
		})
		if !changed {
			err = nil
		}
		if err != nil {
			s.tripFail(w, r, err)
			return
		}
		s.getTripRequest(w, r)
	}
}
