package notify

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
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
// defaults, sending through the rig's SMTP server, and to webhooks on this
// host as an operator whose receiver runs beside fleetd allows them.
func (r *rig) notifier(reg prometheus.Registerer) *Notifier {
	return New(r.app, Config{SMTP: SMTPConfig{Addr: r.smtp.Addr, From: "alerts@fleetmon.example", TLS: r.smtp.TLS},
		WebhookAllow: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}},
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

// outboxRow is the one notification of a test with a single subscription.
func (r *rig) outboxRow() (state string, attempts int) {
	r.t.Helper()
	err := r.owner.QueryRow(context.Background(), "SELECT state, attempts FROM notify_outbox").Scan(&state, &attempts)
	if err != nil && !errors.Is(err, pgx.ErrNoRows) {
		r.t.Fatal(err)
	}
	return state, attempts
}

// failedAttempts counts the attempts recorded as failed whose retry is
// scheduled.
func (r *rig) failedAttempts() int {
	r.t.Helper()
	var n int
	if err := r.owner.QueryRow(context.Background(), `SELECT count(*) FROM notify_attempts a JOIN notify_outbox o ON o.id = a.outbox_id
		WHERE a.status = 'error' AND (o.state <> 'pending' OR o.next_at > a.finished_at)`).Scan(&n); err != nil {
		r.t.Fatal(err)
	}
	return n
}

// dueNow brings the notification's retry forward to now and wakes the
// senders: the test skips the back-off's wait, having checked its length
// in the database, rather than sleeping through it.
func (r *rig) dueNow(n *Notifier) {
	r.t.Helper()
	if _, err := r.owner.Exec(context.Background(), "UPDATE notify_outbox SET next_at = now() WHERE state = 'pending'"); err != nil {
		r.t.Fatal(err)
	}
	wake(n.due)
}

// lastWait is the back-off recorded after the latest failed attempt: from
// the attempt's end to the row's next_at (both now() of the transaction
// that recorded it).
func (r *rig) lastWait() time.Duration {
	r.t.Helper()
	var d time.Duration
	if err := r.owner.QueryRow(context.Background(), `SELECT o.next_at - a.finished_at FROM notify_outbox o
		JOIN notify_attempts a ON a.outbox_id = o.id ORDER BY a.attempt DESC LIMIT 1`).Scan(&d); err != nil {
		r.t.Fatal(err)
	}
	return d
}

// TestRetriesWithBackoff: a receiver answering 500 twice gets the
// notification a third time, after 10 s and then 20 s of back-off (the
// production defaults), every attempt with the same key; the attempts log
// says how each went, and the send counts once.
func TestRetriesWithBackoff(t *testing.T) {
	r := newRig(t)
	hook := notifytest.StartWebhook(t, func(n int) (int, bool) {
		if n <= 2 {
			return 500, false
		}
		return 200, false
	})
	r.subscribe("省", []string{"speeding"}, ChannelWebhook, hook.URL, "")
	n := r.notifier(prometheus.NewRegistry())
	r.run(n)
	r.store(n, r.speeding("鄂B20002", time.Date(2026, 11, 20, 9, 0, 0, 0, time.UTC)))
	for i, want := range []time.Duration{10 * time.Second, 20 * time.Second} {
		r.waitFor("a failed attempt recorded", func() bool { return r.failedAttempts() == i+1 })
		if state, attempts := r.outboxRow(); state != "pending" || attempts != i+1 {
			t.Fatalf("after attempt %d: %s with %d attempts, want pending", i+1, state, attempts)
		}
		if got := r.lastWait(); got != want {
			t.Errorf("back-off after attempt %d: %v, want %v", i+1, got, want)
		}
		r.dueNow(n)
	}
	r.waitFor("sent", func() bool { s, _ := r.outboxRow(); return s == "sent" })
	reqs := hook.Requests()
	if keys := byKey(reqs, func(q notifytest.Request) string { return q.Key }); len(reqs) != 3 || len(keys) != 1 {
		t.Fatalf("%d requests with keys %v, want 3 with one key", len(reqs), keys)
	}
	var log []string
	rows, _ := r.owner.Query(context.Background(), "SELECT status || ':' || COALESCE(error, '') FROM notify_attempts ORDER BY attempt")
	for rows.Next() {
		var s string
		_ = rows.Scan(&s)
		log = append(log, s)
	}
	if len(log) != 3 || !strings.HasPrefix(log[0], "error:webhook POST: 500") || log[2] != "sent:" {
		t.Errorf("attempts log %q", log)
	}
	if got := testutil.ToFloat64(n.m.sent.WithLabelValues("webhook")); got != 1 {
		t.Errorf("sent %v, want 1", got)
	}
	if got := testutil.ToFloat64(n.m.attemptErrors.WithLabelValues("webhook")); got != 2 {
		t.Errorf("attempt errors %v, want 2", got)
	}
}

// TestGivesUp: a receiver that always fails gets the production limit of
// attempts, with the back-off doubling up to its ceiling, and the
// notification is then marked failed and counted.
func TestGivesUp(t *testing.T) {
	r := newRig(t)
	hook := notifytest.StartWebhook(t, func(int) (int, bool) { return 503, false })
	r.subscribe("市B", nil, ChannelWebhook, hook.URL, "")
	reg := prometheus.NewRegistry()
	n := r.notifier(reg)
	r.run(n)
	r.store(n, r.speeding("鄂B20002", time.Date(2026, 11, 20, 9, 0, 0, 0, time.UTC)))
	var cfg Config
	cfg.defaults()
	for i := 1; i < cfg.MaxAttempts; i++ {
		r.waitFor("a failed attempt recorded", func() bool { return r.failedAttempts() == i })
		if got, want := r.lastWait(), min(10*time.Second<<(i-1), time.Hour); got != want {
			t.Errorf("back-off after attempt %d: %v, want %v", i, got, want)
		}
		r.dueNow(n)
	}
	r.waitFor("failed", func() bool { s, _ := r.outboxRow(); return s == "failed" })
	if _, a := r.outboxRow(); a != cfg.MaxAttempts || len(hook.Requests()) != cfg.MaxAttempts {
		t.Errorf("%d attempts, %d requests, want %d", a, len(hook.Requests()), cfg.MaxAttempts)
	}
	if got := testutil.ToFloat64(n.m.failed.WithLabelValues("webhook")); got != 1 {
		t.Errorf("failed %v, want 1", got)
	}
	if err := n.measure(context.Background()); err != nil {
		t.Fatal(err)
	}
	if got := testutil.ToFloat64(n.m.depth); got != 0 {
		t.Errorf("queue depth %v after giving up, want 0", got)
	}
}

// TestDeletedSubscription: a subscription deleted after its notification
// was enqueued sends nothing: the row is cancelled when a sender claims it
// (had the delete come through the store, at once), and the sender goes
// on to the next one.
func TestDeletedSubscription(t *testing.T) {
	r := newRig(t)
	hook := notifytest.StartWebhook(t, nil)
	gone := r.subscribe("市B", nil, ChannelWebhook, hook.URL+"/gone", "")
	r.subscribe("市B", nil, ChannelWebhook, hook.URL+"/kept", "")
	n := r.notifier(nil)
	r.store(nil, r.speeding("鄂B20002", time.Date(2026, 11, 20, 9, 0, 0, 0, time.UTC)))
	if added, err := n.Scan(context.Background()); err != nil || added != 2 {
		t.Fatalf("scan: %d enqueued, %v", added, err)
	}
	// Deleted behind the store's back, as a concurrent delete may land
	// between a scan and a claim.
	if _, err := r.owner.Exec(context.Background(), "UPDATE notify_subscriptions SET deleted_at = now() WHERE id = $1", gone.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := r.owner.Exec(context.Background(), "UPDATE notify_outbox SET next_at = now() - interval '1 minute' WHERE subscription_id = $1", gone.ID); err != nil {
		t.Fatal(err)
	}
	r.run(n)
	r.waitFor("the kept one sent", func() bool { s := r.states(); return s["sent"] == 1 && s["cancelled"] == 1 })
	if reqs := hook.Requests(); len(reqs) != 1 {
		t.Errorf("%d requests, want the kept subscription's one", len(reqs))
	}
}
