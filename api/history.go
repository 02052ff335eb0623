package api

import (
	"bufio"
	"encoding/json"
	"encoding/xml"
	"fmt"
	"html/template"
	"io"
	"math"
	"net/http"
	"strconv"
	"time"

	"fleetmon/track"
)

// historyRoutes registers the replay and evidence endpoints (issue 6).
func (s *Server) historyRoutes(p routeRecorder) {
	p.HandleFunc("GET /api/v1/vehicles/{id}/replay", s.replay)
	p.HandleFunc("GET /api/v1/vehicles/{id}/export", s.export)
}

const (
	// replayMaxPoints bounds the points a replay loads (a month at 10 s is
	// about 260,000); longer periods are refused rather than slow.
	replayMaxPoints = 2_000_000
	// replayDisplayPoints is the default display budget.
	replayDisplayPoints = 2000
)

type replayPoint struct {
	Time     string  `json:"time"`
	Lat      float64 `json:"lat"`
	Lon      float64 `json:"lon"`
	SpeedKmh float32 `json:"speed_kmh"`
	Heading  int16   `json:"heading"`
	Acc      bool    `json:"acc"`
	Alarm    uint32  `json:"alarm"`
	Backfill bool    `json:"backfill"`
}

type replayTrip struct {
	Start, End         string
	StartLat, StartLon float64
	EndLat, EndLon     float64
	DistanceM          float64
	OdometerKm         *float64
	DurationS          float64
	MaxSpeedKmh        float32
	AvgSpeedKmh        float64
	HasGap             bool
}

type replayStop struct {
	From, To  string
	Lat, Lon  float64
	DurationS float64
}

type replayGap struct {
	From, To  string
	DistanceM float64
}

// replay answers the replay page: a display track simplified to at most
// ?max_points= (default 2,000; the shape kept, gaps never bridged), the
// trips, stops and gaps of the period, and its mileage along the reports
// and from the odometer. Audited as a track view.
func (s *Server) replay(w http.ResponseWriter, r *http.Request) {
	budget := replayDisplayPoints
	if q := r.URL.Query().Get("max_points"); q != "" {
		n, err := strconv.Atoi(q)
		if err != nil || n < 2 || n > 100000 {
			writeError(w, r, http.StatusBadRequest, "bad_request", "max_points: want 2 to 100000")
			return
		}
		budget = n
	}
	v, from, to, ok := s.trackRequest(w, r, "track.view", false)
	if !ok {
		return
	}
	var pts []track.TrackPoint
	_, err := s.store.Track(r.Context(), v.ID, from, to, func(p *track.TrackPoint) error {
		if len(pts) >= replayMaxPoints {
			return errTooLong
		}
		pts = append(pts, *p)
		return nil
	})
	if err == errTooLong {
		writeError(w, r, http.StatusBadRequest, "period_too_long", "more than 2,000,000 positions: choose a shorter period")
		return
	}
	if err != nil {
		s.fail(w, r, err)
		return
	}
	a := track.Analyze(pts, track.AnalysisParams{})
	idx := track.Simplify(pts, budget, 2, a.Gaps)
	out := struct {
		VehicleID    int64         `json:"vehicle_id"`
		Plate        string        `json:"plate"`
		From         string        `json:"from"`
		To           string        `json:"to"`
		TotalPoints  int           `json:"total_points"`
		Points       []replayPoint `json:"points"`
		Trips        []replayTrip  `json:"trips"`
		Stops        []replayStop  `json:"stops"`
		Gaps         []replayGap   `json:"gaps"`
		DistanceM    float64       `json:"distance_m"`
		GapDistanceM float64       `json:"gap_distance_m"`
		OdometerKm   *float64      `json:"odometer_km"`
	}{VehicleID: v.ID, Plate: v.Plate, From: formatTime(from), To: formatTime(to), TotalPoints: len(pts),
		Points: make([]replayPoint, 0, len(idx)), Trips: []replayTrip{}, Stops: []replayStop{}, Gaps: []replayGap{},
		DistanceM: a.DistanceM, GapDistanceM: a.GapDistanceM, OdometerKm: finite(a.OdometerKm)}
	for _, i := range idx {
		p := &pts[i]
		out.Points = append(out.Points, replayPoint{Time: formatTime(p.Time), Lat: p.Lat, Lon: p.Lon, SpeedKmh: p.SpeedKmh,
			Heading: p.Heading, Acc: p.Acc(), Alarm: p.Alarm, Backfill: p.Backfill})
	}
	for _, t := range a.Trips {
		out.Trips = append(out.Trips, replayTrip{Start: formatTime(t.Start), End: formatTime(t.End), StartLat: t.StartLat,
			StartLon: t.StartLon, EndLat: t.EndLat, EndLon: t.EndLon, DistanceM: t.DistanceM, OdometerKm: finite(t.OdometerKm),
			DurationS: t.Duration().Seconds(), MaxSpeedKmh: t.MaxSpeedKmh, AvgSpeedKmh: t.AvgSpeedKmh, HasGap: t.HasGap})
	}
	for _, st := range a.Stops {
		out.Stops = append(out.Stops, replayStop{From: formatTime(st.From), To: formatTime(st.To), Lat: st.Lat, Lon: st.Lon,
			DurationS: st.Duration().Seconds()})
	}
	for _, g := range a.Gaps {
		out.Gaps = append(out.Gaps, replayGap{From: formatTime(g.From), To: formatTime(g.To), DistanceM: g.DistanceM})
	}
	writeJSON(w, http.StatusOK, out)
}

