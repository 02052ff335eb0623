package api

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"strings"
	"testing"

	"fleetmon/alerts"
)

type calendarAnswer struct {
	Own               bool                `json:"own"`
	Changed           *bool               `json:"changed"`
	InheritedFrom     int64               `json:"inherited_from"`
	InheritedFromName string              `json:"inherited_from_name"`
	Calendar          alerts.CalendarSpec `json:"calendar"`
	Parent            *struct {
		InheritedFrom     int64               `json:"inherited_from"`
		InheritedFromName string              `json:"inherited_from_name"`
		Calendar          alerts.CalendarSpec `json:"calendar"`
	} `json:"parent"`
}

// actionCount counts the audit entries of action.
func (f *fixture) actionCount(action string) int {
	f.t.Helper()
	var n int
	if err := f.db.Pool.QueryRow(context.Background(), "SELECT count(*) FROM audit_log WHERE action = $1", action).Scan(&n); err != nil {
		f.t.Fatal(err)
	}
	return n
}

// TestCalendarEditing: a unit inherits its nearest ancestor's calendar
// and is told which (and what its parent gives, to compare); its own
// calendar, set, set again (no change, nothing audited) and cleared
// (inherits again); its own days imported from an iCalendar file, all or
// nothing, every bad event refused in Chinese; each change audited with
// it, within the jurisdiction.
func TestCalendarEditing(t *testing.T) {
	f, rules := alertFixture(t, nil)
	ysup, wsup, hsi, admin := f.users["yx_super"], f.users["wh_super"], f.users["hs_inspector"], f.users["admin"]
	yx, hs := f.units["湖北省/黄石市/阳新县"], f.units["湖北省/黄石市"]
	path := fmt.Sprintf("/api/v1/units/%d/calendar", yx)
	get := func() calendarAnswer {
		t.Helper()
		code, body := ysup.do("GET", path, nil)
		if code != 200 {
			t.Fatalf("get calendar: %d %s", code, body)
		}
		return decodeJSON[calendarAnswer](t, body)
	}

	city := `{"week":[[],[{"start":"08:30","end":"17:30"}],[{"start":"08:30","end":"17:30"}],[{"start":"08:30","end":"17:30"}],[{"start":"08:30","end":"17:30"}],[{"start":"08:30","end":"17:30"}],[]]}`
	if code, body := admin.do("PUT", fmt.Sprintf("/api/v1/units/%d/calendar", hs), city); code != 200 {
		t.Fatalf("黄石市's calendar: %d %s", code, body)
	}
	if c := get(); c.Own || c.InheritedFrom != hs || c.InheritedFromName != "黄石市" || c.Parent == nil || c.Parent.InheritedFrom != hs {
		t.Errorf("阳新县 inherits: %+v", c)
	}

	own := `{"week":[[],[{"start":"08:00","end":"12:00"},{"start":"14:30","end":"18:00"}],[],[],[],[],[]]}`
	for i, want := range []bool{true, false} {
		code, body := ysup.do("PUT", path, own)
		c := decodeJSON[calendarAnswer](t, body)
		if code != 200 || !c.Own || c.Changed == nil || *c.Changed != want || c.Calendar.Revision != 1 || c.Parent.InheritedFrom != hs {
			t.Errorf("put %d: %d %s", i, code, body)
		}
	}
	if n := f.actionCount("calendar.put"); n != 2 { // 黄石市's and 阳新县's, not the repeat
		t.Errorf("%d calendar.put entries, want 2", n)
	}
	code, body := ysup.doIn("zh-CN", "PUT", path, `{"week":[[],[{"start":"18:00","end":"08:00"}],[],[],[],[],[]]}`)
	if msg := errorMessage(body); code != 400 || msg != "周一：时段 18:00–08:00 无效（开始须早于结束，并在 00:00–24:00 之内）" {
		t.Errorf("a bad period in Chinese: %d %q", code, msg)
	}
	if code, body := ysup.doIn("en", "PUT", path, `{"week":[[],[{"start":"09:00","end":"12:00"},{"start":"11:00","end":"13:00"}],[],[],[],[],[]]}`); code != 400 ||
		errorMessage(body) != "Monday: periods overlap or are out of order" {
		t.Errorf("overlapping periods in English: %d %s", code, body)
	}

	// The unit's own days from an iCalendar file (2025's, as the public
	// feeds write them).
	ics, err := os.ReadFile("../alerts/testdata/holidays-2025.ics")
	if err != nil {
		t.Fatal(err)
	}
	bad, err := os.ReadFile("../alerts/testdata/holidays-bad.ics")
	if err != nil {
		t.Fatal(err)
	}
	days := path + "/days?year=2025"
	if code, body := wsup.do("POST", days, string(ics)); code != 404 {
		t.Errorf("武汉 supervisor imports 阳新县's days: %d %s", code, body)
	}
	if code, body := hsi.do("POST", days, string(ics)); code != 403 {
		t.Errorf("inspector imports days: %d %s", code, body)
	}
	code, body = ysup.doIn("zh-CN", "POST", days, string(bad))
	var refused struct {
		Error struct {
			Code    string      `json:"code"`
			Message string      `json:"message"`
			Lines   []lineError `json:"lines"`
		} `json:"error"`
	}
	_ = json.Unmarshal([]byte(body), &refused)
	if code != 400 || refused.Error.Code != "bad_lines" || len(refused.Error.Lines) != 7 || !strings.HasPrefix(refused.Error.Message, "未导入任何内容：第 12 行：事件“春节团拜会”：DTSTART：20270206T090000 是北京时间 09:00") {
		t.Errorf("a bad file: %d %s", code, body)
	}
	for _, want := range []string{"只写了“调休”", "补班日 2027-01-04 是周一，不是周六或周日", "2027-01-02 已在第 4 行的事件“元旦假期”中", "不支持重复事件（RRULE）", "“2027-05-01”不是日期"} {
		if !strings.Contains(refused.Error.Message, want) {
			t.Errorf("the refusal does not say %q: %s", want, refused.Error.Message)
		}
	}
	if c := get(); c.Calendar.Revision != 1 || len(c.Calendar.Overrides) != 0 {
		t.Errorf("a refused file changed the calendar: %+v", c.Calendar)
	}
	for i, want := range []bool{true, false} {
		code, body := ysup.do("POST", days, string(ics))
		c := decodeJSON[calendarAnswer](t, body)
		if code != 200 || c.Changed == nil || *c.Changed != want || c.Calendar.Revision != 2 {
			t.Fatalf("import %d: %d %s", i, code, body)
		}
	}
	c := get()
	if len(c.Calendar.Overrides) != 33 || c.Calendar.Week[1][1].End != 18*60 {
		t.Errorf("after the import: %d days, week %v", len(c.Calendar.Overrides), c.Calendar.Week)
	}
	for _, o := range c.Calendar.Overrides {
		if o.Date == alerts.MustDate("2025-01-26") && (o.Kind != alerts.Workday || o.Name != "春节补班") {
			t.Errorf("2025-01-26: %+v", o)
		}
	}
	if code, body := ysup.do("POST", path+"/days?year=2031", string(ics)); code != 400 || !strings.Contains(body, "no day of 2031") {
		t.Errorf("a year the file does not hold: %d %s", code, body)
	}
	if n := f.actionCount("calendar.days_import"); n != 1 {
		t.Errorf("%d calendar.days_import entries, want 1", n)
	}

	// Clear: inherit 黄石市's again.
	if code, body := wsup.do("DELETE", path, nil); code != 404 {
		t.Errorf("武汉 supervisor clears 阳新县's calendar: %d %s", code, body)
	}
	for i, want := range []bool{true, false} {
		code, body := ysup.do("DELETE", path, nil)
		c := decodeJSON[calendarAnswer](t, body)
		if code != 200 || c.Own || c.InheritedFrom != hs || c.Changed == nil || *c.Changed != want {
			t.Errorf("clear %d: %d %s", i, code, body)
		}
	}
	if code, body := admin.do("DELETE", "/api/v1/units/0/calendar", nil); code != 400 {
		t.Errorf("clear the default: %d %s", code, body)
	}
	if n := f.actionCount("calendar.clear"); n != 1 {
		t.Errorf("%d calendar.clear entries, want 1", n)
	}
	var detail string
	if err := f.db.Pool.QueryRow(context.Background(), `SELECT detail::text FROM audit_log WHERE action = 'calendar.days_import'`).Scan(&detail); err != nil ||
		!strings.Contains(detail, "2025-01-26 春节补班") {
		t.Errorf("the import's audit entry: %s %v", detail, err)
	}
	// 2 puts, 1 import, 1 clear.
	if got := rules.Reloads(); got != 4 {
		t.Errorf("%d reloads, want 4", got)
	}
}

