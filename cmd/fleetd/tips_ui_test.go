package main

import (
	"encoding/json"
	"fmt"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"fleetmon/alerts"
	"fleetmon/api/uitest"
	"fleetmon/ingest/jt808"
)

// sundayEndedBy returns midnight (Beijing time) of the latest Sunday that
// is a day off by the national calendar (not a make-up workday) and whose
// afternoon drive (14:00, a quarter of an hour) ended at least ten minutes
// before at.
func sundayEndedBy(t *testing.T, at time.Time) time.Time {
	t.Helper()
	return dayEndedBy(t, at, 14*time.Hour+25*time.Minute, "Sunday off", func(d time.Time, k alerts.DayKind) bool {
		return d.Weekday() == time.Sunday && !k.Working()
	})
}

// loginAgain logs name in with a password already set, and waits for the
// live map.
func loginAgain(p *uitest.Page, base, name, password string) {
	p.T.Helper()
	p.Do(chromedp.Navigate(base+"/"), chromedp.WaitVisible(chromedp.CSS("#name")),
		chromedp.SendKeys(chromedp.CSS("#name"), name), chromedp.SendKeys(chromedp.CSS("#password"), password),
		chromedp.Click(chromedp.CSS("#login button")), chromedp.WaitVisible(chromedp.CSS("#map")))
}

