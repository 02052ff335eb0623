package api

import (
	"errors"
	"fmt"
	"net/http"
	"strings"
	"unicode/utf8"

	"github.com/jackc/pgx/v5"

	"fleetmon/alerts"
)

// Dispatching a car for a request (派车), recording emergency use
// afterwards (紧急用车补录), and the drivers a unit dispatches.

// assignment is the car and driver of a dispatch: a registered vehicle
// with one of the unit's drivers, or a rental car (公务租车) by plate and
// company, which has no terminal and so no approval to judge.
type assignment struct {
	VehicleID     int64  `json:"vehicle_id"`
	DriverID      int64  `json:"driver_id"`
	RentalPlate   string `json:"rental_plate"`
	RentalCompany string `json:"rental_company"`
	RentalDriver  string `json:"rental_driver"`
}

func (a *assignment) check() error {
	a.RentalPlate, a.RentalCompany, a.RentalDriver = strings.TrimSpace(a.RentalPlate), strings.TrimSpace(a.RentalCompany), strings.TrimSpace(a.RentalDriver)
	switch {
	case (a.VehicleID == 0) == (a.RentalPlate == ""):
		return refuse(http.StatusBadRequest, "bad_request", "give vehicle_id, or rental_plate and rental_company for a rental car")
	case a.VehicleID != 0 && a.DriverID == 0:
		return refuse(http.StatusBadRequest, "bad_request", "driver_id: required with vehicle_id")
	case a.RentalPlate != "" && (a.RentalCompany == "" || utf8.RuneCountInString(a.RentalPlate) > 16 ||
		utf8.RuneCountInString(a.RentalCompany) > 100 || utf8.RuneCountInString(a.RentalDriver) > 64):
		return refuse(http.StatusBadRequest, "bad_request", "rental_plate (at most 16 characters) and rental_company (at most 100) are required for a rental car")
	}
	return nil
}

// same says whether the request was dispatched with a already.
func (a *assignment) same(t tripRequestJSON) bool {
	return t.VehicleID == a.VehicleID && t.DriverID == a.DriverID && t.RentalPlate == a.RentalPlate &&
		t.RentalCompany == a.RentalCompany && t.rentalDriver == a.RentalDriver
}

// assign dispatches request t (locked in c) with a: the vehicle must be in
// the caller's jurisdiction, free (no approval overlapping the window)
// and not sealed in it; its approval is stored as any other, so the rules
// honour it. It returns the audit entry's detail.
func (s *Server) assign(r *http.Request, c changeTx, t tripRequestJSON, a assignment, approver string) (map[string]any, error) {
	ctx, p := r.Context(), principal(r)
	detail := map[string]any{}
	var approvalID *int64
	if a.VehicleID != 0 {
		v, err := c.store.VehicleIn(ctx, p.Scope(), a.VehicleID)
		if err != nil {
			return nil, err
		}
		var driver string
		err = c.tx.QueryRow(ctx, `SELECT name FROM drivers WHERE id = $1 AND unit_id IN (SELECT unit_subtree($2))`,
			a.DriverID, p.Scope().SQLArg()).Scan(&driver)
		if errors.Is(err, pgx.ErrNoRows) {
			return nil, refuse(http.StatusBadRequest, "bad_request", "driver_id: no such driver in your jurisdiction")
		}
		if err != nil {
			return nil, fmt.Errorf("driver %d: %w", a.DriverID, err)
		}
		busy, err := c.alerts.CheckVehicleFree(ctx, v.ID, t.start, t.end)
		switch {
		case errors.Is(err, alerts.ErrVehicleBusy):
			return nil, refuse(http.StatusConflict, "vehicle_busy", "vehicle %s is dispatched already for an overlapping time (approval %d)", v.Plate, busy)
		case errors.Is(err, alerts.ErrVehicleSealed):
			return nil, refuse(http.StatusConflict, "vehicle_sealed", "vehicle %s is sealed during that time", v.Plate)
		case err != nil:
			return nil, err
		}
		id, err := c.alerts.AddApproval(ctx, alerts.ApprovalRecord{Approval: alerts.Approval{VehicleID: v.ID, Start: t.start, End: t.end},
			Driver: driver, Purpose: t.Purpose, Approver: approver, CreatedAt: s.cfg.Now()})
		if err != nil {
			return nil, err
		}
		approvalID = &id
		detail["approval_id"], detail["plate"], detail["driver"] = id, v.Plate, driver
	} else {
		detail["rental_plate"], detail["rental_company"], detail["driver"] = a.RentalPlate, a.RentalCompany, a.RentalDriver
	}
	_, err := c.tx.Exec(ctx, `UPDATE trip_requests SET status = 'dispatched', vehicle_id = $2, driver_id = $3,
			rental_plate = $4, rental_company = $5, rental_driver = $6, dispatched_by = $7, dispatched_at = $8, approval_id = $9
		WHERE id = $1`, t.ID, nullID(a.VehicleID), nullID(a.DriverID), nullString(a.RentalPlate), nullString(a.RentalCompany),
		nullString(a.RentalDriver), p.ID, s.cfg.Now(), approvalID)
	if err != nil {
		return nil, fmt.Errorf("dispatch trip request %d: %w", t.ID, err)
	}
	return detail, nil
}

