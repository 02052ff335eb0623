package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/input"
	"github.com/chromedp/chromedp"

	"fleetmon/alerts"
	"fleetmon/api/uitest"
	"fleetmon/ingest/jt808"
)

// TestLiveMapInBrowser is issue 4's browser test: fleetd serve with
// vehicles in 黄石市 and 武汉市, simulated terminals driving over JT/T 808,
// and a 黄石市 supervisor who logs in through the login page in headless
// Chromium (changing the one-time password), sees the 黄石市 vehicles move
// and none of 武汉市's, searches, filters, follows one, and sees the alert
// of a sealed vehicle that drives arrive in the feed. Screenshots are kept
// in test-artifacts/TestLiveMapInBrowser/.
func TestLiveMapInBrowser(t *testing.T) {
	ctx := uitest.Browser(t, 3*time.Minute)
	shots := uitest.ArtifactDir(t)
	db, otp, token := seedFleet(t, "plate,plate_color,terminal_phone,unit,category\n"+
		"鄂B10001,1,13800000011,湖北省/黄石市,general\n"+
		"鄂B10002,1,13800000012,湖北省/黄石市/阳新县,enforcement\n"+
		"鄂B10003,1,13800000013,湖北省/黄石市,general\n"+
		"鄂A20001,1,13800000021,湖北省/武汉市,general\n"+
		"鄂A20002,1,13800000022,湖北省/武汉市,general\n", "hs_super", "supervisor", "湖北省/黄石市")
	srv := startServe(t, "--db", db, "--data-dir", t.TempDir())
	base := "http://" + srv.HTTP

	// 鄂B10003 is sealed (封存) since an hour ago: driving it is an alert.
	sealed := vehicleID(t, base, token, "鄂B10003")
	req, _ := http.NewRequest("POST", fmt.Sprintf("%s/api/v1/vehicles/%d/seal", base, sealed),
		strings.NewReader(fmt.Sprintf(`{"at": %q}`, time.Now().Add(-time.Hour).Format(time.RFC3339))))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+token)
	if resp, err := http.DefaultClient.Do(req); err != nil || resp.StatusCode != 200 {
		t.Fatalf("seal: %v %v", resp, err)
	}

	// The terminals report the present, whatever the hour or the day the
	// test runs: 黄石市 works round the clock (a duty office), so that
	// only the sealed car's move is an alert, never an after-hours drive.
	workRoundTheClock(t, base, token, sealed)

	// Four terminals drive north at about 40 km/h, one report a second, as
	// long as the test runs: two in 黄石市, two in 武汉市.
	var drivers []*terminal
	for _, v := range []struct{ phone, plate string }{
		{"13800000011", "鄂B10001"}, {"13800000012", "鄂B10002"}, {"13800000021", "鄂A20001"}, {"13800000022", "鄂A20002"},
	} {
		tm := dialTerminal(t, srv.JT808, v.phone)
		tm.login(v.plate)
		drivers = append(drivers, tm)
	}
	driveCtx, stopDriving := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	var driveErr error
	var errOnce sync.Once
	for i, tm := range drivers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			lat, lon := 30.20+float64(i%2)*0.01, 115.04+float64(i%2)*0.01
			if i >= 2 {
				lat, lon = 30.59, 114.30+float64(i%2)*0.01
			}
			for n := 0; ; n++ {
				loc := jt808.Location{Status: jt808.StatusACC | jt808.StatusFixed, LatE6: uint32((lat + float64(n)*0.0001) * 1e6),
					LonE6: uint32(lon * 1e6), SpeedDeciKmh: 400, Time: jt808.NewBCDTime(time.Now())}
				if _, err := tm.tryExchange(jt808.IDLocation, loc.AppendTo(nil, jt808.Version2013)); err != nil {
					if driveCtx.Err() == nil {
						errOnce.Do(func() { driveErr = err })
					}
					return
				}
				select {
				case <-driveCtx.Done():
					return
				case <-time.After(time.Second):
				}
			}
		}()
	}
	t.Cleanup(func() {
		stopDriving()
		wg.Wait()
		if driveErr != nil {
			t.Errorf("a terminal stopped driving: %v", driveErr)
		}
	})

	poll := func(what, cond string) {
		t.Helper()
		if _, err := chromedp.Run(ctx, chromedp.Poll[any](cond, chromedp.WithPollingTimeout(30*time.Second))); err != nil {
			uitest.Screenshot(ctx, t, shots, "failed")
			text, _ := chromedp.Run(ctx, chromedp.Evaluate[string](`document.body.innerText`))
			t.Fatalf("%s: %v (%s); the page shows:\n%s\nfleetd:\n%s", what, err, cond, text, srv.Stderr.String())
		}
	}
	eval := func(js string) string {
		t.Helper()
		v, err := chromedp.Run(ctx, chromedp.Evaluate[any](js))
		if err != nil {
			t.Fatalf("%s: %v", js, err)
		}
		return fmt.Sprint(v)
	}
	do := func(steps ...chromedp.Action[chromedp.Void]) {
		t.Helper()
		if err := chromedp.Do(ctx, steps...); err != nil {
			uitest.Screenshot(ctx, t, shots, "failed")
			t.Fatal(err)
		}
	}
	insertText := func(text string) chromedp.Action[chromedp.Void] {
		return chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
			_, err := cdp.Call(ctx, tg, input.InsertText, input.InsertTextParams{Text: text})
			return err
		})
	}
	// pageOK: nothing of 武汉市 shown, and no error.
	pageOK := func() {
		t.Helper()
		text := eval(`document.body.innerText`)
		if strings.Contains(text, "鄂A") || strings.Contains(text, "武汉") {
			t.Fatalf("a 武汉市 vehicle on a 黄石市 supervisor's page:\n%s", text)
		}
		if msg := eval(`document.querySelector('#toast').textContent`); strings.HasPrefix(msg, "出错") || strings.HasPrefix(msg, "Error") {
			t.Fatalf("the page showed an error: %s", msg)
		}
	}
	rows := `[...document.querySelectorAll('#vehicles li[data-plate]')].map(li => li.dataset.plate).join(',')`
	field := func(name string) string {
		return fmt.Sprintf(`document.querySelector('#d-fields [data-field=%q]').textContent`, name)
	}

	// Log in: the one-time password, then a new one; the live map opens.
	uitest.Login(ctx, t, base, "hs_super", otp, "Huangshi-Fleet-2026!")
	poll("the 黄石市 vehicles listed", rows+` === '鄂B10001,鄂B10002,鄂B10003'`)
	poll("the stream connected", `document.querySelector('#conn').classList.contains('ok')`)
	poll("both drivers moving", `document.querySelectorAll('#vehicles li[data-state=moving]').length === 2`)
	poll("vehicles drawn on the map", `document.querySelector('canvas.fm-vehicles') !== null`)
	pageOK()
	uitest.Screenshot(ctx, t, shots, "1-live-map")

	// Search by plate as Chinese input commits it, then the filters.
	do(chromedp.Click(chromedp.CSS("#search")), insertText("鄂b1000"))
	poll("search 鄂b1000", rows+` === '鄂B10001,鄂B10002,鄂B10003'`)
	do(insertText("2"))
	poll("search 鄂b10002", rows+` === '鄂B10002'`)
	uitest.Screenshot(ctx, t, shots, "2-search")
	eval(`(() => { const s = document.querySelector('#search'); s.value = ''; s.dispatchEvent(new Event('input')); return true })()`)
	poll("search cleared", rows+` === '鄂B10001,鄂B10002,鄂B10003'`)
	setSelect := func(id, value string) {
		t.Helper()
		eval(fmt.Sprintf(`(() => { const s = document.querySelector(%q); s.value = %q; s.dispatchEvent(new Event('change')); return s.value })()`, id, value))
	}
	setSelect("#f-unit", "湖北省/黄石市/阳新县")
	poll("unit filter", rows+` === '鄂B10002'`)
	setSelect("#f-unit", "")
	setSelect("#f-category", "enforcement")
	poll("category filter", rows+` === '鄂B10002'`)
	setSelect("#f-category", "")
	setSelect("#f-state", "moving")
	poll("state filter", rows+` === '鄂B10001,鄂B10002'`)
	setSelect("#f-state", "")

	// Pick 鄂B10002 and follow it: its position changes, and the map pans.
	do(chromedp.Click(chromedp.CSS(`#vehicles li[data-plate="鄂B10002"]`)))
	poll("detail of 鄂B10002", field("plate")+` === '鄂B10002'`)
	poll("detail complete", field("unit")+` === '湖北省/黄石市/阳新县' && `+field("acc")+` === '开' && `+field("terminal")+`.startsWith('13800000012')`)
	do(chromedp.Click(chromedp.CSS("#follow")))
	poll("following", `document.querySelector('#follow').classList.contains('on')`)
	pos := eval(field("position"))
	pane := eval(`document.querySelector('.leaflet-map-pane').style.transform`)
	poll("鄂B10002 moved", field("position")+` !== `+fmt.Sprintf("%q", pos))
	poll("the map follows", `document.querySelector('.leaflet-map-pane').style.transform !== `+fmt.Sprintf("%q", pane))
	// The page asked for a click before sounding; it has had several.
	poll("sound ready", `document.querySelector('#sound').textContent === '声音：开'`)
	uitest.Screenshot(ctx, t, shots, "3-follow")

	// The sealed 鄂B10003 uploads ten minutes of driving (a blind-zone
	// catch-up): 封存车辆移动 arrives in the feed, with a flash.
	sealedTm := dialTerminal(t, srv.JT808, "13800000013")
	sealedTm.login("鄂B10003")
	t0 := time.Now().Add(-10 * time.Minute)
	for i := range 61 {
		loc := jt808.Location{Status: jt808.StatusACC | jt808.StatusFixed, LatE6: uint32((30.25 + float64(i)*0.0009) * 1e6),
			LonE6: 115040000, SpeedDeciKmh: 360, Time: jt808.NewBCDTime(t0.Add(time.Duration(i) * 10 * time.Second))}
		sealedTm.expectOK("location", jt808.IDLocation, loc.AppendTo(nil, jt808.Version2013))
	}
	poll("the alert in the feed", `[...document.querySelectorAll('#alerts li.alert.open[data-rule=sealed_move]')].some(li => li.textContent.includes('鄂B10003') && li.textContent.includes('封存车辆移动'))`)
	poll("the feed flashes", `document.querySelector('#alert-panel').classList.contains('flash')`)
	poll("鄂B10003 in alarm", `document.querySelector('#vehicles li[data-plate="鄂B10003"]').dataset.state === 'alarm'`)
	uitest.Screenshot(ctx, t, shots, "4-alert")

	// English, and back.
	do(chromedp.Click(chromedp.CSS("#lang")))
	poll("English", `document.querySelector('#alerts li.alert').textContent.includes('Sealed vehicle moving') && document.documentElement.lang === 'en'`)
	uitest.Screenshot(ctx, t, shots, "5-english")
	do(chromedp.Click(chromedp.CSS("#lang")))
	pageOK()
}

