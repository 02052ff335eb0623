package api

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/xuri/excelize/v2"

	"fleetmon/alerts"
)

// doLang is do asking for lang.
func (c *client) doLang(lang, method, path string, body any) (int, string) {
	c.f.t.Helper()
	old := c.hc.Transport
	c.hc.Transport = langTransport{lang}
	defer func() { c.hc.Transport = old }()
	return c.do(method, path, body)
}

type langTransport struct{ lang string }

func (l langTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	r.Header.Set("Accept-Language", l.lang)
	return http.DefaultTransport.RoundTrip(r)
}

const tipCaller = "13812345678"

// tipBody is a tip about 鄂B00001 at its first position of the track day
// (115.00, 30.2), by phone.
func tipBody(key string) map[string]any {
	return map[string]any{
		"key": key, "received_at": trackDay.Add(50 * time.Hour).Format(time.RFC3339), "channel": "hotline_12345",
		"caller_number": tipCaller, "content": "有公车停在酒店门口", "plate": "鄂B00001",
		"from": trackDay.Add(7*time.Hour + 30*time.Minute).Format(time.RFC3339), "to": trackDay.Add(9*time.Hour + 30*time.Minute).Format(time.RFC3339),
		"place_text": "阳新县某酒店", "area": map[string]any{"type": "Point", "coordinates": []float64{115.0, 30.2}}, "radius_m": 300,
	}
}

type tipOut struct {
	ID           int64  `json:"id"`
	State        string `json:"state"`
	CallerNumber string `json:"caller_number"`
	Overdue      bool   `json:"overdue"`
	Outcome      string `json:"outcome"`
	VehicleID    int64  `json:"vehicle_id"`
	Events       []struct {
		User, Action, From, To, Reason string
	} `json:"events"`
}

func (f *fixture) registerTip(c *client, key string) tipOut {
	f.t.Helper()
	code, body := c.do("POST", "/api/v1/tips", tipBody(key))
	if code != 201 {
		f.t.Fatalf("register tip: %d %s", code, body)
	}
	return decodeJSON[tipOut](f.t.(*testing.T), body)
}

func step(key, action, reason string, extra map[string]any) map[string]any {
	b := map[string]any{"key": key, "action": action, "reason": reason}
	for k, v := range extra {
		b[k] = v
	}
	return b
}