// dispatchTripRequest serves POST /api/v1/trip-requests/{id}/dispatch for
// an approved request. The same dispatch sent again changes nothing;
// another one of a dispatched request is a conflict.
func (s *Server) dispatchTripRequest(w http.ResponseWriter, r *http.Request) {
	if !s.allow(w, r, RoleSupervisor, RoleAdmin) {
		return
	}
	id, ok := pathID(w, r)
	if !ok {
		return
	}
	var a assignment
	if !s.decode(w, r, &a) {
		return
	}
	if err := a.check(); err != nil {
		s.tripFail(w, r, err)
		return
	}
	changed := true
	err := s.change(r, func(c changeTx) (Entry, error) {
		t, err := tripIn(r.Context(), c.tx, principal(r), id, true)
		switch {
		case err != nil:
			return Entry{}, err
		case t.Status == "dispatched" && a.same(t):
			changed = false
			return Entry{}, errUnchanged
		case t.Status != "approved":
			return Entry{}, refuse(http.StatusConflict, "request_state", "the request is %s, not approved", t.Status)
		}
		detail, err := s.assign(r, c, t, a, t.DecidedBy)
		return tripEntry("trip_request.dispatch", tripRequestJSON{ID: t.ID, UnitID: t.UnitID, VehicleID: a.VehicleID,
			start: t.start, end: t.end}, detail), err
	})
	if !changed {
		err = nil
	}
	if err != nil {
		s.tripFail(w, r, err)
		return
	}
	if changed && a.VehicleID != 0 {
		s.reload(r)
	}
	s.getTripRequest(w, r)
}

// recordEmergencyTrip serves POST /api/v1/trip-requests/emergency: use of
// a car that began without approval (紧急用车), recorded afterwards with
// its reason by a supervisor or administrator: the request, its approval
// and its dispatch in one step, flagged as emergency. Its approval is
// stored after the trip began, and the dispatch report shows it so.
func (s *Server) recordEmergencyTrip(w http.ResponseWriter, r *http.Request) {
	if !s.allow(w, r, RoleSupervisor, RoleAdmin) {
		return
	}
	var req struct {
		tripFields
		assignment
		Reason string `json:"reason"`
	}
	if !s.decode(w, r, &req) {
		return
	}
	p := principal(r)
	n, err := req.tripFields.check(p)
	if err == nil {
		err = req.assignment.check()
	}
	n.emergency, n.emergencyReason = true, strings.TrimSpace(req.Reason)
	switch {
	case err != nil:
	case n.emergencyReason == "" || utf8.RuneCountInString(n.emergencyReason) > maxReason:
		err = refuse(http.StatusBadRequest, "bad_request", "reason: the emergency's reason is required, at most 500 characters")
	case !n.from.Before(s.cfg.Now()):
		err = refuse(http.StatusBadRequest, "bad_request", "from: emergency use is recorded after it began; file a request for a trip to come")
	}
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
		if _, err = c.tx.Exec(r.Context(), `UPDATE trip_requests SET status = 'approved', decided_by = $2, decided_at = $3,
			decision_reason = $4 WHERE id = $1`, id, p.ID, s.cfg.Now(), n.emergencyReason); err != nil {
			return Entry{}, fmt.Errorf("record emergency trip %d: %w", id, err)
		}
		t, err := tripIn(r.Context(), c.tx, p, id, true)
		if err != nil {
			return Entry{}, err
		}
		detail, err := s.assign(r, c, t, req.assignment, p.Name)
		if err != nil {
			return Entry{}, err
		}
		detail["client_ref"], detail["purpose"] = n.clientRef, n.purpose
		e := tripEntry("trip_request.emergency", tripRequestJSON{ID: id, UnitID: t.UnitID, VehicleID: req.VehicleID,
			start: t.start, end: t.end}, detail)
		e.Reason = n.emergencyReason
		return e, nil
	})
	if err == nil && req.VehicleID != 0 {
		s.reload(r)
	}
	s.answerTrip(w, r, err, id, n.clientRef)
}

