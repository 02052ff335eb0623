package main

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"fleetmon/api/uitest"
	"fleetmon/cmd/fleetsim/sim"
)

// apiJSON sends a JSON body with a token and returns the status and body.
func apiJSON(t *testing.T, base, token, method, path string, body any) (int, string) {
	t.Helper()
	j, err := json.Marshal(body)
	if err != nil {
		t.Fatal(err)
	}
	return apiCall(t, base, token, method, path, string(j))
}

// eastDrive is a car leaving from lat, lon at start: moving fixes 10 s
// apart eastwards at 40 km/h (111 m a fix), then parked fixes 30 s apart
// where it stopped, ignition off, as a terminal reports them.
func eastDrive(start time.Time, lat, lon float64, moving, parked int) []sim.Point {
	var pts []sim.Point
	at := start
	for i := range moving {
		pts = append(pts, sim.Point{Time: at, Lat: lat, Lon: lon + float64(i)*0.00115, SpeedKmh: 40, Heading: 90, ACC: true, Positioned: true})
		at = at.Add(10 * time.Second)
	}
	end := pts[len(pts)-1]
	for range parked {
		pts = append(pts, sim.Point{Time: at, Lat: end.Lat, Lon: end.Lon, Heading: 90, Positioned: true})
		at = at.Add(30 * time.Second)
	}
	return pts
}

// localInput is t as a datetime-local input holds it, in Beijing time.
func localInput(t time.Time) string { return t.In(cstZone).Format("2006-01-02T15:04") }

