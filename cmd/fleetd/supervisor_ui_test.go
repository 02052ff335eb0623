package main

import (
	"encoding/json"
	"fmt"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"fleetmon/api/uitest"
)

// unitIDs reads the units a token's user sees, by path.
func unitIDs(t *testing.T, base, token string) map[string]int64 {
	t.Helper()
	code, body := apiText(t, base, token, "/api/v1/units")
	var r struct {
		Items []struct {
			ID   int64  `json:"id"`
			Path string `json:"path"`
		} `json:"items"`
	}
	if err := json.Unmarshal([]byte(body), &r); code != 200 || err != nil {
		t.Fatalf("units: %d %s %v", code, body, err)
	}
	out := map[string]int64{}
	for _, u := range r.Items {
		out[u.Path] = u.ID
	}
	return out
}

// click opens what the button sel opens and waits for the dialog id.
func click(p *uitest.Page, sel, dialog string) {
	p.T.Helper()
	p.Do(chromedp.Click(chromedp.CSS(sel)), chromedp.WaitVisible(chromedp.CSS("#"+dialog)))
}

// save submits the dialog id and waits for it to close.
func save(p *uitest.Page, dialog, what string) {
	p.T.Helper()
	p.Do(chromedp.Click(chromedp.CSS("#" + dialog + " [data-act=save]")))
	p.Poll(what, `!document.querySelector('#`+dialog+`')`)
}

// optionValue is the value of the option of the select sel showing text.
func optionValue(p *uitest.Page, sel, text string) string {
	p.T.Helper()
	return p.String(`[...document.querySelectorAll(` + jsQuote(sel+" option") + `)].find(o => o.textContent === ` + jsQuote(text) + `).value`)
}

