package main

import (
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"fleetmon/api/uitest"
)

// jsText is a JavaScript expression for the text of the elements sel
// matches, joined by "|".
func jsText(sel string) string {
	return `[...document.querySelectorAll(` + jsQuote(sel) + `)].map(e => e.textContent.trim()).join("|")`
}

func jsQuote(s string) string {
	return "'" + strings.ReplaceAll(strings.ReplaceAll(s, `\`, `\\`), "'", `\'`) + "'"
}

// TestLoginAndNavigationInBrowser walks the login as a new supervisor
// does: a wrong password is refused in Chinese, the one-time password
// leads to the password change, which shows the server's rule, asks
// twice, and refuses a weak password with the server's reason in Chinese;
// then every page carries the same navigation, the pages that exist and
// no more, and the password page changes the password again.
func TestLoginAndNavigationInBrowser(t *testing.T) {
	ctx := uitest.Browser(t, 10*time.Minute)
	shots := uitest.ArtifactDir(t)
	db, otp, _ := seedFleet(t, "plate,plate_color,terminal_phone,unit,category\n"+
		"鄂B10001,1,13800000011,湖北省/黄石市,general\n", "hs_super", "supervisor", "湖北省/黄石市")
	srv := startServe(t, "--db", db, "--data-dir", t.TempDir())
	base := "http://" + srv.HTTP
	p := &uitest.Page{Ctx: ctx, T: t, Shots: shots, Detail: srv.Stderr.String}

	p.Do(chromedp.Navigate(base+"/"),
		chromedp.WaitVisible(chromedp.CSS("#name")),
		chromedp.SetValue(chromedp.CSS("#name"), "hs_super"),
		chromedp.SetValue(chromedp.CSS("#password"), "not-the-password"),
		chromedp.Click(chromedp.CSS("#login button[type=submit]")))
	p.Poll("a wrong password refused in Chinese", `document.querySelector('#msg').textContent.includes('用户名或密码错误')`)
	uitest.Screenshot(ctx, t, shots, "01-login-refused")

	p.Do(chromedp.SetValue(chromedp.CSS("#password"), otp),
		chromedp.Click(chromedp.CSS("#login button[type=submit]")),
		chromedp.WaitVisible(chromedp.CSS("#newpw")))
	p.Poll("the login form gone", `document.querySelector('#login').offsetParent === null`)
	p.Poll("the server's password rule shown", jsText("#rules li")+`.includes('至少 12 个字符')`)
	uitest.Screenshot(ctx, t, shots, "02-change-password")

	// Two different entries never reach the server.
	p.Do(chromedp.SetValue(chromedp.CSS("#newpw"), "Huangshi-Fleet-2026!"),
		chromedp.SetValue(chromedp.CSS("#newpw2"), "Huangshi-Fleet-2027!"),
		chromedp.Click(chromedp.CSS("#change button[type=submit]")))
	p.Poll("a mismatch refused", `document.querySelector('#msg2').textContent === '两次输入的新密码不一致'`)
	// A weak one is refused by the server, in Chinese.
	p.Do(chromedp.SetValue(chromedp.CSS("#newpw"), "short-1"),
		chromedp.SetValue(chromedp.CSS("#newpw2"), "short-1"),
		chromedp.Click(chromedp.CSS("#change button[type=submit]")))
	p.Poll("a weak password refused in Chinese", `document.querySelector('#msg2').textContent.startsWith('密码：至少 12 个字符')`)
	uitest.Screenshot(ctx, t, shots, "03-weak-password")
	p.Do(chromedp.SetValue(chromedp.CSS("#newpw"), "Huangshi-Fleet-2026!"),
		chromedp.SetValue(chromedp.CSS("#newpw2"), "Huangshi-Fleet-2026!"),
		chromedp.Click(chromedp.CSS("#change button[type=submit]")),
		chromedp.WaitVisible(chromedp.CSS("#map")))

	// Every page: the same navigation, the current page marked.
	want := "实时监控|告警|举报|轨迹回放|区域查车|报表|用车申请|派车核对|加油卡核对|证据核验|围栏与地标|管理|修改密码"
	for _, pg := range []string{"live", "alerts", "tips", "replay", "area", "reports", "requests", "dispatch", "fuel", "verify", "geofences", "admin"} {
		p.Do(chromedp.Navigate(base + "/ui/" + pg + ".html"))
		p.Poll(pg+": the navigation", jsText("#nav a")+` === '`+want+`'`)
		p.Poll(pg+": marked current", `document.querySelector('#nav a.current').dataset.page === '`+pg+`'`)
		uitest.Screenshot(ctx, t, shots, "04-nav-"+pg)
	}

	// The password page: current password, the new one twice.
	p.Follow(`#nav a[data-page=password]`, "#current")
	p.Poll("the rule on the password page", jsText("#rules li")+`.includes('不能包含用户名')`)
	p.Do(chromedp.SetValue(chromedp.CSS("#current"), "wrong-current-password"),
		chromedp.SetValue(chromedp.CSS("#newpw"), "Huangshi-Fleet-2028!"),
		chromedp.SetValue(chromedp.CSS("#newpw2"), "Huangshi-Fleet-2028!"),
		chromedp.Click(chromedp.CSS("#change button[type=submit]")))
	p.Poll("a wrong current password refused in Chinese", `document.querySelector('#msg2').textContent === '当前密码不正确'`)
	uitest.Screenshot(ctx, t, shots, "05-password-page")
	p.Do(chromedp.SetValue(chromedp.CSS("#current"), "Huangshi-Fleet-2026!"),
		chromedp.Click(chromedp.CSS("#change button[type=submit]")),
		chromedp.WaitVisible(chromedp.CSS("#map")))

	// In English, the server answers in English. The page shows its user
	// when its logout button works: a click before that does nothing.
	p.Poll("the live map's user", `document.querySelector('#user').textContent !== ''`)
	p.Do(chromedp.Click(chromedp.CSS("#logout")), chromedp.WaitVisible(chromedp.CSS("#name")),
		chromedp.Click(chromedp.CSS("#lang")),
		chromedp.SetValue(chromedp.CSS("#name"), "hs_super"),
		chromedp.SetValue(chromedp.CSS("#password"), "Huangshi-Fleet-2026!"),
		chromedp.Click(chromedp.CSS("#login button[type=submit]")))
	p.Poll("a wrong password refused in English", `document.querySelector('#msg').textContent === 'wrong user name or password'`)
	p.Do(chromedp.SetValue(chromedp.CSS("#password"), "Huangshi-Fleet-2028!"),
		chromedp.Click(chromedp.CSS("#login button[type=submit]")),
		chromedp.WaitVisible(chromedp.CSS("#map")))
	p.Poll("the navigation in English", jsText("#nav a")+` === 'Live map|Alerts|Tips|Replay|Area search|Reports|Car requests|Dispatch check|Fuel cards|Verify evidence|Fences & landmarks|Administration|Change password'`)
}
