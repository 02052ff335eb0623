package main

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/cookiejar"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"

	"fleetmon/track/pgtest"
)

// browserSession is a client of fleetd's API with a session cookie, as the
// login page gets one.
type browserSession struct {
	t    *testing.T
	base string
	c    *http.Client
	csrf string
}

func newBrowserSession(t *testing.T, base string) *browserSession {
	jar, err := cookiejar.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	return &browserSession{t: t, base: base, c: &http.Client{Jar: jar}}
}

// do sends a request with a JSON body (if any) and the CSRF token, and
// returns the status and the body.
func (b *browserSession) do(method, path, body string) (int, string) {
	b.t.Helper()
	req, err := http.NewRequest(method, b.base+path, strings.NewReader(body))
	if err != nil {
		b.t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-CSRF-Token", b.csrf)
	resp, err := b.c.Do(req)
	if err != nil {
		b.t.Fatal(err)
	}
	defer resp.Body.Close()
	out, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(out)
}

// login logs in and keeps the session's CSRF token; it returns the status
// and the body of the answer.
func (b *browserSession) login(name, password string) (int, string) {
	b.t.Helper()
	req, _ := json.Marshal(map[string]string{"name": name, "password": password})
	code, body := b.do("POST", "/api/v1/login", string(req))
	var out struct {
		CSRF string `json:"csrf_token"`
	}
	if code == http.StatusOK && json.Unmarshal([]byte(body), &out) == nil {
		b.csrf = out.CSRF
	}
	return code, body
}

// changePassword sets a new password in place of current.
func (b *browserSession) changePassword(current, next string) {
	b.t.Helper()
	req, _ := json.Marshal(map[string]string{"current_password": current, "new_password": next})
	if code, body := b.do("POST", "/api/v1/me/password", string(req)); code != http.StatusNoContent {
		b.t.Fatalf("change password: %d %s", code, body)
	}
}

// TestUsersResetPassword: an administrator who lost the password, and locked
// the name out trying, gets a new one-time password from fleetd users
// reset-password (printed last), must change it at login like any one-time
// password, and the reset is in the audit log as done at the console.
func TestUsersResetPassword(t *testing.T) {
	db := pgtest.New(t).ConnString
	srv := startServe(t, "--db", db, "--data-dir", t.TempDir())
	base := "http://" + srv.HTTP
	first := lastWord(<-srv.Lines)

	chosen := "Dispatch-Desk-2026"
	old := newBrowserSession(t, base)
	if code, body := old.login("admin", first); code != http.StatusOK {
		t.Fatalf("login with the first one-time password: %d %s", code, body)
	}
	old.changePassword(first, chosen)

	// The password is lost, and the name is locked out by failed logins.
	conn, err := pgx.Connect(context.Background(), db)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	// Locked from this address, and the name's bucket of strangers'
	// failures full.
	if _, err := conn.Exec(context.Background(), `INSERT INTO login_pairs (name, addr, failures, blocked_until, updated_at)
		VALUES ('admin', '127.0.0.1', 5, now() + interval '1 hour', now())
		ON CONFLICT (name, addr) DO UPDATE SET failures = 5, blocked_until = now() + interval '1 hour'`); err != nil {
		t.Fatal(err)
	}
	if _, err := conn.Exec(context.Background(), `INSERT INTO login_buckets (kind, key, level, at) VALUES ('name', 'admin', 1000, now())
		ON CONFLICT (kind, key) DO UPDATE SET level = 1000, at = now()`); err != nil {
		t.Fatal(err)
	}

	code, out, errs := fleetd(t, "users", "reset-password", "--db", db, "admin")
	if code != 0 {
		t.Fatalf("users reset-password: %d %s %s", code, out, errs)
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	last := lines[len(lines)-1]
	otp := lastWord(last)
	if !strings.Contains(last, "one-time password") || len(otp) != 16 {
		t.Fatalf("users reset-password printed %q: want the one-time password last", out)
	}
	if strings.Contains(errs, otp) {
		t.Error("the one-time password is in the log")
	}

	if code, body := old.do("GET", "/api/v1/me", ""); code != http.StatusUnauthorized {
		t.Errorf("the session from before the reset: %d %s, want 401", code, body)
	}
	s := newBrowserSession(t, base)
	// 401, not 429: the reset lifted the lock-out.
	if code, body := s.login("admin", chosen); code != http.StatusUnauthorized {
		t.Errorf("login with the lost password: %d %s, want 401", code, body)
	}
	code, body := s.login("admin", otp)
	if code != http.StatusOK || !strings.Contains(body, `"must_change_password":true`) {
		t.Fatalf("login with the new one-time password: %d %s, want 200 and must_change_password", code, body)
	}
	if code, body := s.do("GET", "/api/v1/vehicles", ""); code != http.StatusForbidden {
		t.Errorf("vehicles before changing the one-time password: %d %s, want 403", code, body)
	}
	s.changePassword(otp, "Dispatch-Desk-2027")
	if code, body := s.do("GET", "/api/v1/vehicles", ""); code != http.StatusOK {
		t.Errorf("vehicles after changing the password: %d %s", code, body)
	}

	var actor, user string
	var n int
	if err := conn.QueryRow(context.Background(), `SELECT count(*), min(actor_name), min(detail->>'user')
		FROM audit_log WHERE action = 'user.reset_password'`).Scan(&n, &actor, &user); err != nil {
		t.Fatal(err)
	}
	if n != 1 || actor != "(console)" || user != "admin" {
		t.Errorf("audit: %d entries by %q for %q, want 1 by (console) for admin", n, actor, user)
	}

	if code, _, errs := fleetd(t, "users", "reset-password", "--db", db, "nobody"); code != 1 || !strings.Contains(errs, "nobody") {
		t.Errorf("an unknown user: exit %d %s, want 1", code, errs)
	}
	if code, _, _ := fleetd(t, "users", "reset-password", "--db", db); code != 2 {
		t.Errorf("no user named: exit %d, want 2", code)
	}
}
