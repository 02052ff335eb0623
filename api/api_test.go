package api

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"fleetmon/track"
	"fleetmon/track/pgtest"
	"go.yaml.in/yaml/v3"
)

// fakeClock is the injected clock: time moves only when a test says so.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// logBuffer collects the server's log output.
type logBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// fixture is a server on its own schema with an org tree, vehicles,
// positions and users of every role.
type fixture struct {
	t      testing.TB
	db     *pgtest.Schema
	srv    *Server
	ts     *httptest.Server
	clock  *fakeClock
	logs   *logBuffer
	store  *track.Store
	units  map[string]int64 // by path
	veh    map[string]int64 // by plate
	users  map[string]*client
	secret []string // every password, token and cookie seen, for the log check
}

// The vehicles: 鄂B00001 in 阳新县, 鄂B00002 in 大冶市 (both 黄石市),
// 鄂A00003 in 武汉市.
const fixtureCSV = `plate,plate_color,terminal_phone,unit,category
鄂B00001,1,13800000001,湖北省/黄石市/阳新县/县机关事务中心,general
鄂B00002,1,13800000002,湖北省/黄石市/大冶市,enforcement
鄂A00003,2,13800000003,湖北省/武汉市,general
`

var trackDay = time.Date(2026, 11, 20, 0, 0, 0, 0, cst)

func newFixture(t testing.TB, mut func(*Config)) *fixture {
	t.Helper()
	f := &fixture{t: t, db: pgtest.New(t), clock: &fakeClock{t: time.Date(2026, 11, 22, 9, 0, 0, 0, cst)}, logs: &logBuffer{},
		units: map[string]int64{}, veh: map[string]int64{}, users: map[string]*client{}}
	f.store = track.NewStore(f.db.Pool)
	ctx := context.Background()
	vs, err := track.ParseVehicleCSV(strings.NewReader(fixtureCSV))
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := f.store.ImportVehicles(ctx, vs); err != nil {
		t.Fatal(err)
	}
	us, err := f.store.Units(ctx, track.All)
	if err != nil {
		t.Fatal(err)
	}
	for _, u := range us {
		f.units[u.Path] = u.ID
	}
	all, _, err := f.store.VehiclesIn(ctx, track.All, track.VehicleFilter{Limit: 100})
	if err != nil {
		t.Fatal(err)
	}
	for _, v := range all {
		f.veh[v.Plate] = v.ID
	}
	// 鄂B00001: three points on the track day (one a back-fill) and one the
	// day after; every vehicle has a latest position.
	for i, p := range []struct {
		plate    string
		at       time.Time
		backfill bool
	}{
		{"鄂B00001", trackDay.Add(8 * time.Hour), false},
		{"鄂B00001", trackDay.Add(8*time.Hour + 30*time.Second), true},
		{"鄂B00001", trackDay.Add(9 * time.Hour), false},
		{"鄂B00001", trackDay.Add(30 * time.Hour), false},
		{"鄂B00002", trackDay.Add(10 * time.Hour), false},
		{"鄂A00003", trackDay.Add(10 * time.Hour), false},
	} {
		if _, err := f.db.Pool.Exec(ctx, "SELECT ensure_month_partition('positions'::regclass, $1)", p.at); err != nil {
			t.Fatal(err)
		}
		_, err := f.db.Pool.Exec(ctx, `INSERT INTO positions (vehicle_id, device_time, received_at, terminal_id, geom, speed_kmh,
				heading, altitude_m, alarm, status, backfill, fix_hash)
			VALUES ($1, $2, $2, 1, ST_SetSRID(ST_MakePoint($3, 30.2), 4326), 42.5, 90, 20, 0, 3, $4, $5)`,
			f.veh[p.plate], p.at, 115.0+float64(i)/100, p.backfill, int64(i))
		if err != nil {
			t.Fatal(err)
		}
		_, err = f.db.Pool.Exec(ctx, `INSERT INTO vehicle_state (vehicle_id, terminal_id, device_time, received_at, geom, speed_kmh,
				heading, altitude_m, alarm, status)
			VALUES ($1, 1, $2, $2, ST_SetSRID(ST_MakePoint($3, 30.2), 4326), 42.5, 90, 20, 0, 3)
			ON CONFLICT (vehicle_id) DO UPDATE SET device_time = excluded.device_time`, f.veh[p.plate], p.at, 115.0)
		if err != nil {
			t.Fatal(err)
		}
	}
	cfg := Config{KDF: KDF{Time: 1, MemoryKiB: 64, Threads: 1}, Now: f.clock.Now}
	if mut != nil {
		mut(&cfg)
	}
	log := slog.New(slog.NewJSONHandler(f.logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	metrics := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "fleetmon_up 1\n") })
	f.srv = New(cfg, f.store, metrics, f.db.Pool.Ping, log)
	f.ts = httptest.NewServer(f.srv)
	t.Cleanup(f.ts.Close)
	return f
}

// addUser creates a user at unit (a path, "" for the top), logs in with
// the one-time password, changes it and returns the logged-in client.
func (f *fixture) addUser(name string, role Role, unit string) *client {
	f.t.Helper()
	var unitID int64
	if unit != "" {
		unitID = f.units[unit]
	}
	_, otp, err := f.srv.acct.CreateUser(context.Background(), nil, "", name, role, unitID)
	if err != nil {
		f.t.Fatal(err)
	}
	return f.loginFirst(name, otp)
}

