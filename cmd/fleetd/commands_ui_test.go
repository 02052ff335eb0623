package main

import (
	"context"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/jackc/pgx/v5/pgxpool"

	"fleetmon/api/uitest"
	"fleetmon/cmd/fleetsim/sim"
	"fleetmon/ingest/jt808"
)

// TestTerminalCommandsInBrowser sends commands from the vehicles tab's
// 指令 panel as a 黄石市 supervisor to a simulated 2019 terminal: where it
// is now, a new reporting interval, the parameters read back, a text to
// the driver; each answered in the panel's history, in Chinese.
func TestTerminalCommandsInBrowser(t *testing.T) {
	ctx := uitest.Browser(t, 5*time.Minute)
	shots := uitest.ArtifactDir(t)
	db, otp, _ := seedFleet(t, commandsCSV, "hs_super", "supervisor", "湖北省/黄石市")
	srv := startServe(t, "--db", db, "--data-dir", t.TempDir())
	base := "http://" + srv.HTTP
	p := &uitest.Page{Ctx: ctx, T: t, Shots: shots, Detail: srv.Stderr.String}
	pool, err := pgxpool.New(context.Background(), db)
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()

	term, err := sim.NewTerminal(sim.Config{Phone: "13900000001", Version: jt808.Version2019, Plate: "鄂B20001", PlateColor: 1})
	if err != nil {
		t.Fatal(err)
	}
	if err := term.Connect(context.Background(), srv.JT808); err != nil {
		t.Fatal(err)
	}
	defer term.Close()
	if err := term.Login(context.Background()); err != nil {
		t.Fatal(err)
	}
	if err := term.Report(sim.Point{Time: time.Now(), Lat: 30.2, Lon: 115.04, SpeedKmh: 30}); err != nil {
		t.Fatal(err)
	}

	uitest.Login(ctx, t, base, "hs_super", otp, "Huangshi-Fleet-2026!")
	adminPage(p, base, "vehicles", `!!document.querySelector('tr[data-plate="鄂B20001"]')`)
	p.Do(chromedp.Click(chromedp.CSS(`tr[data-plate="鄂B20001"] [data-act=commands]`)), chromedp.WaitVisible(chromedp.CSS("#cmd-dialog")))
	send := func(kind string) {
		t.Helper()
		p.Do(chromedp.SetValue(chromedp.CSS(`#cmd-dialog select[name=kind]`), kind))
		p.Eval(`document.querySelector('#cmd-dialog select[name=kind]').dispatchEvent(new Event('change'))`, new(bool))
	}
	answered := func(what, kind, text string) {
		t.Helper()
		p.Poll(what, `[...document.querySelectorAll('#cmd-history tr[data-kind=`+kind+`][data-state=answered]')].some(r => r.textContent.includes('`+text+`'))`)
	}

	send("query_location")
	p.Do(chromedp.Click(chromedp.CSS(`#cmd-dialog [data-act=send]`)))
	answered("the location query answered", "query_location", "30.20000, 115.04000")

	send("set_params")
	p.Do(chromedp.SetValue(chromedp.CSS(`#cmd-dialog input[name=default_interval_s]`), "15"),
		chromedp.Click(chromedp.CSS(`#cmd-dialog [data-act=send]`)))
	answered("the parameters set", "set_params", "成功")
	send("query_params")
	p.Do(chromedp.Click(chromedp.CSS(`#cmd-dialog [data-act=send]`)))
	answered("the parameters read back", "query_params", "缺省汇报间隔（秒）: 15")

	send("text")
	p.Do(chromedp.SetValue(chromedp.CSS(`#cmd-dialog textarea[name=text]`), "请返回单位"),
		chromedp.Click(chromedp.CSS(`#cmd-dialog [data-act=send]`)))
	answered("the text shown", "text", "成功")
	uitest.Screenshot(ctx, t, shots, "01-commands")
	if got := term.Texts(); len(got) != 1 || got[0] != "请返回单位" {
		t.Fatalf("the driver's display shows %q", got)
	}
	var audited int
	if err := pool.QueryRow(context.Background(), `SELECT count(*) FROM audit_log WHERE action = 'command.queue' AND actor_name = 'hs_super'`).Scan(&audited); err != nil || audited != 4 {
		t.Errorf("the commands in the audit log: %d %v", audited, err)
	}
}