// TestTipWorkflow: an inspector registers a tip (a retried registration
// records it once); fleetmon answers it with the car's visit, its track
// and its alerts; it is worked through every step, a supervisor of the
// car's unit giving the reply; a step out of order is refused with a code
// in either language; a retried step is recorded once; every step is
// audited; the statistics count it.
func TestTipWorkflow(t *testing.T) {
	f, _ := alertFixture(t, nil)
	hsi, ysup := f.users["hs_inspector"], f.users["yx_super"]
	ep := f.putEpisode("ep-holiday", "鄂B00001", alerts.RuleHolidayUse, trackDay.Add(7*time.Hour+50*time.Minute))

	tip := f.registerTip(hsi, "tip-key-0001")
	if tip.State != "registered" || tip.CallerNumber != "138****5678" || tip.VehicleID != f.veh["鄂B00001"] || len(tip.Events) != 1 {
		t.Fatalf("registered: %+v", tip)
	}
	// Retried: the same tip, not a second one; the key for another tip: refused.
	code, body := hsi.do("POST", "/api/v1/tips", tipBody("tip-key-0001"))
	if again := decodeJSON[tipOut](t, body); code != 200 || again.ID != tip.ID {
		t.Fatalf("retried registration: %d %s", code, body)
	}
	other := tipBody("tip-key-0001")
	other["content"] = "另一条举报"
	if code, body := hsi.do("POST", "/api/v1/tips", other); code != 409 || errorCode(body) != "key_reused" {
		t.Fatalf("key reused: %d %s", code, body)
	}
	var n int
	if err := f.db.Pool.QueryRow(context.Background(), "SELECT count(*) FROM tips").Scan(&n); err != nil || n != 1 {
		t.Fatalf("tips stored: %d %v", n, err)
	}

	// The answer: the visit, the track around it and the holiday alert.
	code, body = hsi.do("GET", fmt.Sprintf("/api/v1/tips/%d/answer", tip.ID), nil)
	ans := decodeJSON[struct {
		There    bool   `json:"there"`
		Searched string `json:"searched"`
		Vehicles []struct {
			Plate  string `json:"plate"`
			Named  bool   `json:"named"`
			Visits []struct {
				Arrival string `json:"arrival"`
			} `json:"visits"`
			Track struct {
				Points int `json:"points"`
			} `json:"track"`
			Alerts []struct {
				ID string `json:"id"`
			} `json:"alerts"`
			ReplayURL string `json:"replay_url"`
		} `json:"vehicles"`
	}](t, body)
	if code != 200 || !ans.There || ans.Searched != "area" || len(ans.Vehicles) != 1 {
		t.Fatalf("answer: %d %s", code, body)
	}
	v := ans.Vehicles[0]
	if v.Plate != "鄂B00001" || !v.Named || len(v.Visits) != 1 || v.Visits[0].Arrival != trackDay.Add(8*time.Hour).Format(time.RFC3339) ||
		v.Track.Points != 3 || len(v.Alerts) != 1 || v.Alerts[0].ID != ep.ID || !strings.HasPrefix(v.ReplayURL, "/ui/replay.html?") {
		t.Fatalf("answer's vehicle: %s", body)
	}

	path := fmt.Sprintf("/api/v1/tips/%d/steps", tip.ID)
	// Out of order: refused, with a code, in Chinese and in English.
	code, body = hsi.doLang("zh-CN", "POST", path, step("step-key-01", "verify", "属实", map[string]any{"outcome": "substantiated"}))
	if code != 409 || errorCode(body) != "tip_state" || errorMessage(body) != "举报当前为“已登记”，不能核实" {
		t.Fatalf("verify before passing: %d %s", code, body)
	}
	code, body = hsi.doLang("en", "POST", path, step("step-key-01", "verify", "属实", map[string]any{"outcome": "substantiated"}))
	if code != 409 || errorMessage(body) != "verify is not allowed once a tip is registered" {
		t.Fatalf("in English: %d %s", code, body)
	}
	// The supervisor may not pass it on; the inspector does, twice (a retry).
	deadline := f.clock.Now().Add(72 * time.Hour).Format(time.RFC3339)
	pass := step("step-key-02", "pass", "请阳新县核查", map[string]any{"deadline": deadline})
	if code, body := ysup.do("POST", path, pass); code != 403 {
		t.Fatalf("a supervisor passing: %d %s", code, body)
	}
	for range 2 {
		if code, body := hsi.do("POST", path, pass); code != 200 || decodeJSON[tipOut](t, body).State != "passed" {
			t.Fatalf("pass: %d %s", code, body)
		}
	}
	if code, body := hsi.do("POST", path, step("step-key-02", "reply", "另一步", nil)); code != 409 || errorCode(body) != "key_reused" {
		t.Fatalf("a step key reused: %d %s", code, body)
	}
	for _, s := range []struct {
		who  *client
		body map[string]any
	}{
		{ysup, step("step-key-03", "reply", "该车周日接待外宾", nil)},
		{hsi, step("step-key-04", "verify", "轨迹显示周日在酒店停留，无派车单", map[string]any{"outcome": "substantiated",
			"alert_ids": []string{ep.ID}, "exports": []string{"tip-1-20261120.csv"}})},
		{hsi, step("step-key-05", "feedback", "已电话告知举报人核查属实", nil)},
		{hsi, step("step-key-06", "close", "", nil)},
	} {
		if code, body := s.who.do("POST", path, s.body); code != 200 {
			t.Fatalf("%s: %d %s", s.body["action"], code, body)
		}
	}
	code, body = hsi.do("GET", fmt.Sprintf("/api/v1/tips/%d", tip.ID), nil)
	got := decodeJSON[tipOut](t, body)
	var steps []string
	for _, e := range got.Events {
		steps = append(steps, e.User+":"+e.Action+":"+e.To)
	}
	want := "hs_inspector:register:registered|hs_inspector:pass:passed|yx_super:reply:replied|hs_inspector:verify:verified|" +
		"hs_inspector:feedback:fed_back|hs_inspector:close:closed"
	if code != 200 || got.State != "closed" || got.Outcome != "substantiated" || strings.Join(steps, "|") != want {
		t.Fatalf("closed tip: %s", body)
	}
	// Steps after closure are refused; the events are append-only.
	if code, body := hsi.do("POST", path, step("step-key-07", "close", "", nil)); code != 409 || errorCode(body) != "tip_state" {
		t.Fatalf("closing twice: %d %s", code, body)
	}
	if _, err := f.db.Pool.Exec(context.Background(), "UPDATE tip_events SET reason = 'x'"); err == nil {
		t.Fatal("tip_events rewritten")
	}
	// Audited: the registration, the answer and each of the five steps.
	var actions string
	if err := f.db.Pool.QueryRow(context.Background(), `SELECT string_agg(action || ':' || COALESCE(detail->>'action', ''), '|' ORDER BY id)
		FROM audit_log WHERE action LIKE 'tip.%'`).Scan(&actions); err != nil {
		t.Fatal(err)
	}
	if actions != "tip.register:|tip.answer:|tip.step:pass|tip.step:reply|tip.step:verify|tip.step:feedback|tip.step:close" {
		t.Fatalf("audit: %s", actions)
	}
	// The statistics count it, for its unit and outcome.
	code, body = hsi.do("GET", "/api/v1/reports/stats?period=2026-11", nil)
	st := decodeJSON[struct {
		Tips struct {
			Rows []struct {
				Unit                    string
				Received, Substantiated int
				Closed                  int
			} `json:"rows"`
		} `json:"tips"`
	}](t, body)
	if code != 200 || len(st.Tips.Rows) != 1 || st.Tips.Rows[0].Unit != "湖北省/黄石市/阳新县/县机关事务中心" ||
		st.Tips.Rows[0].Received != 1 || st.Tips.Rows[0].Substantiated != 1 || st.Tips.Rows[0].Closed != 1 {
		t.Fatalf("stats: %d %s", code, body)
	}
	resp := hsi.raw("GET", "/api/v1/reports/stats?period=2026-11&format=xlsx", nil)
	book, err := excelize.OpenReader(resp.Body)
	resp.Body.Close()
	if err != nil {
		t.Fatal(err)
	}
	sheet, err := book.GetRows("举报")
	book.Close()
	if err != nil || len(sheet) != 3 || sheet[1][0] != "湖北省/黄石市/阳新县/县机关事务中心" || sheet[1][1] != "1" || sheet[1][4] != "1" || sheet[2][0] != "合计 total" {
		t.Fatalf("the workbook's tips: %q %v", sheet, err)
	}
	if code, body := hsi.do("GET", "/api/v1/reports/stats?period=2026-11&format=html", nil); code != 200 || !strings.Contains(body, "<h2>举报（1）</h2>") {
		t.Fatalf("the printable page's tips: %d %s", code, body)
	}
}

