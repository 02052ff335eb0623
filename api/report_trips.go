package api

import "fleetmon/alerts"

// tripRow is an approved trip against its vehicle's track, in the daily
// dispatch report: whether it started and ended in its window, reached
// its destination, how far and how long it went, its stops, and what the
// vehicle did besides that day.
type tripRow struct {
	ApprovalID  int64  `json:"approval_id"`
	RequestID   int64  `json:"request_id,omitempty"`
	VehicleID   int64  `json:"vehicle_id"`
	Plate       string `json:"plate"`
	From        string `json:"from"`
	To          string `json:"to"`
	Emergency   bool   `json:"emergency"`
	IssuedAt    string `json:"issued_at"`
	IssuedAfter bool   `json:"issued_after"`
	Destination string `json:"destination,omitempty"`
	// Reached is null when the request named no place to judge.
	Reached         *bool    `json:"reached"`
	Drives          int      `json:"drives"`
	Start           string   `json:"start,omitempty"`
	End             string   `json:"end,omitempty"`
	StartedInWindow bool     `json:"started_in_window"`
	EndedInWindow   bool     `json:"ended_in_window"`
	DistanceM       float64  `json:"distance_m"`
	DrivingS        float64  `json:"driving_s"`
	SpanS           float64  `json:"span_s"`
	Stops           []stopJS `json:"stops"`
	Besides         []stopJS `json:"besides"`
}

// stopJS is a stop of a trip, or a drive besides it (with its distance).
type stopJS struct {
	Start     string  `json:"start"`
	End       string  `json:"end"`
	Lat       float64 `json:"lat"`
	Lon       float64 `json:"lon"`
	DistanceM float64 `json:"distance_m,omitempty"`
}

func tripRows(ts []alerts.TripCheck, plates map[int64]string) []tripRow {
	out := make([]tripRow, 0, len(ts))
	for _, t := range ts {
		x := tripRow{ApprovalID: t.Approval.ID, RequestID: t.RequestID, VehicleID: t.Approval.VehicleID,
			Plate: plates[t.Approval.VehicleID], From: formatTime(t.Approval.Start), To: formatTime(t.Approval.End),
			Emergency: t.Emergency, IssuedAt: formatTime(t.IssuedAt), IssuedAfter: t.IssuedAfter, Destination: t.Destination,
			Drives: len(t.Drives), StartedInWindow: t.StartedInWindow, EndedInWindow: t.EndedInWindow,
			DistanceM: t.DistanceM, DrivingS: t.Driving.D().Seconds(), SpanS: t.Span.D().Seconds(),
			Stops: make([]stopJS, 0, len(t.Stops)), Besides: make([]stopJS, 0, len(t.Besides))}
		if t.HasDestination {
			reached := t.Reached
			x.Reached = &reached
		}
		if n := len(t.Drives); n > 0 {
			x.Start, x.End = formatTime(t.Drives[0].Start), formatTime(t.Drives[n-1].End)
		}
		for _, s := range t.Stops {
			x.Stops = append(x.Stops, stopJS{Start: formatTime(s.Start), End: formatTime(s.End), Lat: s.Lat, Lon: s.Lon})
		}
		for _, d := range t.Besides {
			x.Besides = append(x.Besides, stopJS{Start: formatTime(d.Start), End: formatTime(d.End), Lat: d.StartLat,
				Lon: d.StartLon, DistanceM: d.DistanceM})
		}
		out = append(out, x)
	}
	return out
}
