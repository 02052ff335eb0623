package api

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"fleetmon/track"
)

// feature is one GeoJSON point of a track, reused for every row.
type feature struct {
	Type     string `json:"type"`
	Geometry struct {
		Type        string     `json:"type"`
		Coordinates [2]float64 `json:"coordinates"`
	} `json:"geometry"`
	Properties struct {
		Time     string  `json:"time"`
		SpeedKmh float32 `json:"speed_kmh"`
		Heading  int16   `json:"heading"`
		Alarm    uint32  `json:"alarm"`
		Status   uint32  `json:"status"`
		Backfill bool    `json:"backfill"`
	} `json:"properties"`
}

// maxReason bounds the reason given for a track view (characters).
const maxReason = 500

// reasonOf returns the request's ?reason=, or answers 400 when it is too
// long, or missing where one is required: of inspectors always, and of
// everyone when reasonAlways.
func reasonOf(w http.ResponseWriter, r *http.Request, reasonAlways bool) (string, bool) {
	reason := strings.TrimSpace(r.URL.Query().Get("reason"))
	if utf8.RuneCountInString(reason) > maxReason {
		writeError(w, r, http.StatusBadRequest, "bad_request", "reason: at most 500 characters")
		return "", false
	}
	if reason == "" && (principal(r).Role == RoleInspector || reasonAlways) {
		writeError(w, r, http.StatusBadRequest, "reason_required", "give the reason for viewing this history in ?reason=")
		return "", false
	}
	return reason, true
}

// trackRequest is the start of every request for a vehicle's history: the
// vehicle within the caller's jurisdiction, the period (?from=&to=), the
// reason (?reason=: required of inspectors, and of everyone when
// reasonAlways), and the audit entry for action, written before anything
// of the track is sent.
func (s *Server) trackRequest(w http.ResponseWriter, r *http.Request, action string, reasonAlways bool) (track.Vehicle, time.Time, time.Time, bool) {
	p := principal(r)
	id, ok := pathID(w, r)
	if !ok {
		return track.Vehicle{}, time.Time{}, time.Time{}, false
	}
	v, err := s.store.VehicleIn(r.Context(), p.Scope(), id)
	if err != nil {
		s.fail(w, r, err)
		return v, time.Time{}, time.Time{}, false
	}
	from, to, ok := period(w, r, true)
	if !ok {
		return v, from, to, false
	}
	reason, ok := reasonOf(w, r, reasonAlways)
	if !ok {
		return v, from, to, false
	}
	if err := s.auditFirst(r, Entry{Action: action, VehicleID: v.ID, SubjectUnitID: v.UnitID, From: from, To: to, Reason: reason,
		Detail: map[string]any{"plate": v.Plate}}); err != nil {
		s.fail(w, r, err)
		return v, from, to, false
	}
	return v, from, to, true
}

// vehicleTrack streams every stored point of a period as a GeoJSON
// FeatureCollection, after recording the view (or, with ?download=true, the
// export) in the audit log. Inspectors must give ?reason=.
func (s *Server) vehicleTrack(w http.ResponseWriter, r *http.Request) {
	export, _ := strconv.ParseBool(r.URL.Query().Get("download"))
	action := "track.view"
	if export {
		action = "track.export"
	}
	v, from, to, ok := s.trackRequest(w, r, action, false)
	if !ok {
		return
	}
	// A long period streams for longer than the server's write timeout
	// allows a normal answer; ten minutes is ample for a year of points.
	_ = http.NewResponseController(w).SetWriteDeadline(time.Now().Add(10 * time.Minute))
	w.Header().Set("Content-Type", "application/geo+json")
	if export {
		w.Header().Set("Content-Disposition", fmt.Sprintf(`attachment; filename="track-%d-%s.geojson"`, v.ID, from.In(cst).Format("20060102T150405")))
	}
	head, _ := json.Marshal(map[string]any{"vehicle_id": v.ID, "plate": v.Plate, "from": formatTime(from), "to": formatTime(to)})
	_, _ = fmt.Fprintf(w, `{"type":"FeatureCollection","properties":%s,"features":[`, head)
	enc := json.NewEncoder(w)
	var f feature
	f.Type, f.Geometry.Type = "Feature", "Point"
	_, err := s.history(r.Context()).track.Track(r.Context(), v.ID, from, to, func(pt *track.TrackPoint) error {
		if first := f.Properties.Time == ""; !first {
			if _, err := io.WriteString(w, ","); err != nil {
				return err
			}
		}
		f.Geometry.Coordinates = [2]float64{pt.Lon, pt.Lat}
		f.Properties.Time = formatTime(pt.Time)
		f.Properties.SpeedKmh, f.Properties.Heading = pt.SpeedKmh, pt.Heading
		f.Properties.Alarm, f.Properties.Status, f.Properties.Backfill = pt.Alarm, pt.Status, pt.Backfill
		return enc.Encode(&f)
	})
	if err != nil {
		// The status is sent: cut the response short so the client sees a
		// broken document, not a complete-looking partial track.
		s.log.Error("api: stream track", "request_id", requestID(r), "vehicle", v.ID, "err", err)
		panic(http.ErrAbortHandler)
	}
	_, _ = io.WriteString(w, "]}\n")
}