type errString string

func (e errString) Error() string { return string(e) }

const errTooLong = errString("period too long")

func finite(v float64) *float64 {
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return nil
	}
	return &v
}

// exportFormats maps ?format= to the content type and file extension.
var exportFormats = map[string][2]string{
	"csv":     {"text/csv; charset=utf-8", "csv"},
	"geojson": {"application/geo+json", "geojson"},
	"gpx":     {"application/gpx+xml", "gpx"},
	"kml":     {"application/vnd.google-earth.kml+xml", "kml"},
	"html":    {"text/html; charset=utf-8", "html"},
}

// export streams the period's positions as evidence (?format=csv, geojson,
// gpx, kml, or html for a printable report), with a manifest (who, when,
// why, and every position's digest) that `fleetd verify FILE` checks
// against the database later. A reason is required of everyone; the export
// is audited before a byte is sent.
func (s *Server) export(w http.ResponseWriter, r *http.Request) {
	format := r.URL.Query().Get("format")
	ct, ok := exportFormats[format]
	if !ok {
		writeError(w, r, http.StatusBadRequest, "bad_request", "format: want csv, geojson, gpx, kml or html")
		return
	}
	v, from, to, ok := s.trackRequest(w, r, "track.export", true)
	if !ok {
		return
	}
	p := principal(r)
	reason := r.URL.Query().Get("reason")
	at := s.cfg.Now()
	_ = http.NewResponseController(w).SetWriteDeadline(time.Now().Add(10 * time.Minute))
	w.Header().Set("Content-Type", ct[0])
	w.Header().Set("Content-Disposition", fmt.Sprintf(`attachment; filename="evidence-%d-%s.%s"`, v.ID, from.In(cst).Format("20060102T150405"), ct[1]))
	bw := bufio.NewWriterSize(w, 64<<10)
	var err error
	switch format {
	case "html":
		err = s.exportHTML(r, bw, v, from, to, p.Name, reason, at)
	default:
		err = s.exportStream(r, bw, format, v, from, to, p.Name, reason, at)
	}
	if err == nil {
		err = bw.Flush()
	}
	if err != nil {
		s.log.Error("api: export", "request_id", requestID(r), "vehicle", v.ID, "format", format, "err", err)
		panic(http.ErrAbortHandler) // a cut-off file, never a complete-looking partial one
	}
}