// loginFirst logs in with a one-time password, checks that nothing else is
// allowed until it is changed, and changes it.
func (f *fixture) loginFirst(name, otp string) *client {
	f.t.Helper()
	c := f.newClient()
	if code, body := c.login(name, otp); code != 200 {
		f.t.Fatalf("login %s: %d %s", name, code, body)
	}
	if code, body := c.do("GET", "/api/v1/vehicles", nil); code != 403 || !strings.Contains(body, "password_change_required") {
		f.t.Fatalf("%s before changing the one-time password: %d %s", name, code, body)
	}
	pw := "Neu-" + name + "-Passwort-2026"
	pw = strings.ReplaceAll(pw, name, "x") // a password must not contain the name
	if code, body := c.do("POST", "/api/v1/me/password", map[string]string{"current_password": otp, "new_password": name + "12345678"}); code != 400 {
		f.t.Fatalf("a password containing the name: %d %s", code, body)
	}
	if code, body := c.do("POST", "/api/v1/me/password", map[string]string{"current_password": otp, "new_password": pw}); code != 204 {
		f.t.Fatalf("change password of %s: %d %s", name, code, body)
	}
	f.secret = append(f.secret, otp, pw)
	c.password = pw
	f.users[name] = c
	return c
}

type client struct {
	f        *fixture
	hc       *http.Client
	csrf     string
	bearer   string
	password string
}

func (f *fixture) newClient() *client {
	jar, _ := cookiejar.New(nil)
	return &client{f: f, hc: &http.Client{Jar: jar}}
}

func (c *client) login(name, password string) (int, string) {
	c.f.t.Helper()
	code, body := c.do("POST", "/api/v1/login", map[string]string{"name": name, "password": password})
	if code == 200 {
		var r struct {
			CSRF string `json:"csrf_token"`
		}
		if err := json.Unmarshal([]byte(body), &r); err != nil || r.CSRF == "" {
			c.f.t.Fatalf("login answer %s: %v", body, err)
		}
		c.csrf = r.CSRF
		u, _ := url.Parse(c.f.ts.URL)
		for _, ck := range c.hc.Jar.Cookies(u) {
			c.f.secret = append(c.f.secret, ck.Value)
		}
		c.f.secret = append(c.f.secret, c.csrf)
	}
	return code, body
}

// do sends a request with the client's credentials (and CSRF token) and
// returns the status and body.
func (c *client) do(method, path string, body any) (int, string) {
	c.f.t.Helper()
	resp := c.raw(method, path, body)
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	return resp.StatusCode, string(b)
}

func (c *client) raw(method, path string, body any) *http.Response {
	c.f.t.Helper()
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		rd = strings.NewReader(b)
	default:
		j, _ := json.Marshal(b)
		rd = bytes.NewReader(j)
	}
	req, err := http.NewRequest(method, c.f.ts.URL+path, rd)
	if err != nil {
		c.f.t.Fatal(err)
	}
	switch b, _ := body.(string); {
	case body == nil:
	case strings.HasPrefix(b, "{") || b == "":
		req.Header.Set("Content-Type", "application/json")
	default:
		req.Header.Set("Content-Type", "text/csv")
	}
	if c.csrf != "" {
		req.Header.Set("X-CSRF-Token", c.csrf)
	}
	if c.bearer != "" {
		req.Header.Set("Authorization", "Bearer "+c.bearer)
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		c.f.t.Fatal(err)
	}
	return resp
}

// total returns a list answer's total and item count.
func total(t *testing.T, body string) (int, int) {
	t.Helper()
	var r struct {
		Items []json.RawMessage `json:"items"`
		Total int               `json:"total"`
	}
	if err := json.Unmarshal([]byte(body), &r); err != nil {
		t.Fatalf("list answer %q: %v", body, err)
	}
	return r.Total, len(r.Items)
}

func errorCode(body string) string {
	var e errorBody
	_ = json.Unmarshal([]byte(body), &e)
	return e.Error.Code
}

// setupRoles makes the users of the matrix: admin at the top, an inspector
// of 黄石市, a supervisor of 阳新县, a supervisor and an inspector of 武汉市.
func setupRoles(f *fixture) {
	f.t.Helper()
	otp, err := f.srv.acct.EnsureAdmin(context.Background())
	if err != nil || otp == "" {
		f.t.Fatalf("bootstrap admin: %q %v", otp, err)
	}
	if again, err := f.srv.acct.EnsureAdmin(context.Background()); err != nil || again != "" {
		f.t.Fatalf("second bootstrap: %q %v", again, err)
	}
	f.loginFirst("admin", otp)
	f.addUser("hs_inspector", RoleInspector, "湖北省/黄石市")
	f.addUser("yx_super", RoleSupervisor, "湖北省/黄石市/阳新县")
	f.addUser("wh_super", RoleSupervisor, "湖北省/武汉市")
	f.addUser("wh_inspector", RoleInspector, "湖北省/武汉市")
}

