package api

import (
	"bufio"
	"context"
	"encoding/json"
	"encoding/xml"
	"fmt"
	"html/template"
	"io"
	"math"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"fleetmon/alerts"
	"fleetmon/track"
)

// historyRoutes registers the replay, evidence and area search endpoints.
func (s *Server) historyRoutes(p routeRecorder) {
	p.HandleFunc("GET /api/v1/vehicles/{id}/replay", s.onHistory(s.replay))
	p.HandleFunc("GET /api/v1/replay", s.onHistory(s.replayMany))
	p.HandleFunc("GET /api/v1/vehicles/{id}/export", s.onHistory(s.export))
	p.HandleFunc("POST "+verifyPath, s.verifyEvidence)
	p.HandleFunc("POST /api/v1/area-search", s.onHistory(s.areaSearch))
}

// verifyPath is the evidence verification endpoint (verify.go).
const verifyPath = "/api/v1/evidence/verify"

const (
	// replayMaxPoints bounds the points a replay loads (a month at 10 s is
	// about 260,000); longer periods are refused rather than slow.
	replayMaxPoints = 2_000_000
	// replayDisplayPoints is the default display budget.
	replayDisplayPoints = 2000
)

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

// appendExportRow appends one position as the row format writes it: one
// line per position in every row format, so that verifying a file can
// compare it line by line with the stored rows (verify.go). first is true
// for the first row (GeoJSON separates features with commas).
func appendExportRow(buf []byte, format string, e *track.ExportRow, first bool) []byte {
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
	case "geojson":
		if !first {
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
		buf = append(buf, "}}"...)
	case "gpx":
		buf = append(buf, `<trkpt lat="`...)
		buf = strconv.AppendFloat(buf, e.Lat, 'f', -1, 64)
		buf = append(buf, `" lon="`...)
		buf = strconv.AppendFloat(buf, e.Lon, 'f', -1, 64)
		buf = append(buf, `"><ele>`...)
		buf = strconv.AppendInt(buf, e.AltitudeM, 10)
		buf = append(buf, `</ele><time>`...)
		buf = e.DeviceTime.UTC().AppendFormat(buf, time.RFC3339)
		buf = append(buf, "</time></trkpt>"...)
	case "kml":
		buf = strconv.AppendFloat(buf, e.Lon, 'f', -1, 64)
		buf = append(buf, ',')
		buf = strconv.AppendFloat(buf, e.Lat, 'f', -1, 64)
		buf = append(buf, ',')
		buf = strconv.AppendInt(buf, e.AltitudeM, 10)
	}
	return append(buf, '\n')
}

// periodAlerts returns the alerts on a vehicle's period (retracted ones
// left out), oldest first.
func (s *Server) periodAlerts(ctx context.Context, vehicleID int64, from, to time.Time) ([]alertJSON, error) {
	eps, _, err := s.history(ctx).alerts.ListEpisodes(ctx, alerts.EpisodeQuery{Scope: track.All, VehicleID: vehicleID, From: from, To: to})
	if err != nil {
		return nil, err
	}
	slices.Reverse(eps)
	return s.alertsJSON(ctx, eps)
}

// alertLine is one alert as a line of text (CSV comments, descriptions).
func alertLine(a *alertJSON) string {
	line := a.Rule.Name + " (" + a.Rule.ID + ") " + a.Start
	if a.End != "" {
		line += " – " + a.End
	}
	line += ", " + a.Status
	if a.Verification != "" {
		line += ", " + a.Verification
	}
	if a.Detail != "" {
		line += ": " + a.Detail
	}
	return line
}

