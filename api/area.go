package api

import (
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"time"
	"unicode/utf8"

	"fleetmon/track"
)

// areaSearchMaxRadiusM bounds a drawn circle: a search is about a place
// (a hotel, a club), and a city-wide circle would read the whole fleet.
const areaSearchMaxRadiusM = 50_000

// areaAuditVehicles bounds the vehicle ids listed in an area search's
// audit entry (all are counted).
const areaAuditVehicles = 1000

type visitJSON struct {
	Arrival      string  `json:"arrival"`
	Departure    string  `json:"departure"`
	DwellS       float64 `json:"dwell_s"`
	EnteredAfter *string `json:"entered_after"`
	LeftBefore   *string `json:"left_before"`
	Points       int     `json:"points"`
	HasGap       bool    `json:"has_gap"`
}

type areaVehicleJSON struct {
	VehicleID   int64       `json:"vehicle_id"`
	Plate       string      `json:"plate"`
	UnitID      int64       `json:"unit_id"`
	UnitPath    string      `json:"unit_path"`
	TotalDwellS float64     `json:"total_dwell_s"`
	Visits      []visitJSON `json:"visits"`
}

func optTime(t time.Time) *string {
	if t.IsZero() {
		return nil
	}
	s := formatTime(t)
	return &s
}

// areaSearch serves POST /api/v1/area-search: every vehicle in the
// caller's jurisdiction that reported from inside an area during a period,
// with arrival, departure and dwell of each visit. The area is a drawn
// GeoJSON geometry (Polygon or MultiPolygon; a Point with radius_m is a
// circle) or a geofence in the jurisdiction (fence_id). A reason is
// required of everyone; the search, its area and the vehicles found are
// audited (area.search) before the answer is sent.
func (s *Server) areaSearch(w http.ResponseWriter, r *http.Request) {
	var req struct {
		From    time.Time       `json:"from"`
		To      time.Time       `json:"to"`
		Reason  string          `json:"reason"`
		Area    json.RawMessage `json:"area"`
		RadiusM float64         `json:"radius_m"`
		FenceID int64           `json:"fence_id"`
	}
	if !s.decode(w, r, &req) {
		return
	}
	req.Reason = strings.TrimSpace(req.Reason)
	switch {
	case req.Reason == "":
		writeError(w, r, http.StatusBadRequest, "reason_required", "give the reason for this search in reason")
		return
	case utf8.RuneCountInString(req.Reason) > maxReason:
		writeError(w, r, http.StatusBadRequest, "bad_request", "reason: at most 500 characters")
		return
	case !req.To.After(req.From) || req.To.Sub(req.From) > maxPeriod:
		writeError(w, r, http.StatusBadRequest, "bad_request", "from, to: want from before to, at most 366 days apart")
		return
	case (len(req.Area) > 0) == (req.FenceID != 0):
		writeError(w, r, http.StatusBadRequest, "bad_request", "give either area (GeoJSON geometry) or fence_id")
		return
	case req.RadiusM < 0 || req.RadiusM > areaSearchMaxRadiusM:
		writeError(w, r, http.StatusBadRequest, "bad_request", "radius_m: want 0 to 50000")
		return
	}
	p := principal(r)
	area := track.Area{GeoJSON: string(req.Area), BufferM: req.RadiusM}
	detail := map[string]any{}
	if req.FenceID != 0 {
		f, gj, err := s.alerts.FenceArea(r.Context(), req.FenceID)
		if err == nil {
			var ok bool
			if ok, err = s.fenceInScope(r.Context(), p.Scope(), &f); err == nil && !ok {
				err = track.ErrNotFound
			}
		}
		if err != nil {
			s.fail(w, r, err)
			return
		}
		area = track.Area{GeoJSON: gj}
		detail["fence_id"], detail["fence_name"] = f.ID, f.Name
	} else {
		detail["area"], detail["radius_m"] = req.Area, req.RadiusM
	}
	found, stats, err := s.history(r.Context()).track.AreaVisits(r.Context(), p.Scope(), area, req.From, req.To)
	if errors.Is(err, track.ErrBadArea) {
		// The database's reason speaks of its internals (an SRID, its
		// parser): it goes to the log; the client is told what to send.
		s.log.Info("api: area search: bad area", "request_id", requestID(r), "err", err)
		writeError(w, r, http.StatusBadRequest, "bad_area",
			"area: want a GeoJSON Polygon or MultiPolygon, or a Point with radius_m, in WGS 84 longitude and latitude")
		return
	}
	if err != nil {
		s.fail(w, r, err)
		return
	}
	out := make([]areaVehicleJSON, len(found))
	ids := []int64{}
	visits := 0
	for i, vv := range found {
		o := areaVehicleJSON{VehicleID: vv.VehicleID, Plate: vv.Plate, UnitID: vv.UnitID, UnitPath: vv.UnitPath,
			Visits: make([]visitJSON, len(vv.Visits))}
		for k := range vv.Visits {
			v := &vv.Visits[k]
			o.Visits[k] = visitJSON{Arrival: formatTime(v.Arrival), Departure: formatTime(v.Departure), DwellS: v.Dwell().Seconds(),
				EnteredAfter: optTime(v.EnteredAfter), LeftBefore: optTime(v.LeftBefore), Points: v.Points, HasGap: v.HasGap}
			o.TotalDwellS += v.Dwell().Seconds()
		}
		visits += len(vv.Visits)
		if len(ids) < areaAuditVehicles {
			ids = append(ids, vv.VehicleID)
		}
		out[i] = o
	}
	detail["vehicles"], detail["vehicle_count"], detail["visits"] = ids, len(found), visits
	if err := s.auditFirst(r, Entry{Action: "area.search", SubjectUnitID: p.UnitID, From: req.From, To: req.To, Reason: req.Reason,
		Detail: detail}); err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"from": formatTime(req.From), "to": formatTime(req.To), "items": out,
		"total": len(out), "visits": visits,
		"stats": map[string]int{"candidate_hours": stats.CandidateHours, "ranges": stats.Ranges, "points_read": stats.PointsRead}})
}
