package main

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/jackc/pgx/v5/pgxpool"

	"fleetmon/alerts"
	"fleetmon/api/uitest"
	"fleetmon/notify/notifytest"
)

// TestNotifyAdministrationInBrowser walks the notifications tab as a
// 黄石市 supervisor: a webhook with a secret is subscribed to 阳新县's
// speeding alerts and an address refused in Chinese; an alert of a
// 阳新县 vehicle then reaches the webhook, signed, and the send log shows
// it sent; the subscription is deleted. Each change is in the audit log,
// without the secret.
func TestNotifyAdministrationInBrowser(t *testing.T) {
	ctx := uitest.Browser(t, 6*time.Minute)
	shots := uitest.ArtifactDir(t)
	csv := "plate,plate_color,terminal_phone,unit,category\n" +
		"鄂B60001,1,,湖北省/黄石市/阳新县,general\n" +
		"鄂A60002,1,,湖北省/武汉市,general\n"
	db, otp, _ := seedFleet(t, csv, "hs_super", "supervisor", "湖北省/黄石市")
	_, bossToken := addUser(t, db, "boss", "admin", "")
	hook := notifytest.StartWebhook(t, nil)
	srv := startServe(t, "--db", db, "--data-dir", t.TempDir(), "--webhook-allow", "127.0.0.1")
	base := "http://" + srv.HTTP
	p := &uitest.Page{Ctx: ctx, T: t, Shots: shots, Detail: srv.Stderr.String}

	uitest.Login(ctx, t, base, "hs_super", otp, "Huangshi-Notify-2026!")
	adminPage(p, base, "notify", `!!document.querySelector('#notify-subs table')`)
	uitest.Screenshot(ctx, t, shots, "01-empty")

	subscribe := func(unit, channel, target, secret string, rules ...string) {
		t.Helper()
		p.Do(chromedp.Click(chromedp.CSS(`.toolbar [data-act=new]`)), chromedp.WaitVisible(chromedp.CSS("#notify-dialog")))
		set := func(sel, v string) {
			p.Eval(`(() => { const e = document.querySelector(`+jsQuote("#notify-dialog "+sel)+`); e.value = `+jsQuote(v)+
				`; e.dispatchEvent(new Event('change')); return true; })()`, new(bool))
		}
		set("select[name=unit_id]", p.String(`[...document.querySelectorAll('#notify-dialog select[name=unit_id] option')].find(o => o.textContent === `+jsQuote(unit)+`).value`))
		set("select[name=channel]", channel)
		set("input[name=target]", target)
		set("input[name=secret]", secret)
		for _, r := range rules {
			p.Do(chromedp.Click(chromedp.CSS(`#notify-dialog input[name=rule][value=` + r + `]`)))
		}
		p.Do(chromedp.Click(chromedp.CSS(`#notify-dialog [data-act=save]`)))
	}
	subscribe("湖北省/黄石市/阳新县", "email", "not an address", "")
	p.Poll("a bad address refused in Chinese", `document.querySelector('#notify-dialog .msg').textContent.includes('应为一个电子邮件地址')`)
	uitest.Screenshot(ctx, t, shots, "02-refused")
	p.Do(chromedp.Click(chromedp.CSS(`#notify-dialog [data-act=cancel]`)))
	subscribe("湖北省/黄石市/阳新县", "webhook", hook.URL+"/oa", "ui-secret", "speeding")
	p.Poll("the subscription listed", `!document.querySelector('#notify-dialog') && !!document.querySelector('#notify-subs tr[data-channel=webhook]')`)
	if row := p.String(`document.querySelector('#notify-subs tr[data-channel=webhook]').textContent`); !strings.Contains(row, "阳新县") ||
		!strings.Contains(row, "超速") || !strings.Contains(row, "已签名") || strings.Contains(row, "ui-secret") {
		t.Errorf("the subscription's row: %q", row)
	}

	// An alert of a 阳新县 vehicle, as the rules store it, and one of 武汉市.
	pool, err := pgxpool.New(context.Background(), db)
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	var yx, wh, yxUnit, whUnit int64
	for plate, dst := range map[string][2]*int64{"鄂B60001": {&yx, &yxUnit}, "鄂A60002": {&wh, &whUnit}} {
		if err := pool.QueryRow(context.Background(), "SELECT id, unit_id FROM vehicles WHERE plate = $1", plate).Scan(dst[0], dst[1]); err != nil {
			t.Fatal(err)
		}
	}
	start := time.Date(2026, 11, 20, 14, 0, 0, 0, time.UTC)
	if _, err := alerts.NewStore(pool).UpsertEpisodes(context.Background(), []alerts.Episode{
		{ID: "a1", Status: alerts.EpisodeOpen, Rule: alerts.RuleSpeeding, VehicleID: yx, UnitID: yxUnit, Start: start, MaxSpeedKmh: 99},
		{ID: "a2", Status: alerts.EpisodeOpen, Rule: alerts.RuleSpeeding, VehicleID: wh, UnitID: whUnit, Start: start, MaxSpeedKmh: 99},
	}); err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(3 * time.Minute); ; time.Sleep(100 * time.Millisecond) {
		var sent int
		if err := pool.QueryRow(context.Background(), "SELECT count(*) FROM notify_outbox WHERE state = 'sent'").Scan(&sent); err != nil {
			t.Fatal(err)
		}
		if sent > 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the alert was not sent; fleetd's log:\n%s", srv.Stderr.String())
		}
	}
	p.Do(chromedp.Reload())
	p.Poll("the alert in the send log", `!!document.querySelector('#notify-log tr[data-state=sent]')`)
	if row := p.String(`document.querySelector('#notify-log tr[data-state=sent]').textContent`); !strings.Contains(row, "鄂B60001") || !strings.Contains(row, "已发送") {
		t.Errorf("the send log's row: %q", row)
	}
	uitest.Screenshot(ctx, t, shots, "03-sent")
	reqs := hook.Requests()
	if len(reqs) != 1 || !strings.Contains(string(reqs[0].Body), "鄂B60001") || reqs[0].Signature == "" {
		t.Errorf("the webhook got %d requests: %+v", len(reqs), reqs)
	}

	p.Eval(`(window.confirm = () => true, true)`, new(bool))
	p.Do(chromedp.Click(chromedp.CSS(`#notify-subs tr[data-channel=webhook] [data-act=delete]`)))
	p.Poll("the subscription deleted", `!!document.querySelector('#notify-subs td.empty')`)
	uitest.Screenshot(ctx, t, shots, "04-deleted")

	_, audit := apiText(t, base, bossToken, "/api/v1/audit?limit=500")
	for _, action := range []string{"notify.subscription.create", "notify.subscription.delete"} {
		if !strings.Contains(audit, `"`+action+`"`) {
			t.Errorf("no %s in the audit log", action)
		}
	}
	if strings.Contains(audit, "ui-secret") {
		t.Error("the audit log holds the webhook's secret")
	}
}
