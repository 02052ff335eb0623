package api

import (
	"fmt"
	"math"
	"net/http"
	"regexp"
	"slices"
	"strconv"
	"time"

	"fleetmon/alerts"
	"fleetmon/track"
)

// The statistics (台账) offices file every quarter: per unit (its
// subtree) or per vehicle, for a month, a quarter or a year, summed from
// the per vehicle-day figures the days job keeps (track.SummariseDays)
// and judged against the units' calendars (alerts.Ledger). As JSON for
// the reports page, XLSX for the office's spreadsheet (stats_export.go)
// and HTML to print.

// statsRoutes registers the statistics report.
func (s *Server) statsRoutes(p routeRecorder) {
	p.HandleFunc("GET /api/v1/reports/stats", s.onHistory(s.statsReport))
}

// statsPeriod is a month ("2026-11"), a quarter ("2026-Q4") or a year
// ("2026"): its days [From, To).
type statsPeriod struct {
	Label    string
	From, To alerts.Date
}

var periodRe = regexp.MustCompile(`^(\d{4})(?:-(?:(\d{2})|Q([1-4])))?$`)

func parsePeriod(s string) (statsPeriod, bool) {
	m := periodRe.FindStringSubmatch(s)
	if m == nil {
		return statsPeriod{}, false
	}
	year, _ := strconv.Atoi(m[1])
	if year < 2000 || year > 2200 {
		return statsPeriod{}, false
	}
	from, months := alerts.Date{Year: year, Month: 1, Day: 1}, 12
	switch {
	case m[2] != "":
		mo, _ := strconv.Atoi(m[2])
		if mo < 1 || mo > 12 {
			return statsPeriod{}, false
		}
		from.Month, months = time.Month(mo), 1
	case m[3] != "":
		q, _ := strconv.Atoi(m[3])
		from.Month, months = time.Month(3*q-2), 3
	}
	end := time.Date(from.Year, from.Month+time.Month(months), 1, 0, 0, 0, 0, time.UTC)
	return statsPeriod{Label: s, From: from, To: alerts.DateOf(end)}, true
}

// statsFigures are the figures of a vehicle, or summed over a unit's.
type statsFigures struct {
	Vehicles       int     `json:"vehicles"`
	UnusedVehicles int     `json:"unused_vehicles"`
	Trips          int     `json:"trips"`
	DistanceKm     float64 `json:"distance_km"`
	// OdometerKm is null when no vehicle's terminal reports the odometer.
	OdometerKm      *float64       `json:"odometer_km"`
	DrivingH        float64        `json:"driving_h"`
	DaysUsed        int            `json:"days_used"`
	WorkingDays     int            `json:"working_days"`
	UsedWorkingDays int            `json:"used_working_days"`
	AfterHoursTrips int            `json:"after_hours_trips"`
	HolidayTrips    int            `json:"holiday_trips"`
	Alerts          map[string]int `json:"alerts"`
	Verification    map[string]int `json:"verification"`
}

func (f *statsFigures) add(r alerts.LedgerRow) {
	if f.Alerts == nil {
		f.Alerts, f.Verification = map[string]int{}, map[string]int{}
	}
	f.Vehicles++
	if r.Trips == 0 {
		f.UnusedVehicles++
	}
	f.Trips += r.Trips
	f.DistanceKm += r.DistanceM / 1000
	if !math.IsNaN(r.OdometerKm) {
		f.OdometerKm = new(r.OdometerKm + derefOr(f.OdometerKm, 0))
	}
	f.DrivingH += r.Driving.Hours()
	f.DaysUsed += r.DaysUsed
	f.WorkingDays += r.WorkingDays
	f.UsedWorkingDays += r.UsedWorkingDays
	f.AfterHoursTrips += r.AfterHoursTrips
	f.HolidayTrips += r.HolidayTrips
	for k, n := range r.Alerts {
		f.Alerts[string(k)] += n
	}
	for k, n := range r.Verification {
		f.Verification[string(k)] += n
	}
}

