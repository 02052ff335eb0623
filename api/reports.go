package api

import (
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"unicode/utf8"

	"fleetmon/alerts"
	"fleetmon/track"
)

// reportRoutes registers the reports (统计报表) built on the rules.
func (s *Server) reportRoutes(p routeRecorder) {
	p.HandleFunc("GET /api/v1/reports/dispatch", s.onHistory(s.dispatchReport))
}

// maxReportVehicles bounds the vehicles of one dispatch report: each is a
// day of positions read and judged.
const maxReportVehicles = 20000

type dispatchRow struct {
	Kind      string   `json:"kind"`
	VehicleID int64    `json:"vehicle_id"`
	Plate     string   `json:"plate"`
	Start     string   `json:"start"`
	End       string   `json:"end"`
	StartLat  *float64 `json:"start_lat,omitempty"`
	StartLon  *float64 `json:"start_lon,omitempty"`
	EndLat    *float64 `json:"end_lat,omitempty"`
	EndLon    *float64 `json:"end_lon,omitempty"`
	DistanceM float64  `json:"distance_m,omitempty"`
	MaxSpeed  float32  `json:"max_speed_kmh,omitempty"`
	OutsideS  float64  `json:"outside_s,omitempty"`
	// Outside is OutsideS as people write it ("9m30s").
	Outside    string `json:"outside,omitempty"`
	ApprovalID int64  `json:"approval_id,omitempty"`
	Ongoing    bool   `json:"ongoing,omitempty"`
}

// dispatchReport serves the daily dispatch report of the vehicles in
// ?unit='s subtree (default: the caller's jurisdiction): 无单出车 (drives
// that no approval covers, kind no_order, or only in part, kind overrun)
// and 有单无车 (approvals starting that day never driven, kind undriven),
// and, in trips, every approval starting that day against the track.
// ?format=csv gives the same rows as CSV. The drives' places are track
// data: the request is audited, and inspectors give ?reason=.
func (s *Server) dispatchReport(w http.ResponseWriter, r *http.Request) {
	p := principal(r)
	q := r.URL.Query()
	day, err := alerts.ParseDate(q.Get("date"))
	if err != nil {
		writeError(w, r, http.StatusBadRequest, "bad_request", "date: want YYYY-MM-DD")
		return
	}
	format := q.Get("format")
	if format != "" && format != "json" && format != "csv" {
		writeError(w, r, http.StatusBadRequest, "bad_request", "format: want json or csv")
		return
	}
	unit, ok := queryID(w, r, "unit")
	if !ok {
		return
	}
	if unit != 0 {
		if _, err := s.store.UnitIn(r.Context(), p.Scope(), unit); err != nil {
			s.fail(w, r, err)
			return
		}
	}
	reason := strings.TrimSpace(q.Get("reason"))
	if utf8.RuneCountInString(reason) > maxReason {
		writeError(w, r, http.StatusBadRequest, "bad_request", "reason: at most 500 characters")
		return
	}
	if reason == "" && p.Role == RoleInspector {
		writeError(w, r, http.StatusBadRequest, "reason_required", "give the reason for viewing these trips in ?reason=")
		return
	}
	vs, total, err := s.store.VehiclesIn(r.Context(), p.Scope(), track.VehicleFilter{UnitID: unit, Limit: maxReportVehicles})
	if err != nil {
		s.fail(w, r, err)
		return
	}
	if total > len(vs) {
		writeError(w, r, http.StatusBadRequest, "too_many_vehicles", fmt.Sprintf("more than %d vehicles: choose a unit", maxReportVehicles))
		return
	}
	rep, err := s.history(r.Context()).alerts.DispatchReport(r.Context(), day, vs)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	subject := unit
	if subject == 0 {
		subject = p.Scope().Root
	}
	if err := s.auditFirst(r, Entry{Action: "report.dispatch", SubjectUnitID: subject, From: day.In(cst), To: day.AddDays(1).In(cst),
		Reason: reason, Detail: map[string]any{"vehicles": len(vs), "no_order": len(rep.NoOrder), "undriven": len(rep.Undriven)}}); err != nil {
		s.fail(w, r, err)
		return
	}
	plates := make(map[int64]string, len(vs))
	for _, v := range vs {
		plates[v.ID] = v.Plate
	}
	rows := make([]dispatchRow, 0, len(rep.NoOrder)+len(rep.Undriven))
	for _, f := range rep.NoOrder {
		d := f.Drive
		rows = append(rows, dispatchRow{Kind: string(f.Kind), VehicleID: d.VehicleID, Plate: plates[d.VehicleID],
			Start: formatTime(d.Start), End: formatTime(d.End), StartLat: &d.StartLat, StartLon: &d.StartLon,
			EndLat: &d.EndLat, EndLon: &d.EndLon, DistanceM: d.DistanceM, MaxSpeed: d.MaxSpeedKmh,
			OutsideS: f.Outside.D().Seconds(), Outside: f.Outside.String(), ApprovalID: f.ApprovalID, Ongoing: d.Ongoing})
	}
	for _, a := range rep.Undriven {
		rows = append(rows, dispatchRow{Kind: "undriven", VehicleID: a.VehicleID, Plate: plates[a.VehicleID],
			Start: formatTime(a.Start), End: formatTime(a.End), ApprovalID: a.ID})
	}
	if format == "csv" {
		w.Header().Set("Content-Type", "text/csv; charset=utf-8")
		w.Header().Set("Content-Disposition", fmt.Sprintf(`attachment; filename="dispatch-%s.csv"`, day))
		cw := newCSVWriter(w)
		_ = cw.Write([]string{"kind", "plate", "vehicle_id", "start", "end", "distance_m", "max_speed_kmh", "outside_s", "approval_id"})
		for _, x := range rows {
			_ = cw.Write([]string{x.Kind, x.Plate, strconv.FormatInt(x.VehicleID, 10), x.Start, x.End,
				strconv.FormatFloat(x.DistanceM, 'f', 0, 64), strconv.FormatFloat(float64(x.MaxSpeed), 'f', 1, 32),
				strconv.FormatFloat(x.OutsideS, 'f', 0, 64), strconv.FormatInt(x.ApprovalID, 10)})
		}
		cw.Flush()
		if err := cw.Error(); err != nil {
			s.log.Warn("dispatch report: write csv", "err", err)
		}
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"date": day.String(), "unit_id": unit, "vehicles": len(vs),
		"drives": rep.Drives, "approvals": rep.Approvals, "rows": rows, "trips": tripRows(rep.Trips, plates)})
}