// TestJurisdictionMatrix drives every role against objects inside and
// outside its subtree, and without credentials.
func TestJurisdictionMatrix(t *testing.T) {
	f := newFixture(t, nil)
	setupRoles(f)
	anon := f.newClient()
	f.users["anon"] = anon
	v1, v2, v3 := f.veh["鄂B00001"], f.veh["鄂B00002"], f.veh["鄂A00003"]
	day := "from=" + url.QueryEscape(trackDay.Format(time.RFC3339)) + "&to=" + url.QueryEscape(trackDay.Add(24*time.Hour).Format(time.RFC3339))
	reason := "&reason=" + url.QueryEscape("纪检核查 2026-17")

	type want map[string]int // user → status
	cases := []struct {
		method, path string
		body         any
		want         want
	}{
		{"GET", fmt.Sprintf("/api/v1/vehicles/%d", v1), nil, want{"admin": 200, "hs_inspector": 200, "yx_super": 200, "wh_super": 404, "wh_inspector": 404, "anon": 401}},
		{"GET", fmt.Sprintf("/api/v1/vehicles/%d", v2), nil, want{"admin": 200, "hs_inspector": 200, "yx_super": 404, "wh_super": 404, "anon": 401}},
		{"GET", fmt.Sprintf("/api/v1/vehicles/%d", v3), nil, want{"admin": 200, "hs_inspector": 404, "yx_super": 404, "wh_super": 200, "wh_inspector": 200}},
		{"GET", "/api/v1/vehicles/999999", nil, want{"admin": 404, "hs_inspector": 404}},
		{"POST", fmt.Sprintf("/api/v1/vehicles/%d/seal", v1), nil, want{"admin": 200, "hs_inspector": 403, "yx_super": 200, "wh_super": 404, "wh_inspector": 403, "anon": 401}},
		{"POST", fmt.Sprintf("/api/v1/vehicles/%d/unseal", v1), nil, want{"yx_super": 200, "hs_inspector": 403, "wh_super": 404}},
		{"PATCH", fmt.Sprintf("/api/v1/vehicles/%d", v1), map[string]any{"unit_id": 0}, want{}}, // replaced below
		{"PUT", fmt.Sprintf("/api/v1/vehicles/%d/terminal", v3), map[string]string{"phone": "013900000003"}, want{"yx_super": 404, "hs_inspector": 403, "wh_super": 200}},
		{"PUT", fmt.Sprintf("/api/v1/vehicles/%d/terminal", v1), map[string]string{"phone": "13900000003"}, want{"yx_super": 409}},
		{"POST", "/api/v1/vehicles", map[string]any{"plate": "鄂B00009", "plate_color": 1, "unit_id": f.units["湖北省/武汉市"]}, want{"yx_super": 404, "hs_inspector": 403}},
		{"POST", "/api/v1/vehicles", map[string]any{"plate": "鄂B00009", "plate_color": 1, "category": "应急保障用车", "unit_id": f.units["湖北省/黄石市/阳新县"]}, want{"yx_super": 201}},
		{"GET", fmt.Sprintf("/api/v1/vehicles/%d/track?%s%s", v1, day, reason), nil, want{"admin": 200, "hs_inspector": 200, "yx_super": 200, "wh_super": 404, "wh_inspector": 404, "anon": 401}},
		{"GET", fmt.Sprintf("/api/v1/vehicles/%d/track?%s", v1, day), nil, want{"hs_inspector": 400, "yx_super": 200, "wh_inspector": 404}},
		{"GET", fmt.Sprintf("/api/v1/vehicles/%d/track?%s%s&download=true", v1, day, reason), nil, want{"hs_inspector": 200, "wh_inspector": 404}},
		{"GET", fmt.Sprintf("/api/v1/vehicles/%d/track?%s%s", v3, day, reason), nil, want{"hs_inspector": 404, "wh_inspector": 200}},
		{"GET", "/api/v1/terminals/13900000003", nil, want{"admin": 200, "yx_super": 404, "hs_inspector": 404, "wh_inspector": 200}},
		{"GET", "/api/v1/terminals/13800000003", nil, want{"admin": 200, "wh_inspector": 404}}, // unbound now: the top only
		{"GET", "/api/v1/terminals/013800000001", nil, want{"yx_super": 200, "hs_inspector": 200, "wh_super": 404}},
		{"GET", "/api/v1/audit", nil, want{"admin": 200, "hs_inspector": 200, "wh_inspector": 200, "yx_super": 403, "wh_super": 403, "anon": 401}},
		{"GET", "/api/v1/users", nil, want{"admin": 200, "hs_inspector": 403, "yx_super": 403, "anon": 401}},
		{"POST", "/api/v1/users", map[string]any{"name": "x1", "role": "inspector", "unit_id": f.units["湖北省/武汉市"]}, want{"hs_inspector": 403, "yx_super": 403}},
		{"POST", "/api/v1/units", map[string]any{"parent_id": f.units["湖北省/黄石市"], "name": "新单位"}, want{"hs_inspector": 403, "yx_super": 403, "anon": 401, "admin": 201}},
		{"PATCH", fmt.Sprintf("/api/v1/units/%d", f.units["湖北省/武汉市"]), map[string]any{"name": "武汉"}, want{"yx_super": 403}},
		{"PATCH", fmt.Sprintf("/api/v1/vehicles/%d", v2), map[string]any{"category": "执法执勤用车", "plate_color": 2}, want{"hs_inspector": 403, "yx_super": 404, "admin": 200}},
		{"PATCH", fmt.Sprintf("/api/v1/vehicles/%d", v2), map[string]any{"category": "truck"}, want{"admin": 400}},
		{"GET", "/api/v1/openapi.yaml", nil, want{"hs_inspector": 200, "anon": 401}},
		{"GET", "/api/v1/nonexistent", nil, want{"admin": 404, "anon": 401}},
	}
	cases[6].body = map[string]any{"unit_id": f.units["湖北省/武汉市"]}
	cases[6].want = want{"yx_super": 404, "hs_inspector": 403, "wh_super": 404}
	for _, tc := range cases {
		for user, status := range tc.want {
			code, body := f.users[user].do(tc.method, tc.path, tc.body)
			if code != status {
				t.Errorf("%s %s %s as %s: %d, want %d: %s", tc.method, tc.path, tc.body, user, code, status, body)
				continue
			}
			if code >= 400 && errorCode(body) == "" {
				t.Errorf("%s %s as %s: error body %q lacks {\"error\":{\"code\"}}", tc.method, tc.path, user, body)
			}
		}
	}

	// Lists show and count only what is in the subtree.
	for _, tc := range []struct {
		path string
		want map[string]int
	}{
		{"/api/v1/vehicles", map[string]int{"admin": 4, "hs_inspector": 3, "yx_super": 2, "wh_super": 1}},
		{"/api/v1/vehicles?limit=1&offset=1", map[string]int{"admin": 4, "hs_inspector": 3}},
		{"/api/v1/vehicles?category=emergency", map[string]int{"admin": 1, "wh_super": 0}},
		{"/api/v1/positions", map[string]int{"admin": 3, "hs_inspector": 2, "yx_super": 1, "wh_inspector": 1}},
		{"/api/v1/terminals", map[string]int{"admin": 4, "hs_inspector": 2, "yx_super": 1, "wh_super": 1}},
		{"/api/v1/units", map[string]int{"yx_super": 2, "wh_super": 1}},
		{"/api/v1/users", map[string]int{"admin": 5}},
	} {
		for user, want := range tc.want {
			code, body := f.users[user].do("GET", tc.path, nil)
			if code != 200 {
				t.Errorf("GET %s as %s: %d %s", tc.path, user, code, body)
				continue
			}
			if got, _ := total(t, body); got != want {
				t.Errorf("GET %s as %s: total %d, want %d: %s", tc.path, user, got, want, body)
			}
		}
	}
	if _, body := f.users["hs_inspector"].do("GET", "/api/v1/vehicles", nil); strings.Contains(body, "鄂A00003") || strings.Contains(body, "武汉") {
		t.Errorf("黄石市 inspector sees 武汉市: %s", body)
	}
	_, body := f.users["yx_super"].do("GET", fmt.Sprintf("/api/v1/vehicles/%d", v1), nil)
	for _, field := range []string{`"id":`, `"plate":"鄂B00001"`, `"plate_color":1`, `"category":"general"`, `"unit":"湖北省/黄石市/阳新县/县机关事务中心"`, `"terminal_phone":"13800000001"`} {
		if !strings.Contains(body, field) {
			t.Errorf("vehicle lacks %s: %s", field, body)
		}
	}

	// The audit log recorded the views with their reasons, and each
	// jurisdiction sees its own.
	_, body = f.users["admin"].do("GET", fmt.Sprintf("/api/v1/audit?user=hs_inspector&vehicle=%d", v1), nil)
	var audit struct {
		Items []auditJSON `json:"items"`
		Total int         `json:"total"`
	}
	if err := json.Unmarshal([]byte(body), &audit); err != nil {
		t.Fatal(err)
	}
	actions := map[string]auditJSON{}
	for _, a := range audit.Items {
		actions[a.Action] = a
	}
	if v, ok := actions["track.view"]; !ok || v.Reason != "纪检核查 2026-17" || v.From != trackDay.Format(time.RFC3339) || v.RemoteAddr == "" {
		t.Errorf("audit lacks the inspector's track view with its reason and period: %s", body)
	}
	if _, ok := actions["track.export"]; !ok || audit.Total != 2 {
		t.Errorf("audit of hs_inspector on %d: want a view and an export, got %s", v1, body)
	}
	_, body = f.users["wh_inspector"].do("GET", "/api/v1/audit?limit=500", nil)
	if strings.Contains(body, "hs_inspector") || strings.Contains(body, "鄂B00001") || strings.Contains(body, "yx_super") {
		t.Errorf("武汉市 inspector sees 黄石市's audit entries: %s", body)
	}
	if !strings.Contains(body, `"user":"wh_super"`) || !strings.Contains(body, "vehicle.bind_terminal") {
		t.Errorf("武汉市 inspector misses their own subtree's entries: %s", body)
	}
	_, body = f.users["hs_inspector"].do("GET", "/api/v1/audit?limit=500", nil)
	for _, want := range []string{"vehicle.seal", "vehicle.unseal", "vehicle.create", "login.success", "user.password_change", `"user":"yx_super"`} {
		if !strings.Contains(body, want) {
			t.Errorf("黄石市 inspector's audit lacks %s: %s", want, body)
		}
	}
	if strings.Contains(body, "wh_super") {
		t.Errorf("黄石市 inspector sees 武汉市 entries: %s", body)
	}

	// Bearer tokens: the inspector's integration reads, cannot write, and
	// stops working when revoked.
	id, tok, err := f.srv.acct.CreateToken(context.Background(), "hs_inspector", "evidence export")
	if err != nil {
		t.Fatal(err)
	}
	f.secret = append(f.secret, tok)
	bot := f.newClient()
	bot.bearer = tok
	if code, body := bot.do("GET", "/api/v1/vehicles", nil); code != 200 {
		t.Errorf("token: %d %s", code, body)
	} else if n, _ := total(t, body); n != 3 {
		t.Errorf("token sees %d vehicles, want 3", n)
	}
	if code, _ := bot.do("POST", fmt.Sprintf("/api/v1/vehicles/%d/seal", v1), nil); code != 403 {
		t.Errorf("inspector's token sealing: %d, want 403", code)
	}
	if err := f.srv.acct.RevokeToken(context.Background(), id); err != nil {
		t.Fatal(err)
	}
	if code, _ := bot.do("GET", "/api/v1/vehicles", nil); code != 401 {
		t.Errorf("revoked token: %d, want 401", code)
	}
	var stored []byte
	if err := f.db.Pool.QueryRow(context.Background(), "SELECT token_hash FROM api_tokens WHERE id = $1", id).Scan(&stored); err != nil {
		t.Fatal(err)
	}
	if h := sha256.Sum256([]byte(tok)); !bytes.Equal(stored, h[:]) {
		t.Errorf("token_hash is not SHA-256 of the token")
	}
	checkNoSecrets(t, f)
}

