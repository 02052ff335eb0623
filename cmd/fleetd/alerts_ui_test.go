package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/xuri/excelize/v2"

	"fleetmon/alerts"
	"fleetmon/api/uitest"
)

// TestAlertWorkbenchInBrowser walks the alerts page as a 黄石市 inspector:
// 告警 is in the navigation; the list shows the jurisdiction's alerts
// only, with the counts per state, and filters by plate, rule and unit;
// an alert shows its duration as people write it; an explanation is
// requested, the unit's explanation recorded with a scan (its digest
// shown), that alert confirmed and another dismissed, each with a
// reason; an alert opens its replay; the list is exported as XLSX. The
// states, the history and the audit log are then checked through the API.
func TestAlertWorkbenchInBrowser(t *testing.T) {
	ctx := uitest.Browser(t, 6*time.Minute)
	shots := uitest.ArtifactDir(t)
	db, otp, token := seedFleet(t, "plate,plate_color,terminal_phone,unit,category\n"+
		"鄂B10001,1,13800000011,湖北省/黄石市/阳新县,general\n"+
		"鄂B10002,1,13800000012,湖北省/黄石市,general\n"+
		"鄂A20001,1,13800000021,湖北省/武汉市,general\n", "hs_insp", "inspector", "湖北省/黄石市")

	// The alerts, as the rules engine stores them.
	bg := context.Background()
	pool, err := pgxpool.New(bg, db)
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	ids := map[string]int64{}
	units := map[int64]int64{}
	rows, err := pool.Query(bg, "SELECT id, plate, unit_id FROM vehicles")
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var id, unit int64
		var plate string
		if err := rows.Scan(&id, &plate, &unit); err != nil {
			t.Fatal(err)
		}
		ids[plate], units[id] = id, unit
	}
	rows.Close()
	cst := time.FixedZone("CST", 8*3600)
	day := time.Date(2026, 11, 20, 0, 0, 0, 0, cst)
	ep := func(id, plate string, rule alerts.RuleID, start time.Time, d time.Duration, detail string, speed float32) alerts.Episode {
		v := ids[plate]
		return alerts.Episode{ID: id, Status: alerts.EpisodeClosed, Rule: rule, VehicleID: v, UnitID: units[v], Start: start, End: start.Add(d),
			StartLat: 29.85, StartLon: 115.2, EndLat: 29.86, EndLon: 115.21, DistanceM: 2300, MaxSpeedKmh: speed, Detail: detail,
			Params: "{}", CalendarVersion: "", ParamsVersion: "p-1"}
	}
	eps := []alerts.Episode{
		ep("wb-evening", "鄂B10001", alerts.RuleAfterHours, day.Add(19*time.Hour+30*time.Minute), 2*time.Minute, "", 48),
		ep("wb-speed", "鄂B10001", alerts.RuleSpeeding, day.Add(9*time.Hour), 10*time.Minute, "limit 80 km/h", 97),
		ep("wb-sealed", "鄂B10002", alerts.RuleSealedMove, day.Add(26*time.Hour), 15*time.Minute, "", 40),
		ep("wb-wuhan", "鄂A20001", alerts.RuleAfterHours, day.Add(20*time.Hour), 5*time.Minute, "", 40),
	}
	if _, err := alerts.NewStore(pool).UpsertEpisodes(bg, eps); err != nil {
		t.Fatal(err)
	}
	scan := filepath.Join(t.TempDir(), "情况说明.pdf")
	pdf := []byte("%PDF-1.4\n% 阳新县机关事务中心情况说明\n1 0 obj << /Type /Catalog >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF\n")
	if err := os.WriteFile(scan, pdf, 0o644); err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(pdf)
	digest := hex.EncodeToString(sum[:])

	srv := startServe(t, "--db", db, "--data-dir", t.TempDir())
	base := "http://" + srv.HTTP
	p := &uitest.Page{Ctx: ctx, T: t, Shots: shots, Detail: srv.Stderr.String}
	downloads := t.TempDir()
	uitest.Login(ctx, t, base, "hs_insp", otp, "Huangshi-Inspect-2026!")
	p.Do(uitest.DownloadTo(downloads))
	p.Poll("告警 in the navigation", jsText("#nav a")+`.includes('告警')`)
	p.Follow(`#nav a[data-page=alerts]`, "#filters")
	p.Poll("the page ready", `document.body.dataset.ready === 'true'`)
	rowIDs := `[...document.querySelectorAll('#alerts tr[data-id]')].map(r => r.dataset.id).join(',')`
	p.Poll("the jurisdiction's alerts, newest first", rowIDs+` === 'wb-sealed,wb-evening,wb-speed'`)
	p.Poll("the counts", jsText("#counts button")+` === '待核查 3|待说明 0|已认定违规 0|已排除 0'`)
	uitest.Screenshot(ctx, t, shots, "01-alerts")

	// Filters: a plate, then a rule, then a unit's subtree.
	p.Do(chromedp.SetValue(chromedp.CSS("#f-plate"), "鄂B10001"), chromedp.Click(chromedp.CSS("#f-go")))
	p.Poll("one vehicle's alerts", rowIDs+` === 'wb-evening,wb-speed'`)
	p.Do(chromedp.SetValue(chromedp.CSS("#f-rule"), "speeding"), chromedp.Click(chromedp.CSS("#f-go")))
	p.Poll("speeding only", rowIDs+` === 'wb-speed'`)
	p.Poll("the limit beside the speed", jsText("#alerts td .over")+` === '97 km/h / 80 km/h'`)
	yangxin := p.String(`[...document.querySelectorAll('#f-unit option')].find(o => o.textContent === '湖北省/黄石市/阳新县').value`)
	p.String(`document.querySelector('#f-plate').value = ''; document.querySelector('#f-rule').value = ''; ` +
		`document.querySelector('#f-unit').value = '` + yangxin + `'; ''`)
	p.Do(chromedp.Click(chromedp.CSS("#f-go")))
	p.Poll("阳新县's alerts", rowIDs+` === 'wb-evening,wb-speed'`)
	uitest.Screenshot(ctx, t, shots, "02-filtered")

	// The evening drive: its duration as people write it; ask the unit.
	p.Do(chromedp.Click(chromedp.CSS(`#alerts tr[data-id=wb-evening]`)))
	p.Poll("the alert shown", `document.querySelector('#detail h2') && document.querySelector('#detail h2').textContent.includes('wb-evening')`)
	p.Poll("its duration", `document.querySelector('#facts').textContent.includes('2分0秒')`)
	p.Do(chromedp.SetValue(chromedp.CSS("#step-reason"), "请阳新县说明 11月20日晚用车情况"), chromedp.Click(chromedp.CSS("#act-request_explanation")))
	p.Poll("explanation requested", `document.querySelector('#facts .state-badge').dataset.state === 'explanation_requested'`)
	p.Poll("the count moved", jsText("#counts button")+` === '待核查 1|待说明 1|已认定违规 0|已排除 0'`)

	// The unit's explanation with its scan.
	p.Do(chromedp.SetValue(chromedp.CSS("#explain-text"), "当晚接待上级检查组，未办派车单"),
		chromedp.SetUploadFiles(chromedp.CSS("#explain-file"), []string{scan}),
		chromedp.Click(chromedp.CSS("#explain-go")))
	p.Poll("the explanation with its digest", `document.querySelector('#explanations .digest') && document.querySelector('#explanations .digest').dataset.sha256 === '`+digest+`'`)
	uitest.Screenshot(ctx, t, shots, "03-explained")
	href := p.String(`document.querySelector('#explanations a.download').href`)
	if code, body := apiText(t, base, token, strings.TrimPrefix(href, base)); code != 200 || body != string(pdf) {
		t.Errorf("the scan as downloaded: %d %q", code, body)
	}

	// Confirmed, with a reason; a step without one is not sent.
	p.String(`document.querySelector('#step-reason').value = ''; ''`)
	p.Do(chromedp.Click(chromedp.CSS("#act-confirm")))
	p.Poll("a reason asked for", `document.querySelector('#toast').textContent === '请填写原因'`)
	p.Do(chromedp.SetValue(chromedp.CSS("#step-reason"), "接待不属于公务用车范围，认定违规"), chromedp.Click(chromedp.CSS("#act-confirm")))
	p.Poll("confirmed", `document.querySelector('#facts .state-badge').dataset.state === 'confirmed'`)
	p.Poll("no more steps", `!document.querySelector('#act-confirm') && !document.querySelector('#explain-go')`)
	p.Poll("the list after", `document.querySelector('#alerts tr[data-id=wb-evening]').dataset.verification === 'confirmed'`)

	// The speeding alert dismissed, with a reason.
	p.Do(chromedp.Click(chromedp.CSS(`#alerts tr[data-id=wb-speed]`)))
	p.Poll("the speeding alert shown", `document.querySelector('#detail h2').textContent.includes('wb-speed')`)
	p.Do(chromedp.SetValue(chromedp.CSS("#step-reason"), "执行紧急任务，已补审批"), chromedp.Click(chromedp.CSS("#act-dismiss")))
	p.Poll("dismissed", `document.querySelector('#facts .state-badge').dataset.state === 'dismissed'`)
	p.Poll("the counts after", jsText("#counts button")+` === '待核查 0|待说明 0|已认定违规 1|已排除 1'`)
	p.Poll("the list after the dismissal", `document.querySelector('#alerts tr[data-id=wb-speed]').dataset.verification === 'dismissed'`)
	uitest.Screenshot(ctx, t, shots, "04-verdicts")

	// The export of the filtered list.
	p.Do(chromedp.SetValue(chromedp.CSS("#export-reason"), "季度用车核查"), chromedp.Click(chromedp.CSS("#export-go")))
	xlsx := uitest.WaitDownloads(t, downloads, []string{"xlsx"})[0]
	p.Poll("the export done", `document.querySelector('#export-status').dataset.bytes > 0`)
	book, err := excelize.OpenFile(xlsx)
	if err != nil {
		t.Fatal(err)
	}
	sheet, err := book.GetRows(book.GetSheetName(0))
	book.Close()
	if err != nil || len(sheet) != 3 || sheet[1][0] != "wb-evening" || sheet[1][5] != "2分0秒" || sheet[1][10] != "已认定违规" ||
		sheet[2][0] != "wb-speed" || sheet[2][10] != "已排除" {
		t.Errorf("the export: %q %v", sheet, err)
	}

	// One click to the replay of the evening drive's period.
	p.Do(chromedp.Click(chromedp.CSS(`#alerts tr[data-id=wb-evening]`)))
	p.Poll("the evening alert again", `document.querySelector('#detail h2').textContent.includes('wb-evening')`)
	p.Do(chromedp.Click(chromedp.CSS("#replay-link")), chromedp.WaitVisible(chromedp.CSS("#map")))
	p.Poll("the replay page", `location.pathname === '/ui/replay.html'`)
	q := p.String(`location.search`)
	if want := fmt.Sprintf("?vehicle=%d&from=2026-11-20T19%%3A30%%3A00%%2B08%%3A00&to=2026-11-20T19%%3A32%%3A00%%2B08%%3A00", ids["鄂B10001"]); q != want {
		t.Errorf("replay link %s, want %s", q, want)
	}
	p.Poll("the vehicle chosen in the replay", jsText("#v-chosen li")+`.includes('鄂B10001')`)
	uitest.Screenshot(ctx, t, shots, "05-replay")

	// Through the API: the states, the history, the audit log.
	var a struct {
		Verification string `json:"verification"`
		History      []struct {
			User, Action, To, Reason string
		} `json:"history"`
		Explanations []struct {
			SHA256 string `json:"sha256"`
			Text   string `json:"text"`
		} `json:"explanations"`
	}
	apiGet(t, base, token, "/api/v1/alerts/wb-evening", &a)
	var steps []string
	for _, h := range a.History {
		steps = append(steps, h.User+":"+h.Action+":"+h.To+":"+h.Reason)
	}
	want := "hs_insp:request_explanation:explanation_requested:请阳新县说明 11月20日晚用车情况|" +
		"hs_insp:explain:explanation_requested:当晚接待上级检查组，未办派车单|hs_insp:confirm:confirmed:接待不属于公务用车范围，认定违规"
	if a.Verification != "confirmed" || strings.Join(steps, "|") != want || len(a.Explanations) != 1 || a.Explanations[0].SHA256 != digest {
		t.Errorf("wb-evening: %+v", a)
	}
	apiGet(t, base, token, "/api/v1/alerts/wb-speed", &a)
	if a.Verification != "dismissed" || len(a.History) != 1 || a.History[0].Reason != "执行紧急任务，已补审批" {
		t.Errorf("wb-speed: %+v", a)
	}
	var audit struct {
		Items []struct {
			User   string         `json:"user"`
			Action string         `json:"action"`
			Reason string         `json:"reason"`
			Detail map[string]any `json:"detail"`
		} `json:"items"`
	}
	apiGet(t, base, token, fmt.Sprintf("/api/v1/audit?vehicle=%d", ids["鄂B10001"]), &audit)
	var got []string
	for _, e := range audit.Items {
		if strings.HasPrefix(e.Action, "alert.") {
			got = append(got, fmt.Sprintf("%s:%s:%v:%s", e.User, e.Action, e.Detail["action"], e.Reason))
		}
	}
	wantAudit := "hs_insp:alert.export:<nil>:季度用车核查|hs_insp:alert.verification:dismiss:执行紧急任务，已补审批|" +
		"hs_insp:alert.verification:confirm:接待不属于公务用车范围，认定违规|hs_insp:alert.explanation_file:<nil>:|" +
		"hs_insp:alert.verification:explain:当晚接待上级检查组，未办派车单|" +
		"hs_insp:alert.verification:request_explanation:请阳新县说明 11月20日晚用车情况"
	if strings.Join(got, "|") != wantAudit {
		b, _ := json.Marshal(got)
		t.Errorf("the audit log of 鄂B10001:\n%s\nwant\n%s", b, wantAudit)
	}

	// The audit page: the inspector's own steps, the scan read and the export, by vehicle.
	p.Do(chromedp.Navigate(base+"/ui/audit.html"), chromedp.WaitVisible(chromedp.CSS("#filters")))
	p.Poll("the audit page ready", `document.body.dataset.ready === 'true'`)
	p.Do(chromedp.SetValue(chromedp.CSS("#f-plate"), "鄂B10001"), chromedp.SetValue(chromedp.CSS("#f-user"), "hs_insp"),
		chromedp.Click(chromedp.CSS("#f-go")))
	auditRows := `[...document.querySelectorAll('#audit tr[data-action]')].map(r => r.dataset.action).join(',')`
	p.Poll("the vehicle's audit entries", auditRows+` === 'alert.export,alert.verification,alert.verification,alert.explanation_file,alert.verification,alert.verification'`)
	p.Poll("the export's reason", jsText("#audit tr[data-action='alert.export'] td")+`.includes('季度用车核查')`)
	uitest.Screenshot(ctx, t, shots, "06-audit")

	// The dispatch page: the day's report, with the inspector's reason.
	p.Do(chromedp.Navigate(base+"/ui/dispatch.html"), chromedp.WaitVisible(chromedp.CSS("#filters")))
	p.Poll("the dispatch page ready", `document.body.dataset.ready === 'true'`)
	p.Do(chromedp.SetValue(chromedp.CSS("#f-date"), "2026-11-20"), chromedp.Click(chromedp.CSS("#f-go")))
	p.Poll("a reason asked of an inspector", `document.querySelector('#toast').textContent.includes('原因')`)
	p.Do(chromedp.SetValue(chromedp.CSS("#f-reason"), "核对派车单"), chromedp.Click(chromedp.CSS("#f-go")))
	p.Poll("the report", `document.querySelector('#summary').textContent.startsWith('2026-11-20：2 辆车')`)
	uitest.Screenshot(ctx, t, shots, "07-dispatch")
	apiGet(t, base, token, "/api/v1/audit?user=hs_insp", &audit)
	if len(audit.Items) == 0 || audit.Items[0].Action != "report.dispatch" || audit.Items[0].Reason != "核对派车单" {
		t.Errorf("the dispatch report's audit entry: %+v", audit.Items[0])
	}
}
