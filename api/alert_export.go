package api

import (
	"fmt"
	"math"
	"net/http"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/xuri/excelize/v2"
)

// The alert list as a spreadsheet (XLSX), for the reports inspectors file:
// the rows the page's filters select, in the client's language, with the
// place, the times in Beijing time, the duration as people write it, and
// the verdict. Every text cell goes through csvCell: a plate or fence name
// typed as =HYPERLINK(...) stays text in Excel and WPS, as in the CSVs.

// maxExportAlerts bounds one export; more is refused, so that a file never
// holds only part of what the filters said.
const maxExportAlerts = 20000

// exportPage is how many alerts are read (and looked up) at a time.
const exportPage = 500

// exportAlerts serves GET /api/v1/alerts/export (?format=xlsx, the
// default and only format) with the list's filters. Alerts carry places:
// the export is audited before it is sent, and inspectors give ?reason=.
func (s *Server) exportAlerts(w http.ResponseWriter, r *http.Request) {
	p := principal(r)
	if f := r.URL.Query().Get("format"); f != "" && f != "xlsx" {
		writeError(w, r, http.StatusBadRequest, "bad_request", "format: want xlsx")
		return
	}
	eq, ok := s.alertQuery(w, r)
	if !ok {
		return
	}
	reason := strings.TrimSpace(r.URL.Query().Get("reason"))
	if utf8.RuneCountInString(reason) > maxReason {
		writeError(w, r, http.StatusBadRequest, "bad_request", "reason: at most 500 characters")
		return
	}
	if reason == "" && p.Role == RoleInspector {
		writeError(w, r, http.StatusBadRequest, "reason_required", "give the reason for exporting these alerts in ?reason=")
		return
	}
	eq.Limit = exportPage
	var rows []alertJSON
	for {
		eps, total, err := s.alerts.ListEpisodes(r.Context(), eq)
		if err != nil {
			s.fail(w, r, err)
			return
		}
		if total > maxExportAlerts {
			writeError(w, r, http.StatusBadRequest, "too_many_alerts", fmt.Sprintf("more than %d alerts: narrow the filters", maxExportAlerts))
			return
		}
		items, err := s.alertsJSON(r.Context(), eps)
		if err != nil {
			s.fail(w, r, err)
			return
		}
		rows = append(rows, items...)
		if len(eps) < exportPage || len(rows) >= total {
			break
		}
		eq.Offset += exportPage
	}
	q := r.URL.Query()
	filters := map[string]any{}
	for _, k := range []string{"unit", "vehicle", "rule", "state", "verification", "from", "to"} {
		if v := q.Get(k); v != "" {
			filters[k] = v
		}
	}
	// One entry per vehicle, so that the audit log answers "who exported
	// this vehicle's alerts" by vehicle as it does for tracks.
	var entries []Entry
	at := map[int64]int{}
	for _, a := range rows {
		i, ok := at[a.Vehicle.ID]
		if !ok {
			i = len(entries)
			at[a.Vehicle.ID] = i
			entries = append(entries, Entry{Action: "alert.export", VehicleID: a.Vehicle.ID, SubjectUnitID: a.UnitID, From: eq.From, To: eq.To,
				Reason: reason, Detail: map[string]any{"format": "xlsx", "alerts": 0, "total": len(rows), "filters": filters}})
		}
		entries[i].Detail["alerts"] = entries[i].Detail["alerts"].(int) + 1
	}
	if len(entries) == 0 {
		entries = append(entries, Entry{Action: "alert.export", SubjectUnitID: eq.Scope.Root, From: eq.From, To: eq.To,
			Reason: reason, Detail: map[string]any{"format": "xlsx", "alerts": 0, "total": 0, "filters": filters}})
	}
	if err := s.auditFirst(r, entries...); err != nil {
		s.fail(w, r, err)
		return
	}
	book, err := alertsWorkbook(rows, wantsChinese(r))
	if err != nil {
		s.fail(w, r, err)
		return
	}
	defer book.Close()
	w.Header().Set("Content-Type", "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet")
	w.Header().Set("Content-Disposition", fmt.Sprintf(`attachment; filename="alerts-%s.xlsx"`, s.cfg.Now().In(cst).Format("20060102-150405")))
	if err := book.Write(w); err != nil {
		s.log.Warn("alert export: write xlsx", "request_id", requestID(r), "err", err)
	}
}

// alertColumns are the export's columns: Chinese and English headings.
var alertColumns = [][2]string{
	{"告警编号", "Alert"}, {"车牌", "Plate"}, {"规则", "Rule"}, {"开始", "Start"}, {"结束", "End"}, {"持续", "Duration"},
	{"地点", "Place"}, {"里程(km)", "Distance (km)"}, {"最高速度(km/h)", "Max speed (km/h)"}, {"限速(km/h)", "Limit (km/h)"},
	{"核查状态", "Verification"}, {"派车单", "Approval"}, {"工作日历", "Calendar"}, {"说明", "Detail"},
}

