package api

import (
	"context"
	"errors"
	"fmt"
	"math"
	"net/http"
	"net/url"
	"strconv"

	"fleetmon/track"
)

// What fleetmon answers a tip with, at once and from its own data: was
// the car named (or, the plate unsure, any official car of the tip's
// unit) inside the place alleged during the time alleged (the area
// search of area.go), and what its track and alerts show around that
// time (tipWindow either side).

// tipWindow widens the time alleged for the track and the alerts shown
// beside the visits: the drive there and back belongs to the answer.
const tipWindow = 2 * 3600e9

// tipAnswerVehicles bounds the cars an unsure plate's answer details
// (each with its track and alerts); all are counted.
const tipAnswerVehicles = 20

// tipTrackPoints bounds the positions read for a car's track summary: a
// window of a week and 4 hours at 10 s is about 62,000.
const tipTrackPoints = 100_000

type tipTrackJSON struct {
	Points      int     `json:"points"`
	First       string  `json:"first,omitempty"`
	Last        string  `json:"last,omitempty"`
	DistanceKm  float64 `json:"distance_km"`
	MaxSpeedKmh float32 `json:"max_speed_kmh"`
}

type tipVehicleJSON struct {
	VehicleID   int64        `json:"vehicle_id"`
	Plate       string       `json:"plate"`
	UnitID      int64        `json:"unit_id"`
	Unit        string       `json:"unit"`
	Named       bool         `json:"named"`
	Visits      []visitJSON  `json:"visits"`
	TotalDwellS float64      `json:"total_dwell_s"`
	Track       tipTrackJSON `json:"track"`
	Alerts      []alertJSON  `json:"alerts"`
	ReplayURL   string       `json:"replay_url"`
}

type tipAnswerJSON struct {
	TipID      int64  `json:"tip_id"`
	From       string `json:"from"`
	To         string `json:"to"`
	WindowFrom string `json:"window_from"`
	WindowTo   string `json:"window_to"`
	// Searched says whether the place was searched ("area": drawn or a
	// fence) or could not be ("address": only an address was given; the
	// named car's track and alerts are shown all the same).
	Searched string `json:"searched"`
	// There: the car named, or some car, reported from inside the place
	// during the time alleged.
	There         bool             `json:"there"`
	VehiclesFound int              `json:"vehicles_found"`
	Vehicles      []tipVehicleJSON `json:"vehicles"`
}

// tipAnswer serves GET /api/v1/tips/{id}/answer: computed afresh from the
// stored tracks (a late back-fill changes it), audited as a search before
// it is sent.
func (s *Server) tipAnswer(w http.ResponseWriter, r *http.Request) {
	id, ok := pathID(w, r)
	if !ok {
		return
	}
	ctx := r.Context()
	t, err := s.tipIn(ctx, s.pool, principal(r).Scope(), id, false)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	ans, err := s.answerTip(ctx, &t)
	if errors.Is(err, track.ErrBadArea) {
		writeError(w, r, http.StatusConflict, "bad_area", "the tip's place cannot be searched: its fence is gone or its area is not a surface")
		return
	}
	if err != nil {
		s.fail(w, r, err)
		return
	}
	ids := make([]int64, len(ans.Vehicles))
	for i, v := range ans.Vehicles {
		ids[i] = v.VehicleID
	}
	wf, wt := t.from.Add(-tipWindow), t.to.Add(tipWindow)
	if err := s.auditFirst(r, Entry{Action: "tip.answer", VehicleID: t.VehicleID, SubjectUnitID: t.UnitID, From: wf, To: wt,
		Reason: "举报 #" + strconv.FormatInt(t.ID, 10),
		Detail: map[string]any{"tip_id": t.ID, "vehicles": ids, "vehicle_count": ans.VehiclesFound, "there": ans.There}}); err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, ans)
}

