package main

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"fleetmon/api/uitest"
)

// unitDaysICS is a unit's own arrangement for 2027 as an office calendar
// exports it: a two-day closure (multi-day, DTEND exclusive), its make-up
// Saturday (补班), and a flood-duty Saturday written as a timed event at
// Beijing midnight with CATEGORIES:上班.
const unitDaysICS = "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//黄石市机关事务中心//作息调整//ZH\r\nX-WR-CALNAME:黄石市机关 2027 年作息调整\r\nX-WR-TIMEZONE:Asia/Shanghai\r\n" +
	"BEGIN:VEVENT\r\nUID:hs-2027-1\r\nDTSTART;VALUE=DATE:20270503\r\nDTEND;VALUE=DATE:20270505\r\nSUMMARY:单位集中休假 放假\r\nEND:VEVENT\r\n" +
	"BEGIN:VEVENT\r\nUID:hs-2027-2\r\nDTSTART;VALUE=DATE:20270508\r\nSUMMARY:单位集中休假补班\r\nDESCRIPTION:补班 第1天/共1天\r\nEND:VEVENT\r\n" +
	"BEGIN:VEVENT\r\nUID:hs-2027-3\r\nDTSTART;TZID=Asia/Shanghai:20270710T000000\r\nDTEND;TZID=Asia/Shanghai:20270711T000000\r\nSUMMARY:防汛值班\r\nCATEGORIES:上班\r\nEND:VEVENT\r\n" +
	"END:VCALENDAR\r\n"

