package api

import (
	"context"
	"testing"
	"time"
)

// TestRulesStatus: every role reads how far the rules are behind; a
// runner that is not running is not caught up, one that runs with
// nothing committed is; without a rules engine the answer is 503.
func TestRulesStatus(t *testing.T) {
	f, rules := alertFixture(t, nil)
	type status struct {
		Running  bool    `json:"running"`
		CaughtUp bool    `json:"caught_up"`
		Pending  int     `json:"pending_positions"`
		Age      float64 `json:"pending_oldest_seconds"`
	}
	read := func(user string) status {
		t.Helper()
		code, body := f.users[user].do("GET", "/api/v1/rules/status", nil)
		if code != 200 {
			t.Fatalf("%s: %d %s", user, code, body)
		}
		return decodeJSON[status](t, body)
	}
	if st := read("hs_inspector"); st.Running || st.CaughtUp {
		t.Errorf("before the rules run: %+v", st)
	}
	if code, _ := f.newClient().do("GET", "/api/v1/rules/status", nil); code != 401 {
		t.Errorf("anonymous: %d", code)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- rules.runner.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
	deadline := time.Now().Add(30 * time.Second)
	for st := read("yx_super"); !st.CaughtUp; st = read("yx_super") {
		if time.Now().After(deadline) {
			t.Fatalf("the rules never caught up: %+v", st)
		}
		time.Sleep(20 * time.Millisecond)
	}
	if st := read("admin"); !st.Running || st.Pending != 0 || st.Age != 0 {
		t.Errorf("running with nothing committed: %+v", st)
	}

	g := newFixture(t, nil)
	setupRoles(g)
	if code, body := g.users["admin"].do("GET", "/api/v1/rules/status", nil); code != 503 {
		t.Errorf("without a rules engine: %d %s", code, body)
	}
}