// TestSupervisorWalkthroughInBrowser walks the workbench as the head of
// 黄石市 does from the first day: the administrator at the top creates
// their account, whose one-time password is shown once; they log in with
// it and are made to change it (the rule shown, the password asked
// twice); then they create a unit, a vehicle in it, bind its terminal,
// seal it from a date with a reason, set a speed limit in km/h and see it
// inherited below, enter trip approvals and see whether each is in
// effect, and create a user. Each change is then seen through the API and
// in the audit log. A change reaching outside the jurisdiction (a page
// whose form was tampered with) and a CSV file with bad lines are each
// refused with the reason in Chinese, and change nothing.
//
// The head of a unit is an administrator of that unit: supervisors manage
// vehicles and terminals only, and may not create units or users.
func TestSupervisorWalkthroughInBrowser(t *testing.T) {
	ctx := uitest.Browser(t, 8*time.Minute)
	shots := uitest.ArtifactDir(t)
	db, bossOTP, bossToken := seedFleet(t, "plate,plate_color,terminal_phone,unit,category\n"+
		"鄂B10001,1,13800000011,湖北省/黄石市,general\n"+
		"鄂A20001,1,13800000021,湖北省/武汉市,general\n", "boss", "admin", "")
	srv := startServe(t, "--db", db, "--data-dir", t.TempDir())
	base := "http://" + srv.HTTP
	p := &uitest.Page{Ctx: ctx, T: t, Shots: shots, Detail: srv.Stderr.String}
	units := unitIDs(t, base, bossToken)

	// The top: a unit file with bad lines shows each and creates nothing.
	uitest.Login(ctx, t, base, "boss", bossOTP, "Head-of-the-Fleet-2026!")
	adminPage(p, base, "units", `!!document.querySelector('li[data-unit="湖北省/黄石市"]')`)
	p.Do(chromedp.SetUploadFiles(chromedp.CSS("#n-file"), []string{writeFile(t, "units.csv", "path\n湖北省/鄂州市\n湖北省//华容区\n")}))
	p.Poll("the bad unit line shown", `!!document.querySelector('#n-bad-lines li[data-line="3"]')`)
	if got := p.String(jsText("#n-bad-lines li")); got != "第 3 行：“湖北省//华容区”不是单位路径，应如 湖北省/黄石市" {
		t.Errorf("the bad unit lines: %q", got)
	}
	uitest.Screenshot(ctx, t, shots, "01-unit-import-refused")
	if _, ok := unitIDs(t, base, bossToken)["湖北省/鄂州市"]; ok {
		t.Error("a refused unit import created 鄂州市")
	}

	// The top creates the head of 黄石市; the password is shown once.
	adminPage(p, base, "users", `!!document.querySelector('tr[data-name="boss"]')`)
	click(p, `.toolbar [data-act=new]`, "u-dialog")
	p.Do(chromedp.SetValue(chromedp.CSS(`#u-dialog input[name=name]`), "hs_chief"),
		chromedp.SetValue(chromedp.CSS(`#u-dialog select[name=role]`), "admin"),
		chromedp.SetValue(chromedp.CSS(`#u-dialog select[name=unit_id]`), fmt.Sprint(units["湖北省/黄石市"])))
	save(p, "u-dialog", "the head of 黄石市 created")
	p.Poll("the one-time password shown", `!!document.querySelector('#otp') && document.querySelector('#otp').textContent.length === 16`)
	uitest.Screenshot(ctx, t, shots, "02-chief-created")
	otp := p.String(`document.querySelector('#otp').textContent`)
	p.Do(chromedp.Reload(), chromedp.WaitVisible(chromedp.CSS("#tabs a")))
	p.Poll("the users again", `!!document.querySelector('tr[data-name="hs_chief"]')`)
	if p.String(`document.querySelector('#otp') ? 'shown' : ''`) != "" {
		t.Error("the one-time password is shown again")
	}

	// The first login: the one-time password, then a new one, twice.
	p.Do(chromedp.Click(chromedp.CSS("#logout")), chromedp.WaitVisible(chromedp.CSS("#name")),
		chromedp.SetValue(chromedp.CSS("#name"), "hs_chief"),
		chromedp.SetValue(chromedp.CSS("#password"), otp),
		chromedp.Click(chromedp.CSS("#login button[type=submit]")),
		chromedp.WaitVisible(chromedp.CSS("#newpw")))
	p.Poll("the password rule shown", jsText("#rules li")+`.includes('至少 12 个字符')`)
	p.Do(chromedp.SetValue(chromedp.CSS("#newpw"), "Huangshi-Chief-2026!"),
		chromedp.SetValue(chromedp.CSS("#newpw2"), "Huangshi-Chief-2027!"),
		chromedp.Click(chromedp.CSS("#change button[type=submit]")))
	p.Poll("two different entries refused", `document.querySelector('#msg2').textContent === '两次输入的新密码不一致'`)
	uitest.Screenshot(ctx, t, shots, "03-change-password")
	p.Do(chromedp.SetValue(chromedp.CSS("#newpw2"), "Huangshi-Chief-2026!"),
		chromedp.Click(chromedp.CSS("#change button[type=submit]")),
		chromedp.WaitVisible(chromedp.CSS("#map")))

	// A unit: 阳新县 under 黄石市.
	adminPage(p, base, "units", `!!document.querySelector('li[data-unit="湖北省/黄石市"]')`)
	if p.String(`document.querySelector('#n-file') ? 'import' : ''`) != "" {
		t.Error("a unit import offered below the top")
	}
	click(p, `li[data-unit="湖北省/黄石市"] > .unit-row [data-act=add]`, "n-dialog")
	p.Do(chromedp.SetValue(chromedp.CSS(`#n-dialog input[name=name]`), "阳新县"))
	save(p, "n-dialog", "the unit created")
	p.Poll("the new unit in the tree", `!!document.querySelector('li[data-unit="湖北省/黄石市/阳新县"]')`)
	uitest.Screenshot(ctx, t, shots, "04-unit-created")
	// A move outside the jurisdiction, from a form tampered with to name
	// 武汉市: refused in Chinese, nothing moved.
	click(p, `li[data-unit="湖北省/黄石市/阳新县"] [data-act=move]`, "n-dialog")
	p.Eval(`(() => { const s = document.querySelector('#n-dialog select[name=parent_id]');
		s.options[0].value = '`+fmt.Sprint(units["湖北省/武汉市"])+`'; s.selectedIndex = 0; return true; })()`, new(bool))
	p.Do(chromedp.Click(chromedp.CSS(`#n-dialog [data-act=save]`)))
	p.Poll("a move outside refused in Chinese", `document.querySelector('#n-dialog .msg').textContent === '未找到，或不在您的管辖范围内'`)
	uitest.Screenshot(ctx, t, shots, "05-move-outside-refused")
	p.Do(chromedp.Click(chromedp.CSS(`#n-dialog [data-act=cancel]`)))
	units = unitIDs(t, base, bossToken)
	if _, ok := units["湖北省/黄石市/阳新县"]; !ok {
		t.Errorf("阳新县 after a refused move: %v", units)
	}

	// A vehicle in 阳新县, its terminal bound, sealed since yesterday.
	adminPage(p, base, "vehicles", `!!document.querySelector('.pager-text')`)
	click(p, `.toolbar [data-act=new]`, "v-dialog")
	p.Do(chromedp.SetValue(chromedp.CSS(`#v-dialog input[name=plate]`), "鄂B66666"),
		chromedp.SetValue(chromedp.CSS(`#v-dialog select[name=unit_id]`), optionValue(p, "#v-dialog select[name=unit_id]", "湖北省/黄石市/阳新县")))
	save(p, "v-dialog", "the vehicle created")
	p.Poll("the new vehicle listed", `!!document.querySelector('tr[data-plate="鄂B66666"]')`)
	click(p, `tr[data-plate="鄂B66666"] [data-act=bind]`, "bind-dialog")
	p.Do(chromedp.SetValue(chromedp.CSS(`#bind-dialog input[name=phone]`), "13900000066"))
	save(p, "bind-dialog", "the terminal bound")
	p.Poll("the terminal listed", `document.querySelector('tr[data-plate="鄂B66666"]').textContent.includes('13900000066')`)
	cst := time.FixedZone("CST", 8*3600)
	now := time.Now().In(cst)
	yesterday := now.AddDate(0, 0, -1).Format("2006-01-02") + "T08:00"
	click(p, `tr[data-plate="鄂B66666"] [data-act=seal]`, "seal-dialog")
	p.Poll("no seal history yet", `!!document.querySelector('#seal-history td.empty')`)
	p.Do(chromedp.SetValue(chromedp.CSS(`#seal-dialog input[name=at]`), yesterday),
		chromedp.SetValue(chromedp.CSS(`#seal-dialog input[name=reason]`), "公车改革封存"))
	save(p, "seal-dialog", "the vehicle sealed")
	p.Poll("the vehicle shown sealed", `document.querySelector('tr[data-plate="鄂B66666"]').textContent.includes('封存') &&
		document.querySelector('tr[data-plate="鄂B66666"] [data-act=seal]').textContent === '启封'`)
	click(p, `tr[data-plate="鄂B66666"] [data-act=seal]`, "seal-dialog")
	p.Poll("the seal in the history", `!!document.querySelector('#seal-history tr[data-sealed="true"]')`)
	if row := p.String(`document.querySelector('#seal-history tr[data-sealed="true"]').textContent`); !strings.Contains(row, "公车改革封存") ||
		!strings.Contains(row, strings.Replace(yesterday, "T", " ", 1)) || !strings.Contains(row, "hs_chief") {
		t.Errorf("the seal history: %q", row)
	}
	uitest.Screenshot(ctx, t, shots, "06-seal-history")
	p.Do(chromedp.Click(chromedp.CSS(`#seal-dialog [data-act=cancel]`)))

	// A speed limit for 黄石市, in km/h, inherited by 阳新县; another
	// parameter set and cleared back to fleetmon's own.
	adminPage(p, base, "rules", `!!document.querySelector('tr[data-param="speed.default_kmh"]')`)
	click(p, `tr[data-param="speed.default_kmh"] [data-act=set]`, "r-dialog")
	p.Do(chromedp.SetValue(chromedp.CSS(`#r-dialog input[name=value]`), "80"))
	save(p, "r-dialog", "the speed limit set")
	p.Poll("the speed limit shown", `document.querySelector('tr[data-param="speed.default_kmh"] .r-value').textContent === '80 km/h' &&
		document.querySelector('tr[data-param="speed.default_kmh"] .r-source').textContent === '本单位设置'`)
	click(p, `tr[data-param="time.min_violation"] [data-act=set]`, "r-dialog")
	p.Do(chromedp.SetValue(chromedp.CSS(`#r-dialog input[name=value]`), "12"),
		chromedp.SetValue(chromedp.CSS(`#r-dialog select[name=per]`), "m"))
	save(p, "r-dialog", "a duration set")
	p.Poll("the duration in minutes", `document.querySelector('tr[data-param="time.min_violation"] .r-value').textContent === '12 分钟'`)
	uitest.Screenshot(ctx, t, shots, "07-rule-params")
	p.Do(chromedp.Click(chromedp.CSS(`tr[data-param="time.min_violation"] [data-act=clear]`)))
	p.Poll("the duration inherited again", `document.querySelector('tr[data-param="time.min_violation"] .r-source').textContent === '系统内置值'`)
	p.Do(chromedp.SetValue(chromedp.CSS("#r-unit"), fmt.Sprint(units["湖北省/黄石市/阳新县"])))
	p.Eval(`document.querySelector('#r-unit').dispatchEvent(new Event('change')); true`, new(bool))
	p.Poll("the limit inherited by 阳新县", `document.querySelector('tr[data-param="speed.default_kmh"] .r-source').textContent === '继承自 湖北省/黄石市' &&
		document.querySelector('tr[data-param="speed.default_kmh"] .r-value').textContent === '80 km/h'`)
	uitest.Screenshot(ctx, t, shots, "08-rule-params-inherited")

	// Trip approvals: one in effect, one for the sealed vehicle.
	adminPage(p, base, "approvals", `!!document.querySelector('.pager-text')`)
	approve := func(plate string) {
		t.Helper()
		click(p, `.toolbar [data-act=new]`, "a-dialog")
		p.Do(chromedp.SetValue(chromedp.CSS(`#a-dialog input[name=plate]`), plate),
			chromedp.SetValue(chromedp.CSS(`#a-dialog input[name=from]`), now.Add(-time.Hour).Format("2006-01-02T15:04")),
			chromedp.SetValue(chromedp.CSS(`#a-dialog input[name=to]`), now.Add(3*time.Hour).Format("2006-01-02T15:04")),
			chromedp.SetValue(chromedp.CSS(`#a-dialog input[name=driver]`), "张三"),
			chromedp.SetValue(chromedp.CSS(`#a-dialog input[name=purpose]`), "防汛检查"),
			chromedp.SetValue(chromedp.CSS(`#a-dialog input[name=approver]`), "李四"))
		save(p, "a-dialog", "the approval of "+plate+" created")
	}
	approve("鄂B10001")
	approve("鄂B66666")
	p.Poll("both approvals listed", `document.querySelectorAll('#a-list tr[data-id]').length === 2`)
	if got := p.String(`document.querySelector('tr[data-plate="鄂B10001"]').textContent`); !strings.Contains(got, "生效中") {
		t.Errorf("the approval of 鄂B10001: %q, want it in effect", got)
	}
	if got := p.String(`document.querySelector('tr[data-plate="鄂B66666"]').textContent`); !strings.Contains(got, "车辆已封存") {
		t.Errorf("the approval of the sealed 鄂B66666: %q", got)
	}
	uitest.Screenshot(ctx, t, shots, "09-approvals")
	p.Do(chromedp.SetValue(chromedp.CSS("#a-unit"), fmt.Sprint(units["湖北省/黄石市/阳新县"])))
	p.Eval(`document.querySelector('#a-unit').dispatchEvent(new Event('change')); true`, new(bool))
	p.Poll("阳新县's approvals only", `document.querySelectorAll('#a-list tr[data-id]').length === 1 && !!document.querySelector('tr[data-plate="鄂B66666"]')`)
	// A file with bad lines: each shown in Chinese, nothing imported.
	from, to := now.Add(24*time.Hour).Format("2006-01-02 15:04"), now.Add(26*time.Hour).Format("2006-01-02 15:04")
	p.Do(chromedp.SetUploadFiles(chromedp.CSS("#a-file"), []string{writeFile(t, "approvals.csv", "vehicle_plate,driver,purpose,from,to,approver\n"+
		"鄂B10001,王五,会议,"+from+","+to+",李四\n"+
		"鄂A20001,赵六,会议,"+from+","+to+",李四\n"+
		"鄂B10001,王五,会议,明天,"+to+",李四\n")}))
	p.Poll("the bad approval lines shown", `document.querySelectorAll('#a-bad-lines li').length === 2`)
	if got := p.String(jsText("#a-bad-lines li")); got != "第 3 行：车辆“鄂A20001”不存在，或不在您的管辖范围内|"+
		"第 4 行：“明天”不是有效时间，应如 2026-11-20 08:30 或 2026-11-20T08:30:00+08:00" {
		t.Errorf("the bad approval lines: %q", got)
	}
	uitest.Screenshot(ctx, t, shots, "10-approval-import-refused")

	// A user: a supervisor for 阳新县.
	adminPage(p, base, "users", `!!document.querySelector('tr[data-name="hs_chief"]')`)
	click(p, `.toolbar [data-act=new]`, "u-dialog")
	p.Do(chromedp.SetValue(chromedp.CSS(`#u-dialog input[name=name]`), "yx_duty"),
		chromedp.SetValue(chromedp.CSS(`#u-dialog select[name=role]`), "supervisor"),
		chromedp.SetValue(chromedp.CSS(`#u-dialog select[name=unit_id]`), fmt.Sprint(units["湖北省/黄石市/阳新县"])))
	save(p, "u-dialog", "the user created")
	p.Poll("its one-time password shown", `!!document.querySelector('#otp') && document.querySelector('#otp').textContent.length === 16`)
	p.Poll("the user listed", `!!document.querySelector('tr[data-name="yx_duty"]')`)
	uitest.Screenshot(ctx, t, shots, "11-user-created")

	// Each change through the API.
	if _, body := apiText(t, base, bossToken, "/api/v1/vehicles?plate="+url.QueryEscape("鄂B66666")); !strings.Contains(body, `"terminal_phone":"13900000066"`) ||
		!strings.Contains(body, `"sealed":true`) || !strings.Contains(body, "阳新县") {
		t.Errorf("鄂B66666 through the API: %s", body)
	}
	if _, body := apiText(t, base, bossToken, fmt.Sprintf("/api/v1/units/%d/rule-params", units["湖北省/黄石市"])); !strings.Contains(body, `"overrides":{"speed.default_kmh":80}`) {
		t.Errorf("黄石市's parameters through the API: %s", body)
	}
	if _, body := apiText(t, base, bossToken, fmt.Sprintf("/api/v1/units/%d/rule-params", units["湖北省/黄石市/阳新县"])); !strings.Contains(body, `"default_kmh":80`) {
		t.Errorf("阳新县's parameters through the API: %s", body)
	}
	if _, body := apiText(t, base, bossToken, "/api/v1/approvals"); !strings.Contains(body, `"total":2`) || !strings.Contains(body, `"status":"vehicle_sealed"`) {
		t.Errorf("the approvals through the API (the refused import stored nothing): %s", body)
	}
	if _, body := apiText(t, base, bossToken, "/api/v1/users?limit=500"); !strings.Contains(body, `"name":"yx_duty","role":"supervisor"`) {
		t.Errorf("the users through the API: %s", body)
	}
	// And in the audit log, by whom; the refusals left nothing.
	_, audit := apiText(t, base, bossToken, "/api/v1/audit?limit=500")
	for _, action := range []string{"user.create", "unit.create", "vehicle.create", "vehicle.bind_terminal", "vehicle.seal",
		"rule_params.put", "approval.create"} {
		if !strings.Contains(audit, `"`+action+`"`) {
			t.Errorf("no %s in the audit log", action)
		}
	}
	for _, action := range []string{"unit.update", "unit.import", "approval.import"} {
		if strings.Contains(audit, `"`+action+`"`) {
			t.Errorf("a refused change audited as done: %s", action)
		}
	}
	if !strings.Contains(audit, "公车改革封存") {
		t.Error("the audit log does not hold the seal's reason")
	}
}
