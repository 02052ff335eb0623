package api

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/jackc/pgx/v5"

	"fleetmon/track"
)

// The trip requests' rows (trip_requests, migration 0023): how they are
// read, within a jurisdiction, and written. The handlers are in
// trip_requests.go.

// tripRequestJSON is a trip request as the API shows it.
type tripRequestJSON struct {
	ID              int64           `json:"id"`
	UnitID          int64           `json:"unit_id"`
	Unit            string          `json:"unit"`
	Requester       string          `json:"requester"`
	ClientRef       string          `json:"client_ref"`
	Purpose         string          `json:"purpose"`
	Passengers      int             `json:"passengers"`
	Destination     string          `json:"destination"`
	DestLandmarkID  int64           `json:"dest_landmark_id,omitempty"`
	DestLandmark    string          `json:"dest_landmark,omitempty"`
	DestArea        json.RawMessage `json:"dest_area,omitempty"`
	From            string          `json:"from"`
	To              string          `json:"to"`
	Emergency       bool            `json:"emergency"`
	EmergencyReason string          `json:"emergency_reason,omitempty"`
	// Status is pending, approved, rejected or dispatched.
	Status         string `json:"status"`
	DecidedBy      string `json:"decided_by,omitempty"`
	DecidedAt      string `json:"decided_at,omitempty"`
	DecisionReason string `json:"decision_reason,omitempty"`
	VehicleID      int64  `json:"vehicle_id,omitempty"`
	Plate          string `json:"plate,omitempty"`
	DriverID       int64  `json:"driver_id,omitempty"`
	Driver         string `json:"driver,omitempty"`
	RentalPlate    string `json:"rental_plate,omitempty"`
	RentalCompany  string `json:"rental_company,omitempty"`
	DispatchedBy   string `json:"dispatched_by,omitempty"`
	DispatchedAt   string `json:"dispatched_at,omitempty"`
	// ApprovalID is the approval the dispatch stored, which the rules
	// honour as they honour an imported one.
	ApprovalID int64  `json:"approval_id,omitempty"`
	CreatedAt  string `json:"created_at"`

	requesterID    int64
	start, end     time.Time
	decidedByID    int64
	approverName   string
	rentalDriver   string
	dispatchedByID int64
}

// tripSelect reads trip requests with the names of what they refer to;
// callers add WHERE, ORDER and LIMIT.
const tripSelect = `SELECT t.id, t.unit_id, u.name, t.requester_id, rq.name, t.client_ref, t.purpose, t.passengers,
		t.destination, COALESCE(t.dest_landmark_id, 0), COALESCE(l.name, ''), ST_AsGeoJSON(t.dest_area)::jsonb,
		lower(t.period), upper(t.period), t.emergency, t.emergency_reason, t.status,
		COALESCE(t.decided_by, 0), COALESCE(dc.name, ''), t.decided_at, t.decision_reason,
		COALESCE(t.vehicle_id, 0), COALESCE(v.plate, ''), COALESCE(t.driver_id, 0), COALESCE(d.name, ''),
		COALESCE(t.rental_plate, ''), COALESCE(t.rental_company, ''), COALESCE(t.rental_driver, ''),
		COALESCE(t.dispatched_by, 0), COALESCE(dp.name, ''), t.dispatched_at, COALESCE(t.approval_id, 0), t.created_at,
		count(*) OVER ()
	FROM trip_requests t JOIN units u ON u.id = t.unit_id JOIN users rq ON rq.id = t.requester_id
		LEFT JOIN landmarks l ON l.id = t.dest_landmark_id LEFT JOIN users dc ON dc.id = t.decided_by
		LEFT JOIN vehicles v ON v.id = t.vehicle_id LEFT JOIN drivers d ON d.id = t.driver_id
		LEFT JOIN users dp ON dp.id = t.dispatched_by `

func scanTrip(row pgx.Row) (tripRequestJSON, int, error) {
	var t tripRequestJSON
	var area []byte
	var decidedAt, dispatchedAt *time.Time
	var created time.Time
	var total int
	err := row.Scan(&t.ID, &t.UnitID, &t.Unit, &t.requesterID, &t.Requester, &t.ClientRef, &t.Purpose, &t.Passengers,
		&t.Destination, &t.DestLandmarkID, &t.DestLandmark, &area, &t.start, &t.end, &t.Emergency, &t.EmergencyReason,
		&t.Status, &t.decidedByID, &t.DecidedBy, &decidedAt, &t.DecisionReason, &t.VehicleID, &t.Plate, &t.DriverID,
		&t.Driver, &t.RentalPlate, &t.RentalCompany, &t.rentalDriver, &t.dispatchedByID, &t.DispatchedBy, &dispatchedAt,
		&t.ApprovalID, &created, &total)
	if errors.Is(err, pgx.ErrNoRows) {
		return t, 0, track.ErrNotFound
	}
	if err != nil {
		return t, 0, fmt.Errorf("read trip request: %w", err)
	}
	if len(area) > 0 {
		t.DestArea = area
	}
	t.From, t.To, t.CreatedAt = formatTime(t.start), formatTime(t.end), formatTime(created)
	if decidedAt != nil {
		t.DecidedAt = formatTime(*decidedAt)
	}
	if dispatchedAt != nil {
		t.DispatchedAt = formatTime(*dispatchedAt)
	}
	if t.Driver == "" {
		t.Driver = t.rentalDriver
	}
	return t, total, nil
}