// vehicleID looks a plate up through the API with a bearer token.
func vehicleID(t *testing.T, base, token, plate string) int64 {
	t.Helper()
	req, _ := http.NewRequest("GET", base+"/api/v1/vehicles?plate="+url.QueryEscape(plate), nil)
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var list struct {
		Items []struct {
			ID    int64  `json:"id"`
			Plate string `json:"plate"`
		} `json:"items"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&list); err != nil || len(list.Items) != 1 || list.Items[0].Plate != plate {
		t.Fatalf("vehicle %s: %d %+v %v", plate, resp.StatusCode, list, err)
	}
	return list.Items[0].ID
}

// workRoundTheClock gives the unit of the vehicle a work calendar in which
// every hour of the days around now is working time: every day of the
// week, and yesterday, today and tomorrow (Beijing time) as duty days,
// which also overrides a national holiday.
func workRoundTheClock(t *testing.T, base, token string, vehicle int64) {
	t.Helper()
	var v struct {
		UnitID int64 `json:"unit_id"`
	}
	apiGet(t, base, token, fmt.Sprintf("/api/v1/vehicles/%d", vehicle), &v)
	day := []alerts.Period{{Start: 0, End: 24 * 60}}
	spec := alerts.CalendarSpec{}
	for d := range spec.Week {
		spec.Week[d] = day
	}
	today := time.Now().In(time.FixedZone("CST", 8*3600))
	for _, n := range []int{-1, 0, 1} {
		spec.Overrides = append(spec.Overrides, alerts.Override{Date: alerts.DateOf(today.AddDate(0, 0, n)),
			Kind: alerts.Workday, Name: "值班", Periods: day})
	}
	body, _ := json.Marshal(spec)
	req, _ := http.NewRequest("PUT", fmt.Sprintf("%s/api/v1/units/%d/calendar", base, v.UnitID), bytes.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		b, _ := io.ReadAll(resp.Body)
		t.Fatalf("PUT calendar: %d %s", resp.StatusCode, b)
	}
}