// exportStream writes the row formats: head, one entry per position as it
// is read, and the manifest at the end (it covers exactly these rows).
func (s *Server) exportStream(r *http.Request, w *bufio.Writer, format string, v track.Vehicle, from, to time.Time, by, reason string, at time.Time) error {
	var buf []byte
	n := 0
	switch format {
	case "csv":
		w.WriteString("\ufeffdevice_time,received_at,lat,lon,speed_kmh,heading,altitude_m,alarm,status,acc,mileage_km,backfill\n")
	case "geojson":
		head, _ := json.Marshal(map[string]any{"vehicle_id": v.ID, "plate": v.Plate, "from": formatTime(from), "to": formatTime(to)})
		fmt.Fprintf(w, `{"type":"FeatureCollection","properties":%s,"features":[`, head)
	case "gpx":
		w.WriteString(xml.Header + `<gpx version="1.1" creator="fleetmon" xmlns="http://www.topografix.com/GPX/1/1"><trk><name>`)
		xml.EscapeText(w, []byte(v.Plate))
		w.WriteString("</name><trkseg>\n")
	case "kml":
		w.WriteString(xml.Header + `<kml xmlns="http://www.opengis.net/kml/2.2"><Document><name>`)
		xml.EscapeText(w, []byte(v.Plate))
		w.WriteString("</name><Placemark><name>")
		xml.EscapeText(w, []byte(v.Plate+" "+from.In(cst).Format("2006-01-02 15:04")+" – "+to.In(cst).Format("2006-01-02 15:04")))
		w.WriteString("</name><LineString><tessellate>1</tessellate><coordinates>\n")
	}
	m, err := s.store.Export(r.Context(), v.ID, v.Plate, from, to, by, reason, at, func(e *track.ExportRow) error {
		buf = buf[:0]
		switch format {
		case "csv":
			buf = e.DeviceTime.In(cst).AppendFormat(buf, time.RFC3339)
			buf = append(buf, ',')
			buf = e.ReceivedAt.In(cst).AppendFormat(buf, time.RFC3339Nano)
			buf = append(buf, ',')
			buf = strconv.AppendFloat(buf, e.Lat, 'f', -1, 64)
			buf = append(buf, ',')
			buf = strconv.AppendFloat(buf, e.Lon, 'f', -1, 64)
			buf = append(buf, ',')
			buf = strconv.AppendFloat(buf, e.SpeedKmh, 'f', -1, 32)
			buf = append(buf, ',')
			buf = strconv.AppendInt(buf, e.Heading, 10)
			buf = append(buf, ',')
			buf = strconv.AppendInt(buf, e.AltitudeM, 10)
			buf = append(buf, ',')
			buf = strconv.AppendInt(buf, e.Alarm, 10)
			buf = append(buf, ',')
			buf = strconv.AppendInt(buf, e.Status, 10)
			buf = append(buf, ',')
			buf = strconv.AppendBool(buf, e.Status&1 != 0)
			buf = append(buf, ',')
			if e.MileageKm != nil {
				buf = strconv.AppendFloat(buf, *e.MileageKm, 'f', -1, 64)
			}
			buf = append(buf, ',')
			buf = strconv.AppendBool(buf, e.Backfill)
			buf = append(buf, '\n')
		case "geojson":
			if n > 0 {
				buf = append(buf, ',')
			}
			buf = append(buf, `{"type":"Feature","geometry":{"type":"Point","coordinates":[`...)
			buf = strconv.AppendFloat(buf, e.Lon, 'f', -1, 64)
			buf = append(buf, ',')
			buf = strconv.AppendFloat(buf, e.Lat, 'f', -1, 64)
			buf = append(buf, `]},"properties":{"time":"`...)
			buf = e.DeviceTime.In(cst).AppendFormat(buf, time.RFC3339)
			buf = append(buf, `","speed_kmh":`...)
			buf = strconv.AppendFloat(buf, e.SpeedKmh, 'f', -1, 32)
			buf = append(buf, `,"heading":`...)
			buf = strconv.AppendInt(buf, e.Heading, 10)
			buf = append(buf, `,"status":`...)
			buf = strconv.AppendInt(buf, e.Status, 10)
			buf = append(buf, `,"alarm":`...)
			buf = strconv.AppendInt(buf, e.Alarm, 10)
			buf = append(buf, `,"backfill":`...)
			buf = strconv.AppendBool(buf, e.Backfill)
			buf = append(buf, "}}\n"...)
		case "gpx":
			buf = append(buf, `<trkpt lat="`...)
			buf = strconv.AppendFloat(buf, e.Lat, 'f', -1, 64)
			buf = append(buf, `" lon="`...)
			buf = strconv.AppendFloat(buf, e.Lon, 'f', -1, 64)
			buf = append(buf, `"><ele>`...)
			buf = strconv.AppendInt(buf, e.AltitudeM, 10)
			buf = append(buf, `</ele><time>`...)
			buf = e.DeviceTime.UTC().AppendFormat(buf, time.RFC3339)
			buf = append(buf, "</time></trkpt>\n"...)
		case "kml":
			buf = strconv.AppendFloat(buf, e.Lon, 'f', -1, 64)
			buf = append(buf, ',')
			buf = strconv.AppendFloat(buf, e.Lat, 'f', -1, 64)
			buf = append(buf, ',')
			buf = strconv.AppendInt(buf, e.AltitudeM, 10)
			buf = append(buf, '\n')
		}
		n++
		_, err := w.Write(buf)
		return err
	})
	if err != nil {
		return err
	}
	line, err := m.TextLine()
	if err != nil {
		return err
	}
	switch format {
	case "csv":
		fmt.Fprintf(w, "# %s\n", line)
	case "geojson":
		b, _ := json.Marshal(m)
		fmt.Fprintf(w, `],"fleetmon_evidence":%s}`+"\n", b)
	case "gpx":
		fmt.Fprintf(w, "</trkseg></trk></gpx>\n<!-- %s -->\n", line)
	case "kml":
		fmt.Fprintf(w, "</coordinates></LineString></Placemark></Document></kml>\n<!-- %s -->\n", line)
	}
	return nil
}