// answerTip computes the answer to t.
func (s *Server) answerTip(ctx context.Context, t *tipRow) (*tipAnswerJSON, error) {
	h := s.history(ctx)
	wf, wt := t.from.Add(-tipWindow), t.to.Add(tipWindow)
	ans := &tipAnswerJSON{TipID: t.ID, From: t.From, To: t.To, WindowFrom: formatTime(wf), WindowTo: formatTime(wt),
		Searched: "address", Vehicles: []tipVehicleJSON{}}
	area, ok, err := s.tipArea(ctx, t)
	if err != nil {
		return nil, err
	}
	var found []track.VehicleVisits
	if ok {
		ans.Searched = "area"
		found, _, err = h.track.AreaVisits(ctx, track.Scope{Root: t.UnitID}, area, t.from, t.to)
		if err != nil {
			return nil, err
		}
	}
	for _, vv := range found {
		if t.VehicleID != 0 && vv.VehicleID != t.VehicleID {
			continue
		}
		ans.There = true
		ans.VehiclesFound++
		if len(ans.Vehicles) < tipAnswerVehicles {
			o := tipVehicleJSON{VehicleID: vv.VehicleID, Plate: vv.Plate, UnitID: vv.UnitID, Unit: vv.UnitPath,
				Named: vv.VehicleID == t.VehicleID, Visits: make([]visitJSON, len(vv.Visits))}
			for k := range vv.Visits {
				v := &vv.Visits[k]
				o.Visits[k] = visitJSON{Arrival: formatTime(v.Arrival), Departure: formatTime(v.Departure), DwellS: v.Dwell().Seconds(),
					EnteredAfter: optTime(v.EnteredAfter), LeftBefore: optTime(v.LeftBefore), Points: v.Points, HasGap: v.HasGap}
				o.TotalDwellS += v.Dwell().Seconds()
			}
			ans.Vehicles = append(ans.Vehicles, o)
		}
	}
	// The car named and not found there: its track and alerts are the
	// answer (where it was instead).
	if t.VehicleID != 0 && len(ans.Vehicles) == 0 {
		v, err := s.store.VehicleIn(ctx, track.All, t.VehicleID)
		if err != nil {
			return nil, err
		}
		ans.Vehicles = append(ans.Vehicles, tipVehicleJSON{VehicleID: v.ID, Plate: v.Plate, UnitID: v.UnitID, Unit: v.UnitPath,
			Named: true, Visits: []visitJSON{}})
	}
	for i := range ans.Vehicles {
		v := &ans.Vehicles[i]
		pts, err := h.track.TrackPoints(ctx, v.VehicleID, wf, wt, tipTrackPoints)
		if err != nil && !errors.Is(err, track.ErrTooManyPoints) {
			return nil, fmt.Errorf("track of vehicle %d: %w", v.VehicleID, err)
		}
		v.Track = trackSummary(pts)
		if v.Alerts, err = s.periodAlerts(ctx, v.VehicleID, wf, wt); err != nil {
			return nil, fmt.Errorf("alerts of vehicle %d: %w", v.VehicleID, err)
		}
		v.ReplayURL = "/ui/replay.html?" + url.Values{"vehicle": {strconv.FormatInt(v.VehicleID, 10)},
			"from": {formatTime(wf)}, "to": {formatTime(wt)}}.Encode()
	}
	return ans, nil
}

// tipArea is the tip's place as an area to search: its fence's shape, or
// the area drawn; ok false when only an address was given.
func (s *Server) tipArea(ctx context.Context, t *tipRow) (track.Area, bool, error) {
	switch {
	case t.FenceID != 0:
		_, gj, err := s.alerts.FenceArea(ctx, t.FenceID)
		if errors.Is(err, track.ErrNotFound) {
			return track.Area{}, false, track.ErrBadArea
		}
		return track.Area{GeoJSON: gj}, err == nil, err
	case t.area != "":
		return track.Area{GeoJSON: t.area, BufferM: t.RadiusM}, true, nil
	}
	return track.Area{}, false, nil
}

// trackSummary sums up a track: its positions, first and last, distance
// and top speed.
func trackSummary(pts []track.TrackPoint) tipTrackJSON {
	var out tipTrackJSON
	out.Points = len(pts)
	if len(pts) == 0 {
		return out
	}
	out.First, out.Last = formatTime(pts[0].Time), formatTime(pts[len(pts)-1].Time)
	d := 0.0
	for i := range pts {
		out.MaxSpeedKmh = max(out.MaxSpeedKmh, pts[i].SpeedKmh)
		if i > 0 {
			d += track.DistanceM(pts[i-1].Lat, pts[i-1].Lon, pts[i].Lat, pts[i].Lon)
		}
	}
	out.DistanceKm = math.Round(d/10) / 100
	return out
}
