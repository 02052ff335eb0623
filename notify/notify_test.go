package notify

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"fleetmon/alerts"
	"fleetmon/notify/notifytest"
	"fleetmon/track/pgtest"
)

// rig is a migrated schema with a unit tree (省 > 市A > 县A1, 省 > 市B),
// a vehicle in 县A1 and one in 市B, and real receivers.
type rig struct {
	t          *testing.T
	owner, app *pgxpool.Pool
	units      map[string]int64
	vehicles   map[string]int64
	smtp       *notifytest.SMTP
}

func newRig(t *testing.T) *rig {
	t.Helper()
	pg := pgtest.New(t)
	r := &rig{t: t, owner: pg.Pool, app: pg.AppPool(t), units: map[string]int64{}, vehicles: map[string]int64{}}
	ctx := context.Background()
	for _, u := range [][2]string{{"省", ""}, {"市A", "省"}, {"县A1", "市A"}, {"市B", "省"}} {
		var parent any
		if u[1] != "" {
			parent = r.units[u[1]]
		}
		var id int64
		if err := r.owner.QueryRow(ctx, "INSERT INTO units (parent_id, name) VALUES ($1, $2) RETURNING id",
			parent, u[0]).Scan(&id); err != nil {
			t.Fatal(err)
		}
		r.units[u[0]] = id
	}
	for _, v := range [][2]string{{"鄂B10001", "县A1"}, {"鄂B20002", "市B"}} {
		var id int64
		if err := r.owner.QueryRow(ctx, "INSERT INTO vehicles (plate, unit_id) VALUES ($1, $2) RETURNING id",
			v[0], r.units[v[1]]).Scan(&id); err != nil {
			t.Fatal(err)
		}
		r.vehicles[v[0]] = id
	}
	r.smtp = notifytest.StartSMTP(t)
	return r
}

// notifier is a notifier as fleetd serve makes it, with the production
// defaults, sending through the rig's SMTP server.
func (r *rig) notifier(reg prometheus.Registerer) *Notifier {
	return New(r.app, Config{SMTP: SMTPConfig{Addr: r.smtp.Addr, From: "alerts@fleetmon.example", TLS: r.smtp.TLS}},
		slog.New(slog.NewTextHandler(io.Discard, nil)), reg)
}

// run runs n until the test ends.
func (r *rig) run(n *Notifier) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); _ = n.Run(ctx) }()
	r.t.Cleanup(func() { cancel(); <-done })
}

func (r *rig) subscribe(unit string, rules []string, ch Channel, target, secret string) Subscription {
	r.t.Helper()
	s, err := NewStore(r.app).CreateSubscription(context.Background(),
		Subscription{UnitID: r.units[unit], Rules: rules, Channel: ch, Target: target, Secret: secret})
	if err != nil {
		r.t.Fatal(err)
	}
	return s
}

// store stores an episode as the rules do, and tells n as they would.
func (r *rig) store(n *Notifier, ep alerts.Episode) {
	r.t.Helper()
	eps := []alerts.Episode{ep}
	if _, err := alerts.NewStore(r.app).UpsertEpisodes(context.Background(), eps); err != nil {
		r.t.Fatal(err)
	}
	if n != nil {
		n.EpisodesChanged(eps)
	}
}

func (r *rig) speeding(plate string, start time.Time) alerts.Episode {
	return alerts.Episode{ID: "ep-" + plate + start.Format("150405"), Status: alerts.EpisodeOpen, Rule: alerts.RuleSpeeding,
		VehicleID: r.vehicles[plate], UnitID: r.units[map[string]string{"鄂B10001": "县A1", "鄂B20002": "市B"}[plate]],
		Start: start, StartLat: 30.2, StartLon: 115.04, MaxSpeedKmh: 97, Detail: "限速 60 km/h"}
}

