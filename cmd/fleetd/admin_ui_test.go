package main

import (
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"fleetmon/api/uitest"
)

// apiText reads path with an API token and returns the status and body.
func apiText(t *testing.T, base, token, path string) (int, string) {
	t.Helper()
	return apiCall(t, base, token, "GET", path, "")
}

// apiCall sends a request with a bearer token and returns the status and
// body.
func apiCall(t *testing.T, base, token, method, path, body string) (int, string) {
	t.Helper()
	req, _ := http.NewRequest(method, base+path, strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+token)
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// adminPage opens a tab of the administration page and waits for its list.
func adminPage(p *uitest.Page, base, tab, ready string) {
	p.T.Helper()
	p.Do(chromedp.Navigate(base+"/ui/admin.html#"+tab), chromedp.WaitVisible(chromedp.CSS("#tabs a")))
	p.Poll(tab+" shown", `document.querySelector('#tabs a.current') && document.querySelector('#tabs a.current').dataset.tab === '`+tab+`'`)
	p.Poll(tab+" listed", ready)
}

// TestVehicleAdministrationInBrowser walks the vehicles and terminals
// tabs as a 黄石市 supervisor: 管理 is in the navigation, the list pages
// through the jurisdiction's vehicles (and none of 武汉市), a vehicle is
// created, a terminal bound to it and another moved to it, a refused
// change shows the server's reason in Chinese, a CSV import with bad lines
// shows each of them and imports nothing, a good one imports; each change
// is then seen through the API and in the audit log. An inspector sees no
// 管理.
func TestVehicleAdministrationInBrowser(t *testing.T) {
	ctx := uitest.Browser(t, 6*time.Minute)
	shots := uitest.ArtifactDir(t)
	csv := "plate,plate_color,terminal_phone,unit,category\n" +
		"鄂B10001,1,13800000011,湖北省/黄石市,general\n" +
		"鄂A20001,1,13800000021,湖北省/武汉市,general\n"
	// Enough vehicles for three pages.
	for i := range 120 {
		csv += fmt.Sprintf("鄂B5%04d,1,,湖北省/黄石市/阳新县,general\n", i)
	}
	db, otp, token := seedFleet(t, csv, "hs_super", "supervisor", "湖北省/黄石市")
	inspOTP, _ := addUser(t, db, "hs_insp", "inspector", "湖北省/黄石市")
	_, bossToken := addUser(t, db, "boss", "admin", "")
	srv := startServe(t, "--db", db, "--data-dir", t.TempDir())
	base := "http://" + srv.HTTP
	p := &uitest.Page{Ctx: ctx, T: t, Shots: shots, Detail: srv.Stderr.String}

	uitest.Login(ctx, t, base, "hs_super", otp, "Huangshi-Fleet-2026!")
	p.Poll("管理 in the navigation", jsText("#nav a")+`.includes('管理')`)
	p.Follow(`#nav a[data-page=admin]`, "#tabs a")
	p.Poll("the vehicles tab", `document.querySelector('#tabs a.current') && document.querySelector('#tabs a.current').dataset.tab === 'vehicles'`)
	p.Poll("the first page", `document.querySelector('.pager-text') && document.querySelector('.pager-text').textContent === '第 1–50 条，共 121 条'`)
	if tabs := p.String(jsText("#tabs a")); tabs != "车辆|终端|用车审批|规则参数|告警通知|工作日历" {
		t.Errorf("a supervisor's tabs: %q, want 车辆|终端|用车审批|规则参数|告警通知|工作日历", tabs)
	}
	if strings.Contains(p.String(`document.body.innerText`), "鄂A") {
		t.Fatal("a 武汉市 vehicle on a 黄石市 supervisor's page")
	}
	uitest.Screenshot(ctx, t, shots, "01-vehicles")
	p.Do(chromedp.Click(chromedp.CSS(`.pager [data-act=next]`)))
	p.Poll("the second page", `document.querySelector('.pager-text').textContent === '第 51–100 条，共 121 条'`)
	p.Do(chromedp.SetValue(chromedp.CSS("#v-search"), "B50007"))
	p.Eval(`document.querySelector('#v-search').dispatchEvent(new Event('input'))`, new(bool))
	p.Poll("a search, from the first page", `document.querySelector('.pager-text').textContent === '第 1–1 条，共 1 条'`)

	// Create a vehicle.
	p.Do(chromedp.Click(chromedp.CSS(`.toolbar [data-act=new]`)), chromedp.WaitVisible(chromedp.CSS("#v-dialog")))
	unit := p.String(`[...document.querySelectorAll('#v-dialog select[name=unit_id] option')].find(o => o.textContent === '湖北省/黄石市/阳新县').value`)
	p.Do(chromedp.SetValue(chromedp.CSS(`#v-dialog input[name=plate]`), "鄂B88888"),
		chromedp.SetValue(chromedp.CSS(`#v-dialog select[name=category]`), "enforcement"),
		chromedp.SetValue(chromedp.CSS(`#v-dialog select[name=unit_id]`), unit))
	uitest.Screenshot(ctx, t, shots, "02-new-vehicle")
	p.Do(chromedp.Click(chromedp.CSS(`#v-dialog [data-act=save]`)))
	p.Poll("the dialog closed", `!document.querySelector('#v-dialog')`)
	p.Do(chromedp.SetValue(chromedp.CSS("#v-search"), "88888"))
	p.Eval(`document.querySelector('#v-search').dispatchEvent(new Event('input'))`, new(bool))
	p.Poll("the new vehicle listed", `!!document.querySelector('tr[data-plate="鄂B88888"]')`)

	// A plate taken: refused in Chinese, nothing changed.
	p.Do(chromedp.Click(chromedp.CSS(`.toolbar [data-act=new]`)), chromedp.WaitVisible(chromedp.CSS("#v-dialog")),
		chromedp.SetValue(chromedp.CSS(`#v-dialog input[name=plate]`), "鄂B10001"),
		chromedp.Click(chromedp.CSS(`#v-dialog [data-act=save]`)))
	p.Poll("a taken plate refused in Chinese", `document.querySelector('#v-dialog .msg').textContent.startsWith('与现有数据冲突')`)
	uitest.Screenshot(ctx, t, shots, "03-plate-taken")
	p.Do(chromedp.Click(chromedp.CSS(`#v-dialog [data-act=cancel]`)))

	// Bind a new terminal, then move one from another vehicle.
	bind := func(phone string, move bool) {
		t.Helper()
		p.Do(chromedp.Click(chromedp.CSS(`tr[data-plate="鄂B88888"] [data-act=bind]`)), chromedp.WaitVisible(chromedp.CSS("#bind-dialog")),
			chromedp.SetValue(chromedp.CSS(`#bind-dialog input[name=phone]`), phone))
		if move {
			p.Do(chromedp.Click(chromedp.CSS(`#bind-dialog input[name=move]`)))
		}
		p.Do(chromedp.Click(chromedp.CSS(`#bind-dialog [data-act=save]`)))
	}
	bind("13900000088", false)
	p.Poll("the terminal bound", `!document.querySelector('#bind-dialog') && document.querySelector('tr[data-plate="鄂B88888"]').textContent.includes('13900000088')`)
	bind("13800000011", false)
	p.Poll("a terminal of another vehicle refused in Chinese", `document.querySelector('#bind-dialog .msg').textContent.startsWith('与现有数据冲突')`)
	p.Do(chromedp.Click(chromedp.CSS(`#bind-dialog [data-act=cancel]`)))
	bind("13800000011", true)
	p.Poll("the terminal moved", `!document.querySelector('#bind-dialog') && document.querySelector('tr[data-plate="鄂B88888"]').textContent.includes('13800000011')`)
	uitest.Screenshot(ctx, t, shots, "04-terminal-moved")
	if _, body := apiText(t, base, token, "/api/v1/vehicles?plate="+url.QueryEscape("鄂B10001")); !strings.Contains(body, `"terminal_phone":""`) {
		t.Errorf("鄂B10001 after its terminal moved: %s", body)
	}
	if _, body := apiText(t, base, token, "/api/v1/vehicles?plate="+url.QueryEscape("鄂B88888")); !strings.Contains(body, `"terminal_phone":"13800000011"`) ||
		!strings.Contains(body, `"category":"enforcement"`) || !strings.Contains(body, "阳新县") {
		t.Errorf("鄂B88888 through the API: %s", body)
	}

	// The terminals tab.
	p.Do(chromedp.Click(chromedp.CSS(`#tabs a[data-tab=terminals]`)))
	p.Poll("the terminals listed", `!!document.querySelector('tr[data-phone="13800000011"]')`)
	if row := p.String(`document.querySelector('tr[data-phone="13800000011"]').textContent`); !strings.Contains(row, "鄂B88888") {
		t.Errorf("terminal 13800000011: %q, want it bound to 鄂B88888", row)
	}
	if strings.Contains(p.String(`document.body.innerText`), "13800000021") {
		t.Error("a 武汉市 terminal on a 黄石市 supervisor's page")
	}
	uitest.Screenshot(ctx, t, shots, "05-terminals")

	// A CSV import with bad lines: each shown, nothing imported.
	dir := t.TempDir()
	bad := filepath.Join(dir, "bad.csv")
	if err := os.WriteFile(bad, []byte("plate,plate_color,terminal_phone,unit,category\n"+
		"鄂B77771,1,,湖北省/黄石市,general\n"+
		"鄂B77772,蓝,,湖北省/黄石市,general\n"+
		"鄂B77773,1,,湖北省/武汉市,general\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	p.Do(chromedp.Click(chromedp.CSS(`#tabs a[data-tab=vehicles]`)))
	p.Poll("the vehicles again", `!!document.querySelector('.pager-text')`)
	p.Do(chromedp.SetUploadFiles(chromedp.CSS("#v-file"), []string{bad}))
	p.Poll("the bad line shown", `!!document.querySelector('#v-bad-lines li[data-line="3"]')`)
	if got := p.String(jsText("#v-bad-lines li")); !strings.Contains(got, "第 3 行：车牌颜色“蓝”") {
		t.Errorf("the bad lines: %q", got)
	}
	uitest.Screenshot(ctx, t, shots, "06-import-refused")
	// 武汉市 is outside the jurisdiction: refused too, but only in the
	// transaction, so the file's format errors come first.
	if _, body := apiText(t, base, token, "/api/v1/vehicles?plate="+url.QueryEscape("鄂B7777")); !strings.Contains(body, `"total":0`) {
		t.Errorf("a refused import changed something: %s", body)
	}
	outside := filepath.Join(dir, "outside.csv")
	if err := os.WriteFile(outside, []byte("plate,plate_color,terminal_phone,unit,category\n"+
		"鄂B77771,1,,湖北省/黄石市,general\n"+
		"鄂B77773,1,,湖北省/武汉市,general\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	p.Do(chromedp.SetUploadFiles(chromedp.CSS("#v-file"), []string{outside}))
	p.Poll("the line outside shown", `!!document.querySelector('#v-bad-lines li[data-line="3"]') && document.querySelector('#v-bad-lines li[data-line="3"]').textContent.includes('不在您的管辖范围内')`)
	if _, body := apiText(t, base, token, "/api/v1/vehicles?plate="+url.QueryEscape("鄂B7777")); !strings.Contains(body, `"total":0`) {
		t.Errorf("a refused import changed something: %s", body)
	}
	good := filepath.Join(dir, "good.csv")
	if err := os.WriteFile(good, []byte("plate,plate_color,terminal_phone,unit,category\n鄂B77771,1,13900000071,湖北省/黄石市,general\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	p.Do(chromedp.SetUploadFiles(chromedp.CSS("#v-file"), []string{good}))
	p.Poll("the good file imported", `document.querySelector('#v-import-result').textContent === '已导入 1 辆：新增 1，更新 0'`)
	uitest.Screenshot(ctx, t, shots, "07-imported")

	// Each change in the audit log.
	_, audit := apiText(t, base, bossToken, "/api/v1/audit?limit=500")
	for _, action := range []string{"vehicle.create", "vehicle.bind_terminal", "vehicle.import"} {
		if !strings.Contains(audit, `"`+action+`"`) {
			t.Errorf("no %s in the audit log", action)
		}
	}
	if !strings.Contains(audit, `"moved_from":"鄂B10001"`) {
		t.Error("the audit log does not say where the terminal was moved from")
	}

	// An inspector has no 管理, and the page refuses them.
	p.Do(chromedp.Click(chromedp.CSS("#logout")), chromedp.WaitVisible(chromedp.CSS("#name")))
	uitest.Login(ctx, t, base, "hs_insp", inspOTP, "Inspector-Huangshi-2026!")
	p.Poll("the inspector's navigation", jsText("#nav a")+` === '实时监控|告警|举报|轨迹回放|区域查车|报表|用车申请|派车核对|加油卡核对|证据核验|审计|修改密码'`)
	p.Do(chromedp.Navigate(base+"/ui/admin.html"), chromedp.WaitVisible(chromedp.CSS("#pane .msg")))
	p.Poll("the page refuses an inspector", `document.querySelector('#pane').textContent === '您的角色不能使用管理功能'`)
}

// TestUserAndUnitAdministrationInBrowser walks the users and units tabs
// as an administrator at the top: a user is created and its one-time
// password shown once, which logs in; its role is changed, its password
// reset and it is disabled; a unit is created, renamed and moved; each change is seen
// through the API and in the audit log.
func TestUserAndUnitAdministrationInBrowser(t *testing.T) {
	ctx := uitest.Browser(t, 6*time.Minute)
	shots := uitest.ArtifactDir(t)
	db, otp, token := seedFleet(t, "plate,plate_color,terminal_phone,unit,category\n"+
		"鄂B10001,1,13800000011,湖北省/黄石市,general\n"+
		"鄂A20001,1,13800000021,湖北省/武汉市,general\n", "boss", "admin", "")
	srv := startServe(t, "--db", db, "--data-dir", t.TempDir())
	base := "http://" + srv.HTTP
	p := &uitest.Page{Ctx: ctx, T: t, Shots: shots, Detail: srv.Stderr.String}
	uitest.Login(ctx, t, base, "boss", otp, "Head-of-the-Fleet-2026!")

	// Units: create 阳新县 under 黄石市, rename it, move it under 武汉市.
	adminPage(p, base, "units", `!!document.querySelector('li[data-unit="湖北省/黄石市"]')`)
	if tabs := p.String(jsText("#tabs a")); tabs != "车辆|终端|用车审批|规则参数|用户|单位|告警通知|工作日历" {
		t.Errorf("an administrator's tabs: %q", tabs)
	}
	p.Do(chromedp.Click(chromedp.CSS(`li[data-unit="湖北省/黄石市"] > .unit-row [data-act=add]`)), chromedp.WaitVisible(chromedp.CSS("#n-dialog")),
		chromedp.SetValue(chromedp.CSS(`#n-dialog input[name=name]`), "阳新县"),
		chromedp.Click(chromedp.CSS(`#n-dialog [data-act=save]`)))
	p.Poll("the new unit in the tree", `!!document.querySelector('li[data-unit="湖北省/黄石市/阳新县"]')`)
	p.Do(chromedp.Click(chromedp.CSS(`li[data-unit="湖北省/黄石市/阳新县"] [data-act=rename]`)), chromedp.WaitVisible(chromedp.CSS("#n-dialog")),
		chromedp.SetValue(chromedp.CSS(`#n-dialog input[name=name]`), "阳新县机关事务中心"),
		chromedp.Click(chromedp.CSS(`#n-dialog [data-act=save]`)))
	p.Poll("the unit renamed", `!!document.querySelector('li[data-unit="湖北省/黄石市/阳新县机关事务中心"]')`)
	p.Do(chromedp.Click(chromedp.CSS(`li[data-unit="湖北省/黄石市/阳新县机关事务中心"] [data-act=move]`)), chromedp.WaitVisible(chromedp.CSS("#n-dialog")))
	wh := p.String(`[...document.querySelectorAll('#n-dialog select[name=parent_id] option')].find(o => o.textContent === '湖北省/武汉市').value`)
	p.Do(chromedp.SetValue(chromedp.CSS(`#n-dialog select[name=parent_id]`), wh), chromedp.Click(chromedp.CSS(`#n-dialog [data-act=save]`)))
	p.Poll("the unit moved", `!!document.querySelector('li[data-unit="湖北省/武汉市/阳新县机关事务中心"]')`)
	uitest.Screenshot(ctx, t, shots, "01-units")
	// A unit under itself: refused in Chinese.
	p.Do(chromedp.Click(chromedp.CSS(`li[data-unit="湖北省/武汉市"] > .unit-row [data-act=add]`)), chromedp.WaitVisible(chromedp.CSS("#n-dialog")),
		chromedp.SetValue(chromedp.CSS(`#n-dialog input[name=name]`), "阳新县机关事务中心"),
		chromedp.Click(chromedp.CSS(`#n-dialog [data-act=save]`)))
	p.Poll("a name taken refused in Chinese", `document.querySelector('#n-dialog .msg').textContent.startsWith('与现有数据冲突')`)
	p.Do(chromedp.Click(chromedp.CSS(`#n-dialog [data-act=cancel]`)))
	if _, body := apiText(t, base, token, "/api/v1/units"); !strings.Contains(body, "湖北省/武汉市/阳新县机关事务中心") {
		t.Errorf("the units through the API: %s", body)
	}

	// Users: a supervisor for 武汉市, its one-time password shown once.
	adminPage(p, base, "users", `!!document.querySelector('tr[data-name="boss"]')`)
	p.Do(chromedp.Click(chromedp.CSS(`.toolbar [data-act=new]`)), chromedp.WaitVisible(chromedp.CSS("#u-dialog")))
	unit := p.String(`[...document.querySelectorAll('#u-dialog select[name=unit_id] option')].find(o => o.textContent === '湖北省/武汉市').value`)
	p.Do(chromedp.SetValue(chromedp.CSS(`#u-dialog input[name=name]`), "wh_super"),
		chromedp.SetValue(chromedp.CSS(`#u-dialog select[name=role]`), "supervisor"),
		chromedp.SetValue(chromedp.CSS(`#u-dialog select[name=unit_id]`), unit),
		chromedp.Click(chromedp.CSS(`#u-dialog [data-act=save]`)))
	p.Poll("the one-time password shown", `!!document.querySelector('#otp') && document.querySelector('#otp').textContent.length === 16`)
	p.Poll("the user listed", `!!document.querySelector('tr[data-name="wh_super"]')`)
	uitest.Screenshot(ctx, t, shots, "02-user-created")
	whOTP := p.String(`document.querySelector('#otp').textContent`)
	login := func(name, password string) int {
		resp, err := http.Post(base+"/api/v1/login", "application/json", strings.NewReader(fmt.Sprintf(`{"name":%q,"password":%q}`, name, password)))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	if code := login("wh_super", whOTP); code != 200 {
		t.Errorf("the new user's one-time password: %d", code)
	}
	// Shown once: a reload does not show it again.
	p.Do(chromedp.Reload(), chromedp.WaitVisible(chromedp.CSS("#tabs a")))
	p.Poll("the users again", `!!document.querySelector('tr[data-name="wh_super"]')`)
	if p.String(`document.querySelector('#otp') ? 'shown' : ''`) != "" {
		t.Error("the one-time password is shown again")
	}
	// A name refused in Chinese.
	p.Do(chromedp.Click(chromedp.CSS(`.toolbar [data-act=new]`)), chromedp.WaitVisible(chromedp.CSS("#u-dialog")),
		chromedp.SetValue(chromedp.CSS(`#u-dialog input[name=name]`), "bad name"),
		chromedp.Click(chromedp.CSS(`#u-dialog [data-act=save]`)))
	p.Poll("a bad name refused in Chinese", `document.querySelector('#u-dialog .msg').textContent.startsWith('用户名“bad name”')`)
	p.Do(chromedp.Click(chromedp.CSS(`#u-dialog [data-act=cancel]`)))

	// Another role.
	p.Do(chromedp.Click(chromedp.CSS(`tr[data-name="wh_super"] [data-act=role]`)), chromedp.WaitVisible(chromedp.CSS("#u-dialog")),
		chromedp.SetValue(chromedp.CSS(`#u-dialog select[name=role]`), "inspector"),
		chromedp.Click(chromedp.CSS(`#u-dialog [data-act=save]`)))
	p.Poll("the role changed", `!document.querySelector('#u-dialog') && document.querySelector('tr[data-name="wh_super"]').textContent.includes('检查员')`)
	if _, body := apiText(t, base, token, "/api/v1/users?limit=500"); !strings.Contains(body, `"name":"wh_super","role":"inspector"`) {
		t.Errorf("the role through the API: %s", body)
	}

	// Reset the password (a new one-time password), then disable.
	p.Eval(`window.confirm = () => true; true`, new(bool))
	p.Do(chromedp.Click(chromedp.CSS(`tr[data-name="wh_super"] [data-act=reset]`)))
	p.Poll("a new one-time password", `!!document.querySelector('#otp') && document.querySelector('#otp').textContent !== '`+whOTP+`'`)
	newOTP := p.String(`document.querySelector('#otp').textContent`)
	if code := login("wh_super", whOTP); code != 401 {
		t.Errorf("the old one-time password after a reset: %d", code)
	}
	if code := login("wh_super", newOTP); code != 200 {
		t.Errorf("the reset one-time password: %d", code)
	}
	p.Do(chromedp.Click(chromedp.CSS(`tr[data-name="wh_super"] [data-act=disable]`)))
	p.Poll("the user disabled", `document.querySelector('tr[data-name="wh_super"]').textContent.includes('已停用')`)
	uitest.Screenshot(ctx, t, shots, "03-user-disabled")
	if code := login("wh_super", newOTP); code != 401 {
		t.Errorf("a disabled user's login: %d", code)
	}
	_, audit := apiText(t, base, token, "/api/v1/audit?limit=500")
	for _, action := range []string{"unit.create", "unit.update", "user.create", "user.role", "user.reset_password", "user.disable"} {
		if !strings.Contains(audit, `"`+action+`"`) {
			t.Errorf("no %s in the audit log", action)
		}
	}
}