type driverJSON struct {
	ID     int64  `json:"id"`
	UnitID int64  `json:"unit_id"`
	Unit   string `json:"unit"`
	Name   string `json:"name"`
	Phone  string `json:"phone"`
}

// listDrivers serves GET /api/v1/drivers: the drivers of the units in the
// jurisdiction (?unit_id='s subtree), by unit and name.
func (s *Server) listDrivers(w http.ResponseWriter, r *http.Request) {
	unit, ok := queryID(w, r, "unit_id")
	if !ok {
		return
	}
	rows, err := s.pool.Query(r.Context(), `SELECT d.id, d.unit_id, u.name, d.name, d.phone
		FROM drivers d JOIN units u ON u.id = d.unit_id
		WHERE d.unit_id IN (SELECT unit_subtree($1)) AND ($2::bigint = 0 OR d.unit_id IN (SELECT unit_subtree($2)))
		ORDER BY u.name, d.name LIMIT 5000`, principal(r).Scope().SQLArg(), unit)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	items, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (driverJSON, error) {
		var d driverJSON
		err := row.Scan(&d.ID, &d.UnitID, &d.Unit, &d.Name, &d.Phone)
		return d, err
	})
	if err != nil {
		s.fail(w, r, fmt.Errorf("list drivers: %w", err))
		return
	}
	list(w, items, len(items), len(items), 0)
}

// createDriver serves POST /api/v1/drivers: adding a driver the unit has
// already (by name) answers 200 with it and changes nothing.
func (s *Server) createDriver(w http.ResponseWriter, r *http.Request) {
	if !s.allow(w, r, RoleSupervisor, RoleAdmin) {
		return
	}
	var req driverJSON
	if !s.decode(w, r, &req) {
		return
	}
	req.Name, req.Phone = strings.TrimSpace(req.Name), strings.TrimSpace(req.Phone)
	if req.UnitID == 0 || req.Name == "" || utf8.RuneCountInString(req.Name) > 64 || utf8.RuneCountInString(req.Phone) > 32 {
		writeError(w, r, http.StatusBadRequest, "bad_request", "unit_id and name (at most 64 characters) are required, phone at most 32")
		return
	}
	status := http.StatusCreated
	err := s.change(r, func(c changeTx) (Entry, error) {
		if err := s.unitInScope(r, c, req.UnitID); err != nil {
			return Entry{}, err
		}
		err := c.tx.QueryRow(r.Context(), `INSERT INTO drivers (unit_id, name, phone) VALUES ($1, $2, $3)
			ON CONFLICT (unit_id, name) DO NOTHING RETURNING id`, req.UnitID, req.Name, req.Phone).Scan(&req.ID)
		if errors.Is(err, pgx.ErrNoRows) {
			status = http.StatusOK
			return Entry{}, errUnchanged
		}
		return Entry{Action: "driver.create", SubjectUnitID: req.UnitID,
			Detail: map[string]any{"driver_id": req.ID, "name": req.Name, "phone": req.Phone}}, err
	})
	if errors.Is(err, errUnchanged) {
		err = s.pool.QueryRow(r.Context(), `SELECT id, phone FROM drivers WHERE unit_id = $1 AND name = $2`,
			req.UnitID, req.Name).Scan(&req.ID, &req.Phone)
	}
	if err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, status, req)
}
