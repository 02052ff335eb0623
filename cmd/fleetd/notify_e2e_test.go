package main

import (
	"context"
	"testing"
	"time"

	"fleetmon/alerts"
	"fleetmon/notify"
	"fleetmon/notify/notifytest"
	"fleetmon/track/pgtest"
)

// TestNotifyAcrossRestart: an alert stored while fleetd is down (as when
// it dies right after the rules stored it) is enqueued by the next
// fleetd's catch-up scan; fleetd is killed (SIGKILL) while the webhook
// holds the first attempt, and the restarted fleetd completes the
// delivery once its claim's lease ends: the webhook has the notification
// twice at most, both times under one Idempotency-Key, the mailbox once
// by Message-ID, and the attempts log keeps the attempt the killed fleetd
// never finished.
func TestNotifyAcrossRestart(t *testing.T) {
	pg := pgtest.New(t)
	ctx := context.Background()
	var unit, vehicle int64
	if err := pg.Pool.QueryRow(ctx, "INSERT INTO units (name) VALUES ('县机关事务中心') RETURNING id").Scan(&unit); err != nil {
		t.Fatal(err)
	}
	if err := pg.Pool.QueryRow(ctx, "INSERT INTO vehicles (plate, unit_id) VALUES ('鄂B30003', $1) RETURNING id", unit).Scan(&vehicle); err != nil {
		t.Fatal(err)
	}
	smtp := notifytest.StartSMTP(t)
	hook := notifytest.StartWebhook(t, func(n int) (int, bool) { return 200, n == 1 })
	subs := notify.NewStore(pg.Pool)
	for _, s := range []notify.Subscription{
		{UnitID: unit, Channel: notify.ChannelWebhook, Target: hook.URL, Secret: "k"},
		{UnitID: unit, Channel: notify.ChannelEmail, Target: "duty@example.gov.cn"},
	} {
		if _, err := subs.CreateSubscription(ctx, s); err != nil {
			t.Fatal(err)
		}
	}
	start := time.Date(2026, 11, 21, 23, 5, 0, 0, time.UTC)
	if _, err := alerts.NewStore(pg.Pool).UpsertEpisodes(ctx, []alerts.Episode{{ID: "0123456789abcdef", Status: alerts.EpisodeOpen,
		Rule: alerts.RuleSealedMove, VehicleID: vehicle, UnitID: unit, Start: start, StartLat: 30.2, StartLon: 115.04}}); err != nil {
		t.Fatal(err)
	}

	args := []string{"--db", pg.AppConnString, "--owner-db", pg.ConnString,
		"--webhook-allow", "127.0.0.1", "--smtp-addr", smtp.Addr, "--smtp-from", "alerts@example.gov.cn", "--smtp-ca", smtp.CertFile}
	first := startServeProcess(t, "first", args...)
	select {
	case <-hook.Stalled():
	case <-time.After(3 * time.Minute):
		t.Fatalf("the webhook was never called; stderr:\n%s", first.stderr.String())
	}
	first.kill()
	hook.Release()

	second := startServeProcess(t, "second", args...)
	deadline := time.Now().Add(3 * time.Minute)
	for {
		var sent int
		if err := pg.Pool.QueryRow(ctx, "SELECT count(*) FROM notify_outbox WHERE state = 'sent'").Scan(&sent); err != nil {
			t.Fatal(err)
		}
		if sent == 2 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("notifications not sent after the restart; stderr:\n%s", second.stderr.String())
		}
		time.Sleep(100 * time.Millisecond)
	}
	second.stop()

	reqs := hook.Requests()
	keys := map[string]int{}
	for _, r := range reqs {
		keys[r.Key]++
	}
	if len(reqs) != 2 || len(keys) != 1 {
		t.Errorf("webhook got %d requests with keys %v, want the interrupted one and one more, under one key", len(reqs), keys)
	}
	ids := map[string]int{}
	mails := smtp.Messages(t)
	for _, m := range mails {
		ids[m.Header.Get("Message-ID")]++
	}
	if len(ids) != 1 || len(mails) > 2 {
		t.Errorf("mailbox got %d messages with Message-IDs %v, want one (a second only if the kill fell between send and record)", len(mails), ids)
	}
	var sending, sentAttempts int
	if err := pg.Pool.QueryRow(ctx, `SELECT count(*) FILTER (WHERE a.status = 'sending'), count(*) FILTER (WHERE a.status = 'sent')
		FROM notify_attempts a JOIN notify_outbox o ON o.id = a.outbox_id JOIN notify_subscriptions s ON s.id = o.subscription_id
		WHERE s.channel = 'webhook'`).Scan(&sending, &sentAttempts); err != nil {
		t.Fatal(err)
	}
	if sending != 1 || sentAttempts != 1 {
		t.Errorf("webhook attempts: %d left sending, %d sent; want the killed one left sending and one sent", sending, sentAttempts)
	}
}