// TestTipInBrowser is the public tip's end-to-end test: a car drives over
// JT/T 808 to a hotel (a sensitive-place fence) on a Sunday afternoon and
// parks there; the rules engine raises the holiday alert. A 黄石市
// inspector registers a 12345-hotline tip alleging the car at the hotel
// that afternoon in the tips page, which answers with the car's visit, its
// track and the holiday alert, and a link to the replay; the inspector
// passes it to 阳新县 with a deadline; the 阳新县 supervisor, who never
// sees the caller's number (the page's DOM and the API), records the
// unit's reply; the inspector views the number (audited), verifies the
// tip as substantiated with the alert, records the feedback to the caller
// and closes it; the case's export is checked by fleetd verify.
func TestTipInBrowser(t *testing.T) {
	ctx := uitest.Browser(t, 8*time.Minute)
	shots := uitest.ArtifactDir(t)
	db, otp, token := seedFleet(t, "plate,plate_color,terminal_phone,unit,category\n"+
		"鄂B30001,1,13800000031,湖北省/黄石市/阳新县,general\n"+
		"鄂A40001,1,13800000041,湖北省/武汉市,general\n", "hs_insp", "inspector", "湖北省/黄石市")
	supOTP, supToken := addUser(t, db, "yx_super", "supervisor", "湖北省/黄石市/阳新县")
	const caller = "13912345678"
	srv := startServe(t, "--db", db, "--data-dir", t.TempDir())
	base := "http://" + srv.HTTP

	// The hotel, a sensitive place of 阳新县, where the drive ends.
	var units struct {
		Items []struct {
			ID   int64  `json:"id"`
			Path string `json:"path"`
		} `json:"items"`
	}
	apiGet(t, base, supToken, "/api/v1/units", &units)
	var yangxin int64
	for _, u := range units.Items {
		if u.Path == "湖北省/黄石市/阳新县" {
			yangxin = u.ID
		}
	}
	hotel := `{"type":"FeatureCollection","features":[{"type":"Feature","properties":{"name":"阳新大酒店","kind":"sensitive","category":"hotel"},
		"geometry":{"type":"Polygon","coordinates":[[[115.0383,30.2525],[115.0417,30.2525],[115.0417,30.2555],[115.0383,30.2555],[115.0383,30.2525]]]}}]}`
	if code, body := apiCall(t, base, supToken, "POST", fmt.Sprintf("/api/v1/geofences?unit=%d", yangxin), hotel); code != 200 && code != 201 {
		t.Fatalf("hotel fence: %d %s", code, body)
	}

	// Sunday 14:00: ten minutes north at 36 km/h to the hotel, then parked
	// there with ACC off.
	sunday := sundayEndedBy(t, time.Now())
	t.Logf("the drive on %s", sunday.Format("2006-01-02 Mon"))
	start := sunday.Add(14 * time.Hour)
	tm := dialTerminal(t, srv.JT808, "13800000031")
	tm.login("鄂B30001")
	const reports = 90
	for i := range reports {
		speed, status := uint16(360), jt808.StatusACC|jt808.StatusFixed
		lat := 30.2 + float64(min(i, 60))*0.0009
		if i > 60 {
			speed, status = 0, jt808.StatusFixed
		}
		loc := jt808.Location{Status: status, LatE6: uint32(lat * 1e6), LonE6: 115040000, SpeedDeciKmh: speed,
			Time: jt808.NewBCDTime(start.Add(time.Duration(i) * 10 * time.Second))}
		tm.expectOK("location", jt808.IDLocation, loc.AppendTo(nil, jt808.Version2013))
	}
	// Wait for the verdicts, not for time: the reports stored, then the
	// rules caught up.
	deadline := time.Now().Add(60 * time.Second)
	for {
		var st struct {
			CaughtUp bool `json:"caught_up"`
		}
		var stored int
		var list struct {
			Total int `json:"total"`
		}
		apiGet(t, base, token, "/api/v1/rules/status", &st)
		apiGet(t, base, token, "/api/v1/positions?limit=1", &list)
		stored = list.Total
		if st.CaughtUp && stored >= 1 {
			var al struct {
				Items []struct {
					Rule struct{ ID string } `json:"rule"`
				} `json:"items"`
			}
			apiGet(t, base, token, "/api/v1/alerts?rule=holiday_use", &al)
			if len(al.Items) == 1 {
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("no holiday alert; stderr:\n%s", srv.Stderr.String())
		}
		time.Sleep(100 * time.Millisecond)
	}

	p := &uitest.Page{Ctx: ctx, T: t, Shots: shots, Detail: srv.Stderr.String}
	downloads := t.TempDir()
	uitest.Login(ctx, t, base, "hs_insp", otp, "Huangshi-Inspect-2026!")
	p.Do(uitest.DownloadTo(downloads))
	p.Poll("举报 in the navigation", jsText("#nav a")+`.includes('举报')`)
	p.Follow(`#nav a[data-page=tips]`, "#filters")
	p.Poll("the page ready", `document.body.dataset.ready === 'true'`)

	// The tip, as the hotline passed it on.
	local := func(t time.Time) string { return t.Format("2006-01-02T15:04") }
	p.Do(chromedp.Click(chromedp.CSS("#new-tip")), chromedp.WaitVisible(chromedp.CSS("#register")))
	p.String(`document.querySelector('#r-channel').value = 'hotline_12345'; ` +
		`document.querySelector('#r-fence').value = [...document.querySelectorAll('#r-fence option')].find(o => o.textContent === '阳新大酒店').value; ''`)
	p.Do(chromedp.SetValue(chromedp.CSS("#r-caller"), caller),
		chromedp.SetValue(chromedp.CSS("#r-content"), "周日下午看见鄂B30001停在阳新大酒店门口"),
		chromedp.SetValue(chromedp.CSS("#r-plate"), "鄂B30001"),
		chromedp.SetValue(chromedp.CSS("#r-from"), local(start.Add(10*time.Minute))),
		chromedp.SetValue(chromedp.CSS("#r-to"), local(start.Add(60*time.Minute))),
		chromedp.SetValue(chromedp.CSS("#r-place"), "阳新大酒店"))
	uitest.Screenshot(ctx, t, shots, "01-register")
	p.Do(chromedp.Click(chromedp.CSS("#r-go")))
	p.Poll("the tip shown", `document.querySelector('#detail h2') && document.querySelector('#detail h2').textContent === '举报 #1'`)
	p.Poll("the number masked", `document.querySelector('#caller').textContent === '139****5678'`)

	// The answer: the visit, the track, the holiday alert, the replay.
	p.Poll("the car was there", `document.querySelector('#verdict') && document.querySelector('#verdict').dataset.there === 'true'`)
	p.Poll("its visit", `document.querySelectorAll('#answer li.visit').length === 1`)
	p.Poll("its track", `Number(document.querySelector('#answer .track').dataset.points) === `+fmt.Sprint(reports))
	p.Poll("the holiday alert", `document.querySelector('#answer li.alert[data-rule=holiday_use]') !== null`)
	p.Poll("the replay link", `document.querySelector('#answer a.replay-link').getAttribute('href').startsWith('/ui/replay.html?')`)
	uitest.Screenshot(ctx, t, shots, "02-answer")

	// Passed to 阳新县 with a deadline.
	p.Do(chromedp.SetValue(chromedp.CSS("#step-deadline"), local(time.Now().In(start.Location()).Add(7*24*time.Hour))),
		chromedp.SetValue(chromedp.CSS("#step-reason"), "请阳新县核查并于一周内回复"), chromedp.Click(chromedp.CSS("#act-pass")))
	p.Poll("passed", `document.querySelector('#facts .state-badge').dataset.state === 'passed'`)

	// The supervisor: the reply, never the number.
	p.Do(chromedp.Click(chromedp.CSS("#logout")), chromedp.WaitVisible(chromedp.CSS("#name")))
	uitest.Login(ctx, t, base, "yx_super", supOTP, "Yangxin-Super-2026!")
	p.Do(chromedp.Navigate(base + "/ui/tips.html"))
	p.Poll("the supervisor's list", `document.body.dataset.ready === 'true' && document.querySelectorAll('#tips tr[data-id]').length === 1`)
	p.Do(chromedp.Click(chromedp.CSS(`#tips tr[data-id="1"]`)))
	p.Poll("the tip for the supervisor", `document.querySelector('#caller') && document.querySelector('#caller').textContent === '139****5678'`)
	p.Poll("the answer for the supervisor", `document.querySelector('#verdict') !== null`)
	noNumber := `!document.documentElement.outerHTML.includes('` + caller + `') && !document.body.textContent.includes('12345678') && !document.querySelector('#caller-show')`
	p.Poll("no number in the supervisor's page", noNumber)
	p.Do(chromedp.SetValue(chromedp.CSS("#step-reason"), "经查该车周日接待外地考察团，未办派车手续，已责令改正"), chromedp.Click(chromedp.CSS("#act-reply")))
	p.Poll("replied", `document.querySelector('#facts .state-badge').dataset.state === 'replied'`)
	p.Poll("still no number", noNumber)
	uitest.Screenshot(ctx, t, shots, "03-supervisor")
	for _, path := range []string{"/api/v1/tips", "/api/v1/tips/1", "/api/v1/tips/1/answer"} {
		if code, body := apiText(t, base, supToken, path); code != 200 || strings.Contains(body, caller) || strings.Contains(body, "12345678") {
			t.Errorf("the supervisor's %s: %d, holds the number: %v", path, code, strings.Contains(body, caller))
		}
	}
	if code, body := apiText(t, base, supToken, "/api/v1/tips/1/caller?reason=x"); code != 403 {
		t.Errorf("the supervisor asking for the number: %d %s", code, body)
	}

	// The inspector: the number (audited), the verdict, the feedback, closed.
	p.Do(chromedp.Click(chromedp.CSS("#logout")), chromedp.WaitVisible(chromedp.CSS("#name")))
	loginAgain(p, base, "hs_insp", "Huangshi-Inspect-2026!")
	p.Do(chromedp.Navigate(base + "/ui/tips.html?id=1"))
	p.Poll("the tip again", `document.body.dataset.ready === 'true' && document.querySelector('#facts .state-badge').dataset.state === 'replied'`)
	p.Do(chromedp.SetValue(chromedp.CSS("#caller-reason"), "回访举报人"), chromedp.Click(chromedp.CSS("#caller-show")))
	p.Poll("the number in full", `document.querySelector('#caller').textContent === '`+caller+`'`)
	p.Poll("the alert offered for the verdict", `document.querySelectorAll('#step-alerts input:checked').length === 1`)
	p.String(`document.querySelector('#step-outcome').value = 'substantiated'; ''`)
	p.Do(chromedp.SetValue(chromedp.CSS("#step-exports"), "tip-1.csv"),
		chromedp.SetValue(chromedp.CSS("#step-reason"), "轨迹显示该车周日 14:10 至 14:15 停在阳新大酒店，有节假日用车告警，无派车单，举报属实"),
		chromedp.Click(chromedp.CSS("#act-verify")))
	p.Poll("verified", `document.querySelector('#facts .state-badge').dataset.state === 'verified'`)
	p.Do(chromedp.SetValue(chromedp.CSS("#step-reason"), "已电话告知举报人：举报属实，已责令改正"), chromedp.Click(chromedp.CSS("#act-feedback")))
	p.Poll("fed back", `document.querySelector('#facts .state-badge').dataset.state === 'fed_back'`)
	p.Do(chromedp.Click(chromedp.CSS("#act-close")))
	p.Poll("closed", `document.querySelector('#facts .state-badge').dataset.state === 'closed' && !document.querySelector('#step-reason')`)
	p.Poll("every step in the history", jsText("#history li")+`.split('|').length === 6`)
	uitest.Screenshot(ctx, t, shots, "04-closed")

	// The case's export, checked by fleetd verify.
	p.Do(chromedp.SetValue(chromedp.CSS("#export-reason"), "移送纪委"), chromedp.Click(chromedp.CSS("#export-go")))
	csv := uitest.WaitDownloads(t, downloads, []string{"csv"})[0]
	code, out, errs := fleetd(t, "verify", "--db", db, csv)
	if code != 0 || !strings.Contains(out, "tip case #1: the case and its 6 steps match the record") || strings.Contains(out, caller) {
		t.Errorf("fleetd verify: %d\n%s\n%s", code, out, errs)
	}

	// Through the API: the case, and the audit of the number's one view.
	var tip struct {
		State, Outcome string
		Events         []struct{ User, Action, To string } `json:"events"`
	}
	apiGet(t, base, token, "/api/v1/tips/1", &tip)
	var steps []string
	for _, e := range tip.Events {
		steps = append(steps, e.User+":"+e.Action+":"+e.To)
	}
	want := "hs_insp:register:registered|hs_insp:pass:passed|yx_super:reply:replied|hs_insp:verify:verified|hs_insp:feedback:fed_back|hs_insp:close:closed"
	if tip.State != "closed" || tip.Outcome != "substantiated" || strings.Join(steps, "|") != want {
		t.Errorf("the tip: %+v", tip)
	}
	var audit struct {
		Items []struct {
			Action, User, Reason string
			Detail               json.RawMessage
		} `json:"items"`
	}
	apiGet(t, base, token, "/api/v1/audit?limit=500&user="+url.QueryEscape("hs_insp"), &audit)
	views := 0
	for _, a := range audit.Items {
		if a.Action == "tip.caller_view" && a.Reason == "回访举报人" {
			views++
		}
		if strings.Contains(string(a.Detail), caller) {
			t.Errorf("the number in the audit detail of %s", a.Action)
		}
	}
	if views != 1 {
		t.Errorf("caller views audited: %d", views)
	}
}