// TestTipCallerNumber: the caller's number is shown in full to an
// inspector of the jurisdiction only, on request with a reason, and each
// such view is audited; everywhere else (lists, the tip, its answer and
// steps, the audit log, the export) it is masked, for every role.
func TestTipCallerNumber(t *testing.T) {
	f, _ := alertFixture(t, nil)
	hsi := f.users["hs_inspector"]
	tip := f.registerTip(hsi, "tip-key-caller")
	path := fmt.Sprintf("/api/v1/tips/%d", tip.ID)
	deadline := f.clock.Now().Add(72 * time.Hour).Format(time.RFC3339)
	if code, body := hsi.do("POST", path+"/steps", step("step-key-pass", "pass", "", map[string]any{"deadline": deadline})); code != 200 {
		t.Fatalf("pass: %d %s", code, body)
	}
	for _, c := range []struct {
		who  string
		code int
	}{{"admin", 403}, {"yx_super", 403}, {"wh_super", 403}, {"wh_inspector", 404}} {
		if code, body := f.users[c.who].do("GET", path+"/caller?reason=check", nil); code != c.code {
			t.Errorf("%s asking for the number: %d %s", c.who, code, body)
		}
	}
	if code, body := hsi.do("GET", path+"/caller", nil); code != 400 || errorCode(body) != "reason_required" {
		t.Fatalf("without a reason: %d %s", code, body)
	}
	code, body := hsi.do("GET", path+"/caller?reason="+url.QueryEscape("回访举报人"), nil)
	if code != 200 || !strings.Contains(body, `"caller_number":"`+tipCaller+`"`) {
		t.Fatalf("the number: %d %s", code, body)
	}
	var views int
	if err := f.db.Pool.QueryRow(context.Background(), `SELECT count(*) FROM audit_log WHERE action = 'tip.caller_view'
		AND actor_name = 'hs_inspector' AND reason = '回访举报人' AND (detail->>'tip_id')::bigint = $1`, tip.ID).Scan(&views); err != nil || views != 1 {
		t.Fatalf("caller views audited: %d %v", views, err)
	}
	// Nowhere else, for anyone.
	for _, who := range []string{"admin", "yx_super", "hs_inspector"} {
		for _, p := range []string{"/api/v1/tips", path, path + "/answer", "/api/v1/audit?limit=500"} {
			code, body := f.users[who].do("GET", p, nil)
			if who == "yx_super" && p == "/api/v1/audit?limit=500" {
				continue // supervisors do not read the audit log
			}
			if code != 200 || strings.Contains(body, tipCaller) || strings.Contains(body, "12345678") {
				t.Errorf("%s %s: %d, holds the number: %v", who, p, code, strings.Contains(body, tipCaller))
			}
			if p == path && !strings.Contains(body, `"caller_number":"138****5678"`) {
				t.Errorf("%s: the tip without its masked number: %s", who, body)
			}
		}
	}
	resp := hsi.raw("GET", path+"/export?reason="+url.QueryEscape("移送"), nil)
	file, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || strings.Contains(string(file), tipCaller) || !strings.Contains(string(file), "138****5678") {
		t.Fatalf("export: %d %s", resp.StatusCode, file)
	}
}

