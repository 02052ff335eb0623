package api

import (
	"crypto/sha256"
	_ "embed"
	"encoding/base64"
	"fmt"
	"html/template"
	"net/http"
	"strconv"

	"github.com/xuri/excelize/v2"

	"fleetmon/alerts"
)

// The statistics as an office files them: an XLSX workbook (a sheet of
// rows, a sheet of the vehicles not used) and a printable HTML page.

// statsColumn is one column of the exported table: its Chinese heading
// and its cell.
type statsColumn struct {
	Head string
	Cell func(r *statsRow) any
}

func statsColumns(rep *statsReport) []statsColumn {
	cols := []statsColumn{{"单位", func(r *statsRow) any { return r.Unit }}}
	if rep.By == "vehicle" {
		cols = append(cols, statsColumn{"车牌", func(r *statsRow) any { return r.Plate }})
	} else {
		cols = append(cols, statsColumn{"车辆数", func(r *statsRow) any { return r.Vehicles }},
			statsColumn{"未使用车辆", func(r *statsRow) any { return r.UnusedVehicles }})
	}
	cols = append(cols,
		statsColumn{"出车次数", func(r *statsRow) any { return r.Trips }},
		statsColumn{"行驶里程(km,轨迹)", func(r *statsRow) any { return r.DistanceKm }},
		statsColumn{"行驶里程(km,里程表)", func(r *statsRow) any {
			if r.OdometerKm == nil {
				return ""
			}
			return *r.OdometerKm
		}},
		statsColumn{"行驶时长(h)", func(r *statsRow) any { return r.DrivingH }},
		statsColumn{"使用天数", func(r *statsRow) any { return r.DaysUsed }},
		statsColumn{"工作日", func(r *statsRow) any { return r.WorkingDays }},
		statsColumn{"工作日使用天数", func(r *statsRow) any { return r.UsedWorkingDays }},
		statsColumn{"非工作时间出车", func(r *statsRow) any { return r.AfterHoursTrips }},
		statsColumn{"节假日出车", func(r *statsRow) any { return r.HolidayTrips }})
	for _, id := range rep.Rules {
		cols = append(cols, statsColumn{"告警:" + alerts.RuleID(id).Name(), func(r *statsRow) any { return r.Alerts[id] }})
	}
	for _, v := range verificationStates {
		cols = append(cols, statsColumn{"核实:" + v.Zh, func(r *statsRow) any { return r.Verification[v.ID] }})
	}
	return cols
}

// statsTitle is the report's title line.
func statsTitle(rep *statsReport) string {
	unit := rep.Unit
	if unit == "" {
		unit = "全部单位"
	}
	return fmt.Sprintf("公务用车使用统计 %s（%s 至 %s）%s", rep.Period, rep.From, rep.To, unit)
}

// xlsxCell is v as a cell value: text that a spreadsheet would take for a
// formula is neutralised as in the CSV exports (csvCell), although excelize
// writes strings as text, so that a cell copied out or re-saved as CSV
// stays inert.
func xlsxCell(v any) any {
	if s, ok := v.(string); ok {
		return csvCell(s)
	}
	return v
}

func (s *Server) writeStatsXLSX(w http.ResponseWriter, r *http.Request, rep statsReport) {
	x := excelize.NewFile()
	defer x.Close()
	const sheet, unusedSheet, tipSheet = "统计", "未使用车辆", "举报"
	if err := x.SetSheetName("Sheet1", sheet); err != nil {
		s.fail(w, r, fmt.Errorf("stats workbook: %w", err))
		return
	}
	cols := statsColumns(&rep)
	rows := [][]any{{statsTitle(&rep)}, nil}
	for _, c := range cols {
		rows[1] = append(rows[1], c.Head)
	}
	total := statsRow{Unit: "合计", statsFigures: rep.Total}
	for _, row := range append(rep.Rows, total) {
		var cells []any
		for _, c := range cols {
			cells = append(cells, xlsxCell(c.Cell(&row)))
		}
		rows = append(rows, cells)
	}
	unused := [][]any{{"车牌", "单位"}}
	for _, v := range rep.Unused {
		unused = append(unused, []any{xlsxCell(v.Plate), xlsxCell(v.Unit)})
	}
	for _, name := range []string{unusedSheet, tipSheet} {
		if _, err := x.NewSheet(name); err != nil {
			s.fail(w, r, fmt.Errorf("stats workbook: %w", err))
			return
		}
	}
	for _, sh := range []struct {
		name string
		rows [][]any
	}{{sheet, rows}, {unusedSheet, unused}, {tipSheet, tipSheetRows(rep.Tips)}} {
		for i, row := range sh.rows {
			cell, _ := excelize.CoordinatesToCellName(1, i+1)
			if err := x.SetSheetRow(sh.name, cell, &row); err != nil {
				s.fail(w, r, fmt.Errorf("stats workbook: row %d: %w", i+1, err))
				return
			}
		}
	}
	w.Header().Set("Content-Type", "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet")
	w.Header().Set("Content-Disposition", fmt.Sprintf(`attachment; filename="stats-%s-%s.xlsx"`, rep.Period, rep.By))
	if _, err := x.WriteTo(w); err != nil {
		s.log.Warn("stats report: write xlsx", "err", err)
	}
}

