package api

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
)

// TestNotifySubscriptions: supervisors subscribe within their
// jurisdiction only (another unit's is not found, every unit is the top
// administrator's), inspectors not at all; each change is audited without
// the webhook's secret; lists and the send log show only what lies within
// the caller's jurisdiction.
func TestNotifySubscriptions(t *testing.T) {
	f := newFixture(t, nil)
	setupRoles(f)
	ysup, wsup, hsi, admin := f.users["yx_super"], f.users["wh_super"], f.users["hs_inspector"], f.users["admin"]
	yx, wh := f.units["湖北省/黄石市/阳新县"], f.units["湖北省/武汉市"]

	hook := map[string]any{"unit_id": yx, "rules": []string{"speeding"}, "channel": "webhook",
		"target": "https://oa.example.gov.cn/hooks/alerts", "secret": "top-secret-key", "label": "县OA"}
	code, body := ysup.do("POST", "/api/v1/notify/subscriptions", hook)
	if code != 201 {
		t.Fatalf("supervisor subscribes own unit: %d %s", code, body)
	}
	var created struct {
		ID     int64  `json:"id"`
		Unit   string `json:"unit"`
		Signed bool   `json:"signed"`
	}
	if err := json.Unmarshal([]byte(body), &created); err != nil || !created.Signed || created.Unit != "湖北省/黄石市/阳新县" {
		t.Fatalf("created %s (%v)", body, err)
	}
	if strings.Contains(body, "top-secret-key") {
		t.Errorf("the secret is read back: %s", body)
	}
	for _, c := range []struct {
		who  *client
		req  map[string]any
		want int
	}{
		{ysup, map[string]any{"unit_id": wh, "channel": "email", "target": "a@example.gov.cn"}, 404},
		{ysup, map[string]any{"unit_id": 0, "channel": "email", "target": "a@example.gov.cn"}, 403},
		{hsi, map[string]any{"unit_id": yx, "channel": "email", "target": "a@example.gov.cn"}, 403},
		{ysup, map[string]any{"unit_id": yx, "channel": "email", "target": "not an address"}, 400},
		{ysup, map[string]any{"unit_id": yx, "channel": "webhook", "target": "ftp://x"}, 400},
		{ysup, map[string]any{"unit_id": yx, "channel": "email", "target": "a@example.gov.cn", "rules": []string{"no_such"}}, 400},
		{ysup, map[string]any{"unit_id": yx, "channel": "sms", "target": "1380000"}, 400},
		{admin, map[string]any{"unit_id": 0, "channel": "email", "target": "all@example.gov.cn"}, 201},
	} {
		if code, body := c.who.do("POST", "/api/v1/notify/subscriptions", c.req); code != c.want {
			t.Errorf("subscribe %v: %d %s, want %d", c.req, code, body, c.want)
		}
	}

	count := func(c *client, path string) int {
		t.Helper()
		code, body := c.do("GET", path, nil)
		if code != 200 {
			t.Fatalf("GET %s: %d %s", path, code, body)
		}
		n, _ := total(t, body)
		return n
	}
	if n := count(ysup, "/api/v1/notify/subscriptions"); n != 1 {
		t.Errorf("阳新县's supervisor sees %d subscriptions, want 1", n)
	}
	if n := count(wsup, "/api/v1/notify/subscriptions"); n != 0 {
		t.Errorf("武汉市's supervisor sees %d subscriptions, want 0", n)
	}
	if n := count(admin, "/api/v1/notify/subscriptions"); n != 2 {
		t.Errorf("the administrator sees %d subscriptions, want 2", n)
	}
	if code, _ := hsi.do("GET", "/api/v1/notify/subscriptions", nil); code != 403 {
		t.Errorf("an inspector lists subscriptions: %d, want 403", code)
	}

	// A notification of the subscription, as the notifier enqueues it.
	ctx := context.Background()
	if _, err := f.db.Pool.Exec(ctx, `INSERT INTO notify_outbox (episode_id, subscription_id, idempotency_key, payload)
		VALUES ('e1', $1, 'k1', '{"rule": "speeding", "plate": "鄂B00001"}')`, created.ID); err != nil {
		t.Fatal(err)
	}
	if n := count(ysup, "/api/v1/notify/log"); n != 1 {
		t.Errorf("阳新县's supervisor sees %d notifications, want 1", n)
	}
	if n := count(wsup, "/api/v1/notify/log"); n != 0 {
		t.Errorf("武汉市's supervisor sees %d notifications, want 0", n)
	}

	del := fmt.Sprintf("/api/v1/notify/subscriptions/%d", created.ID)
	if code, _ := wsup.do("DELETE", del, nil); code != 404 {
		t.Errorf("another unit's supervisor deletes: %d, want 404", code)
	}
	if code, body := ysup.do("DELETE", del, nil); code != 204 {
		t.Fatalf("delete: %d %s", code, body)
	}
	if n := count(ysup, "/api/v1/notify/subscriptions"); n != 0 {
		t.Errorf("%d subscriptions after the delete", n)
	}
	var state string
	if err := f.db.Pool.QueryRow(ctx, "SELECT state FROM notify_outbox WHERE idempotency_key = 'k1'").Scan(&state); err != nil || state != "cancelled" {
		t.Errorf("the deleted subscription's waiting notification: %q %v, want cancelled", state, err)
	}
	if n := count(ysup, "/api/v1/notify/log"); n != 1 {
		t.Errorf("the send log lost the deleted subscription's notification: %d", n)
	}

	rows, err := f.db.Pool.Query(ctx, `SELECT action, actor_name, subject_unit_id, detail::text FROM audit_log
		WHERE action LIKE 'notify.%' ORDER BY id`)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for rows.Next() {
		var action, actor, detail string
		var unit *int64
		if err := rows.Scan(&action, &actor, &unit, &detail); err != nil {
			t.Fatal(err)
		}
		if strings.Contains(detail, "top-secret-key") {
			t.Errorf("audit entry %s holds the secret: %s", action, detail)
		}
		u := int64(0)
		if unit != nil {
			u = *unit
		}
		got = append(got, fmt.Sprintf("%s by %s unit %d", action, actor, u))
	}
	want := []string{
		fmt.Sprintf("notify.subscription.create by yx_super unit %d", yx),
		"notify.subscription.create by admin unit 0",
		fmt.Sprintf("notify.subscription.delete by yx_super unit %d", yx),
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("audit:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}
