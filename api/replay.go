package api

import (
	"context"
	"errors"
	"net/http"
	"slices"
	"strconv"
	"time"

	"fleetmon/alerts"
	"fleetmon/track"
)

// The replay answer (GET /api/v1/vehicles/{id}/replay, and one per vehicle
// of GET /api/v1/replay): what the replay page draws and lists.

type replayPoint struct {
	Time     string  `json:"time"`
	Lat      float64 `json:"lat"`
	Lon      float64 `json:"lon"`
	SpeedKmh float32 `json:"speed_kmh"`
	Heading  int16   `json:"heading"`
	Acc      bool    `json:"acc"`
	Alarm    uint32  `json:"alarm"`
	// Backfill marks a report uploaded later from the terminal's
	// blind-zone buffer (0x0704 type 1).
	Backfill bool `json:"backfill"`
}

type tripApprovalJSON struct {
	ID       int64  `json:"id"`
	From     string `json:"from"`
	To       string `json:"to"`
	Driver   string `json:"driver"`
	Purpose  string `json:"purpose"`
	Approver string `json:"approver"`
	FenceID  int64  `json:"fence_id,omitempty"`
}

type replayTrip struct {
	Start       string    `json:"start"`
	End         string    `json:"end"`
	StartPlace  placeJSON `json:"start_place"`
	EndPlace    placeJSON `json:"end_place"`
	DistanceM   float64   `json:"distance_m"`
	OdometerKm  *float64  `json:"odometer_km"`
	DurationS   float64   `json:"duration_s"`
	MaxSpeedKmh float32   `json:"max_speed_kmh"`
	AvgSpeedKmh float64   `json:"avg_speed_kmh"`
	// HasGap: the trip was cut short by a gap in the data.
	HasGap bool `json:"has_gap"`
	// Approved is "full" when approvals (派车单) cover the whole trip,
	// "partial" when they cover part of it, "none" otherwise; Approvals
	// are those overlapping it.
	Approved  string             `json:"approved"`
	Approvals []tripApprovalJSON `json:"approvals"`
}

type fenceRefJSON struct {
	ID       int64  `json:"id"`
	Name     string `json:"name"`
	Kind     string `json:"kind"`
	Category string `json:"category,omitempty"`
}

type replayStop struct {
	From      string  `json:"from"`
	To        string  `json:"to"`
	Lat       float64 `json:"lat"`
	Lon       float64 `json:"lon"`
	DurationS float64 `json:"duration_s"`
	// Fences are the geofences applying to the vehicle that contain the
	// stop's position.
	Fences []fenceRefJSON `json:"fences"`
}

type replayGap struct {
	From      string  `json:"from"`
	To        string  `json:"to"`
	DurationS float64 `json:"duration_s"`
	// DistanceM is the straight line between the reports either side: the
	// least the vehicle moved unseen.
	DistanceM float64 `json:"distance_m"`
}

// speedSeriesJSON is a speed curve as parallel arrays: Unix milliseconds
// and km/h as reported.
type speedSeriesJSON struct {
	T   []int64   `json:"t"`
	Kmh []float32 `json:"kmh"`
}

type replayJSON struct {
	VehicleID      int64         `json:"vehicle_id"`
	Plate          string        `json:"plate"`
	From           string        `json:"from"`
	To             string        `json:"to"`
	TotalPoints    int           `json:"total_points"`
	BackfillPoints int           `json:"backfill_points"`
	Points         []replayPoint `json:"points"`
	// SpeedSeries is what the speed chart draws: the slowest and fastest
	// report of each of about budget/2 spans of the period (the display
	// track, simplified for the map, drops peaks on a straight road).
	SpeedSeries  speedSeriesJSON `json:"speed_series"`
	Trips        []replayTrip    `json:"trips"`
	Stops        []replayStop    `json:"stops"`
	Gaps         []replayGap     `json:"gaps"`
	Alerts       []alertJSON     `json:"alerts"`
	DistanceM    float64         `json:"distance_m"`
	GapDistanceM float64         `json:"gap_distance_m"`
	OdometerKm   *float64        `json:"odometer_km"`
}