// verificationStates are the verification outcomes in the order reports list
// them, with their Chinese and English names (those of the alerts page).
var verificationStates = []struct{ ID, Zh, En string }{
	{"open", "待核查", "open"}, {"explanation_requested", "待说明", "explanation requested"},
	{"confirmed", "已认定违规", "confirmed"}, {"dismissed", "已排除", "dismissed"},
}

// verificationName is state's name in Chinese (zh) or English; an unknown
// state is shown as it is.
func verificationName(state string, zh bool) string {
	for _, v := range verificationStates {
		if v.ID == state {
			if zh {
				return v.Zh
			}
			return v.En
		}
	}
	return state
}

// alertsWorkbook lays rows out on one sheet.
func alertsWorkbook(rows []alertJSON, zh bool) (*excelize.File, error) {
	lang := 1
	if zh {
		lang = 0
	}
	book := excelize.NewFile()
	sheet := "告警"
	if !zh {
		sheet = "Alerts"
	}
	if err := book.SetSheetName("Sheet1", sheet); err != nil {
		return nil, fmt.Errorf("alert export: %w", err)
	}
	sw, err := book.NewStreamWriter(sheet)
	if err != nil {
		return nil, fmt.Errorf("alert export: %w", err)
	}
	head := make([]any, len(alertColumns))
	for i, c := range alertColumns {
		head[i] = c[lang]
	}
	if err := sw.SetRow("A1", head); err != nil {
		return nil, fmt.Errorf("alert export: %w", err)
	}
	for i, a := range rows {
		var limit any = ""
		if a.SpeedLimitKmh > 0 {
			limit = float64(a.SpeedLimitKmh)
		}
		approval := ""
		if a.Approval != nil {
			approval = fmt.Sprintf("#%d %s–%s %s", a.Approval.ID, localTime(a.Approval.Start), localTime(a.Approval.End), a.Approval.Purpose)
		} else if a.ApprovalID != 0 {
			approval = "#" + strconv.FormatInt(a.ApprovalID, 10)
		}
		detail := a.Detail
		if zh && a.DetailZh != "" {
			detail = a.DetailZh
		}
		text := func(s string) string { return csvCell(s) }
		row := []any{text(a.ID), text(a.Vehicle.Plate), text(ruleLabel(a, zh)), localTime(a.Start), localTime(a.End),
			humanDuration(a.DurationS, zh), text(alertPlace(a)), math.Round(a.DistanceM/100) / 10, float64(a.MaxSpeedKmh), limit,
			verificationName(a.Verification, zh), text(approval), text(calendarLabel(a, zh)), text(detail)}
		cell, _ := excelize.CoordinatesToCellName(1, i+2)
		if err := sw.SetRow(cell, row); err != nil {
			return nil, fmt.Errorf("alert export: row %d: %w", i+2, err)
		}
	}
	if err := sw.Flush(); err != nil {
		return nil, fmt.Errorf("alert export: %w", err)
	}
	return book, nil
}

func ruleLabel(a alertJSON, zh bool) string {
	if zh && a.Rule.Name != "" {
		return a.Rule.Name
	}
	return a.Rule.ID
}

// alertPlace is where an alert started: its fence's name, or coordinates.
func alertPlace(a alertJSON) string {
	if a.FenceName != "" {
		return a.FenceName
	}
	return fmt.Sprintf("%.5f, %.5f", a.StartPlace.Lat, a.StartPlace.Lon)
}

func calendarLabel(a alertJSON, zh bool) string {
	c := a.Calendar
	switch {
	case c == nil:
		return a.CalendarVersion
	case c.Default && zh:
		return fmt.Sprintf("默认日历 第 %d 版", c.Revision)
	case c.Default:
		return fmt.Sprintf("default calendar, revision %d", c.Revision)
	case zh:
		return fmt.Sprintf("%s 第 %d 版", c.Unit, c.Revision)
	}
	return fmt.Sprintf("%s, revision %d", c.Unit, c.Revision)
}

// localTime shows an RFC 3339 time as Beijing wall time, "" for none.
func localTime(s string) string {
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		return ""
	}
	return t.In(cst).Format("2006-01-02 15:04:05")
}

// humanDuration writes s seconds as people do: "1小时2分0秒", "2分0秒" in
// Chinese, "1 h 2 min", "2 min", "45 s" in English; never Go's "2m0s".
func humanDuration(s float64, zh bool) string {
	if s <= 0 {
		return ""
	}
	n := int64(math.Round(s))
	h, m, sec := n/3600, n%3600/60, n%60
	if zh {
		switch {
		case h > 0:
			return fmt.Sprintf("%d小时%d分%d秒", h, m, sec)
		case m > 0:
			return fmt.Sprintf("%d分%d秒", m, sec)
		}
		return fmt.Sprintf("%d秒", sec)
	}
	var parts []string
	if h > 0 {
		parts = append(parts, fmt.Sprintf("%d h", h))
	}
	if m > 0 {
		parts = append(parts, fmt.Sprintf("%d min", m))
	}
	if sec > 0 || len(parts) == 0 {
		parts = append(parts, fmt.Sprintf("%d s", sec))
	}
	return strings.Join(parts, " ")
}
