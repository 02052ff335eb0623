package alerts

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/jackc/pgx/v5"
)

// An approved trip against the track: the dispatch report compares every
// approval whose window starts on its day with the drives of its vehicle,
// whether the approval was dispatched from a request in fleetmon or
// imported. A trip's drives are those overlapping its window; what the
// vehicle did besides that day is listed with it.

// TripStop is a stop between two drives of a trip: where the vehicle
// stood, and for how long.
type TripStop struct {
	Start time.Time `json:"start"`
	End   time.Time `json:"end"`
	Lat   float64   `json:"lat"`
	Lon   float64   `json:"lon"`
}

// TripCheck is one approved trip compared with the track.
type TripCheck struct {
	Approval Approval `json:"approval"`
	// RequestID is the trip request the approval was dispatched from (0
	// for an imported approval), Emergency whether it was recorded
	// afterwards as emergency use (紧急用车补录).
	RequestID int64 `json:"request_id,omitempty"`
	Emergency bool  `json:"emergency,omitempty"`
	// IssuedAt is when the approval was stored; IssuedAfter says that was
	// after the trip began (its first drive; when it was not driven, after
	// its window ended): an approval issued after the fact.
	IssuedAt    time.Time `json:"issued_at"`
	IssuedAfter bool      `json:"issued_after"`
	// Destination names the request's destination; HasDestination says
	// it has a place (a landmark or an area drawn) that Reached judges.
	Destination    string `json:"destination,omitempty"`
	HasDestination bool   `json:"has_destination"`
	Reached        bool   `json:"reached"`
	// Drives are the vehicle's drives overlapping the window.
	Drives          []Drive `json:"drives"`
	StartedInWindow bool    `json:"started_in_window"`
	EndedInWindow   bool    `json:"ended_in_window"`
	// DistanceM and Driving add up the drives; Span runs from the first
	// drive's start to the last one's end.
	DistanceM float64  `json:"distance_m"`
	Driving   Duration `json:"driving"`
	Span      Duration `json:"span"`
	// Stops are the stops between the trip's drives; Besides the
	// vehicle's other drives starting that day, outside the window.
	Stops   []TripStop `json:"stops"`
	Besides []Drive    `json:"besides"`
}

// tripInfo is an approval as the dispatch report reads it.
type tripInfo struct {
	Approval
	issuedAt       time.Time
	requestID      int64
	emergency      bool
	destination    string
	hasDestination bool
}

// CompareTrip compares the approval a with the drives ds of its vehicle
// (any order); lo and hi bound the day whose other drives are listed
// besides the trip. Reached is left to the caller, which asks PostGIS.
func CompareTrip(a Approval, issuedAt time.Time, ds []Drive, lo, hi time.Time) TripCheck {
	c := TripCheck{Approval: a, IssuedAt: issuedAt, Drives: []Drive{}, Stops: []TripStop{}, Besides: []Drive{}}
	ds = slices.Clone(ds)
	slices.SortFunc(ds, func(x, y Drive) int { return x.Start.Compare(y.Start) })
	var driving time.Duration
	for _, d := range ds {
		if d.VehicleID != a.VehicleID {
			continue
		}
		switch {
		case d.Start.Before(a.End) && d.End.After(a.Start):
			if n := len(c.Drives); n > 0 {
				p := c.Drives[n-1]
				c.Stops = append(c.Stops, TripStop{Start: p.End, End: d.Start, Lat: p.EndLat, Lon: p.EndLon})
			}
			c.Drives = append(c.Drives, d)
			c.DistanceM += d.DistanceM
			driving += d.End.Sub(d.Start)
		case !d.Start.Before(lo) && d.Start.Before(hi):
			c.Besides = append(c.Besides, d)
		}
	}
	c.Driving = Duration(driving)
	// An approval issued during its window but before the car moved is
	// in time; one issued after the car moved, or for a window already
	// over when it was never driven, is not.
	began := a.End
	if n := len(c.Drives); n > 0 {
		first, last := c.Drives[0], c.Drives[n-1]
		c.StartedInWindow = !first.Start.Before(a.Start)
		c.EndedInWindow = !last.End.After(a.End) && !last.Ongoing
		c.Span = Duration(last.End.Sub(first.Start))
		began = first.Start
	}
	c.IssuedAfter = issuedAt.After(began)
	return c
}

// tripReach is how near the destination a position must come for the
// trip to have reached it: a car parks beside a place, not inside its
// mapped point, and GNSS is off by tens of metres in a city.
const tripReach = 200 // metres