// checkNoSecrets asserts that no password, token or session id appears in
// the log or in the database in clear.
func checkNoSecrets(t *testing.T, f *fixture) {
	t.Helper()
	logs := f.logs.String()
	if len(logs) == 0 {
		t.Fatal("no log output captured")
	}
	var dump strings.Builder
	rows, err := f.db.Pool.Query(context.Background(), `
		SELECT name || ' ' || password_hash FROM users
		UNION ALL SELECT encode(id_hash, 'escape') FROM sessions
		UNION ALL SELECT encode(token_hash, 'escape') || label FROM api_tokens
		UNION ALL SELECT a::text FROM audit_log a`)
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var s string
		if err := rows.Scan(&s); err != nil {
			t.Fatal(err)
		}
		dump.WriteString(s + "\n")
	}
	if rows.Err() != nil {
		t.Fatal(rows.Err())
	}
	if len(f.secret) < 5 {
		t.Fatalf("only %d secrets collected", len(f.secret))
	}
	for _, s := range f.secret {
		if strings.Contains(logs, s) {
			t.Errorf("secret %.4s… in the log", s)
		}
		if strings.Contains(dump.String(), s) {
			t.Errorf("secret %.4s… in the database", s)
		}
	}
	var clear int
	if err := f.db.Pool.QueryRow(context.Background(), "SELECT count(*) FROM users WHERE password_hash NOT LIKE '$argon2id$v=19$%'").Scan(&clear); err != nil || clear != 0 {
		t.Errorf("%d users without an argon2id hash (%v)", clear, err)
	}
}