// TestCalendarsInBrowser walks the work calendars tab as a 黄石市
// supervisor: the unit inherits the standard week; Monday's hours are set
// on the grid to 08:00–12:00 and 14:30–18:00 and Friday afternoon taken
// off, which the grid marks as this unit's own; a backward period is
// refused in Chinese; the unit's 2027 days are imported from an .ics file
// and shown on the year's calendar; a bad .ics is refused in Chinese with
// every bad event and nothing changed. Each change is then seen through
// the API and in the audit log. An administrator at the top imports the
// 2025 national notice from an .ics file and sees its 补班 days named.
func TestCalendarsInBrowser(t *testing.T) {
	ctx := uitest.Browser(t, 6*time.Minute)
	shots := uitest.ArtifactDir(t)
	db, otp, token := seedFleet(t, "plate,plate_color,terminal_phone,unit,category\n"+
		"鄂B10001,1,13800000011,湖北省/黄石市,general\n"+
		"鄂A20001,1,13800000021,湖北省/武汉市,general\n", "hs_super", "supervisor", "湖北省/黄石市")
	bossOTP, bossToken := addUser(t, db, "boss", "admin", "")
	srv := startServe(t, "--db", db, "--data-dir", t.TempDir())
	base := "http://" + srv.HTTP
	p := &uitest.Page{Ctx: ctx, T: t, Shots: shots, Detail: srv.Stderr.String}
	dir := t.TempDir()
	writeICS := func(name, text string) string {
		path := filepath.Join(dir, name)
		if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
		return path
	}
	// set types v into the input sel and commits it, as a user does.
	set := func(sel, v string) {
		t.Helper()
		var ok bool
		p.Eval(`(() => { const e = document.querySelector(`+jsQuote(sel)+`); if (!e) return false; e.value = `+jsQuote(v)+
			`; e.dispatchEvent(new Event('change')); return true })()`, &ok)
		if !ok {
			t.Fatalf("no %s on the page", sel)
		}
	}
	_, units := apiText(t, base, token, "/api/v1/units")
	var list struct {
		Items []struct {
			ID   int64  `json:"id"`
			Path string `json:"path"`
		} `json:"items"`
	}
	_ = json.Unmarshal([]byte(units), &list)
	var hs int64
	for _, u := range list.Items {
		if u.Path == "湖北省/黄石市" {
			hs = u.ID
		}
	}
	if hs == 0 {
		t.Fatalf("no 黄石市 in %s", units)
	}
	type calendar struct {
		Own      bool `json:"own"`
		Calendar struct {
			Revision  int `json:"revision"`
			Week      [7][]struct{ Start, End string }
			Overrides []struct {
				Date, Kind, Name string
			} `json:"overrides"`
		} `json:"calendar"`
	}
	readCalendar := func() calendar {
		t.Helper()
		code, body := apiText(t, base, token, fmt.Sprintf("/api/v1/units/%d/calendar", hs))
		var c calendar
		if err := json.Unmarshal([]byte(body), &c); code != 200 || err != nil {
			t.Fatalf("the calendar through the API: %d %s", code, body)
		}
		return c
	}
	auditCount := func(action string) int {
		t.Helper()
		_, audit := apiText(t, base, bossToken, "/api/v1/audit?limit=500")
		return strings.Count(audit, `"action":"`+action+`"`)
	}

	uitest.Login(ctx, t, base, "hs_super", otp, "Huangshi-Fleet-2026!")
	adminPage(p, base, "calendars", `!!document.querySelector('#cal-grid tr[data-day="1"] .cal-start')`)
	if tabs := p.String(jsText("#tabs a")); tabs != "车辆|终端|用车审批|规则参数|告警通知|工作日历" {
		t.Errorf("a supervisor's tabs: %q", tabs)
	}
	if s := p.String(`document.querySelector('#cal-status').textContent`); !strings.HasPrefix(s, "本单位没有自己的工作日历，继承自") {
		t.Errorf("the status before any change: %q", s)
	}

	// Monday 08:00–12:00 and 14:30–18:00; Friday afternoon off.
	mon := `#cal-grid tr[data-day="1"] `
	set(mon+`.cal-period[data-i="0"] .cal-start`, "08:00")
	set(mon+`.cal-period[data-i="1"] .cal-start`, "14:30")
	set(mon+`.cal-period[data-i="1"] .cal-end`, "18:00")
	p.Do(chromedp.Click(chromedp.CSS(`#cal-grid tr[data-day="5"] .cal-period[data-i="1"] [data-act=remove-period]`)))
	p.Poll("Monday and Friday marked as this unit's own",
		`document.querySelector('#cal-grid tr[data-day="1"] .cal-badge').dataset.state === 'overridden' && `+
			`document.querySelector('#cal-grid tr[data-day="5"] .cal-badge').dataset.state === 'overridden' && `+
			`document.querySelector('#cal-grid tr[data-day="2"] .cal-badge').dataset.state === 'inherited'`)
	uitest.Screenshot(ctx, t, shots, "01-hours-edited")
	p.Do(chromedp.Click(chromedp.CSS(`.toolbar [data-act=save]`)))
	p.Poll("saved as this unit's own", `document.querySelector('#cal-status').dataset.own === 'true'`)
	if c := readCalendar(); !c.Own || fmt.Sprint(c.Calendar.Week[1]) != "[{08:00 12:00} {14:30 18:00}]" || len(c.Calendar.Week[5]) != 1 || c.Calendar.Revision != 1 {
		t.Errorf("the hours through the API: %+v", c)
	}

	// A backward period: refused in Chinese, nothing changed.
	set(`#cal-grid tr[data-day="2"] .cal-period[data-i="0"] .cal-start`, "18:00")
	set(`#cal-grid tr[data-day="2"] .cal-period[data-i="0"] .cal-end`, "09:00")
	p.Do(chromedp.Click(chromedp.CSS(`.toolbar [data-act=save]`)))
	p.Poll("a backward period refused in Chinese", `document.querySelector('#cal-msg').textContent.startsWith('周二：时段 18:00–09:00 无效')`)
	uitest.Screenshot(ctx, t, shots, "02-bad-period")
	if c := readCalendar(); c.Calendar.Revision != 1 {
		t.Errorf("a refused calendar was stored: revision %d", c.Calendar.Revision)
	}
	p.Do(chromedp.Click(chromedp.CSS(`#cal-grid tr[data-day="2"] [data-act=inherit-day]`)))
	p.Poll("Tuesday inherited again", `document.querySelector('#cal-grid tr[data-day="2"] .cal-badge').dataset.state === 'inherited'`)

	// The unit's 2027 days from an .ics file.
	set(`#hol-year`, "2027")
	p.Poll("2027 chosen", `document.querySelector('#cal-days-year').value === '2027' && !!document.querySelector('#hol-calendar td[data-date="2027-05-08"]')`)
	p.Do(chromedp.SetUploadFiles(chromedp.CSS("#cal-days-file"), []string{writeICS("hs-2027.ics", unitDaysICS)}))
	p.Poll("the unit's days imported", `document.querySelector('#cal-import-result').textContent === '已导入 2027 年的特殊日'`)
	p.Poll("shown in the list and on the calendar",
		`!!document.querySelector('#cal-days-list tr[data-date="2027-05-04"]') && `+
			`document.querySelector('#hol-calendar td[data-date="2027-05-08"]').classList.contains('own-work') && `+
			`document.querySelector('#hol-calendar td[data-date="2027-05-03"]').classList.contains('own-off')`)
	if s := p.String(`document.querySelector('#cal-msg').textContent`); s != "" {
		t.Errorf("the refusal still shown after the import: %q", s)
	}
	uitest.Screenshot(ctx, t, shots, "03-unit-days-imported")
	c := readCalendar()
	got := map[string]string{}
	for _, o := range c.Calendar.Overrides {
		got[o.Date] = o.Kind + " " + o.Name
	}
	for d, want := range map[string]string{"2027-05-03": "holiday 单位集中休假", "2027-05-04": "holiday 单位集中休假",
		"2027-05-08": "workday 单位集中休假补班", "2027-07-10": "workday 防汛值班"} {
		if got[d] != want {
			t.Errorf("%s through the API: %q, want %q", d, got[d], want)
		}
	}
	if len(got) != 4 || c.Calendar.Revision != 2 || fmt.Sprint(c.Calendar.Week[1]) != "[{08:00 12:00} {14:30 18:00}]" {
		t.Errorf("the calendar after the import: %+v", c)
	}

	// A bad .ics: every bad event in Chinese, nothing changed.
	bad, err := os.ReadFile(filepath.Join("..", "..", "alerts", "testdata", "holidays-bad.ics"))
	if err != nil {
		t.Fatal(err)
	}
	p.Do(chromedp.SetUploadFiles(chromedp.CSS("#cal-days-file"), []string{writeICS("bad.ics", string(bad))}))
	p.Poll("the bad file refused", `!!document.querySelector('#cal-import-result .bad-lines li[data-line="12"]')`)
	if title := p.String(`document.querySelector('#cal-import-result .import-title').textContent`); title != "未导入任何内容：7 处错误，请修改文件后重新导入" {
		t.Errorf("the refusal's title: %q", title)
	}
	lines := p.String(jsText("#cal-import-result .bad-lines li"))
	for _, want := range []string{"第 12 行：事件“春节团拜会”：DTSTART：20270206T090000 是北京时间 09:00，不是零点", "第 19 行：事件“春节调休”：只写了“调休”",
		"第 23 行：事件“元旦补班”：补班日 2027-01-04 是周一，不是周六或周日", "第 26 行：事件“元旦（休）”：2027-01-02 已在第 4 行的事件“元旦假期”中"} {
		if !strings.Contains(lines, want) {
			t.Errorf("the bad lines do not say %q: %s", want, lines)
		}
	}
	scrollTo := func(sel string) {
		t.Helper()
		var ok bool
		p.Eval(`(() => { document.querySelector(`+jsQuote(sel)+`).scrollIntoView(); return true })()`, &ok)
		p.Poll(sel+" in view", `document.querySelector(`+jsQuote(sel)+`).getBoundingClientRect().top < window.innerHeight / 2`)
	}
	scrollTo("#cal-import-result")
	uitest.Screenshot(ctx, t, shots, "04-bad-ics-refused")
	if c := readCalendar(); c.Calendar.Revision != 2 || len(c.Calendar.Overrides) != 4 {
		t.Errorf("a refused file changed the calendar: %+v", c)
	}

	// The national calendar: 2026's 春节 and its 补班 as shipped.
	set(`#hol-year`, "2026")
	p.Poll("2026's 春节 on the calendar", `document.querySelector('#hol-calendar td[data-date="2026-02-16"]').classList.contains('hol') && `+
		`document.querySelector('#hol-calendar td[data-date="2026-02-14"]').classList.contains('mk')`)
	if p.String(`document.querySelector('#hol-file') ? 'shown' : ''`) != "" {
		t.Error("a supervisor is offered the national import")
	}
	scrollTo("#hol")
	uitest.Screenshot(ctx, t, shots, "05-holidays-2026")

	// Each change audited; a repeated import changes nothing.
	if n, m := auditCount("calendar.put"), auditCount("calendar.days_import"); n != 1 || m != 1 {
		t.Errorf("audit: %d calendar.put, %d calendar.days_import; want 1 and 1", n, m)
	}
	_, audit := apiText(t, base, bossToken, "/api/v1/audit?limit=500&user=hs_super")
	if !strings.Contains(audit, `"2027-07-10 防汛值班"`) || !strings.Contains(audit, `"unit_id":`+fmt.Sprint(hs)) {
		t.Errorf("the audit entries do not say what changed: %s", audit)
	}

	// An administrator at the top imports the 2025 notice from an .ics.
	p.Do(chromedp.Click(chromedp.CSS("#logout")), chromedp.WaitVisible(chromedp.CSS("#name")))
	uitest.Login(ctx, t, base, "boss", bossOTP, "Head-of-the-Fleet-2026!")
	adminPage(p, base, "calendars", `!!document.querySelector('#hol-file')`)
	set(`#hol-year`, "2025")
	p.Poll("2025 chosen", `!!document.querySelector('#hol-calendar td[data-date="2025-01-26"]') && !!document.querySelector('#hol-file')`)
	national, err := filepath.Abs(filepath.Join("..", "..", "alerts", "testdata", "holidays-2025.ics"))
	if err != nil {
		t.Fatal(err)
	}
	p.Do(chromedp.SetUploadFiles(chromedp.CSS("#hol-file"), []string{national}))
	p.Poll("the notice imported", `document.querySelector('#hol-import-result') && document.querySelector('#hol-import-result').textContent === '已导入 2025 年放假安排'`)
	p.Poll("its 补班 named", `!!document.querySelector('#hol-list li[data-date="2025-01-26"]') && document.querySelector('#hol-list li[data-date="2025-01-26"]').textContent.includes('春节补班')`)
	scrollTo("#hol-calendar")
	uitest.Screenshot(ctx, t, shots, "06-national-2025")
	if _, body := apiText(t, base, bossToken, "/api/v1/holidays"); !strings.Contains(body, `"2025-01-26":"春节"`) {
		t.Errorf("the holidays through the API: %s", body)
	}
	if n := auditCount("holidays.import"); n != 1 {
		t.Errorf("%d holidays.import entries, want 1", n)
	}
}
