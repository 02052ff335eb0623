package api

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
)

// postCSVIn posts a CSV body asking for lang and returns the status and
// the answer's bad lines.
func postCSVIn(c *client, lang, path, body string) (int, []lineError, string) {
	c.f.t.Helper()
	req, _ := http.NewRequest("POST", c.f.ts.URL+path, strings.NewReader(body))
	req.Header.Set("Content-Type", "text/csv")
	req.Header.Set("Accept-Language", lang)
	req.Header.Set("X-CSRF-Token", c.csrf)
	resp, err := c.hc.Do(req)
	if err != nil {
		c.f.t.Fatal(err)
	}
	defer resp.Body.Close()
	var b badLinesJSON
	_ = json.NewDecoder(resp.Body).Decode(&b)
	return resp.StatusCode, b.Error.Lines, b.Error.Code
}

// TestImportBadLinesOneByOne: the approval and unit imports answer every
// bad line on its own, with its line number and its reason in the
// language asked for, as the vehicle import does, so that the page shows
// each; nothing of such a file is stored.
func TestImportBadLinesOneByOne(t *testing.T) {
	f := newFixture(t, nil)
	setupRoles(f)
	ysup, admin := f.users["yx_super"], f.users["admin"]

	bad := "vehicle_plate,driver,purpose,from,to,approver\n" +
		"鄂B00001,王五,会议,2026-11-21 08:00,2026-11-21 12:00,李四\n" +
		"鄂A00003,赵六,会议,2026-11-21 08:00,2026-11-21 12:00,李四\n" +
		"鄂B00001,王五,会议,明天,2026-11-21 12:00,李四\n" +
		"鄂B00001,王五,会议,2026-11-21 12:00,2026-11-21 08:00,李四\n" +
		"鄂B00001,王五\n"
	code, lines, errCode := postCSVIn(ysup, "zh-CN", "/api/v1/approvals/import", bad)
	want := []lineError{
		{3, "车辆“鄂A00003”不存在，或不在您的管辖范围内"},
		{4, "“明天”不是有效时间，应如 2026-11-20 08:30 或 2026-11-20T08:30:00+08:00"},
		{5, "开始、结束时间：开始须早于结束，且相隔不超过 366 天"},
		{6, "应为 6 列：车牌、驾驶员、事由、开始时间、结束时间、审批人"},
	}
	if code != 400 || errCode != "bad_lines" || fmt.Sprint(lines) != fmt.Sprint(want) {
		t.Errorf("approvals with bad lines, in Chinese: %d %s %v, want %v", code, errCode, lines, want)
	}
	if code, lines, _ := postCSVIn(ysup, "en", "/api/v1/approvals/import", bad); code != 400 || len(lines) != 4 ||
		lines[0].Message != `no vehicle "鄂A00003" in your jurisdiction` {
		t.Errorf("approvals with bad lines, in English: %d %v", code, lines)
	}
	if code, lines, _ := postCSVIn(ysup, "zh-CN", "/api/v1/approvals/import", "鄂B00001,王五,会议,2026-11-21 08:00,2026-11-21 12:00,李四\n鄂B00001,\"王五,x\n"); code != 400 ||
		len(lines) != 1 || lines[0].Line != 2 {
		t.Errorf("an approval file that is not CSV: %d %v", code, lines)
	}
	if code, body := ysup.do("GET", "/api/v1/approvals", nil); code != 200 || !strings.Contains(body, `"total":0`) {
		t.Errorf("a refused import stored something: %d %s", code, body)
	}

	// The list by unit: 阳新县's approvals, none of 大冶市's.
	good := "鄂B00001,王五,会议,2026-11-21 08:00,2026-11-21 12:00,李四\n"
	if code, _, _ := postCSVIn(ysup, "zh-CN", "/api/v1/approvals/import", good); code != 200 {
		t.Fatalf("a good approval file: %d", code)
	}
	for unit, n := range map[string]int{"湖北省/黄石市/阳新县": 1, "湖北省/黄石市/大冶市": 0, "湖北省/黄石市": 1} {
		code, body := admin.do("GET", fmt.Sprintf("/api/v1/approvals?unit_id=%d", f.units[unit]), nil)
		if got, _ := total(t, body); code != 200 || got != n {
			t.Errorf("approvals of %s: %d %s, want %d", unit, code, body, n)
		}
	}
	if code, body := ysup.do("GET", fmt.Sprintf("/api/v1/approvals?unit_id=%d", f.units["湖北省/武汉市"]), nil); code != 200 || !strings.Contains(body, `"total":0`) {
		t.Errorf("approvals of a unit outside: %d %s", code, body)
	}

	// Units: each bad line, in Chinese.
	code, lines, errCode = postCSVIn(admin, "zh-CN", "/api/v1/units/import", "path\n湖北省/鄂州市\n湖北省//黄石市\n/\n")
	want = []lineError{{3, "“湖北省//黄石市”不是单位路径，应如 湖北省/黄石市"}, {4, "“/”不是单位路径，应如 湖北省/黄石市"}}
	if code != 400 || errCode != "bad_lines" || fmt.Sprint(lines) != fmt.Sprint(want) {
		t.Errorf("units with bad lines: %d %s %v, want %v", code, errCode, lines, want)
	}
	if _, body := admin.do("GET", "/api/v1/units", nil); strings.Contains(body, "鄂州市") {
		t.Errorf("a refused unit import stored something: %s", body)
	}
}