// round keeps the figures to what a ledger shows: kilometres and hours to
// two decimals.
func (f *statsFigures) round() {
	r2 := func(v float64) float64 { return math.Round(v*100) / 100 }
	f.DistanceKm, f.DrivingH = r2(f.DistanceKm), r2(f.DrivingH)
	if f.OdometerKm != nil {
		f.OdometerKm = new(r2(*f.OdometerKm))
	}
}

func derefOr(p *float64, def float64) float64 {
	if p == nil {
		return def
	}
	return *p
}

// statsRow is one row of the report: a unit (its subtree) or a vehicle.
type statsRow struct {
	UnitID    int64  `json:"unit_id,omitempty"`
	Unit      string `json:"unit"`
	VehicleID int64  `json:"vehicle_id,omitempty"`
	Plate     string `json:"plate,omitempty"`
	statsFigures
}

type statsVehicle struct {
	VehicleID int64  `json:"vehicle_id"`
	Plate     string `json:"plate"`
	Unit      string `json:"unit"`
}

// statsReport is what the report says: the rows, their total, and the
// vehicles not used at all.
type statsReport struct {
	Period string `json:"period"`
	From   string `json:"from"`
	// To is the period's last day.
	To     string         `json:"to"`
	UnitID int64          `json:"unit_id"`
	Unit   string         `json:"unit"`
	By     string         `json:"by"`
	Rows   []statsRow     `json:"rows"`
	Total  statsFigures   `json:"total"`
	Unused []statsVehicle `json:"unused"`
	// PendingDays are vehicle-days with positions the figures do not
	// include yet (the days job has not reached them).
	PendingDays int      `json:"pending_days"`
	Rules       []string `json:"rules"`
	Generated   string   `json:"generated"`
	// Tips counts the public tips (举报) received in the period, per unit
	// and outcome (stats_tips.go).
	Tips *tipStatsSection `json:"tips"`
}

// statsReport serves the statistics of the vehicles in ?unit='s subtree
// (default: the caller's jurisdiction) for ?period=, ?by=unit (a row per
// unit directly below, each with its subtree, and one for the unit's own
// vehicles) or ?by=vehicle, as ?format=json (default), xlsx or html.
// Audited as a report view.
func (s *Server) statsReport(w http.ResponseWriter, r *http.Request) {
	p := principal(r)
	q := r.URL.Query()
	per, ok := parsePeriod(q.Get("period"))
	if !ok {
		writeError(w, r, http.StatusBadRequest, "bad_request", "period: want YYYY-MM, YYYY-Qn or YYYY")
		return
	}
	by := q.Get("by")
	if by == "" {
		by = "unit"
	}
	if by != "unit" && by != "vehicle" {
		writeError(w, r, http.StatusBadRequest, "bad_request", "by: want unit or vehicle")
		return
	}
	format := q.Get("format")
	if format != "" && format != "json" && format != "xlsx" && format != "html" {
		writeError(w, r, http.StatusBadRequest, "bad_request", "format: want json, xlsx or html")
		return
	}
	unitID, ok := queryID(w, r, "unit")
	if !ok {
		return
	}
	if unitID == 0 {
		unitID = p.Scope().Root
	}
	ctx := r.Context()
	units, err := s.store.Units(ctx, p.Scope())
	if err != nil {
		s.fail(w, r, err)
		return
	}
	byID := make(map[int64]track.Unit, len(units))
	for _, u := range units {
		byID[u.ID] = u
	}
	if unitID != 0 {
		if _, err := s.store.UnitIn(ctx, p.Scope(), unitID); err != nil {
			s.fail(w, r, err)
			return
		}
	}
	vs, total, err := s.store.VehiclesIn(ctx, p.Scope(), track.VehicleFilter{UnitID: unitID, Limit: maxReportVehicles})
	if err != nil {
		s.fail(w, r, err)
		return
	}
	if total > len(vs) {
		writeError(w, r, http.StatusBadRequest, "too_many_vehicles", fmt.Sprintf("more than %d vehicles: choose a unit", maxReportVehicles))
		return
	}
	from, to := per.From.In(cst), per.To.In(cst)
	ids := make([]int64, len(vs))
	for i, v := range vs {
		ids[i] = v.ID
	}
	h := s.history(ctx)
	days, err := h.track.VehicleDays(ctx, ids, from, to)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	counts, err := h.alerts.EpisodeCounts(ctx, ids, from, to)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	pending, err := h.track.DaysPending(ctx, ids, from, to)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	// The calendars are configuration, read from the primary.
	cals, err := s.alerts.LoadCalendars(ctx)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	now := s.cfg.Now()
	ledger := alerts.Ledger(cals, vs, days, counts, per.From, per.To, alerts.DateOf(now.In(cst)).AddDays(1))
	rep := buildStats(per, unitID, byID, by, vs, ledger)
	rep.PendingDays, rep.Generated = pending, formatTime(now)
	if rep.Tips, err = s.tipStats(ctx, track.Scope{Root: unitID}, from, to, now); err != nil {
		s.fail(w, r, err)
		return
	}
	if err := s.auditFirst(r, Entry{Action: "report.stats", SubjectUnitID: unitID, From: from, To: to,
		Detail: map[string]any{"period": per.Label, "by": by, "vehicles": len(vs), "format": cmp(format, "json")}}); err != nil {
		s.fail(w, r, err)
		return
	}
	switch format {
	case "xlsx":
		s.writeStatsXLSX(w, r, rep)
	case "html":
		s.writeStatsHTML(w, r, rep)
	default:
		writeJSON(w, http.StatusOK, rep)
	}
}