// TestTripRequestInBrowser walks a car request through fleetmon as a
// county office does: a clerk (staff) logs in, lands on the requests page
// (and sees nothing else of the platform), asks for a car to a landmark
// and files a second request to a place marked on the map; the dispatcher (a supervisor of the county)
// adds a driver, approves the first, rejects the second with its reason,
// dispatches the county's car with the driver, and records an emergency
// use of the same car two hours earlier (补录) with its reason. The car's
// terminal (fleetsim over TCP) reports the emergency drive and then the
// dispatched trip; the dispatch page compares both with the track: the
// dispatched trip left and came back in its window and reached its
// landmark, approved before it left; the emergency use is flagged, its
// approval issued after the drive. The clerk reads the rejection's reason.
// Screenshots are kept in test-artifacts/TestTripRequestInBrowser/.
func TestTripRequestInBrowser(t *testing.T) {
	ctx := uitest.Browser(t, 4*time.Minute)
	shots := uitest.ArtifactDir(t)
	const county, office = "湖北省/黄石市/阳新县", "湖北省/黄石市/阳新县/县机关事务中心"
	db, supOTP, supToken := seedFleet(t, "plate,plate_color,terminal_phone,unit,category\n"+
		"鄂B20001,1,13900000021,"+office+",general\n", "yx_dispatcher", "supervisor", county)
	clerkOTP, clerkToken := addUser(t, db, "yx_clerk", "staff", office)
	srv := startServe(t, "--db", db, "--data-dir", t.TempDir())
	base := "http://" + srv.HTTP
	p := &uitest.Page{Ctx: ctx, T: t, Shots: shots, Detail: func() string { return "fleetd:\n" + srv.Stderr.String() }}
	cell := func(purpose string) string {
		return `document.querySelector('#requests tr[data-purpose="` + purpose + `"]')`
	}

	// The trip's window opens ten minutes ago; the emergency use was two
	// hours ago, and its drive is in fleetd before anyone records it.
	now := time.Now().Truncate(time.Minute)
	from, to := now.Add(-10*time.Minute), now.Add(50*time.Minute)
	emFrom, emTo := now.Add(-3*time.Hour), now.Add(-time.Hour)
	emergencyDrive := eastDrive(now.Add(-2*time.Hour), 29.85, 115.2, 40, 12)
	sendTrack(t, srv.JT808, "13900000021", "鄂B20001", emergencyDrive, func(int) bool { return false })
	dest := sim.LatLon{Lat: 29.86, Lon: 115.2 + 20*0.00115}
	units := unitIDs(t, base, supToken)
	code, body := apiJSON(t, base, supToken, "POST", "/api/v1/landmarks", map[string]any{"name": "阳新县人民政府", "category": "other",
		"unit_id": units[office], "geometry": map[string]any{"type": "Point", "coordinates": []float64{dest.Lon, dest.Lat}}})
	if code != 201 {
		t.Fatalf("landmark: %d %s", code, body)
	}

	// The clerk logs in and lands on the requests page, the only one.
	p.Do(chromedp.Navigate(base+"/"), chromedp.WaitVisible(chromedp.CSS("#name")),
		chromedp.SendKeys(chromedp.CSS("#name"), "yx_clerk"), chromedp.SendKeys(chromedp.CSS("#password"), clerkOTP),
		chromedp.Click(chromedp.CSS("#login button")), chromedp.WaitVisible(chromedp.CSS("#newpw")),
		chromedp.SendKeys(chromedp.CSS("#newpw"), "Clerk-Yangxin-2026!"), chromedp.SendKeys(chromedp.CSS("#newpw2"), "Clerk-Yangxin-2026!"),
		chromedp.Click(chromedp.CSS("#change button")), chromedp.WaitVisible(chromedp.CSS("#apply")))
	p.Poll("the requests page ready", `document.body.dataset.ready === 'true' && location.pathname === '/ui/requests.html'`)
	p.Poll("the clerk's navigation", jsText("#nav a")+` === '用车申请|修改密码'`)
	p.Poll("no dispatching for the clerk", `document.querySelector('#a-emergency').offsetParent === null`)
	file := func(purpose, destination, landmark string, a, b time.Time) {
		t.Helper()
		p.Do(chromedp.SetValue(chromedp.CSS("#a-purpose"), purpose), chromedp.SetValue(chromedp.CSS("#a-passengers"), "3"),
			chromedp.SetValue(chromedp.CSS("#a-destination"), destination), chromedp.SetValue(chromedp.CSS("#a-landmark"), landmark),
			chromedp.SetValue(chromedp.CSS("#a-from"), localInput(a)), chromedp.SetValue(chromedp.CSS("#a-to"), localInput(b)),
			chromedp.Click(chromedp.CSS("#a-submit")))
		p.Poll(purpose+" filed", cell(purpose)+`?.dataset.status === 'pending'`)
	}
	landmark := p.String(`[...document.querySelectorAll('#a-landmark option')].find(o => o.textContent === '阳新县人民政府').value`)
	file("赴县政府汇报防汛工作", "县政府", landmark, from, to)
	// The second request's destination is marked on the map.
	var box struct{ X, Y, W, H float64 }
	p.Eval(`(() => { const r = document.querySelector('#a-map').getBoundingClientRect(); return {X: r.x, Y: r.y, W: r.width, H: r.height} })()`, &box)
	p.Do(chromedp.Click(chromedp.CSS(".leaflet-pm-icon-marker")), chromedp.MouseClickXY(box.X+box.W/2, box.Y+box.H/2))
	p.Poll("the destination marked", `document.querySelector('#a-map').dataset.drawn === 'Point'`)
	file("参观学习", "武汉市", "", from, to)
	p.Poll("the map cleared for the next request", `document.querySelector('#a-map').dataset.drawn === undefined`)
	uitest.Screenshot(ctx, t, shots, "1-filed")
	if code, _ := apiText(t, base, clerkToken, "/api/v1/vehicles"); code != 403 {
		t.Errorf("the clerk reads the vehicles: %d", code)
	}

	// The dispatcher: a driver, an approval, a rejection, the dispatch.
	p.Do(chromedp.Click(chromedp.CSS("#logout")), chromedp.WaitVisible(chromedp.CSS("#name")))
	uitest.Login(ctx, t, base, "yx_dispatcher", supOTP, "Dispatcher-Yangxin-2026!")
	p.Do(chromedp.Navigate(base+"/ui/requests.html"), chromedp.WaitVisible(chromedp.CSS("#apply")))
	p.Poll("the dispatcher's page ready", `document.body.dataset.ready === 'true'`)
	p.Do(chromedp.SetValue(chromedp.CSS("#d-unit"), fmt.Sprint(units[office])), chromedp.SetValue(chromedp.CSS("#d-name"), "王师傅"),
		chromedp.SetValue(chromedp.CSS("#d-phone"), "13900001111"), chromedp.Click(chromedp.CSS("#d-add")))
	p.Poll("the driver listed", jsText("#drivers td")+`.includes('王师傅')`)
	p.Do(chromedp.Click(chromedp.CSS(`#requests tr[data-purpose="赴县政府汇报防汛工作"] [data-act=approve]`)))
	p.Poll("approved", cell("赴县政府汇报防汛工作")+`?.dataset.status === 'approved'`)
	p.Do(chromedp.Click(chromedp.CSS(`#requests tr[data-purpose="参观学习"] [data-act=reject]`)))
	p.Poll("a rejection without its reason refused", `document.querySelector('#toast').textContent.includes('驳回须填写理由')`)
	p.Do(chromedp.SetValue(chromedp.CSS(`#requests tr[data-purpose="参观学习"] .rq-reason`), "与市局调研合并出行"),
		chromedp.Click(chromedp.CSS(`#requests tr[data-purpose="参观学习"] [data-act=reject]`)))
	p.Poll("rejected", cell("参观学习")+`?.dataset.status === 'rejected'`)
	row := `#requests tr[data-purpose="赴县政府汇报防汛工作"] `
	vehicle := p.String(`[...document.querySelectorAll('` + row + `.rq-vehicle option')].find(o => o.textContent === '鄂B20001').value`)
	driver := p.String(`[...document.querySelectorAll('` + row + `.rq-driver option')].find(o => o.textContent.startsWith('王师傅')).value`)
	p.Do(chromedp.SetValue(chromedp.CSS(row+".rq-vehicle"), vehicle), chromedp.SetValue(chromedp.CSS(row+".rq-driver"), driver),
		chromedp.Click(chromedp.CSS(row+"[data-act=dispatch]")))
	p.Poll("dispatched", cell("赴县政府汇报防汛工作")+`?.dataset.status === 'dispatched' && `+cell("赴县政府汇报防汛工作")+`.textContent.includes('鄂B20001 · 王师傅')`)
	// The same car for the overlapping emergency window is refused, and
	// then recorded for the earlier one.
	p.Do(chromedp.SetValue(chromedp.CSS("#a-purpose"), "防汛抢险转移群众"), chromedp.SetValue(chromedp.CSS("#a-passengers"), "4"),
		chromedp.SetValue(chromedp.CSS("#a-destination"), "富河堤段"), chromedp.SetValue(chromedp.CSS("#a-from"), localInput(emFrom)),
		chromedp.SetValue(chromedp.CSS("#a-to"), localInput(from.Add(time.Minute))), chromedp.SetValue(chromedp.CSS("#a-reason"), "富河水位超警戒，连夜转移群众"),
		chromedp.SetValue(chromedp.CSS("#e-vehicle"), vehicle), chromedp.SetValue(chromedp.CSS("#e-driver"), driver),
		chromedp.Click(chromedp.CSS("#a-emergency")))
	p.Poll("a busy car refused", `document.querySelector('#toast').textContent.includes('车辆 鄂B20001 在该时段已被派出')`)
	p.Do(chromedp.SetValue(chromedp.CSS("#a-to"), localInput(emTo)), chromedp.Click(chromedp.CSS("#a-emergency")))
	p.Poll("the emergency use recorded", cell("防汛抢险转移群众")+`?.dataset.status === 'dispatched' && `+cell("防汛抢险转移群众")+`.textContent.includes('紧急用车补录')`)
	uitest.Screenshot(ctx, t, shots, "2-dispatched")

	// The car leaves after its dispatch and drives to the landmark.
	trip := eastDrive(time.Now().Add(2*time.Second), dest.Lat, 115.2, 21, 12)
	sendTrack(t, srv.JT808, "13900000021", "鄂B20001", trip, func(int) bool { return false })

	// The dispatch page compares both with the track, on the day each
	// window opens (they differ in the first hours after midnight).
	p.Do(chromedp.Navigate(base+"/ui/dispatch.html"), chromedp.WaitVisible(chromedp.CSS("#f-date")))
	p.Poll("the dispatch page ready", `document.body.dataset.ready === 'true'`)
	var rows []map[string]string
	days := []string{emFrom.In(cstZone).Format(time.DateOnly)}
	if d := from.In(cstZone).Format(time.DateOnly); d != days[0] {
		days = append(days, d)
	}
	for i, day := range days {
		p.Do(chromedp.SetValue(chromedp.CSS("#f-date"), day), chromedp.Click(chromedp.CSS("#f-go")))
		p.Poll("the report of "+day, `document.querySelector('#summary').textContent.startsWith('`+day+`')`)
		want := 2 / len(days)
		p.Poll("the trips of "+day+" compared", fmt.Sprintf(`document.querySelectorAll('#trips-table tr[data-approval]').length === %d`, want))
		var got []map[string]string
		p.Eval(`[...document.querySelectorAll('#trips-table tr[data-approval]')].map(tr => ({...tr.dataset, text: tr.textContent}))`, &got)
		rows = append(rows, got...)
		uitest.Screenshot(ctx, t, shots, fmt.Sprintf("3-compared-%d", i+1))
		// Neither trip is 无单出车: a dispatch is an approval as the
		// rules know them.
		if n := p.String(`String(document.querySelectorAll('#dispatch tr[data-kind=no_order], #dispatch tr[data-kind=overrun]').length)`); n != "0" {
			t.Errorf("%s: %s drives without an order", day, n)
		}
	}
	var planned, emergency map[string]string
	for _, r := range rows {
		if r["emergency"] == "true" {
			emergency = r
		} else {
			planned = r
		}
	}
	if planned == nil || emergency == nil {
		t.Fatalf("trips shown: %v", rows)
	}
	if planned["reached"] != "true" || planned["issuedAfter"] != "false" || !strings.Contains(planned["text"], "是 / 是") ||
		!strings.Contains(planned["text"], "用车申请 #") {
		t.Errorf("the dispatched trip: %v", planned)
	}
	if emergency["issuedAfter"] != "true" || !strings.Contains(emergency["text"], "出车后补批") || !strings.Contains(emergency["text"], "紧急用车补录") ||
		!strings.Contains(emergency["text"], "未指定地点") {
		t.Errorf("the emergency use: %v", emergency)
	}

	// The clerk reads why the second request was rejected.
	code, body = apiText(t, base, clerkToken, "/api/v1/trip-requests?status=rejected")
	if code != 200 || !strings.Contains(body, "与市局调研合并出行") || !strings.Contains(body, `"decided_by":"yx_dispatcher"`) ||
		!strings.Contains(body, `"dest_area":{"type":"Point"`) {
		t.Errorf("the clerk's rejected request: %d %s", code, body)
	}
}
