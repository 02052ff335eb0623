package main

import (
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"

	"fleetmon/track/pgtest"
)

func lastWord(s string) string {
	f := strings.Fields(s)
	if len(f) == 0 {
		return ""
	}
	return f[len(f)-1]
}

// TestAccountsCLI creates users and tokens from the command line and uses
// them against a running fleetd serve, which creates the first admin.
func TestAccountsCLI(t *testing.T) {
	db := pgtest.New(t).ConnString
	csv := writeFile(t, "v.csv", "plate,plate_color,terminal_phone,unit,category\n鄂B12345,1,13800000001,湖北省/黄石市,general\n鄂A00001,1,13800000002,湖北省/武汉市,general\n")
	if code, out, errs := fleetd(t, "vehicles", "import", "--db", db, csv); code != 0 {
		t.Fatalf("import: %d %s %s", code, out, errs)
	}
	code, out, errs := fleetd(t, "users", "add", "--db", db, "--name", "hs", "--role", "inspector", "--unit", "湖北省/黄石市")
	otp := lastWord(out)
	if code != 0 || len(otp) != 16 {
		t.Fatalf("users add: %d %q %s", code, out, errs)
	}
	if code, _, _ := fleetd(t, "users", "add", "--db", db, "--name", "x", "--role", "supervisor"); code != 2 {
		t.Errorf("supervisor without a unit: exit %d, want 2", code)
	}
	if code, _, _ := fleetd(t, "users", "add", "--db", db, "--name", "x", "--role", "inspector", "--unit", "湖北省/无此市"); code != 1 {
		t.Errorf("unknown unit: exit %d, want 1", code)
	}
	code, out, errs = fleetd(t, "token", "create", "--db", db, "--user", "hs", "--label", "evidence")
	tok := lastWord(out)
	if code != 0 || !strings.HasPrefix(tok, "fmt_") {
		t.Fatalf("token create: %d %q %s", code, out, errs)
	}
	tokenID := strings.Fields(out)[1]

	// Users exist, so serve creates no admin (and prints no password).
	srv := startServe(t, "--db", db, "--data-dir", t.TempDir())
	httpAddr := srv.HTTP
	base := "http://" + httpAddr
	get := func(path, bearer string) (int, string) {
		req, _ := http.NewRequest("GET", base+path, nil)
		if bearer != "" {
			req.Header.Set("Authorization", "Bearer "+bearer)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	code, body := get("/api/v1/vehicles", tok)
	var list struct {
		Total int `json:"total"`
	}
	if err := json.Unmarshal([]byte(body), &list); code != 200 || err != nil || list.Total != 1 || !strings.Contains(body, "鄂B12345") {
		t.Errorf("token: %d %s", code, body)
	}
	if code, _ := get("/api/v1/vehicles", ""); code != 401 {
		t.Errorf("no credentials: %d", code)
	}
	if code, body := get("/", ""); code != 200 || !strings.Contains(body, "<form") {
		t.Errorf("login page: %d", code)
	}
	if code, _, errs := fleetd(t, "token", "revoke", "--db", db, tokenID); code != 0 {
		t.Errorf("token revoke %s: %d %s", tokenID, code, errs)
	}
	if code, _ := get("/api/v1/vehicles", tok); code != 401 {
		t.Errorf("revoked token: %d", code)
	}
	if code, _, _ := fleetd(t, "token", "revoke", "--db", db, tokenID); code != 1 {
		t.Errorf("revoking twice: exit %d, want 1", code)
	}
	srv.Stop()
	for _, secret := range []string{otp, tok} {
		if strings.Contains(srv.Stderr.String(), secret) {
			t.Errorf("a secret in serve's log")
		}
	}
}

// TestFirstAdmin: the first serve on an empty database creates admin and
// prints its one-time password once, on stdout, not in the log.
func TestFirstAdmin(t *testing.T) {
	db := pgtest.New(t).ConnString
	// start runs serve and returns its HTTP address, the rest of its stdout
	// (closed when serve returns), and a stop function that also checks the
	// one-time password never reached the log.
	start := func() (string, <-chan string, func()) {
		srv := startServe(t, "--db", db, "--data-dir", t.TempDir())
		return srv.HTTP, srv.Lines, func() {
			srv.Stop()
			if strings.Contains(srv.Stderr.String(), "one-time password") {
				t.Error("the admin's one-time password is in the log")
			}
		}
	}
	addr, lines, stop := start()
	line := <-lines
	otp := lastWord(line)
	if !strings.Contains(line, "one-time password") || len(otp) != 16 {
		t.Fatalf("first start: %q", line)
	}
	resp, err := http.Post("http://"+addr+"/api/v1/login", "application/json",
		strings.NewReader(`{"name":"admin","password":"`+otp+`"}`))
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !strings.Contains(string(b), `"must_change_password":true`) {
		t.Errorf("admin login: %d %s", resp.StatusCode, b)
	}
	stop()
	_, lines, stop = start()
	stop()
	for line := range lines {
		if strings.Contains(line, "password") {
			t.Errorf("second start printed %q", line)
		}
	}
}