// TestTipJurisdiction: a tip belongs to its car's unit: outside that
// subtree it is neither listed, counted, read, answered, exported nor
// worked on.
func TestTipJurisdiction(t *testing.T) {
	f, _ := alertFixture(t, nil)
	tip := f.registerTip(f.users["hs_inspector"], "tip-key-juris")
	path := fmt.Sprintf("/api/v1/tips/%d", tip.ID)
	for _, who := range []string{"wh_super", "wh_inspector"} {
		c := f.users[who]
		if code, body := c.do("GET", "/api/v1/tips", nil); code != 200 || strings.Contains(body, "鄂B00001") || !strings.Contains(body, `"total":0`) {
			t.Errorf("%s's list: %d %s", who, code, body)
		}
		for _, p := range []string{path, path + "/answer", path + "/export?reason=x"} {
			if code, body := c.do("GET", p, nil); code != 404 {
				t.Errorf("%s %s: %d %s", who, p, code, body)
			}
		}
		if code, body := c.do("POST", path+"/steps", step("step-key-wh", "reply", "x", nil)); code != 404 {
			t.Errorf("%s replying: %d %s", who, code, body)
		}
	}
	for _, who := range []string{"admin", "yx_super", "hs_inspector"} {
		if code, body := f.users[who].do("GET", "/api/v1/tips", nil); code != 200 || !strings.Contains(body, `"total":1`) {
			t.Errorf("%s's list: %d %s", who, code, body)
		}
	}
	// Only inspectors register.
	if code, body := f.users["yx_super"].do("POST", "/api/v1/tips", tipBody("tip-key-super")); code != 403 {
		t.Errorf("a supervisor registering: %d %s", code, body)
	}
	// A 武汉 inspector naming a 黄石 plate: the plate is kept as told, the
	// tip is 武汉's own, and its answer finds no 黄石 car.
	code, body := f.users["wh_inspector"].do("POST", "/api/v1/tips", tipBody("tip-key-wh-01"))
	if wt := decodeJSON[tipOut](t, body); code != 201 || wt.VehicleID != 0 {
		t.Fatalf("a plate outside the jurisdiction: %d %s", code, body)
	} else if code, body := f.users["wh_inspector"].do("GET", fmt.Sprintf("/api/v1/tips/%d/answer", wt.ID), nil); code != 200 || strings.Contains(body, "鄂B00001") {
		t.Fatalf("its answer: %d %s", code, body)
	}
}