// reached says whether a position of the vehicle in [from, to] came
// within tripReach of the destination of the trip request.
func (s *Store) reached(ctx context.Context, requestID, vehicleID int64, from, to time.Time) (bool, error) {
	var ok bool
	err := s.pool.QueryRow(ctx, `SELECT EXISTS (SELECT 1
		FROM trip_requests t, positions p
		WHERE t.id = $1 AND p.vehicle_id = $2 AND p.device_time >= $3 AND p.device_time <= $4
			AND ST_DWithin(p.geom::geography, t.dest_area::geography, $5))`,
		requestID, vehicleID, from, to, tripReach).Scan(&ok)
	if err != nil {
		return false, fmt.Errorf("trip request %d: reached its destination: %w", requestID, err)
	}
	return ok, nil
}

// tripsStarting reads the approvals of the vehicles whose window starts
// in [lo, hi), with the request each was dispatched from.
func (s *Store) tripsStarting(ctx context.Context, vehicles []int64, lo, hi time.Time) ([]tripInfo, error) {
	rows, err := s.pool.Query(ctx, `SELECT a.id, a.vehicle_id, lower(a.period), upper(a.period), COALESCE(a.fence_id, 0),
			a.created_at, COALESCE(t.id, 0), COALESCE(t.emergency, false), COALESCE(t.destination, ''),
			COALESCE(t.dest_area IS NOT NULL, false)
		FROM alert_approvals a LEFT JOIN trip_requests t ON t.approval_id = a.id
		WHERE a.vehicle_id = ANY($1) AND lower(a.period) >= $2 AND lower(a.period) < $3
		ORDER BY lower(a.period), a.id`, vehicles, lo, hi)
	if err != nil {
		return nil, fmt.Errorf("load trips: %w", err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (tripInfo, error) {
		var t tripInfo
		err := r.Scan(&t.ID, &t.VehicleID, &t.Start, &t.End, &t.FenceID, &t.issuedAt, &t.requestID, &t.emergency,
			&t.destination, &t.hasDestination)
		return t, err
	})
	if err != nil {
		return nil, fmt.Errorf("load trips: %w", err)
	}
	return out, nil
}

// checkTrips compares the trips of the day [lo, hi) with drives.
func (s *Store) checkTrips(ctx context.Context, vehicles []int64, drives []Drive, lo, hi time.Time) ([]TripCheck, error) {
	ts, err := s.tripsStarting(ctx, vehicles, lo, hi)
	if err != nil {
		return nil, err
	}
	out := make([]TripCheck, 0, len(ts))
	for _, t := range ts {
		c := CompareTrip(t.Approval, t.issuedAt, drives, lo, hi)
		c.RequestID, c.Emergency, c.Destination, c.HasDestination = t.requestID, t.emergency, t.destination, t.hasDestination
		if t.hasDestination {
			from, to := t.Start, t.End
			if n := len(c.Drives); n > 0 {
				from, to = minTime(from, c.Drives[0].Start), maxTime(to, c.Drives[n-1].End)
			}
			if c.Reached, err = s.reached(ctx, t.requestID, t.VehicleID, from, to); err != nil {
				return nil, err
			}
		}
		out = append(out, c)
	}
	return out, nil
}

// ErrVehicleBusy and ErrVehicleSealed refuse a dispatch: the vehicle
// already has an approval overlapping the window, or is sealed (封存) at
// some time of it.
var (
	ErrVehicleBusy   = errors.New("vehicle already dispatched for an overlapping time")
	ErrVehicleSealed = errors.New("vehicle sealed during that time")
)

// CheckVehicleFree locks the vehicle's row until the transaction the
// store runs in ends, so that two dispatches of one vehicle for
// overlapping times cannot both find it free, and returns ErrVehicleBusy
// (with the overlapping approval's id) or ErrVehicleSealed when the
// vehicle may not be dispatched for [from, to).
func (s *Store) CheckVehicleFree(ctx context.Context, vehicleID int64, from, to time.Time) (busyWith int64, err error) {
	var id int64
	if err := s.db.QueryRow(ctx, `SELECT id FROM vehicles WHERE id = $1 FOR UPDATE`, vehicleID).Scan(&id); err != nil {
		return 0, fmt.Errorf("lock vehicle %d: %w", vehicleID, err)
	}
	err = s.db.QueryRow(ctx, `SELECT id FROM alert_approvals WHERE vehicle_id = $1 AND period && tstzrange($2, $3, '[)')
		ORDER BY lower(period) LIMIT 1`, vehicleID, from, to).Scan(&busyWith)
	switch {
	case err == nil:
		return busyWith, ErrVehicleBusy
	case !errors.Is(err, pgx.ErrNoRows):
		return 0, fmt.Errorf("approvals of vehicle %d: %w", vehicleID, err)
	}
	sealed, err := s.SealedDuring(ctx, vehicleID, from, to)
	if err != nil {
		return 0, err
	}
	if sealed {
		return 0, ErrVehicleSealed
	}
	return 0, nil
}