// tripScope is the condition that keeps trip requests within the
// caller's reach: the unit subtree of their jurisdiction, and for staff
// only their own requests. It takes $1 and $2.
const tripScope = `t.unit_id IN (SELECT unit_subtree($1)) AND ($2::bigint = 0 OR t.requester_id = $2)`

// tripScopeArgs are tripScope's arguments for p.
func tripScopeArgs(p *Principal) []any {
	own := int64(0)
	if p.Role == RoleStaff {
		own = p.ID
	}
	return []any{p.Scope().SQLArg(), own}
}

// tripIn reads trip request id within p's reach; lock makes it FOR
// UPDATE of the request's row (q then is a transaction).
func tripIn(ctx context.Context, q rowQuerier, p *Principal, id int64, lock bool) (tripRequestJSON, error) {
	sql := tripSelect + ` WHERE ` + tripScope + ` AND t.id = $3`
	if lock {
		// count(*) OVER () may not be used with FOR UPDATE: lock first.
		var locked int64
		err := q.QueryRow(ctx, `SELECT t.id FROM trip_requests t WHERE `+tripScope+` AND t.id = $3 FOR UPDATE`,
			append(tripScopeArgs(p), id)...).Scan(&locked)
		if errors.Is(err, pgx.ErrNoRows) {
			return tripRequestJSON{}, track.ErrNotFound
		}
		if err != nil {
			return tripRequestJSON{}, fmt.Errorf("lock trip request %d: %w", id, err)
		}
	}
	t, _, err := scanTrip(q.QueryRow(ctx, sql, append(tripScopeArgs(p), id)...))
	return t, err
}

// tripByRef reads the caller's request made with client_ref, if any.
func tripByRef(ctx context.Context, q rowQuerier, p *Principal, ref string) (tripRequestJSON, error) {
	t, _, err := scanTrip(q.QueryRow(ctx, tripSelect+` WHERE t.requester_id = $1 AND t.client_ref = $2`, p.ID, ref))
	return t, err
}

// newTrip is a request about to be stored.
type newTrip struct {
	unitID          int64
	clientRef       string
	purpose         string
	passengers      int
	destination     string
	landmarkID      int64
	area            string // GeoJSON, "" for none
	from, to        time.Time
	emergency       bool
	emergencyReason string
}

// errTripExists is a client_ref used already by the same requester: the
// caller answers with the request stored the first time.
var errTripExists = errors.New("a trip request with that client_ref exists")

// insertTrip stores a request as pending (or, for emergency use, as
// dispatched below) and returns its id; errTripExists when the requester
// used its client_ref before.
func insertTrip(ctx context.Context, tx pgx.Tx, p *Principal, n newTrip) (int64, error) {
	var id int64
	err := tx.QueryRow(ctx, `INSERT INTO trip_requests (unit_id, requester_id, client_ref, purpose, passengers, destination,
			dest_landmark_id, dest_area, period, emergency, emergency_reason)
		VALUES ($1, $2, $3, $4, $5, $6, $7, CASE WHEN $8 = '' THEN (SELECT geom FROM landmarks WHERE id = $7)
				ELSE ST_SetSRID(ST_GeomFromGeoJSON($8), 4326) END,
			tstzrange($9, $10, '[)'), $11, $12)
		ON CONFLICT (requester_id, client_ref) DO NOTHING RETURNING id`,
		n.unitID, p.ID, n.clientRef, n.purpose, n.passengers, n.destination, nullID(n.landmarkID), n.area,
		n.from, n.to, n.emergency, n.emergencyReason).Scan(&id)
	if errors.Is(err, pgx.ErrNoRows) {
		return 0, errTripExists
	}
	if err != nil {
		return 0, fmt.Errorf("store trip request: %w", err)
	}
	return id, nil
}

// tripRefusal is a request refused for what it asks, with its code.
type tripRefusal struct {
	status int
	code   string
	msg    string
}

func (e *tripRefusal) Error() string { return e.msg }

func refuse(status int, code, format string, args ...any) error {
	return &tripRefusal{status: status, code: code, msg: fmt.Sprintf(format, args...)}
}

// tripFail answers err: a refusal with its code, anything else as fail.
func (s *Server) tripFail(w http.ResponseWriter, r *http.Request, err error) {
	var ref *tripRefusal
	if errors.As(err, &ref) {
		writeError(w, r, ref.status, ref.code, ref.msg)
		return
	}
	s.fail(w, r, err)
}