// TestTipBadInput: each bad field is named, in English and in Chinese.
func TestTipBadInput(t *testing.T) {
	f, _ := alertFixture(t, nil)
	hsi := f.users["hs_inspector"]
	for _, c := range []struct {
		field  string
		value  any
		en, zh string
	}{
		{"key", "short", "key: want 8 to 64 letters", "请求标识（key）"},
		{"channel", "fax", "channel: want phone, letter, web or hotline_12345", "举报渠道：应为电话、信件、网络或 12345 热线"},
		{"caller_number", "call me", "caller_number: want at most 20 digits", "来电号码"},
		{"content", " ", "content: required", "举报内容：必填"},
		{"plate", "", "plate: required, or plate_unsure true", "车牌：必填，或勾选“车牌不确定”"},
		{"to", trackDay.Format(time.RFC3339), "from, to: want from before to, at most 7 days apart", "被举报时间：开始须早于结束"},
		{"received_at", trackDay.Add(80 * time.Hour).Format(time.RFC3339), "received_at: want a time not in the future", "受理时间：不能晚于现在"},
		{"received_at", trackDay.Add(7 * time.Hour).Format(time.RFC3339), "from: want a time before the tip was received", "被举报时间：应早于受理时间"},
		{"radius_m", 60000, "radius_m: want 0 to 50000", "半径：应为 0 到 50000 米"},
		{"area", map[string]any{"type": "LineString", "coordinates": [][]float64{{115, 30}, {115.1, 30.1}}}, "area: want a GeoJSON Polygon", "区域：应为多边形"},
		{"fence_id", 999999, "area, fence_id: give one of them", "地图区域与围栏只能选一个"},
		{"unit_id", 1 << 40, "", ""},
	} {
		b := tipBody("tip-key-bad-" + c.field)
		b[c.field] = c.value
		if c.field == "unit_id" {
			b["plate"], b["plate_unsure"] = "", true
			c.en, c.zh = "unit_id: no such unit in your jurisdiction", "单位不存在，或不在您的管辖范围内"
		}
		if c.field == "area" {
			b["radius_m"] = 0 // a line, not a surface
		}
		code, body := hsi.doLang("en", "POST", "/api/v1/tips", b)
		if code != 400 || !strings.HasPrefix(errorMessage(body), c.en) {
			t.Errorf("%s: %d %s", c.field, code, body)
		}
		code, body = hsi.doLang("zh-CN", "POST", "/api/v1/tips", b)
		if code != 400 || !strings.HasPrefix(errorMessage(body), c.zh) {
			t.Errorf("%s in Chinese: %d %s", c.field, code, body)
		}
	}
	tip := f.registerTip(hsi, "tip-key-good")
	path := fmt.Sprintf("/api/v1/tips/%d/steps", tip.ID)
	for _, c := range []struct {
		body map[string]any
		en   string
	}{
		{step("step-key-b1", "approve", "", nil), "action: want pass, reply, verify, feedback or close"},
		{step("step-key-b2", "pass", "", nil), "deadline: required to pass the tip to the unit"},
		{step("step-key-b3", "pass", "", map[string]any{"deadline": f.clock.Now().Add(-time.Hour).Format(time.RFC3339)}), "deadline: want a time still to come"},
		{step("step-key-b4", "reply", "", map[string]any{"deadline": f.clock.Now().Add(time.Hour).Format(time.RFC3339)}), "deadline, vehicle_id, unit_id: only when passing"},
		{step("step-key-b5", "verify", "x", map[string]any{"outcome": "maybe"}), "outcome: want substantiated or unsubstantiated"},
		{step("step-key-b6", "feedback", "", nil), "reason: required for this step"},
		{step("step-key-b7", "verify", "x", map[string]any{"outcome": "substantiated", "alert_ids": []string{"no-such"}}), `alert_ids: no alert "no-such" in your jurisdiction`},
	} {
		if code, body := hsi.doLang("en", "POST", path, c.body); code != 400 || !strings.HasPrefix(errorMessage(body), c.en) {
			t.Errorf("%v: %d %s", c.body, code, body)
		}
	}
}