// periodHistory is a vehicle's period as the replay and the evidence report
// show it: the positions, their analysis, and what the rules engine's
// tables say about it.
type periodHistory struct {
	V        track.Vehicle
	From, To time.Time
	Pts      []track.TrackPoint
	A        track.Analysis
	// StopFences[i] are the fences containing stop i.
	StopFences [][]alerts.FenceHit
	// TripApprovals[i] overlap trip i; TripCoverage[i] is "full",
	// "partial" or "none".
	TripApprovals [][]alerts.ApprovalRecord
	TripCoverage  []string
	Alerts        []alertJSON
}

// loadHistory reads the period's positions (at most limit; errTooLong
// beyond) and analyses them.
func (s *Server) loadHistory(ctx context.Context, v track.Vehicle, from, to time.Time, limit int) (*periodHistory, error) {
	h := &periodHistory{V: v, From: from, To: to}
	var err error
	h.Pts, err = s.history(ctx).track.TrackPoints(ctx, v.ID, from, to, limit)
	if errors.Is(err, track.ErrTooManyPoints) {
		return nil, errTooLong
	}
	if err != nil {
		return nil, err
	}
	return h, s.enrichHistory(ctx, h)
}

// enrichHistory analyses h.Pts and adds the fences of the stops, the
// approvals of the trips and the period's alerts (retracted ones left
// out).
func (s *Server) enrichHistory(ctx context.Context, h *periodHistory) error {
	h.A = track.Analyze(h.Pts, track.AnalysisParams{})
	places := make([]alerts.Point, len(h.A.Stops))
	for i, st := range h.A.Stops {
		places[i] = alerts.Point{Lat: st.Lat, Lon: st.Lon}
	}
	var err error
	hs := s.history(ctx)
	if h.StopFences, err = hs.alerts.FencesAt(ctx, h.V.ID, places); err != nil {
		return err
	}
	apps, err := hs.alerts.Approvals(ctx, h.V.ID, h.From, h.To)
	if err != nil {
		return err
	}
	slices.SortFunc(apps, func(a, b alerts.ApprovalRecord) int { return a.Start.Compare(b.Start) })
	h.TripApprovals = make([][]alerts.ApprovalRecord, len(h.A.Trips))
	h.TripCoverage = make([]string, len(h.A.Trips))
	for i, t := range h.A.Trips {
		h.TripApprovals[i], h.TripCoverage[i] = coverage(apps, t.Start, t.End)
	}
	eps, _, err := hs.alerts.ListEpisodes(ctx, alerts.EpisodeQuery{Scope: track.All, VehicleID: h.V.ID, From: h.From, To: h.To})
	if err != nil {
		return err
	}
	slices.Reverse(eps) // oldest first, along the time axis
	h.Alerts, err = s.alertsJSON(ctx, eps)
	return err
}

// coverage returns the approvals (sorted by start) overlapping [start,
// end] and how much of it they cover together: "full", "partial" or
// "none". Approval periods are [from, to).
func coverage(apps []alerts.ApprovalRecord, start, end time.Time) ([]alerts.ApprovalRecord, string) {
	var over []alerts.ApprovalRecord
	covered, reach := true, start
	for _, a := range apps {
		if !a.Start.Before(end) || !a.End.After(start) {
			continue
		}
		over = append(over, a)
		if a.Start.After(reach) {
			covered = false
		}
		if a.End.After(reach) {
			reach = a.End
		}
	}
	switch {
	case len(over) == 0:
		return nil, "none"
	case covered && reach.After(end):
		return over, "full"
	}
	return over, "partial"
}

