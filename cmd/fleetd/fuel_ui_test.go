package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/jackc/pgx/v5/pgxpool"

	"fleetmon/api/uitest"
	"fleetmon/fuel/fueltest"
)

// apiSend sends a JSON body with a bearer token and returns the answer.
// TestFuelPageInBrowser walks the fuel-card page as a 黄石市 inspector: a
// statement with a bad line is refused with the line named, the station
// list and the statement are imported, October is matched against the
// car's stored month of positions and shows exactly the generated month's
// leads; the away lead shows how far the car was and the track around the
// fill, and is worked through a request for an explanation to a verdict.
// The leads' export is then checked by fleetd verify.
func TestFuelPageInBrowser(t *testing.T) {
	ctx := uitest.Browser(t, 8*time.Minute)
	shots := uitest.ArtifactDir(t)
	db, otp, token := seedFleet(t, "plate,plate_color,terminal_phone,unit,category\n"+
		"鄂B10001,1,13800000011,湖北省/黄石市/阳新县,general\n", "hs_insp", "inspector", "湖北省/黄石市")
	_, superToken := addUser(t, db, "yx_super", "supervisor", "湖北省/黄石市/阳新县")
	sc := fueltest.October2026("阳新", "9000000001", 0)
	bg := context.Background()
	pool, err := pgxpool.New(bg, db)
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	var vid int64
	if err := pool.QueryRow(bg, "SELECT id FROM vehicles WHERE plate = '鄂B10001'").Scan(&vid); err != nil {
		t.Fatal(err)
	}
	if err := fueltest.StoreTrack(bg, pool, vid, sc.Points); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	write := func(name, text string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	stations := write("加油站.csv", sc.StationList(true))
	statement := write("对账单.csv", "\ufeff"+sc.Statement(true))
	bad := write("坏的对账单.csv", sc.Statement(true)+"9000000001,2026-10-40 09:00:00,阳新A,92#,20,150\n")

	srv := startServe(t, "--db", db, "--data-dir", t.TempDir())
	base := "http://" + srv.HTTP
	// The unit binds its card and records the car's tank and norm.
	if code, body := apiCall(t, base, superToken, "POST", "/api/v1/fuel/cards",
		fmt.Sprintf(`{"card": "9000000001", "vehicle_id": %d, "from": "2026-09-01 00:00"}`, vid)); code != 201 {
		t.Fatalf("bind the card: %d %s", code, body)
	}
	if code, body := apiCall(t, base, superToken, "PUT", fmt.Sprintf("/api/v1/fuel/vehicles/%d", vid),
		fmt.Sprintf(`{"tank_l": %g, "norm_l_100km": %g}`, fueltest.Tank, fueltest.Norm)); code != 200 {
		t.Fatalf("tank and norm: %d %s", code, body)
	}

	p := &uitest.Page{Ctx: ctx, T: t, Shots: shots, Detail: srv.Stderr.String}
	downloads := t.TempDir()
	uitest.Login(ctx, t, base, "hs_insp", otp, "Huangshi-Inspect-2026!")
	p.Do(uitest.DownloadTo(downloads))
	p.Poll("加油卡核对 in the navigation", jsText("#nav a")+`.includes('加油卡核对')`)
	p.Follow(`#nav a[data-page=fuel]`, "#filters")
	p.Poll("the page ready", `document.body.dataset.ready === 'true'`)

	// A statement with a bad line: refused, the line named, in Chinese.
	p.Do(chromedp.SetUploadFiles(chromedp.CSS("#statement-file"), []string{bad}), chromedp.Click(chromedp.CSS("#statement-go")))
	p.Poll("the bad line named", `document.querySelector('#import-result li[data-line="12"]') !== null && `+
		jsText("#import-result li")+`.includes('未导入任何内容')`)
	uitest.Screenshot(ctx, t, shots, "01-bad-line")
	p.Do(chromedp.SetUploadFiles(chromedp.CSS("#stations-file"), []string{stations}), chromedp.Click(chromedp.CSS("#stations-go")))
	p.Poll("the stations imported", jsText("#import-result li")+` === '加油站 3 个，变更 3 个'`)
	p.Do(chromedp.SetUploadFiles(chromedp.CSS("#statement-file"), []string{statement}), chromedp.Click(chromedp.CSS("#statement-go")))
	p.Poll("the statement imported", jsText("#import-result li")+` === '对账单 10 笔，新增 10 笔，已有 0 笔'`)

	// October matched: exactly the generated month's leads.
	p.Do(chromedp.SetValue(chromedp.CSS("#f-month"), "2026-10"), chromedp.Click(chromedp.CSS("#match-go")))
	kinds := `[...document.querySelectorAll('#leads tr[data-id]')].map(r => r.dataset.kind).sort().join(',')`
	p.Poll("the month's leads", kinds+` === 'after_hours,away,holiday,holiday,over_distance,over_tank'`)
	p.Poll("the counts", jsText("#counts span")+` === '待核查 6|待说明 0|已认定违规 0|已排除 0'`)
	uitest.Screenshot(ctx, t, shots, "02-leads")

	// The away fill: its evidence, then worked to a verdict.
	p.Do(chromedp.Click(chromedp.CSS(`#leads tr[data-kind=away]`)))
	p.Poll("the lead shown", `document.querySelector('#detail h2') !== null && document.querySelector('#facts').textContent.includes('车辆距加油站最近')`)
	p.Poll("the track around the fill", `document.querySelectorAll('#excerpt tbody tr').length > 10`)
	p.Poll("its replay offered", `document.querySelector('#replay-link').href.includes('vehicle=' + `+fmt.Sprint(vid)+`)`)
	uitest.Screenshot(ctx, t, shots, "03-away")
	p.Do(chromedp.SetValue(chromedp.CSS("#step-reason"), "请阳新县说明 10月13日加油卡使用情况"), chromedp.Click(chromedp.CSS("#act-request_explanation")))
	p.Poll("explanation requested", `document.querySelector('#detail').dataset.verification === 'explanation_requested'`)
	p.Do(chromedp.SetValue(chromedp.CSS("#step-reason"), "卡在异地使用，车辆当时在单位，认定为违规"), chromedp.Click(chromedp.CSS("#act-confirm")))
	p.Poll("confirmed", `document.querySelector('#detail').dataset.verification === 'confirmed' && document.querySelectorAll('#history li').length === 2`)
	p.Poll("the counts moved", jsText("#counts span")+` === '待核查 5|待说明 0|已认定违规 1|已排除 0'`)
	uitest.Screenshot(ctx, t, shots, "04-confirmed")
	if code, body := apiText(t, base, token, "/api/v1/fuel/leads?verification=confirmed&month=2026-10"); code != 200 || !strings.Contains(body, `"kind":"away"`) {
		t.Fatalf("the confirmed lead through the API: %d %s", code, body)
	}

	// The export, downloaded with its reason, verified by fleetd.
	p.Do(chromedp.SetValue(chromedp.CSS("#export-reason"), "加油卡专项治理"), chromedp.Click(chromedp.CSS("#export-go")))
	csv := uitest.WaitDownloads(t, downloads, []string{"csv"})[0]
	code, out, errs := fleetd(t, "verify", "--db", db, csv)
	if code != 0 || !strings.Contains(out, "OK: every lead in the export matches") {
		t.Fatalf("fleetd verify of the export: %d %s %s", code, out, errs)
	}
	file, _ := os.ReadFile(csv)
	edited := write("edited.csv", strings.Replace(string(file), "48.00", "38.00", 1))
	if code, out, _ := fleetd(t, "verify", "--db", db, edited); code != 1 || !strings.Contains(out, "file_altered") {
		t.Fatalf("fleetd verify of an edited export: %d %s", code, out)
	}
}