//go:embed stats_print.css
var statsPrintCSS string

// statsCSP allows the printable page its own style sheet and nothing
// else: it is a document to print or save, with no script.
var statsCSP = func() string {
	sum := sha256.Sum256([]byte(statsPrintCSS))
	return "default-src 'none'; style-src 'sha256-" + base64.StdEncoding.EncodeToString(sum[:]) + "'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'"
}()

var statsPage = template.Must(template.New("stats").Parse(`<!doctype html>
<html lang="zh-CN"><head><meta charset="utf-8"><title>{{.Title}}</title><style>{{.CSS}}</style></head>
<body><h1>{{.Title}}</h1>
<p class="meta">生成时间 {{.Rep.Generated}}{{if .Rep.PendingDays}}；尚有 {{.Rep.PendingDays}} 个车辆日的数据待统计{{end}}</p>
<table><thead><tr>{{range .Head}}<th>{{.}}</th>{{end}}</tr></thead>
<tbody>{{range .Rows}}<tr>{{range .}}<td>{{.}}</td>{{end}}</tr>{{end}}</tbody>
<tfoot><tr>{{range .Total}}<td>{{.}}</td>{{end}}</tr></tfoot></table>
<h2>未使用车辆（{{len .Rep.Unused}}）</h2>
{{if .Rep.Unused}}<table class="unused"><thead><tr><th>车牌</th><th>单位</th></tr></thead><tbody>
{{range .Rep.Unused}}<tr><td>{{.Plate}}</td><td>{{.Unit}}</td></tr>{{end}}</tbody></table>{{else}}<p>无</p>{{end}}
{{with .Rep.Tips}}<h2>举报（{{.Total.Received}}）</h2>
<table class="tips"><thead><tr><th>单位</th><th>受理</th><th>未办结</th><th>逾期</th><th>属实</th><th>不属实</th><th>已办结</th></tr></thead><tbody>
{{range .Rows}}<tr><td>{{.Unit}}</td><td>{{.Received}}</td><td>{{.Open}}</td><td>{{.Overdue}}</td><td>{{.Substantiated}}</td><td>{{.Unsubstantiated}}</td><td>{{.Closed}}</td></tr>{{end}}</tbody></table>{{end}}
<p class="sign">填报单位（盖章）：　　　　　　填报人：　　　　　　审核人：　　　　　　日期：</p>
</body></html>
`))

func (s *Server) writeStatsHTML(w http.ResponseWriter, r *http.Request, rep statsReport) {
	cols := statsColumns(&rep)
	text := func(row *statsRow) []string {
		out := make([]string, len(cols))
		for i, c := range cols {
			switch v := c.Cell(row).(type) {
			case float64:
				out[i] = strconv.FormatFloat(v, 'f', 2, 64)
			default:
				out[i] = fmt.Sprint(v)
			}
		}
		return out
	}
	data := struct {
		Title string
		CSS   template.CSS
		Head  []string
		Rows  [][]string
		Total []string
		Rep   statsReport
	}{Title: statsTitle(&rep), CSS: template.CSS(statsPrintCSS), Rep: rep}
	for _, c := range cols {
		data.Head = append(data.Head, c.Head)
	}
	for i := range rep.Rows {
		data.Rows = append(data.Rows, text(&rep.Rows[i]))
	}
	data.Total = text(&statsRow{Unit: "合计", statsFigures: rep.Total})
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Content-Security-Policy", statsCSP)
	if err := statsPage.Execute(w, data); err != nil {
		s.log.Warn("stats report: write html", "err", err)
	}
}