// json is the replay answer with a display track of at most budget points.
func (h *periodHistory) json(budget int) replayJSON {
	a := &h.A
	out := replayJSON{VehicleID: h.V.ID, Plate: h.V.Plate, From: formatTime(h.From), To: formatTime(h.To), TotalPoints: len(h.Pts),
		Trips: make([]replayTrip, 0, len(a.Trips)), Stops: make([]replayStop, 0, len(a.Stops)), Gaps: make([]replayGap, 0, len(a.Gaps)),
		Alerts: h.Alerts, DistanceM: a.DistanceM, GapDistanceM: a.GapDistanceM, OdometerKm: finite(a.OdometerKm)}
	if out.Alerts == nil {
		out.Alerts = []alertJSON{}
	}
	for i := range h.Pts {
		if h.Pts[i].Backfill {
			out.BackfillPoints++
		}
	}
	idx := track.Simplify(h.Pts, budget, 2, a.Gaps)
	out.Points = make([]replayPoint, 0, len(idx))
	for _, i := range idx {
		p := &h.Pts[i]
		out.Points = append(out.Points, replayPoint{Time: formatTime(p.Time), Lat: p.Lat, Lon: p.Lon, SpeedKmh: p.SpeedKmh,
			Heading: p.Heading, Acc: p.Acc(), Alarm: p.Alarm, Backfill: p.Backfill})
	}
	sidx := track.SpeedExtrema(h.Pts, budget/2)
	out.SpeedSeries = speedSeriesJSON{T: make([]int64, 0, len(sidx)), Kmh: make([]float32, 0, len(sidx))}
	for _, i := range sidx {
		out.SpeedSeries.T = append(out.SpeedSeries.T, h.Pts[i].Time.UnixMilli())
		out.SpeedSeries.Kmh = append(out.SpeedSeries.Kmh, h.Pts[i].SpeedKmh)
	}
	for i, t := range a.Trips {
		rt := replayTrip{Start: formatTime(t.Start), End: formatTime(t.End), StartPlace: placeJSON{Lat: t.StartLat, Lon: t.StartLon},
			EndPlace: placeJSON{Lat: t.EndLat, Lon: t.EndLon}, DistanceM: t.DistanceM, OdometerKm: finite(t.OdometerKm),
			DurationS: t.Duration().Seconds(), MaxSpeedKmh: t.MaxSpeedKmh, AvgSpeedKmh: t.AvgSpeedKmh, HasGap: t.HasGap,
			Approved: h.TripCoverage[i], Approvals: []tripApprovalJSON{}}
		for _, ap := range h.TripApprovals[i] {
			rt.Approvals = append(rt.Approvals, tripApprovalJSON{ID: ap.ID, From: formatTime(ap.Start), To: formatTime(ap.End),
				Driver: ap.Driver, Purpose: ap.Purpose, Approver: ap.Approver, FenceID: ap.FenceID})
		}
		out.Trips = append(out.Trips, rt)
	}
	for i, st := range a.Stops {
		rs := replayStop{From: formatTime(st.From), To: formatTime(st.To), Lat: st.Lat, Lon: st.Lon,
			DurationS: st.Duration().Seconds(), Fences: []fenceRefJSON{}}
		for _, f := range h.StopFences[i] {
			rs.Fences = append(rs.Fences, fenceRefJSON{ID: f.ID, Name: f.Name, Kind: string(f.Kind), Category: string(f.Category)})
		}
		out.Stops = append(out.Stops, rs)
	}
	for _, g := range a.Gaps {
		out.Gaps = append(out.Gaps, replayGap{From: formatTime(g.From), To: formatTime(g.To), DurationS: g.To.Sub(g.From).Seconds(),
			DistanceM: g.DistanceM})
	}
	return out
}

// replayBudget reads ?max_points= (default replayDisplayPoints).
func replayBudget(w http.ResponseWriter, r *http.Request) (int, bool) {
	q := r.URL.Query().Get("max_points")
	if q == "" {
		return replayDisplayPoints, true
	}
	n, err := strconv.Atoi(q)
	if err != nil || n < 2 || n > 100000 {
		writeError(w, r, http.StatusBadRequest, "bad_request", "max_points: want 2 to 100000")
		return 0, false
	}
	return n, true
}