// TestTipOverdue: a tip passed to its unit whose deadline goes by without
// a reply is overdue, first in the list, counted and filtered; the reply
// ends it.
func TestTipOverdue(t *testing.T) {
	f, _ := alertFixture(t, nil)
	hsi, ysup := f.users["hs_inspector"], f.users["yx_super"]
	late := f.registerTip(hsi, "tip-key-late")
	f.clock.Advance(time.Minute)
	fresh := f.registerTip(hsi, "tip-key-fresh")
	deadline := f.clock.Now().Add(24 * time.Hour).Format(time.RFC3339)
	if code, body := hsi.do("POST", fmt.Sprintf("/api/v1/tips/%d/steps", late.ID), step("step-key-l1", "pass", "", map[string]any{"deadline": deadline})); code != 200 {
		t.Fatalf("pass: %d %s", code, body)
	}
	f.clock.Advance(25 * time.Hour)
	if code, body := ysup.login("yx_super", ysup.password); code != 200 { // the session expired meanwhile
		t.Fatalf("login again: %d %s", code, body)
	}
	code, body := ysup.do("GET", "/api/v1/tips", nil)
	list := decodeJSON[struct {
		Items  []tipOut       `json:"items"`
		Counts map[string]int `json:"counts"`
	}](t, body)
	if code != 200 || len(list.Items) != 2 || list.Items[0].ID != late.ID || !list.Items[0].Overdue || list.Items[1].ID != fresh.ID ||
		list.Items[1].Overdue || list.Counts["overdue"] != 1 || list.Counts["passed"] != 1 || list.Counts["registered"] != 1 {
		t.Fatalf("list: %d %s", code, body)
	}
	if code, body := ysup.do("GET", "/api/v1/tips?overdue=true", nil); code != 200 || !strings.Contains(body, `"total":1`) {
		t.Fatalf("overdue only: %d %s", code, body)
	}
	if code, body := ysup.do("POST", fmt.Sprintf("/api/v1/tips/%d/steps", late.ID), step("step-key-l2", "reply", "已整改", nil)); code != 200 ||
		decodeJSON[tipOut](t, body).Overdue {
		t.Fatalf("the reply: %d %s", code, body)
	}
}

// TestTipExportVerified: a tip's export is evidence: verified intact with
// its case, and a case line edited in the file is named.
func TestTipExportVerified(t *testing.T) {
	f, _ := alertFixture(t, nil)
	hsi := f.users["hs_inspector"]
	tip := f.registerTip(hsi, "tip-key-export")
	deadline := f.clock.Now().Add(72 * time.Hour).Format(time.RFC3339)
	if code, body := hsi.do("POST", fmt.Sprintf("/api/v1/tips/%d/steps", tip.ID), step("step-key-e1", "pass", "请核查", map[string]any{"deadline": deadline})); code != 200 {
		t.Fatalf("pass: %d %s", code, body)
	}
	resp := hsi.raw("GET", fmt.Sprintf("/api/v1/tips/%d/export?reason=%s", tip.ID, url.QueryEscape("移送纪委")), nil)
	file, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !strings.Contains(string(file), "有公车停在酒店门口") {
		t.Fatalf("export: %d %s", resp.StatusCode, file)
	}
	ck, err := VerifyExport(context.Background(), f.store, file, nil)
	if err != nil || !ck.Intact() || ck.Tip == nil || ck.Tip.TipID != tip.ID || ck.Tip.Steps != 2 || len(ck.Tip.Problems) != 0 || ck.Manifest.Rows != 3 {
		t.Fatalf("verify: %+v %+v %v", ck, ck.Tip, err)
	}
	edited := []byte(strings.Replace(string(file), "有公车停在酒店门口", "有公车停在单位门口", 1))
	ck, err = VerifyExport(context.Background(), f.store, edited, nil)
	if err != nil || ck.Intact() || ck.Tip == nil || len(ck.Tip.Problems) != 1 || !strings.Contains(ck.Tip.Problems[0], "line 4 of the case") {
		t.Fatalf("edited: %+v %v", ck.Tip, err)
	}
}
