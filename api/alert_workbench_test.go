package api

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"mime/multipart"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/xuri/excelize/v2"

	"fleetmon/alerts"
)

// explain posts an explanation (text, and a file named name unless
// content is nil) as multipart/form-data, asking for lang.
func (c *client) explain(lang, id, text, name string, content []byte) (int, string) {
	c.f.t.Helper()
	var body bytes.Buffer
	mw := multipart.NewWriter(&body)
	_ = mw.WriteField("text", text)
	if content != nil {
		fw, _ := mw.CreateFormFile("file", name)
		_, _ = fw.Write(content)
	}
	_ = mw.Close()
	req, _ := http.NewRequest("POST", c.f.ts.URL+"/api/v1/alerts/"+id+"/explanations", &body)
	req.Header.Set("Content-Type", mw.FormDataContentType())
	req.Header.Set("X-CSRF-Token", c.csrf)
	if lang != "" {
		req.Header.Set("Accept-Language", lang)
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		c.f.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// get fetches path and returns the whole answer.
func (c *client) get(path string) (*http.Response, []byte) {
	c.f.t.Helper()
	resp := c.raw("GET", path, nil)
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, b
}

// A one-page PDF's first bytes and a PNG's: the server judges by these.
var (
	scanPDF = []byte("%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF\n")
	scanPNG = append([]byte("\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR"), make([]byte, 64)...)
)

// TestAlertExplanations: an explanation is recorded only when one was
// asked for; its scan is taken for what its content is (a PDF, a PNG),
// never for its name (an HTML page named .pdf is refused), is bounded in
// size, is stored with its SHA-256 digest and served back with it, only
// within the jurisdiction; every step is in the history and the audit log.
func TestAlertExplanations(t *testing.T) {
	f, _ := alertFixture(t, nil)
	ep := f.putEpisode("ep-x", "鄂B00001", alerts.RuleAfterHours, trackDay.Add(19*time.Hour+30*time.Minute))
	hsi, wsup := f.users["hs_inspector"], f.users["wh_super"]

	// Not asked for yet: refused with a code, in either language.
	code, body := hsi.explain("zh-CN", ep.ID, "车辆送修", "", nil)
	if code != 409 || errorCode(body) != "verification_state" || errorMessage(body) != "告警当前为“待核查”，不能登记情况说明" {
		t.Fatalf("explanation before one was asked for: %d %s", code, body)
	}
	code, body = hsi.explain("en", ep.ID, "车辆送修", "", nil)
	if code != 409 || errorMessage(body) != "explain is not allowed once an alert is open" {
		t.Fatalf("in English: %d %s", code, body)
	}
	if code, body := hsi.do("POST", "/api/v1/alerts/"+ep.ID+"/verification", map[string]string{"action": "request_explanation", "reason": "请说明用途"}); code != 200 {
		t.Fatalf("request explanation: %d %s", code, body)
	}
	// Outside the jurisdiction: not found.
	if code, body := wsup.explain("", ep.ID, "x", "scan.pdf", scanPDF); code != 404 {
		t.Fatalf("武汉市 supervisor: %d %s", code, body)
	}
	// An HTML page named .pdf, a text file, an oversized scan, nothing at all.
	for _, c := range []struct {
		name    string
		content []byte
		code    int
		err     string
	}{
		{"scan.pdf", []byte("<!DOCTYPE html><html><script>alert(1)</script></html>"), 415, "attachment_type"},
		{"scan.png", []byte("just some text"), 415, "attachment_type"},
		{"big.pdf", append(append([]byte{}, scanPDF...), make([]byte, maxAttachmentBytes)...), 413, "attachment_too_large"},
		{"empty.pdf", []byte{}, 400, "bad_request"},
	} {
		code, body := hsi.explain("", ep.ID, "见附件", c.name, c.content)
		if code != c.code || errorCode(body) != c.err {
			t.Errorf("%s: %d %s, want %d %s", c.name, code, body, c.code, c.err)
		}
	}
	if code, body := hsi.explain("", ep.ID, "", "", nil); code != 400 {
		t.Errorf("an empty explanation: %d %s", code, body)
	}
	// A PDF named .png is a PDF; a PNG is a PNG.
	code, body = hsi.explain("", ep.ID, "单位说明：车辆送修，附修理厂单据", "单据.png", scanPDF)
	if code != 200 {
		t.Fatalf("explanation with a PDF: %d %s", code, body)
	}
	code, body = hsi.explain("", ep.ID, "", "照片.png", scanPNG)
	if code != 200 {
		t.Fatalf("explanation with a PNG: %d %s", code, body)
	}
	a := decodeJSON[alertJSON](t, body)
	if a.Verification != "explanation_requested" || len(a.Explanations) != 2 {
		t.Fatalf("after two explanations: %s", body)
	}
	x := a.Explanations[0]
	sum := sha256.Sum256(scanPDF)
	if x.ContentType != "application/pdf" || x.FileName != "单据.png" || x.Size != len(scanPDF) || x.SHA256 != hex.EncodeToString(sum[:]) ||
		x.User != "hs_inspector" || x.Text != "单位说明：车辆送修，附修理厂单据" || a.Explanations[1].ContentType != "image/png" {
		t.Errorf("explanations %+v", a.Explanations)
	}
	// Downloaded as stored, with its digest; not outside the jurisdiction.
	file := fmt.Sprintf("/api/v1/alerts/%s/explanations/%d/file", ep.ID, x.ID)
	resp, got := hsi.get(file)
	if resp.StatusCode != 200 || !bytes.Equal(got, scanPDF) || resp.Header.Get("Content-Type") != "application/pdf" ||
		resp.Header.Get("X-Content-SHA256") != x.SHA256 || !strings.HasPrefix(resp.Header.Get("Content-Disposition"), "attachment") {
		t.Errorf("download: %d %v %q", resp.StatusCode, resp.Header, got)
	}
	if resp, _ := wsup.get(file); resp.StatusCode != 404 {
		t.Errorf("download outside the jurisdiction: %d", resp.StatusCode)
	}
	if resp, _ := hsi.get(fmt.Sprintf("/api/v1/alerts/%s/explanations/%d/file", ep.ID, x.ID+100)); resp.StatusCode != 404 {
		t.Errorf("an unknown explanation: %d", resp.StatusCode)
	}
	// Who read the scan is audited, once per download, the refused ones not.
	var reads int
	if err := f.db.Pool.QueryRow(context.Background(), `SELECT count(*) FROM audit_log
		WHERE action = 'alert.explanation_file' AND actor_name = 'hs_inspector' AND (detail->>'explanation_id')::bigint = $1`, x.ID).Scan(&reads); err != nil || reads != 1 {
		t.Errorf("%d audited reads of the scan, want 1 (%v)", reads, err)
	}
	// The digest is the stored content's, and the table keeps it.
	var stored []byte
	if err := f.db.Pool.QueryRow(context.Background(), "SELECT sha256(content) FROM alert_explanations WHERE id = $1", x.ID).Scan(&stored); err != nil ||
		hex.EncodeToString(stored) != x.SHA256 {
		t.Errorf("stored digest %x: %v", stored, err)
	}
	if _, err := f.db.Pool.Exec(context.Background(), "UPDATE alert_explanations SET body = 'rewritten'"); err == nil {
		t.Error("an explanation was rewritten")
	}
	// Dismissed with a reason, then no more explanations.
	if code, body := hsi.do("POST", "/api/v1/alerts/"+ep.ID+"/verification", map[string]string{"action": "dismiss", "reason": "修理厂单据属实"}); code != 200 {
		t.Fatalf("dismiss: %d %s", code, body)
	}
	if code, body := hsi.explain("zh-CN", ep.ID, "迟到的说明", "", nil); code != 409 || errorMessage(body) != "告警当前为“已排除”，不能登记情况说明" {
		t.Errorf("explanation after the verdict: %d %s", code, body)
	}
	// The history: asked, two explanations, dismissed; the audit log too.
	code, body = hsi.do("GET", "/api/v1/alerts/"+ep.ID, nil)
	a = decodeJSON[alertJSON](t, body)
	var steps []string
	for _, h := range a.History {
		steps = append(steps, h.Action)
	}
	if code != 200 || fmt.Sprint(steps) != "[request_explanation explain explain dismiss]" {
		t.Errorf("history %v: %s", steps, body)
	}
	code, body = f.users["admin"].do("GET", fmt.Sprintf("/api/v1/audit?vehicle=%d", ep.VehicleID), nil)
	if code != 200 || strings.Count(body, `"action":"explain"`) != 2 || !strings.Contains(body, x.SHA256) {
		t.Errorf("audit: %d %s", code, body)
	}
}

// TestAlertTransitionsRefused: every step the state does not allow is
// refused with its code and a message in the client's language, and
// changes nothing.
func TestAlertTransitionsRefused(t *testing.T) {
	f, _ := alertFixture(t, nil)
	ep := f.putEpisode("ep-t", "鄂B00001", alerts.RuleAfterHours, trackDay.Add(20*time.Hour))
	admin := f.users["admin"]
	path := "/api/v1/alerts/" + ep.ID + "/verification"
	if code, body := admin.do("POST", path, map[string]string{"action": "confirm", "reason": "无派车单"}); code != 200 {
		t.Fatalf("confirm: %d %s", code, body)
	}
	for _, c := range []struct{ action, zh, en string }{
		{"request_explanation", "告警当前为“已认定违规”，不能要求说明", "request_explanation is not allowed once an alert is confirmed"},
		{"confirm", "告警当前为“已认定违规”，不能认定违规", "confirm is not allowed once an alert is confirmed"},
		{"dismiss", "告警当前为“已认定违规”，不能排除", "dismiss is not allowed once an alert is confirmed"},
	} {
		body := fmt.Sprintf(`{"action":%q,"reason":"再议"}`, c.action)
		code, zhBody := admin.doIn("zh-CN,zh;q=0.9", "POST", path, body)
		_, enBody := admin.doIn("en", "POST", path, body)
		if code != 409 || errorCode(zhBody) != "verification_state" || errorMessage(zhBody) != c.zh || errorMessage(enBody) != c.en {
			t.Errorf("%s: %d %s / %s", c.action, code, zhBody, enBody)
		}
	}
	code, body := admin.do("GET", "/api/v1/alerts/"+ep.ID, nil)
	if a := decodeJSON[alertJSON](t, body); code != 200 || a.Verification != "confirmed" || len(a.History) != 1 {
		t.Errorf("after the refusals: %s", body)
	}
}

// TestAlertListFilters: the unit filter takes the subtree and stays in the
// jurisdiction, the counts per state follow the other filters, and each
// alert names its fence, approval, calendar, duration and limit.
func TestAlertListFilters(t *testing.T) {
	f, _ := alertFixture(t, nil)
	ctx := context.Background()
	var fence, approval, cal int64
	if err := f.db.Pool.QueryRow(ctx, `INSERT INTO alert_fences (name, kind, unit_id, shape, geom)
		VALUES ('阳新县城', 'permitted', $1, '{}', ST_GeomFromText('POINT(115.2 29.85)', 4326)) RETURNING id`, f.units["湖北省/黄石市"]).Scan(&fence); err != nil {
		t.Fatal(err)
	}
	if err := f.db.Pool.QueryRow(ctx, `INSERT INTO alert_approvals (vehicle_id, driver, purpose, period, approver)
		VALUES ($1, '张三', '送文件', tstzrange($2, $3), '李四') RETURNING id`, f.veh["鄂B00001"],
		trackDay.Add(18*time.Hour), trackDay.Add(19*time.Hour)).Scan(&approval); err != nil {
		t.Fatal(err)
	}
	if err := f.db.Pool.QueryRow(ctx, `INSERT INTO alert_calendars (unit_id, spec, revision) VALUES ($1, '{}', 3) RETURNING id`,
		f.units["湖北省/黄石市"]).Scan(&cal); err != nil {
		t.Fatal(err)
	}
	a1 := f.putEpisode("ep-a", "鄂B00001", alerts.RuleOutOfArea, trackDay.Add(19*time.Hour))
	a1.FenceID, a1.ApprovalID, a1.CalendarVersion, a1.End = fence, approval, fmt.Sprintf("cal%d.r2.abcdef123456", cal), a1.Start.Add(2*time.Minute)
	sp := f.putEpisode("ep-s", "鄂B00002", alerts.RuleSpeeding, trackDay.Add(10*time.Hour))
	sp.Detail, sp.MaxSpeedKmh = "limit 80 km/h", 97
	f.putEpisode("ep-w", "鄂A00003", alerts.RuleAfterHours, trackDay.Add(21*time.Hour))
	if _, err := alerts.NewStore(f.db.Pool).UpsertEpisodes(ctx, []alerts.Episode{a1, sp}); err != nil {
		t.Fatal(err)
	}
	admin, hsi := f.users["admin"], f.users["hs_inspector"]
	if code, body := hsi.do("POST", "/api/v1/alerts/ep-s/verification", map[string]string{"action": "confirm", "reason": "超速属实"}); code != 200 {
		t.Fatalf("confirm: %d %s", code, body)
	}
	type listing struct {
		Items  []alertJSON    `json:"items"`
		Total  int            `json:"total"`
		Counts map[string]int `json:"counts"`
	}
	ids := func(l listing) string {
		var s []string
		for _, a := range l.Items {
			s = append(s, a.ID)
		}
		return strings.Join(s, ",")
	}
	for _, c := range []struct {
		who    *client
		query  string
		want   string
		counts string
	}{
		{admin, "", "ep-w,ep-a,ep-s", "map[confirmed:1 dismissed:0 explanation_requested:0 open:2]"},
		{admin, fmt.Sprintf("?unit=%d", f.units["湖北省/黄石市"]), "ep-a,ep-s", "map[confirmed:1 dismissed:0 explanation_requested:0 open:1]"},
		{admin, fmt.Sprintf("?unit=%d", f.units["湖北省/黄石市/阳新县"]), "ep-a", "map[confirmed:0 dismissed:0 explanation_requested:0 open:1]"},
		{admin, fmt.Sprintf("?unit=%d&verification=confirmed", f.units["湖北省/黄石市"]), "ep-s", "map[confirmed:1 dismissed:0 explanation_requested:0 open:1]"},
		{hsi, "?rule=speeding", "ep-s", "map[confirmed:1 dismissed:0 explanation_requested:0 open:0]"},
		{hsi, "?from=2026-11-20T18:00:00%2B08:00&to=2026-11-21T00:00:00%2B08:00", "ep-a", "map[confirmed:0 dismissed:0 explanation_requested:0 open:1]"},
	} {
		code, body := c.who.do("GET", "/api/v1/alerts"+c.query, nil)
		l := decodeJSON[listing](t, body)
		if code != 200 || ids(l) != c.want || fmt.Sprint(l.Counts) != c.counts {
			t.Errorf("%s: %d %s (counts %v), want %s %s", c.query, code, ids(l), l.Counts, c.want, c.counts)
		}
	}
	// A unit outside the jurisdiction is not found.
	if code, body := hsi.do("GET", fmt.Sprintf("/api/v1/alerts?unit=%d", f.units["湖北省/武汉市"]), nil); code != 404 {
		t.Errorf("unit outside: %d %s", code, body)
	}
	code, body := hsi.do("GET", "/api/v1/alerts/ep-a", nil)
	a := decodeJSON[alertJSON](t, body)
	if code != 200 || a.FenceName != "阳新县城" || a.DurationS != 120 || a.Approval == nil || a.Approval.Driver != "张三" ||
		a.Approval.Start != "2026-11-20T18:00:00+08:00" || a.Calendar == nil || a.Calendar.Unit != "湖北省/黄石市" ||
		a.Calendar.Revision != 2 || a.Calendar.CurrentRevision != 3 {
		t.Errorf("what ep-a was judged against: %s", body)
	}
	code, body = hsi.do("GET", "/api/v1/alerts/ep-s", nil)
	if a := decodeJSON[alertJSON](t, body); code != 200 || a.SpeedLimitKmh != 80 || a.MaxSpeedKmh != 97 {
		t.Errorf("the limit of ep-s: %s", body)
	}
}

// TestAlertExport: the export is an XLSX of the filtered list that reads
// back with the same library, in the client's language, with durations as
// people write them; no text cell starts a formula; inspectors give a
// reason, and the export is audited for each vehicle in it.
func TestAlertExport(t *testing.T) {
	f, _ := alertFixture(t, nil)
	ctx := context.Background()
	var fence int64
	if err := f.db.Pool.QueryRow(ctx, `INSERT INTO alert_fences (name, kind, unit_id, shape, geom)
		VALUES ('=HYPERLINK("http://evil","x")', 'prohibited', $1, '{}', ST_GeomFromText('POINT(115.2 29.85)', 4326)) RETURNING id`,
		f.units["湖北省/黄石市"]).Scan(&fence); err != nil {
		t.Fatal(err)
	}
	a := f.putEpisode("ep-1", "鄂B00001", alerts.RuleProhibited, trackDay.Add(19*time.Hour))
	a.FenceID, a.Detail, a.End = fence, "@SUM(A1)", a.Start.Add(2*time.Minute)
	b := f.putEpisode("ep-2", "鄂B00002", alerts.RuleSpeeding, trackDay.Add(9*time.Hour))
	b.Detail, b.MaxSpeedKmh, b.End = "limit 80 km/h", 97, b.Start.Add(time.Hour+5*time.Minute+3*time.Second)
	f.putEpisode("ep-3", "鄂A00003", alerts.RuleAfterHours, trackDay.Add(21*time.Hour))
	if _, err := alerts.NewStore(f.db.Pool).UpsertEpisodes(ctx, []alerts.Episode{a, b}); err != nil {
		t.Fatal(err)
	}
	hsi := f.users["hs_inspector"]
	if code, body := hsi.do("GET", "/api/v1/alerts/export", nil); code != 400 || errorCode(body) != "reason_required" {
		t.Fatalf("an inspector's export without a reason: %d %s", code, body)
	}
	read := func(lang, query string) [][]string {
		t.Helper()
		req, _ := http.NewRequest("GET", f.ts.URL+"/api/v1/alerts/export?reason=%E5%B9%B4%E5%BA%A6%E6%A3%80%E6%9F%A5"+query, nil)
		req.Header.Set("Accept-Language", lang)
		resp, err := hsi.hc.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet" {
			b, _ := io.ReadAll(resp.Body)
			t.Fatalf("export: %d %s", resp.StatusCode, b)
		}
		book, err := excelize.OpenReader(resp.Body)
		if err != nil {
			t.Fatal(err)
		}
		defer book.Close()
		rows, err := book.GetRows(book.GetSheetName(0))
		if err != nil {
			t.Fatal(err)
		}
		// No cell of any kind is a formula.
		for i, row := range rows {
			for j := range row {
				cell, _ := excelize.CoordinatesToCellName(j+1, i+1)
				if fm, _ := book.GetCellFormula(book.GetSheetName(0), cell); fm != "" {
					t.Errorf("cell %s is a formula: %s", cell, fm)
				}
			}
		}
		return rows
	}
	rows := read("zh-CN", "")
	if len(rows) != 3 || rows[0][0] != "告警编号" || rows[0][5] != "持续" {
		t.Fatalf("rows %q", rows)
	}
	// Newest first: ep-1 (19:00), ep-2 (09:00); 武汉市's is not the inspector's.
	r1, r2 := rows[1], rows[2]
	if r1[0] != "ep-1" || r1[1] != "鄂B00001" || r1[2] != "禁入区域" || r1[3] != "2026-11-20 19:00:00" || r1[4] != "2026-11-20 19:02:00" ||
		r1[5] != "2分0秒" || r1[6] != `'=HYPERLINK("http://evil","x")` || r1[13] != "'@SUM(A1)" || r1[7] != "5.6" {
		t.Errorf("row 1 %q", r1)
	}
	if r2[0] != "ep-2" || r2[5] != "1小时5分3秒" || r2[8] != "97" || r2[9] != "80" || r2[10] != "待核查" {
		t.Errorf("row 2 %q", r2)
	}
	for _, row := range rows {
		for _, cell := range row {
			if cell != "" && strings.ContainsRune(formulaStart, rune(cell[0])) {
				t.Errorf("cell %q starts a formula", cell)
			}
		}
	}
	en := read("en", "&rule=speeding")
	if len(en) != 2 || en[0][0] != "Alert" || en[1][5] != "1 h 5 min 3 s" || en[1][10] != "open" {
		t.Errorf("in English, speeding only: %q", en)
	}
	// Audited for each vehicle, with the reason, before it was sent.
	code, body := f.users["admin"].do("GET", fmt.Sprintf("/api/v1/audit?vehicle=%d", f.veh["鄂B00002"]), nil)
	if code != 200 || strings.Count(body, `"action":"alert.export"`) != 2 || !strings.Contains(body, "年度检查") {
		t.Errorf("audit of 鄂B00002: %d %s", code, body)
	}
	code, body = f.users["admin"].do("GET", fmt.Sprintf("/api/v1/audit?vehicle=%d", f.veh["鄂B00001"]), nil)
	if code != 200 || strings.Count(body, `"action":"alert.export"`) != 1 {
		t.Errorf("audit of 鄂B00001: %d %s", code, body)
	}
}

// TestHumanDuration: durations as people write them, never Go's.
func TestHumanDuration(t *testing.T) {
	for _, c := range []struct {
		s      float64
		zh, en string
	}{
		{120, "2分0秒", "2 min"},
		{45, "45秒", "45 s"},
		{3600, "1小时0分0秒", "1 h"},
		{3903, "1小时5分3秒", "1 h 5 min 3 s"},
		{0, "", ""},
	} {
		if zh, en := humanDuration(c.s, true), humanDuration(c.s, false); zh != c.zh || en != c.en {
			t.Errorf("%v s: %q %q, want %q %q", c.s, zh, en, c.zh, c.en)
		}
	}
}

// BenchmarkAlertsWorkbook lays out the largest export allowed
// (maxExportAlerts rows) as XLSX, and reports the file's size.
func BenchmarkAlertsWorkbook(b *testing.B) {
	rows := make([]alertJSON, maxExportAlerts)
	for i := range rows {
		a := &rows[i]
		a.ID, a.Vehicle.Plate, a.Rule.ID, a.Rule.Name = fmt.Sprintf("ep-%06d", i), fmt.Sprintf("鄂B%05d", i%100000), "speeding", "超速"
		a.Start, a.End, a.DurationS = "2026-11-20T09:00:00+08:00", "2026-11-20T09:10:00+08:00", 600
		a.FenceName, a.DistanceM, a.MaxSpeedKmh, a.SpeedLimitKmh, a.Verification = "阳新县城", 2300, 97, 80, "open"
		a.Detail, a.DetailZh = "limit 80 km/h", "限速 80 km/h"
	}
	var size int
	for b.Loop() {
		book, err := alertsWorkbook(rows, true)
		if err != nil {
			b.Fatal(err)
		}
		var buf bytes.Buffer
		if err := book.Write(&buf); err != nil {
			b.Fatal(err)
		}
		book.Close()
		size = buf.Len()
	}
	b.ReportMetric(float64(size)/(1<<20), "MiB/file")
}