// exportHTML writes the printable evidence report: the map of the track
// (an SVG drawn from the positions, needing no tile server), its trips,
// stops and gaps, who exported it, when and why, and the manifest.
func (s *Server) exportHTML(r *http.Request, w io.Writer, v track.Vehicle, from, to time.Time, by, reason string, at time.Time) error {
	var pts []track.TrackPoint
	m, err := s.store.Export(r.Context(), v.ID, v.Plate, from, to, by, reason, at, func(e *track.ExportRow) error {
		if len(pts) >= replayMaxPoints {
			return errTooLong
		}
		tp := track.TrackPoint{Time: e.DeviceTime, Lat: e.Lat, Lon: e.Lon, SpeedKmh: float32(e.SpeedKmh),
			Heading: int16(e.Heading), Alarm: uint32(e.Alarm), Status: uint32(e.Status), Backfill: e.Backfill}
		if e.MileageKm != nil {
			tp.MileageKm, tp.HasMileage = *e.MileageKm, true
		}
		pts = append(pts, tp)
		return nil
	})
	if err != nil {
		return err
	}
	a := track.Analyze(pts, track.AnalysisParams{})
	line, err := m.TextLine()
	if err != nil {
		return err
	}
	return reportTemplate.Execute(w, reportData{V: v, From: from.In(cst), To: to.In(cst), By: by, Reason: reason,
		At: at.In(cst), M: m, A: a, Points: len(pts), Path: svgPath(pts, track.Simplify(pts, 3000, 2, a.Gaps)),
		Manifest: template.HTML("<!-- " + line + " -->")})
}

type reportData struct {
	V        track.Vehicle
	From, To time.Time
	By       string
	Reason   string
	At       time.Time
	M        *track.Manifest
	A        track.Analysis
	Points   int
	Path     template.HTML
	Manifest template.HTML
}

// svgPath draws the kept points in a 800×500 box (equirectangular around
// the track's centre), a new subpath after every gap.
func svgPath(pts []track.TrackPoint, idx []int) template.HTML {
	if len(idx) == 0 {
		return ""
	}
	minLat, maxLat, minLon, maxLon := 90.0, -90.0, 180.0, -180.0
	for _, i := range idx {
		minLat, maxLat = math.Min(minLat, pts[i].Lat), math.Max(maxLat, pts[i].Lat)
		minLon, maxLon = math.Min(minLon, pts[i].Lon), math.Max(maxLon, pts[i].Lon)
	}
	kx := math.Cos((minLat + maxLat) / 2 * math.Pi / 180)
	w, h := math.Max((maxLon-minLon)*kx, 1e-6), math.Max(maxLat-minLat, 1e-6)
	scale := math.Min(780/w, 480/h)
	var b []byte
	b = append(b, `<path fill="none" stroke="#c0392b" stroke-width="2" d="`...)
	prev := -1
	for _, i := range idx {
		cmd := byte('L')
		if prev < 0 || pts[i].Time.Sub(pts[prev].Time) > 15*time.Minute {
			cmd = 'M'
		}
		x := 10 + (pts[i].Lon-minLon)*kx*scale
		y := 490 - (pts[i].Lat-minLat)*scale
		b = append(b, cmd)
		b = strconv.AppendFloat(b, x, 'f', 1, 64)
		b = append(b, ' ')
		b = strconv.AppendFloat(b, y, 'f', 1, 64)
		prev = i
	}
	b = append(b, `"/>`...)
	return template.HTML(b)
}