// waitFor polls cond until it holds; the limit only keeps a broken
// build from hanging, it is no assertion on time.
func (r *rig) waitFor(what string, cond func() bool) {
	r.t.Helper()
	deadline := time.Now().Add(3 * time.Minute)
	for !cond() {
		if time.Now().After(deadline) {
			r.t.Fatalf("gave up waiting for %s", what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// states counts the outbox rows by state.
func (r *rig) states() map[string]int {
	r.t.Helper()
	rows, err := r.owner.Query(context.Background(), "SELECT state, count(*) FROM notify_outbox GROUP BY state")
	if err != nil {
		r.t.Fatal(err)
	}
	defer rows.Close()
	m := map[string]int{}
	for rows.Next() {
		var s string
		var n int
		if err := rows.Scan(&s, &n); err != nil {
			r.t.Fatal(err)
		}
		m[s] = n
	}
	return m
}

// byKey groups what a receiver got by idempotency key.
func byKey[T any](items []T, key func(T) string) map[string]int {
	m := map[string]int{}
	for _, it := range items {
		m[key(it)]++
	}
	return m
}

// TestDeliversOnce: an alert of a vehicle of 县A1 reaches the webhook and
// the mailbox subscribed to 市A (the subtree above it) exactly once,
// signed, in zh-CN; the same episode stored again (it closes; a
// re-evaluation writes it again) and a second node running beside the
// first send nothing more; subscriptions for another unit or another
// rule receive nothing.
func TestDeliversOnce(t *testing.T) {
	r := newRig(t)
	hook := notifytest.StartWebhook(t, nil)
	other := notifytest.StartWebhook(t, nil)
	r.subscribe("市A", nil, ChannelWebhook, hook.URL+"/oa", "s3cret")
	r.subscribe("市A", []string{"speeding"}, ChannelEmail, "duty@unit-a.example", "")
	r.subscribe("市B", nil, ChannelWebhook, other.URL+"/b", "")
	r.subscribe("市A", []string{"after_hours", "holiday_use"}, ChannelWebhook, other.URL+"/rule", "")
	r.subscribe("市B", nil, ChannelEmail, "duty@unit-b.example", "")

	reg := prometheus.NewRegistry()
	n1, n2 := r.notifier(reg), r.notifier(nil)
	r.run(n1)
	r.run(n2)
	start := time.Date(2026, 11, 20, 22, 10, 0, 0, time.UTC)
	ep := r.speeding("鄂B10001", start)
	r.store(n1, ep)
	r.waitFor("two notifications sent", func() bool { return r.states()["sent"] == 2 })

	// The episode again: closed, then written once more unchanged.
	ep.Status, ep.End, ep.EndLat, ep.EndLon = alerts.EpisodeClosed, start.Add(20*time.Minute), 30.3, 115.1
	r.store(n2, ep)
	r.store(n1, ep)
	for _, n := range []*Notifier{n1, n2} {
		if _, err := n.Scan(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
	if s := r.states(); len(s) != 1 || s["sent"] != 2 {
		t.Fatalf("outbox after the episode was stored again: %v, want 2 sent and nothing else", s)
	}

	reqs := hook.Requests()
	keys := byKey(reqs, func(q notifytest.Request) string { return q.Key })
	if len(reqs) != 1 || len(keys) != 1 || keys[""] != 0 {
		t.Fatalf("webhook got %d requests with keys %v, want one with a key", len(reqs), keys)
	}
	if want := Sign("s3cret", reqs[0].Body); reqs[0].Signature != want {
		t.Errorf("signature %q, want %q", reqs[0].Signature, want)
	}
	var body WebhookBody
	if err := json.Unmarshal(reqs[0].Body, &body); err != nil {
		t.Fatal(err)
	}
	if body.IdempotencyKey != reqs[0].Key || body.Alert.Plate != "鄂B10001" || body.Alert.Rule != "speeding" ||
		body.Alert.Unit != "省/市A/县A1" || !strings.Contains(body.Text, "超速") {
		t.Errorf("webhook body %+v", body)
	}
	if got := other.Requests(); len(got) != 0 {
		t.Errorf("the subscriptions of another unit or rule got %d requests", len(got))
	}

	mails := r.smtp.Messages(t)
	if len(mails) != 1 {
		t.Fatalf("SMTP server got %d messages, want 1", len(mails))
	}
	m := mails[0]
	if m.Header.Get("To") != "<duty@unit-a.example>" && !strings.Contains(m.Header.Get("To"), "duty@unit-a.example") {
		t.Errorf("To %q", m.Header.Get("To"))
	}
	if m.Subject != "【公务用车告警】鄂B10001 超速" {
		t.Errorf("subject %q", m.Subject)
	}
	for _, want := range []string{"车辆：鄂B10001", "单位：省/市A/县A1", "开始时间：2026-11-21 06:10:00", "结束时间：进行中", "详情：限速 60 km/h"} {
		if !strings.Contains(m.Body, want) {
			t.Errorf("body lacks %q:\n%s", want, m.Body)
		}
	}
	var key string
	if err := r.owner.QueryRow(context.Background(), `SELECT idempotency_key FROM notify_outbox o
		JOIN notify_subscriptions s ON s.id = o.subscription_id WHERE s.channel = 'email'`).Scan(&key); err != nil {
		t.Fatal(err)
	}
	if got, want := m.Header.Get("Message-ID"), MessageID(key, "fleetmon.example"); got != want {
		t.Errorf("Message-ID %q, want %q", got, want)
	}
	if strings.ContainsFunc(string(m.Raw[:strings.Index(string(m.Raw), "\n\n")+1]), func(c rune) bool { return c > 127 }) {
		t.Errorf("headers are not MIME-encoded ASCII:\n%s", m.Raw)
	}
	if got := testutil.ToFloat64(n1.m.enqueued.WithLabelValues("webhook")) + testutil.ToFloat64(n2.m.enqueued.WithLabelValues("webhook")); got != 1 {
		t.Errorf("webhook notifications enqueued by both nodes: %v, want 1", got)
	}
}