// TestTrackGeoJSON checks the streamed track: every point of the period and
// none outside, in order, with its properties.
func TestTrackGeoJSON(t *testing.T) {
	f := newFixture(t, nil)
	setupRoles(f)
	v1 := f.veh["鄂B00001"]
	q := url.Values{"from": {trackDay.Format(time.RFC3339)}, "to": {trackDay.Add(24 * time.Hour).Format(time.RFC3339)}, "reason": {"审计"}, "download": {"1"}}
	resp := f.users["hs_inspector"].raw("GET", fmt.Sprintf("/api/v1/vehicles/%d/track?%s", v1, q.Encode()), nil)
	defer resp.Body.Close()
	if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "application/geo+json" ||
		!strings.HasPrefix(resp.Header.Get("Content-Disposition"), "attachment") {
		t.Fatalf("track: %d %v", resp.StatusCode, resp.Header)
	}
	var fc struct {
		Type     string `json:"type"`
		Features []struct {
			Type     string `json:"type"`
			Geometry struct {
				Type        string     `json:"type"`
				Coordinates [2]float64 `json:"coordinates"`
			} `json:"geometry"`
			Properties struct {
				Time     string   `json:"time"`
				SpeedKmh float64  `json:"speed_kmh"`
				Heading  *int     `json:"heading"`
				Alarm    *uint32  `json:"alarm"`
				Status   *uint32  `json:"status"`
				Backfill *bool    `json:"backfill"`
				Extra    *float64 `json:"extra"`
			} `json:"properties"`
		} `json:"features"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&fc); err != nil {
		t.Fatal(err)
	}
	if fc.Type != "FeatureCollection" || len(fc.Features) != 3 {
		t.Fatalf("want a FeatureCollection of 3 points, got %s with %d", fc.Type, len(fc.Features))
	}
	wantTimes := []string{"2026-11-20T08:00:00+08:00", "2026-11-20T08:00:30+08:00", "2026-11-20T09:00:00+08:00"}
	for i, ft := range fc.Features {
		p := ft.Properties
		if ft.Type != "Feature" || ft.Geometry.Type != "Point" || p.Time != wantTimes[i] || p.SpeedKmh != 42.5 ||
			p.Heading == nil || *p.Heading != 90 || p.Status == nil || *p.Status != 3 || p.Alarm == nil || p.Backfill == nil ||
			*p.Backfill != (i == 1) || ft.Geometry.Coordinates[1] != 30.2 || ft.Geometry.Coordinates[0] < 115 {
			t.Errorf("feature %d: %+v", i, ft)
		}
	}
	// An empty period is an empty collection, still valid JSON.
	q.Set("from", "2025-01-01T00:00:00+08:00")
	q.Set("to", "2025-01-02T00:00:00+08:00")
	code, body := f.users["admin"].do("GET", fmt.Sprintf("/api/v1/vehicles/%d/track?%s", v1, q.Encode()), nil)
	if code != 200 || !json.Valid([]byte(body)) || !strings.Contains(body, `"features":[]`) {
		t.Errorf("empty track: %d %s", code, body)
	}
	for _, bad := range []string{"from=yesterday&to=today", "from=2026-11-21T00:00:00Z&to=2026-11-20T00:00:00Z", "to=2026-11-21T00:00:00Z"} {
		if code, body := f.users["admin"].do("GET", fmt.Sprintf("/api/v1/vehicles/%d/track?%s", v1, bad), nil); code != 400 {
			t.Errorf("track?%s: %d %s", bad, code, body)
		}
	}
}

// TestLoginThrottle proves that repeated failures slow a name down and then
// lock it, for existing and unknown names alike, on an injected clock.
func TestLoginThrottle(t *testing.T) {
	f := newFixture(t, nil)
	c := f.addUser("clerk", RoleSupervisor, "湖北省/黄石市")
	good := c.password
	try := func(name, pw string, want int, wantCode string) {
		t.Helper()
		code, body := f.newClient().login(name, pw)
		if code != want || (wantCode != "" && errorCode(body) != wantCode) {
			t.Fatalf("login %s at +%v: %d %s, want %d %s", name, f.clock.Now().Sub(time.Date(2026, 11, 22, 9, 0, 0, 0, cst)), code, body, want, wantCode)
		}
	}
	try("clerk", "wrong password 1", 401, "invalid_credentials")
	try("clerk", "wrong password 2", 401, "invalid_credentials")
	// Two failures: the next attempt waits 1 s, even with the right password.
	try("clerk", good, 429, "too_many_attempts")
	f.clock.Advance(time.Second)
	try("clerk", "wrong password 3", 401, "") // now 2 s
	f.clock.Advance(time.Second)
	try("clerk", "wrong password x", 429, "")
	f.clock.Advance(time.Second)
	try("clerk", "wrong password 4", 401, "") // now 4 s
	f.clock.Advance(4 * time.Second)
	try("clerk", "wrong password 5", 401, "") // the fifth: locked 15 min
	f.clock.Advance(10 * time.Minute)
	try("clerk", good, 429, "too_many_attempts")
	f.clock.Advance(5*time.Minute + time.Second)
	try("clerk", good, 200, "")
	// Success resets the count.
	try("clerk", "wrong password 6", 401, "")
	f.clock.Advance(time.Second)
	try("clerk", good, 200, "")

	// An unknown name is throttled the same way: nothing tells it apart.
	try("nobody", "wrong password 1", 401, "invalid_credentials")
	try("nobody", "wrong password 2", 401, "invalid_credentials")
	try("nobody", "wrong password 3", 429, "too_many_attempts")

	// A disabled user cannot log in.
	admin := f.srv.acct
	_, otp, err := admin.CreateUser(context.Background(), nil, "", "root", RoleAdmin, 0)
	if err != nil {
		t.Fatal(err)
	}
	root := f.loginFirst("root", otp)
	var id int64
	if err := f.db.Pool.QueryRow(context.Background(), "SELECT id FROM users WHERE name = 'clerk'").Scan(&id); err != nil {
		t.Fatal(err)
	}
	if code, body := root.do("POST", fmt.Sprintf("/api/v1/users/%d/disable", id), nil); code != 200 {
		t.Fatalf("disable: %d %s", code, body)
	}
	if code, _ := c.do("GET", "/api/v1/me", nil); code != 401 {
		t.Errorf("a disabled user's session: %d, want 401", code)
	}
	f.clock.Advance(time.Hour)
	try("clerk", good, 401, "invalid_credentials")

	if code, body := root.login("root", root.password); code != 200 {
		t.Fatalf("login root: %d %s", code, body)
	}
	_, body := root.do("GET", "/api/v1/audit?user=nobody", nil)
	if n, _ := total(t, body); n != 3 || !strings.Contains(body, "login.failure") || !strings.Contains(body, "login.throttled") ||
		!strings.Contains(body, `"remote_addr":"127.0.0.1"`) {
		t.Errorf("audit of the unknown name's attempts: %s", body)
	}
	checkNoSecrets(t, f)
}

// TestSessions covers CSRF, idle and absolute expiry, logout, password
// reset, and what an unauthenticated client gets.
func TestSessions(t *testing.T) {
	f := newFixture(t, func(c *Config) {
		c.MetricsAllow = []netip.Prefix{netip.MustParsePrefix("192.0.2.0/24")}
		c.MetricsToken = "metrics-secret-token-0123456789"
	})
	setupRoles(f)
	sup := f.users["yx_super"]
	seal := fmt.Sprintf("/api/v1/vehicles/%d/seal", f.veh["鄂B00001"])

	// CSRF: a cookie-authenticated unsafe request needs the session's token.
	csrf := sup.csrf
	sup.csrf = ""
	if code, body := sup.do("POST", seal, nil); code != 403 || errorCode(body) != "csrf_token_invalid" {
		t.Errorf("POST without CSRF token: %d %s", code, body)
	}
	sup.csrf = "forged"
	if code, _ := sup.do("POST", seal, nil); code != 403 {
		t.Errorf("POST with a wrong CSRF token: %d", code)
	}
	sup.csrf = ""
	if code, body := sup.do("GET", "/api/v1/me", nil); code != 200 || !strings.Contains(body, csrf) {
		t.Errorf("GET needs no CSRF token and /me returns it: %d %s", code, body)
	}
	sup.csrf = csrf
	if code, body := sup.do("POST", seal, nil); code != 200 {
		t.Errorf("POST with the CSRF token: %d %s", code, body)
	}

	// Idle expiry: 30 min without a request.
	f.clock.Advance(29 * time.Minute)
	if code, _ := sup.do("GET", "/api/v1/me", nil); code != 200 {
		t.Errorf("after 29 idle minutes: %d", code)
	}
	f.clock.Advance(31 * time.Minute)
	if code, body := sup.do("GET", "/api/v1/me", nil); code != 401 || errorCode(body) != "session_expired" {
		t.Errorf("after 31 idle minutes: %d %s", code, body)
	}
	// Absolute expiry: 12 h however busy.
	if code, _ := sup.login("yx_super", sup.password); code != 200 {
		t.Fatal("login again")
	}
	for range 12 * 3 {
		f.clock.Advance(20 * time.Minute)
		if code, _ := sup.do("GET", "/api/v1/me", nil); code != 200 {
			t.Fatalf("busy session expired early at %v", f.clock.Now())
		}
	}
	f.clock.Advance(time.Minute)
	if code, _ := sup.do("GET", "/api/v1/me", nil); code != 401 {
		t.Errorf("a session older than 12 h: %d, want 401", code)
	}
	// Logout ends the session.
	if code, _ := sup.login("yx_super", sup.password); code != 200 {
		t.Fatal("login again")
	}
	if code, _ := sup.do("POST", "/api/v1/logout", nil); code != 204 {
		t.Errorf("logout: %d", code)
	}
	if code, _ := sup.do("GET", "/api/v1/me", nil); code != 401 {
		t.Errorf("after logout: %d", code)
	}

	// Admin resets a password: the user's sessions end and the new one-time
	// password must be changed.
	admin := f.users["admin"]
	insp := f.users["hs_inspector"]
	for name, c := range map[string]*client{"admin": admin, "hs_inspector": insp} {
		if code, body := c.login(name, c.password); code != 200 {
			t.Fatalf("login %s: %d %s", name, code, body)
		}
	}
	var id int64
	if err := f.db.Pool.QueryRow(context.Background(), "SELECT id FROM users WHERE name = 'hs_inspector'").Scan(&id); err != nil {
		t.Fatal(err)
	}
	code, body := admin.do("POST", fmt.Sprintf("/api/v1/users/%d/reset-password", id), nil)
	var reset struct {
		OTP string `json:"one_time_password"`
	}
	if err := json.Unmarshal([]byte(body), &reset); code != 200 || err != nil || reset.OTP == "" {
		t.Fatalf("reset: %d %s", code, body)
	}
	if code, _ := insp.do("GET", "/api/v1/vehicles", nil); code != 401 {
		t.Errorf("session after a reset: %d", code)
	}
	f.loginFirst("hs_inspector", reset.OTP)

	// Admin creates a user through the API.
	code, body = admin.do("POST", "/api/v1/users", map[string]any{"name": "dy_super", "role": "supervisor", "unit_id": f.units["湖北省/黄石市/大冶市"]})
	var created struct {
		OTP string `json:"one_time_password"`
	}
	if err := json.Unmarshal([]byte(body), &created); code != 201 || err != nil {
		t.Fatalf("create user: %d %s", code, body)
	}
	dy := f.loginFirst("dy_super", created.OTP)
	if _, body := dy.do("GET", "/api/v1/vehicles", nil); !strings.Contains(body, "鄂B00002") || strings.Contains(body, "鄂B00001") {
		t.Errorf("大冶市 supervisor's vehicles: %s", body)
	}

	// Unauthenticated: the login page and /healthz, nothing else.
	anon := f.newClient()
	for path, want := range map[string]int{"/": 200, "/login": 200, "/login.js": 200, "/healthz": 200,
		"/metrics": 401, "/api/v1/vehicles": 401, "/api/v1/openapi.yaml": 401, "/api/v1/units": 401, "/debug/pprof/": 401,
		"/index.html": 401, "/api/v1/me": 401} {
		resp := anon.raw("GET", path, nil)
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != want {
			t.Errorf("anonymous GET %s: %d, want %d", path, resp.StatusCode, want)
		}
		if want == 401 && errorCode(string(b)) != "unauthorized" {
			t.Errorf("anonymous GET %s: body %s", path, b)
		}
		h := resp.Header
		if h.Get("Content-Security-Policy") == "" || h.Get("X-Content-Type-Options") != "nosniff" || h.Get("X-Frame-Options") != "DENY" ||
			h.Get("Referrer-Policy") != "no-referrer" || h.Get("X-Request-Id") == "" {
			t.Errorf("GET %s lacks security headers: %v", path, h)
		}
	}
	if code, _ := anon.do("POST", "/api/v1/vehicles", `{}`); code != 401 {
		t.Errorf("anonymous POST: %d", code)
	}
	if code, body := anon.do("GET", "/", nil); !strings.Contains(body, `<form id="login"`) || code != 200 {
		t.Errorf("login page: %s", body)
	}
	// /metrics: the token opens it, and so does an admin; others are refused.
	m := f.newClient()
	m.bearer = "metrics-secret-token-0123456789"
	if code, body := m.do("GET", "/metrics", nil); code != 200 || !strings.Contains(body, "fleetmon_up") {
		t.Errorf("metrics with the token: %d %s", code, body)
	}
	if code, _ := admin.do("GET", "/metrics", nil); code != 200 {
		t.Errorf("metrics as admin: %d", code)
	}
	if code, _ := insp.do("GET", "/metrics", nil); code != 401 && code != 403 {
		t.Errorf("metrics as the old inspector session: %d", code)
	}
	// A body over the limit is refused.
	big := `{"name":"` + strings.Repeat("x", 2<<20) + `"}`
	if code, body := admin.do("POST", "/api/v1/units", big); code != 413 {
		t.Errorf("oversized body: %d %.200s", code, body)
	}
	checkNoSecrets(t, f)
}

// TestUnits covers the org tree: create, rename, move (not under itself),
// CSV import.
func TestUnits(t *testing.T) {
	f := newFixture(t, nil)
	setupRoles(f)
	admin := f.users["admin"]
	hs := f.units["湖北省/黄石市"]
	code, body := admin.do("POST", "/api/v1/units", map[string]any{"parent_id": hs, "name": "市纪委监委"})
	var u unitJSON
	if err := json.Unmarshal([]byte(body), &u); code != 201 || err != nil || u.Path != "湖北省/黄石市/市纪委监委" {
		t.Fatalf("create unit: %d %s", code, body)
	}
	if code, _ := admin.do("POST", "/api/v1/units", map[string]any{"parent_id": hs, "name": "市纪委监委"}); code != 409 {
		t.Errorf("duplicate sibling: %d, want 409", code)
	}
	if code, _ := admin.do("POST", "/api/v1/units", map[string]any{"parent_id": hs, "name": "a/b"}); code != 409 && code != 400 {
		t.Errorf("name with a slash: %d", code)
	}
	code, body = admin.do("PATCH", fmt.Sprintf("/api/v1/units/%d", u.ID), map[string]any{"name": "黄石市纪委监委", "parent_id": f.units["湖北省/武汉市"]})
	if code != 200 || !strings.Contains(body, `"path":"湖北省/武汉市/黄石市纪委监委"`) {
		t.Errorf("rename and move: %d %s", code, body)
	}
	if code, _ := admin.do("PATCH", fmt.Sprintf("/api/v1/units/%d", hs), map[string]any{"parent_id": f.units["湖北省/黄石市/阳新县"]}); code != 409 {
		t.Errorf("move under its own subtree: %d, want 409", code)
	}
	code, body = admin.do("POST", "/api/v1/units/import", "path\n湖北省/鄂州市/华容区\n湖北省/鄂州市\n湖北省/黄石市\n")
	if code != 200 || !strings.Contains(body, `"units":4`) {
		t.Errorf("import: %d %s", code, body)
	}
	if code, _ := admin.do("POST", "/api/v1/units/import", "湖北省//x\n"); code != 400 {
		t.Errorf("bad import: %d", code)
	}
	if code, _ := f.users["hs_inspector"].do("POST", "/api/v1/units/import", "湖北省/x\n"); code != 403 {
		t.Errorf("inspector import: %d", code)
	}
	_, body = f.users["yx_super"].do("GET", "/api/v1/units", nil)
	if strings.Contains(body, "鄂州") || !strings.Contains(body, "县机关事务中心") {
		t.Errorf("county's units: %s", body)
	}
	_, body = admin.do("GET", "/api/v1/audit?user=admin", nil)
	for _, a := range []string{"unit.create", "unit.update", "unit.import"} {
		if !strings.Contains(body, a) {
			t.Errorf("audit lacks %s", a)
		}
	}
}

// TestAuditAppendOnly proves that the audit log refuses changes even to the
// database owner.
func TestAuditAppendOnly(t *testing.T) {
	f := newFixture(t, nil)
	setupRoles(f)
	ctx := context.Background()
	for _, stmt := range []string{"UPDATE audit_log SET reason = 'x'", "DELETE FROM audit_log", "TRUNCATE audit_log"} {
		if _, err := f.db.Pool.Exec(ctx, stmt); err == nil || !strings.Contains(err.Error(), "append-only") {
			t.Errorf("%s: %v, want refused", stmt, err)
		}
	}
	var n int
	if err := f.db.Pool.QueryRow(ctx, "SELECT count(*) FROM audit_log").Scan(&n); err != nil || n == 0 {
		t.Errorf("audit_log has %d entries (%v)", n, err)
	}
}

func TestPasswordPolicy(t *testing.T) {
	for _, tc := range []struct {
		name, pw string
		ok       bool
	}{
		{"li", "correcthorse", true},          // 12
		{"li", "shorthorse", false},           // 10, one class
		{"li", "Short7orse", true},            // 10, three classes
		{"li", "Sh0rt!", false},               // 6
		{"wangwei", "wangwei-2026-ok", false}, // contains the name
		{"wangwei", "WANGWEI12345", false},
		{"li", "一二三四五六七八九十十一", true}, // 12 characters of any script
		{"li", strings.Repeat("a", 257), false},
	} {
		if err := CheckPasswordPolicy(tc.name, tc.pw); (err == nil) != tc.ok {
			t.Errorf("%s/%q: %v, want ok=%v", tc.name, tc.pw, err, tc.ok)
		}
	}
	h := hashPassword("correct horse battery", KDF{Time: 1, MemoryKiB: 64, Threads: 1})
	if !checkPassword(h, "correct horse battery") || checkPassword(h, "correct horse batterY") || checkPassword("plain", "plain") {
		t.Error("checkPassword")
	}
	for range 20 {
		if p := newOneTimePassword("li"); CheckPasswordPolicy("li", p) != nil || len(p) != 16 {
			t.Errorf("one-time password %q fails the policy", p)
		}
	}
}

// TestInternalErrorHidden: a database failure answers 500 with only a
// request id, which the log line carries with the real error.
func TestInternalErrorHidden(t *testing.T) {
	f := newFixture(t, nil)
	setupRoles(f)
	if _, err := f.db.Pool.Exec(context.Background(), "ALTER TABLE vehicle_state RENAME TO vehicle_state_gone"); err != nil {
		t.Fatal(err)
	}
	resp := f.users["admin"].raw("GET", "/api/v1/positions", nil)
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	var e errorBody
	if err := json.Unmarshal(b, &e); err != nil || resp.StatusCode != 500 || e.Error.Code != "internal" || e.Error.RequestID == "" {
		t.Fatalf("positions without a table: %d %s", resp.StatusCode, b)
	}
	if strings.Contains(string(b), "vehicle_state") || strings.Contains(string(b), "SQLSTATE") {
		t.Errorf("internal error leaked: %s", b)
	}
	if resp.Header.Get("X-Request-Id") != e.Error.RequestID {
		t.Errorf("X-Request-Id %q, body %q", resp.Header.Get("X-Request-Id"), e.Error.RequestID)
	}
	found := false
	for _, line := range strings.Split(f.logs.String(), "\n") {
		if strings.Contains(line, e.Error.RequestID) && strings.Contains(line, "vehicle_state") {
			found = true
		}
	}
	if !found {
		t.Errorf("no log line with request id %s and the error:\n%s", e.Error.RequestID, f.logs.String())
	}
}

// TestTLS: under TLS the session cookie is Secure and HSTS is sent.
func TestTLS(t *testing.T) {
	f := newFixture(t, nil)
	otp, err := f.srv.acct.EnsureAdmin(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewTLSServer(f.srv)
	defer ts.Close()
	resp, err := ts.Client().Post(ts.URL+"/api/v1/login", "application/json", strings.NewReader(`{"name":"admin","password":"`+otp+`"}`))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 || !strings.HasPrefix(resp.Header.Get("Strict-Transport-Security"), "max-age=") {
		t.Fatalf("TLS login: %d %v", resp.StatusCode, resp.Header)
	}
	cs := resp.Cookies()
	if len(cs) != 1 || !cs[0].Secure || !cs[0].HttpOnly || cs[0].SameSite != http.SameSiteStrictMode {
		t.Errorf("session cookie over TLS: %+v", cs)
	}
}

// TestCrossSiteForm: a form post (not application/json) cannot log in or
// change anything.
func TestCrossSiteForm(t *testing.T) {
	f := newFixture(t, nil)
	resp, err := http.Post(f.ts.URL+"/api/v1/login", "text/plain", strings.NewReader(`{"name":"admin","password":"x"}`))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnsupportedMediaType {
		t.Errorf("text/plain login: %d, want 415", resp.StatusCode)
	}
}

// TestOpenAPICoversRoutes holds api/openapi.yaml to the routes served.
func TestOpenAPICoversRoutes(t *testing.T) {
	s := New(Config{}, track.NewStore(nil), nil, nil, slog.New(slog.DiscardHandler))
	doc := string(openAPI)
	// A description with braces or quotes left bare in a flow mapping makes
	// the whole file unreadable to every OpenAPI tool, while every path is
	// still found below by its text: parse it as a tool would.
	var parsed struct {
		OpenAPI string         `yaml:"openapi"`
		Paths   map[string]any `yaml:"paths"`
	}
	if err := yaml.Unmarshal(openAPI, &parsed); err != nil {
		t.Fatalf("openapi.yaml is not valid YAML: %v", err)
	}
	if parsed.OpenAPI == "" || len(parsed.Paths) == 0 {
		t.Fatalf("openapi.yaml parsed without its version or paths: %q, %d paths", parsed.OpenAPI, len(parsed.Paths))
	}
	for _, p := range s.patterns {
		method, path, _ := strings.Cut(p, " ")
		if !strings.Contains(doc, "\n  "+path+":\n") {
			t.Errorf("openapi.yaml lacks path %s", path)
			continue
		}
		if path == "/api/v1/openapi.yaml" {
			continue
		}
		// The method appears under the path, before the next path.
		rest := doc[strings.Index(doc, "\n  "+path+":\n")+len(path)+4:]
		if i := strings.Index(rest, "\n  /"); i >= 0 {
			rest = rest[:i]
		}
		if !strings.Contains(rest, "\n    "+strings.ToLower(method)+":") {
			t.Errorf("openapi.yaml lacks %s", p)
		}
	}
	if len(s.patterns) < 20 {
		t.Errorf("only %d routes recorded", len(s.patterns))
	}
}