// exportStream writes the row formats: head (with the period's alerts
// where the format has a place for them), one line per position as it is
// read, and the manifest at the end (it covers exactly these rows). The
// alerts are the rules engine's verdicts at the time of the export; the
// manifest covers the positions only. notes, in CSV only, are comment
// lines written before the alerts (a tip's case: tips_export.go).
func (s *Server) exportStream(r *http.Request, w *bufio.Writer, format string, v track.Vehicle, from, to time.Time, by, reason string, at time.Time, notes ...string) error {
	als, err := s.periodAlerts(r.Context(), v.ID, from, to)
	if err != nil {
		return err
	}
	var buf []byte
	n := 0
	switch format {
	case "csv":
		w.WriteString("\ufeff" + csvHeader + "\n")
	case "geojson":
		head, _ := json.Marshal(map[string]any{"vehicle_id": v.ID, "plate": v.Plate, "from": formatTime(from), "to": formatTime(to)})
		fmt.Fprintf(w, `{"type":"FeatureCollection","properties":%s,"features":[`+"\n", head)
	case "gpx":
		w.WriteString(xml.Header + `<gpx version="1.1" creator="fleetmon" xmlns="http://www.topografix.com/GPX/1/1">` + "\n")
		for i := range als { // GPX 1.1: waypoints come before tracks
			a := &als[i]
			fmt.Fprintf(w, `<wpt lat="%s" lon="%s"><time>%s</time><name>`, ftoa(a.StartPlace.Lat), ftoa(a.StartPlace.Lon), a.Start)
			xml.EscapeText(w, []byte(a.Rule.Name))
			w.WriteString("</name><desc>")
			xml.EscapeText(w, []byte(alertLine(a)))
			w.WriteString("</desc><type>alert</type></wpt>\n")
		}
		w.WriteString("<trk><name>")
		xml.EscapeText(w, []byte(v.Plate))
		w.WriteString("</name><trkseg>\n")
	case "kml":
		w.WriteString(xml.Header + `<kml xmlns="http://www.opengis.net/kml/2.2"><Document><name>`)
		xml.EscapeText(w, []byte(v.Plate))
		w.WriteString("</name>\n")
		for i := range als {
			a := &als[i]
			w.WriteString("<Placemark><name>")
			xml.EscapeText(w, []byte(a.Rule.Name))
			w.WriteString("</name><description>")
			xml.EscapeText(w, []byte(alertLine(a)))
			fmt.Fprintf(w, "</description><Point><coordinates>%s,%s</coordinates></Point></Placemark>\n", ftoa(a.StartPlace.Lon), ftoa(a.StartPlace.Lat))
		}
		w.WriteString("<Placemark><name>")
		xml.EscapeText(w, []byte(v.Plate+" "+from.In(cst).Format("2006-01-02 15:04")+" – "+to.In(cst).Format("2006-01-02 15:04")))
		w.WriteString("</name><LineString><tessellate>1</tessellate><coordinates>\n")
	}
	m, err := s.history(r.Context()).track.Export(r.Context(), v.ID, v.Plate, from, to, by, reason, at, func(e *track.ExportRow) error {
		buf = appendExportRow(buf[:0], format, e, n == 0)
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
		// Each alert is one cell of one line, quoted where it holds a
		// comma, so that a spreadsheet splits none of its text into a
		// cell of its own (which could start a formula); verifying
		// skips these lines as comments.
		cw := newCSVWriter(w)
		for _, n := range notes {
			_ = cw.Write([]string{"# " + n})
		}
		for i := range als {
			_ = cw.Write([]string{"# alert: " + strings.NewReplacer("\r", " ", "\n", " ").Replace(alertLine(&als[i]))})
		}
		cw.Flush()
		if err := cw.Error(); err != nil {
			return err
		}
		fmt.Fprintf(w, "# %s\n", line)
	case "geojson":
		b, _ := json.Marshal(m)
		a, _ := json.Marshal(als)
		fmt.Fprintf(w, "],\n"+`"fleetmon_alerts":%s,`+"\n"+`"fleetmon_evidence":%s}`+"\n", a, b)
	case "gpx":
		fmt.Fprintf(w, "</trkseg></trk></gpx>\n<!-- %s -->\n", line)
	case "kml":
		fmt.Fprintf(w, "</coordinates></LineString></Placemark></Document></kml>\n<!-- %s -->\n", line)
	}
	return nil
}

func ftoa(f float64) string { return strconv.FormatFloat(f, 'f', -1, 64) }

// exportHTML writes the printable evidence report: the map of the track
// (an SVG drawn from the positions, needing no tile server), its trips
// with their approvals, stops with their geofences, gaps and alerts, who
// exported it, when and why, and the manifest.
func (s *Server) exportHTML(r *http.Request, w io.Writer, v track.Vehicle, from, to time.Time, by, reason string, at time.Time) error {
	h := &periodHistory{V: v, From: from, To: to}
	m, err := s.history(r.Context()).track.Export(r.Context(), v.ID, v.Plate, from, to, by, reason, at, func(e *track.ExportRow) error {
		if len(h.Pts) >= replayMaxPoints {
			return errTooLong
		}
		tp := track.TrackPoint{Time: e.DeviceTime, Lat: e.Lat, Lon: e.Lon, SpeedKmh: float32(e.SpeedKmh),
			Heading: int16(e.Heading), Alarm: uint32(e.Alarm), Status: uint32(e.Status), Backfill: e.Backfill}
		if e.MileageKm != nil {
			tp.MileageKm, tp.HasMileage = *e.MileageKm, true
		}
		h.Pts = append(h.Pts, tp)
		return nil
	})
	if err != nil {
		return err
	}
	if err := s.enrichHistory(r.Context(), h); err != nil {
		return err
	}
	line, err := m.TextLine()
	if err != nil {
		return err
	}
	rd := reportData{V: v, From: from.In(cst), To: to.In(cst), By: by, Reason: reason,
		At: at.In(cst), M: m, H: h.json(2), Points: len(h.Pts), Path: svgPath(h.Pts, track.Simplify(h.Pts, 3000, 2, h.A.Gaps)),
		Manifest: template.HTML("<!-- " + line + " -->")}
	return reportTemplate.Execute(w, rd)
}

type reportData struct {
	V        track.Vehicle
	From, To time.Time
	By       string
	Reason   string
	At       time.Time
	M        *track.Manifest
	H        replayJSON
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
	"t": func(s string) string {
		t, err := time.Parse(time.RFC3339Nano, s)
		if err != nil {
			return s
		}
		return t.In(cst).Format("2006-01-02 15:04:05")
	},
	"tt":  func(t time.Time) string { return t.In(cst).Format("2006-01-02 15:04:05") },
	"km":  func(m float64) string { return strconv.FormatFloat(m/1000, 'f', 2, 64) },
	"dur": durationZh,
	"approved": func(s string) string {
		return map[string]string{"full": "有 covered", "partial": "部分 partly", "none": "无 none"}[s]
	},
}).Parse(`<!DOCTYPE html>
<html lang="zh-CN"><head><meta charset="utf-8"><title>轨迹证据报告 {{.V.Plate}}</title>
<style>body{font-family:sans-serif;margin:2em}table{border-collapse:collapse;margin:1em 0}td,th{border:1px solid #999;padding:.2em .6em;font-size:90%}
svg{border:1px solid #999;background:#fafafa}@media print{body{margin:0}}</style></head><body>
<h1>车辆轨迹证据报告 Vehicle track evidence report</h1>
<table>
<tr><th>车牌 Plate</th><td>{{.V.Plate}}</td><th>单位 Unit</th><td>{{.V.UnitPath}}</td></tr>
<tr><th>时段 Period</th><td colspan="3">{{tt .From}} – {{tt .To}} (北京时间 GMT+8)</td></tr>
<tr><th>导出人 Exported by</th><td>{{.By}}</td><th>导出时间 Exported at</th><td>{{tt .At}}</td></tr>
<tr><th>事由 Reason</th><td colspan="3">{{.Reason}}</td></tr>
<tr><th>定位点 Positions</th><td>{{.Points}} (补传 back-filled: {{.H.BackfillPoints}})</td><th>里程 Distance</th><td>{{km .H.DistanceM}} km</td></tr>
<tr><th>摘要 Digest (SHA-256)</th><td colspan="3"><code>{{.M.Digest}}</code></td></tr>
</table>
<svg width="800" height="500" viewBox="0 0 800 500" role="img" aria-label="track">{{.Path}}</svg>
<h2>告警 Alerts</h2>
<table><tr><th>规则 Rule</th><th>开始 Start</th><th>结束 End</th><th>状态 Status</th><th>核查 Verification</th><th>说明 Detail</th></tr>
{{range .H.Alerts}}<tr><td>{{.Rule.Name}}</td><td>{{t .Start}}</td><td>{{if .End}}{{t .End}}{{else}}进行中 open{{end}}</td><td>{{.Status}}</td><td>{{.Verification}}</td><td>{{.Detail}}</td></tr>
{{else}}<tr><td colspan="6">无 none</td></tr>{{end}}</table>
<h2>行程 Trips</h2>
<table><tr><th>开始 Start</th><th>结束 End</th><th>里程 km</th><th>时长</th><th>最高 km/h</th><th>平均 km/h</th><th>派车单 Approval</th></tr>
{{range .H.Trips}}<tr><td>{{t .Start}}</td><td>{{t .End}}</td><td>{{km .DistanceM}}</td><td>{{dur .DurationS}}</td><td>{{.MaxSpeedKmh}}</td><td>{{printf "%.1f" .AvgSpeedKmh}}</td><td>{{approved .Approved}}{{range .Approvals}} #{{.ID}} {{.Driver}} {{.Purpose}}{{end}}</td></tr>
{{else}}<tr><td colspan="7">无 none</td></tr>{{end}}</table>
<p>里程自停车处起沿定位点计；平均速度为里程除以所用时间（自起步至行程结束）；最高速度为定位点上报的最高值。
Distance is along the positions from where the vehicle stood; the average speed is that distance over the time it took (from setting off to the trip's end); the maximum is the highest speed a position reported.</p>
<h2>停留 Stops</h2>
<table><tr><th>开始 From</th><th>结束 To</th><th>时长</th><th>位置 Position</th><th>所在围栏 Geofences</th></tr>
{{range .H.Stops}}<tr><td>{{t .From}}</td><td>{{t .To}}</td><td>{{dur .DurationS}}</td><td>{{printf "%.6f, %.6f" .Lat .Lon}}</td><td>{{range .Fences}}{{.Name}} ({{.Kind}}) {{end}}</td></tr>
{{else}}<tr><td colspan="5">无 none</td></tr>{{end}}</table>
<h2>数据中断 Gaps in the data</h2>
<table><tr><th>从 From</th><th>到 To</th><th>时长</th></tr>
{{range .H.Gaps}}<tr><td>{{t .From}}</td><td>{{t .To}}</td><td>{{dur .DurationS}}</td></tr>{{else}}<tr><td colspan="3">无 none</td></tr>{{end}}</table>
<p>告警为导出时规则引擎的结论；摘要只覆盖定位数据。Alerts are the rules engine's verdicts at the time of the export; the digest covers the positions.</p>
<p>本报告所含每个定位点的摘要记录于文件内，可用 <code>fleetd verify</code> 或 <code>POST /api/v1/evidence/verify</code> 核验是否与平台存储一致。
Every position's digest is recorded in this file; <code>fleetd verify FILE</code> (or the verify API) checks it against the platform's records.</p>
{{.Manifest}}
</body></html>
`))