// TestHolidayImport: the national calendar, from an iCalendar file, one
// year of it; again, nothing changes; a bad file imports nothing and says
// why in Chinese.
func TestHolidayImport(t *testing.T) {
	f, _ := alertFixture(t, nil)
	ysup, admin := f.users["yx_super"], f.users["admin"]
	ics, err := os.ReadFile("../alerts/testdata/holidays-2025.ics")
	if err != nil {
		t.Fatal(err)
	}
	if code, body := ysup.do("PUT", "/api/v1/holidays?year=2025", string(ics)); code != 403 {
		t.Errorf("a supervisor imports the national calendar: %d %s", code, body)
	}
	for i, want := range []string{`"changed":[2025]`, `"changed":[]`} {
		if code, body := admin.do("PUT", "/api/v1/holidays?year=2025", string(ics)); code != 200 || !strings.Contains(body, want) {
			t.Errorf("import %d: %d %s", i, code, body)
		}
	}
	code, body := admin.do("GET", "/api/v1/holidays", nil)
	if code != 200 || !strings.Contains(body, `"workday_names":{"2025-01-26":"春节"`) {
		t.Errorf("holidays: %d %s", code, body)
	}
	before := body
	code, body = admin.doIn("zh-CN", "PUT", "/api/v1/holidays", "BEGIN:VCALENDAR\r\nBEGIN:VEVENT\r\nDTSTART;VALUE=DATE:20270102\r\nSUMMARY:调休\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n")
	if msg := errorMessage(body); code != 400 || msg != "未导入任何内容：第 4 行：事件“调休”：只写了“调休”，没有说明这天是上班（补班）还是放假：无法判断" {
		t.Errorf("a bad file in Chinese: %d %q", code, msg)
	}
	if code, body := admin.doIn("zh-CN", "PUT", "/api/v1/holidays", "hello"); code != 400 || !strings.Contains(errorMessage(body), "请上传 holidays-cn.json 格式或 iCalendar（.ics）文件") {
		t.Errorf("not a calendar: %d %s", code, body)
	}
	if _, after := admin.do("GET", "/api/v1/holidays", nil); after != before {
		t.Error("a refused file changed the holidays")
	}
	if n := f.actionCount("holidays.import"); n != 1 {
		t.Errorf("%d holidays.import entries, want 1", n)
	}
}