func cmp(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

// buildStats groups the ledger's rows by unit or by vehicle.
func buildStats(per statsPeriod, unitID int64, units map[int64]track.Unit, by string, vs []track.Vehicle, ledger []alerts.LedgerRow) statsReport {
	rep := statsReport{Period: per.Label, From: per.From.String(), To: per.To.AddDays(-1).String(), UnitID: unitID,
		Unit: units[unitID].Path, By: by, Rows: []statsRow{}, Unused: []statsVehicle{}}
	for _, id := range alerts.RuleIDs {
		rep.Rules = append(rep.Rules, string(id))
	}
	groups := map[int64]*statsRow{}
	var order []int64
	for i, v := range vs {
		l := ledger[i]
		rep.Total.add(l)
		if l.Trips == 0 {
			rep.Unused = append(rep.Unused, statsVehicle{VehicleID: v.ID, Plate: v.Plate, Unit: v.UnitPath})
		}
		if by == "vehicle" {
			row := statsRow{UnitID: v.UnitID, Unit: v.UnitPath, VehicleID: v.ID, Plate: v.Plate}
			row.add(l)
			row.round()
			rep.Rows = append(rep.Rows, row)
			continue
		}
		// The unit directly below unitID that v's unit is in (or unitID
		// itself for its own vehicles).
		g := v.UnitID
		for g != unitID {
			u, ok := units[g]
			if !ok || u.ParentID == unitID {
				break
			}
			g = u.ParentID
		}
		row, ok := groups[g]
		if !ok {
			row = &statsRow{UnitID: g, Unit: units[g].Path}
			groups[g] = row
			order = append(order, g)
		}
		row.add(l)
	}
	slices.SortFunc(order, func(a, b int64) int {
		switch {
		case units[a].Path < units[b].Path:
			return -1
		case units[a].Path > units[b].Path:
			return 1
		}
		return 0
	})
	for _, g := range order {
		groups[g].round()
		rep.Rows = append(rep.Rows, *groups[g])
	}
	if rep.Total.Alerts == nil {
		rep.Total.Alerts, rep.Total.Verification = map[string]int{}, map[string]int{}
	}
	rep.Total.round()
	return rep
}