var reportTemplate = template.Must(template.New("report").Funcs(template.FuncMap{
	"t":   func(t time.Time) string { return t.In(cst).Format("2006-01-02 15:04:05") },
	"km":  func(m float64) string { return strconv.FormatFloat(m/1000, 'f', 2, 64) },
	"dur": func(d time.Duration) string { return d.Round(time.Minute).String() },
}).Parse(`<!DOCTYPE html>
<html lang="zh-CN"><head><meta charset="utf-8"><title>轨迹证据报告 {{.V.Plate}}</title>
<style>body{font-family:sans-serif;margin:2em}table{border-collapse:collapse;margin:1em 0}td,th{border:1px solid #999;padding:.2em .6em;font-size:90%}
svg{border:1px solid #999;background:#fafafa}@media print{body{margin:0}}</style></head><body>
<h1>车辆轨迹证据报告 Vehicle track evidence report</h1>
<table>
<tr><th>车牌 Plate</th><td>{{.V.Plate}}</td><th>单位 Unit</th><td>{{.V.UnitPath}}</td></tr>
<tr><th>时段 Period</th><td colspan="3">{{t .From}} – {{t .To}} (北京时间 GMT+8)</td></tr>
<tr><th>导出人 Exported by</th><td>{{.By}}</td><th>导出时间 Exported at</th><td>{{t .At}}</td></tr>
<tr><th>事由 Reason</th><td colspan="3">{{.Reason}}</td></tr>
<tr><th>定位点 Positions</th><td>{{.Points}}</td><th>里程 Distance</th><td>{{km .A.DistanceM}} km</td></tr>
<tr><th>摘要 Digest (SHA-256)</th><td colspan="3"><code>{{.M.Digest}}</code></td></tr>
</table>
<svg width="800" height="500" viewBox="0 0 800 500" role="img" aria-label="track">{{.Path}}</svg>
<h2>行程 Trips</h2>
<table><tr><th>开始 Start</th><th>结束 End</th><th>里程 km</th><th>时长</th><th>最高 km/h</th><th>平均 km/h</th></tr>
{{range .A.Trips}}<tr><td>{{t .Start}}</td><td>{{t .End}}</td><td>{{km .DistanceM}}</td><td>{{dur .Duration}}</td><td>{{.MaxSpeedKmh}}</td><td>{{printf "%.1f" .AvgSpeedKmh}}</td></tr>
{{else}}<tr><td colspan="6">无 none</td></tr>{{end}}</table>
<h2>停留 Stops</h2>
<table><tr><th>开始 From</th><th>结束 To</th><th>时长</th><th>位置 Position</th></tr>
{{range .A.Stops}}<tr><td>{{t .From}}</td><td>{{t .To}}</td><td>{{dur .Duration}}</td><td>{{printf "%.6f, %.6f" .Lat .Lon}}</td></tr>
{{else}}<tr><td colspan="4">无 none</td></tr>{{end}}</table>
<h2>数据中断 Gaps in the data</h2>
<table><tr><th>从 From</th><th>到 To</th></tr>
{{range .A.Gaps}}<tr><td>{{t .From}}</td><td>{{t .To}}</td></tr>{{else}}<tr><td colspan="2">无 none</td></tr>{{end}}</table>
<p>本报告所含每个定位点的摘要记录于文件内，可用 <code>fleetd verify</code> 核验是否与平台存储一致。
Every position's digest is recorded in this file; <code>fleetd verify FILE</code> checks it against the platform's records.</p>
{{.Manifest}}
</body></html>
`))