// replay answers the replay page for one vehicle: a display track
// simplified to at most ?max_points= (default 2,000; the shape kept, gaps
// never bridged, back-filled points marked), the trips with their
// approvals, the stops with the geofences they are in, the gaps, the
// alerts, and the mileage along the reports and from the odometer.
// Audited as a track view.
func (s *Server) replay(w http.ResponseWriter, r *http.Request) {
	budget, ok := replayBudget(w, r)
	if !ok {
		return
	}
	v, from, to, ok := s.trackRequest(w, r, "track.view", false)
	if !ok {
		return
	}
	h, err := s.loadHistory(r.Context(), v, from, to, replayMaxPoints)
	if errors.Is(err, errTooLong) {
		writeError(w, r, http.StatusBadRequest, "period_too_long", "more than 2,000,000 positions: choose a shorter period")
		return
	}
	if err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, h.json(budget))
}

// replayMaxVehicles bounds a comparison: the page shows a handful of
// vehicles on one time axis, and each costs its period's positions in
// memory.
const replayMaxVehicles = 8

// replayMany answers several vehicles' replays over one period
// (?vehicle=ID repeated), for comparing them on one time axis: each is
// what the one-vehicle replay answers, and each is audited as a track view.
// Any vehicle outside the caller's jurisdiction makes the whole request
// 404, before anything is audited or read.
func (s *Server) replayMany(w http.ResponseWriter, r *http.Request) {
	budget, ok := replayBudget(w, r)
	if !ok {
		return
	}
	q := r.URL.Query()["vehicle"]
	if len(q) == 0 || len(q) > replayMaxVehicles {
		writeError(w, r, http.StatusBadRequest, "bad_request", "vehicle: give 1 to 8 vehicle ids (?vehicle=1&vehicle=2)")
		return
	}
	p := principal(r)
	var vs []track.Vehicle
	for _, x := range q {
		id, err := strconv.ParseInt(x, 10, 64)
		if err != nil || id <= 0 {
			writeError(w, r, http.StatusBadRequest, "bad_request", "vehicle: want numeric ids")
			return
		}
		if slices.ContainsFunc(vs, func(v track.Vehicle) bool { return v.ID == id }) {
			continue
		}
		v, err := s.store.VehicleIn(r.Context(), p.Scope(), id)
		if err != nil {
			s.fail(w, r, err)
			return
		}
		vs = append(vs, v)
	}
	from, to, ok := period(w, r, true)
	if !ok {
		return
	}
	reason, ok := reasonOf(w, r, false)
	if !ok {
		return
	}
	views := make([]Entry, len(vs))
	for i, v := range vs {
		views[i] = Entry{Action: "track.view", VehicleID: v.ID, SubjectUnitID: v.UnitID, From: from, To: to, Reason: reason,
			Detail: map[string]any{"plate": v.Plate, "compared_with": len(vs) - 1}}
	}
	if err := s.auditFirst(r, views...); err != nil {
		s.fail(w, r, err)
		return
	}
	out := struct {
		From     string       `json:"from"`
		To       string       `json:"to"`
		Vehicles []replayJSON `json:"vehicles"`
	}{From: formatTime(from), To: formatTime(to), Vehicles: make([]replayJSON, 0, len(vs))}
	left := replayMaxPoints
	for _, v := range vs {
		h, err := s.loadHistory(r.Context(), v, from, to, left)
		if errors.Is(err, errTooLong) {
			writeError(w, r, http.StatusBadRequest, "period_too_long", "more than 2,000,000 positions in all: choose a shorter period or fewer vehicles")
			return
		}
		if err != nil {
			s.fail(w, r, err)
			return
		}
		left -= len(h.Pts)
		out.Vehicles = append(out.Vehicles, h.json(budget))
	}
	writeJSON(w, http.StatusOK, out)
}
