package api

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"fleetmon/alerts"
	"fleetmon/track"
)

// fakeRules counts reloads and hands re-evaluations to a real runner, set
// once the fixture's database exists.
type fakeRules struct {
	mu      sync.Mutex
	reloads int
	runner  *alerts.Runner
}

func (f *fakeRules) Reload(context.Context) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.reloads++
	return nil
}

func (f *fakeRules) Reevaluate(ctx context.Context, vehicleID int64, from, to time.Time, apply bool) (*alerts.Diff, error) {
	f.mu.Lock()
	r := f.runner
	f.mu.Unlock()
	return r.Reevaluate(ctx, vehicleID, from, to, apply)
}

func (f *fakeRules) Status(ctx context.Context) (alerts.Status, error) {
	f.mu.Lock()
	r := f.runner
	f.mu.Unlock()
	return r.Status(ctx)
}

func (f *fakeRules) Reloads() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.reloads
}

// alertFixture is the API fixture with the rules' store, a fake engine
// and every role logged in.
func alertFixture(t *testing.T, mut func(*Config)) (*fixture, *fakeRules) {
	t.Helper()
	rules := &fakeRules{}
	f := newFixture(t, func(c *Config) {
		c.Rules = rules
		if mut != nil {
			mut(c)
		}
	})
	rules.mu.Lock()
	rules.runner = alerts.NewRunner(alerts.NewStore(f.db.Pool), alerts.RunnerConfig{}, slog.New(slog.DiscardHandler), nil)
	rules.mu.Unlock()
	setupRoles(f)
	return f, rules
}

// putEpisode stores an episode of plate's vehicle starting at start.
func (f *fixture) putEpisode(id, plate string, rule alerts.RuleID, start time.Time) alerts.Episode {
	f.t.Helper()
	vs, err := alerts.NewStore(f.db.Pool).Vehicles(context.Background(), f.veh[plate])
	if err != nil || len(vs) != 1 {
		f.t.Fatalf("vehicle %s: %v", plate, err)
	}
	ep := alerts.Episode{ID: id, Status: alerts.EpisodeClosed, Rule: rule, VehicleID: vs[0].ID, UnitID: vs[0].UnitID,
		Start: start, End: start.Add(40 * time.Minute), StartLat: 30.2, StartLon: 115.04, EndLat: 30.25, EndLon: 115.04,
		DistanceM: 5600, MaxSpeedKmh: 61, Params: `{"min_violation":60000000000}`, CalendarVersion: "cal-1", ParamsVersion: "p-1"}
	if _, err := alerts.NewStore(f.db.Pool).UpsertEpisodes(context.Background(), []alerts.Episode{ep}); err != nil {
		f.t.Fatal(err)
	}
	return ep
}

func decodeJSON[T any](t *testing.T, body string) T {
	t.Helper()
	var v T
	if err := json.Unmarshal([]byte(body), &v); err != nil {
		t.Fatalf("answer %q: %v", body, err)
	}
	return v
}

// TestAlertsJurisdiction: a 武汉市 supervisor neither sees, counts, reads
// nor verifies a 黄石市 alert; 黄石市's people do.
func TestAlertsJurisdiction(t *testing.T) {
	f, _ := alertFixture(t, nil)
	evening := trackDay.Add(19*time.Hour + 30*time.Minute)
	hs := f.putEpisode("ep-hs", "鄂B00001", alerts.RuleAfterHours, evening)
	wh := f.putEpisode("ep-wh", "鄂A00003", alerts.RuleSealedMove, evening.Add(time.Hour))

	wsup, ysup, hsi, admin := f.users["wh_super"], f.users["yx_super"], f.users["hs_inspector"], f.users["admin"]
	for _, c := range []struct {
		who  *client
		want []string
	}{
		{wsup, []string{wh.ID}},
		{ysup, []string{hs.ID}},
		{hsi, []string{hs.ID}},
		{admin, []string{wh.ID, hs.ID}}, // newest first
	} {
		code, body := c.who.do("GET", "/api/v1/alerts", nil)
		if code != 200 {
			t.Fatalf("list: %d %s", code, body)
		}
		got := decodeJSON[struct {
			Items []alertJSON `json:"items"`
			Total int         `json:"total"`
		}](t, body)
		var ids []string
		for _, a := range got.Items {
			ids = append(ids, a.ID)
		}
		if fmt.Sprint(ids) != fmt.Sprint(c.want) || got.Total != len(c.want) {
			t.Errorf("%s sees %v (total %d), want %v", c.who.password, ids, got.Total, c.want)
		}
	}
	// What an alert says.
	code, body := ysup.do("GET", "/api/v1/alerts/"+hs.ID, nil)
	if code != 200 {
		t.Fatalf("get: %d %s", code, body)
	}
	a := decodeJSON[alertJSON](t, body)
	if a.Vehicle.Plate != "鄂B00001" || a.Rule.ID != "after_hours" || a.Rule.Name != "非工作时间用车" || a.Status != "closed" ||
		a.Start != "2026-11-20T19:30:00+08:00" || a.End != "2026-11-20T20:10:00+08:00" || a.EndPlace == nil ||
		a.DistanceM != 5600 || a.MaxSpeedKmh != 61 || a.Verification != "open" || len(a.History) != 0 ||
		a.CalendarVersion != "cal-1" || !strings.Contains(string(a.Params), "min_violation") {
		t.Errorf("alert %s", body)
	}
	// Filters.
	for q, want := range map[string]int{
		"?rule=after_hours": 1, "?rule=sealed_move": 1, "?vehicle=" + fmt.Sprint(f.veh["鄂A00003"]): 1,
		"?state=open": 0, "?state=closed": 2, "?verification=confirmed": 0,
		"?from=2026-11-20T20:20:00%2B08:00": 1, "?to=2026-11-20T19:00:00%2B08:00": 0,
	} {
		code, body := admin.do("GET", "/api/v1/alerts"+q, nil)
		if n, _ := total(t, body); code != 200 || n != want {
			t.Errorf("%s: %d total %d, want %d", q, code, n, want)
		}
	}
	if code, _ := admin.do("GET", "/api/v1/alerts?rule=golf", nil); code != 400 {
		t.Errorf("unknown rule: %d", code)
	}
	// Outside the jurisdiction: 404, read or verify.
	if code, _ := wsup.do("GET", "/api/v1/alerts/"+hs.ID, nil); code != 404 {
		t.Errorf("武汉 supervisor reads a 黄石 alert: %d", code)
	}
	if code, _ := wsup.do("POST", "/api/v1/alerts/"+hs.ID+"/verification", map[string]string{"action": "confirm", "reason": "无派车单"}); code != 404 {
		t.Errorf("武汉 supervisor confirms a 黄石 alert: %d", code)
	}
	if code, _ := ysup.do("GET", "/api/v1/alerts/nope", nil); code != 404 {
		t.Errorf("unknown alert: %d", code)
	}
}

// TestAlertVerification walks the state machine and checks the history
// and the audit log.
func TestAlertVerification(t *testing.T) {
	f, _ := alertFixture(t, nil)
	ep := f.putEpisode("ep-1", "鄂B00001", alerts.RuleAfterHours, trackDay.Add(19*time.Hour+30*time.Minute))
	path := "/api/v1/alerts/" + ep.ID + "/verification"
	ysup, hsi := f.users["yx_super"], f.users["hs_inspector"]
	step := func(c *client, action, reason string, want int, state string) {
		t.Helper()
		code, body := c.do("POST", path, map[string]string{"action": action, "reason": reason})
		if code != want {
			t.Fatalf("%s: %d %s, want %d", action, code, body, want)
		}
		if state != "" {
			if a := decodeJSON[alertJSON](t, body); a.Verification != state {
				t.Fatalf("%s: verification %s, want %s", action, a.Verification, state)
			}
		}
	}
	step(ysup, "approve", "", 400, "")
	step(ysup, "request_explanation", "请说明用途", 200, "explanation_requested")
	step(ysup, "request_explanation", "again", 409, "")
	step(hsi, "dismiss", "  ", 400, "")
	step(hsi, "dismiss", "经核实为应急抢险，已补派车单", 200, "dismissed")
	step(ysup, "confirm", "超速属实", 409, "")

	code, body := ysup.do("GET", "/api/v1/alerts/"+ep.ID, nil)
	a := decodeJSON[alertJSON](t, body)
	if code != 200 || len(a.History) != 2 {
		t.Fatalf("history: %d %s", code, body)
	}
	h0, h1 := a.History[0], a.History[1]
	if h0.User != "yx_super" || h0.Action != "request_explanation" || h0.From != "open" || h0.To != "explanation_requested" || h0.Reason != "请说明用途" ||
		h1.User != "hs_inspector" || h1.Action != "dismiss" || h1.From != "explanation_requested" || h1.To != "dismissed" ||
		h1.Reason != "经核实为应急抢险，已补派车单" || h1.At == "" {
		t.Errorf("history %+v", a.History)
	}
	// Every step is in the audit log, with its reason.
	code, body = f.users["admin"].do("GET", fmt.Sprintf("/api/v1/audit?vehicle=%d", ep.VehicleID), nil)
	var audit struct {
		Items []auditJSON `json:"items"`
	}
	if err := json.Unmarshal([]byte(body), &audit); err != nil || code != 200 {
		t.Fatalf("audit: %d %s", code, body)
	}
	var steps []string
	for _, e := range audit.Items {
		if e.Action == auditVerification {
			steps = append(steps, e.User+":"+e.Detail["action"].(string)+":"+e.Reason)
		}
	}
	if want := "[hs_inspector:dismiss:经核实为应急抢险，已补派车单 yx_super:request_explanation:请说明用途]"; fmt.Sprint(steps) != want {
		t.Errorf("audit %v, want %s", steps, want)
	}
	// A second alert, confirmed straight from open by an admin.
	ep2 := f.putEpisode("ep-2", "鄂B00001", alerts.RuleSealedMove, trackDay.Add(21*time.Hour))
	// A verdict without its reason is refused, and changes nothing.
	if code, body := f.users["admin"].do("POST", "/api/v1/alerts/"+ep2.ID+"/verification", map[string]string{"action": "confirm"}); code != 400 ||
		!strings.Contains(body, "reason: required to confirm") {
		t.Errorf("confirm without a reason: %d %s", code, body)
	}
	if code, body := f.users["admin"].do("POST", "/api/v1/alerts/"+ep2.ID+"/verification", map[string]string{"action": "confirm", "reason": "无派车单"}); code != 200 ||
		decodeJSON[alertJSON](t, body).Verification != "confirmed" {
		t.Errorf("confirm from open: %d %s", code, body)
	}
	if code, body := f.users["admin"].do("GET", "/api/v1/alerts?verification=confirmed", nil); code != 200 || !strings.Contains(body, ep2.ID) {
		t.Errorf("filter confirmed: %d %s", code, body)
	}
}

const fenceGeoJSON = `{"type":"FeatureCollection","features":[{"type":"Feature",
 "properties":{"name":"阳新县城","kind":"permitted"},
 "geometry":{"type":"Polygon","coordinates":[[[115.1,29.8],[115.3,29.8],[115.3,29.9],[115.1,29.9],[115.1,29.8]]]}}]}`

const fenceKML = `<?xml version="1.0" encoding="UTF-8"?>
<kml xmlns="http://www.opengis.net/kml/2.2"><Document><Placemark><name>某高尔夫球场</name>
<ExtendedData><Data name="kind"><value>sensitive</value></Data><Data name="category"><value>golf</value></Data></ExtendedData>
<Polygon><outerBoundaryIs><LinearRing><coordinates>115.0,30.0 115.01,30.0 115.01,30.01 115.0,30.01 115.0,30.0</coordinates></LinearRing></outerBoundaryIs></Polygon>
</Placemark></Document></kml>`

// TestGeofences: a fence uploaded as GeoJSON (and one as KML) shows up in
// the list of its jurisdiction only; edits reload the engine and are
// audited.
func TestGeofences(t *testing.T) {
	f, rules := alertFixture(t, nil)
	ysup, wsup, hsi := f.users["yx_super"], f.users["wh_super"], f.users["hs_inspector"]
	yx := f.units["湖北省/黄石市/阳新县"]
	if code, body := ysup.do("POST", fmt.Sprintf("/api/v1/geofences?unit=%d", f.units["湖北省/武汉市"]), fenceGeoJSON); code != 404 {
		t.Errorf("fence for a unit outside: %d %s", code, body)
	}
	if code, body := hsi.do("POST", fmt.Sprintf("/api/v1/geofences?unit=%d", yx), fenceGeoJSON); code != 403 {
		t.Errorf("inspector creates a fence: %d %s", code, body)
	}
	if code, body := ysup.do("POST", fmt.Sprintf("/api/v1/geofences?unit=%d", yx), `{"type":"Feature"}`); code != 400 {
		t.Errorf("bad GeoJSON: %d %s", code, body)
	}
	code, body := ysup.do("POST", fmt.Sprintf("/api/v1/geofences?unit=%d", yx), fenceGeoJSON)
	if code != 201 {
		t.Fatalf("create: %d %s", code, body)
	}
	created := decodeJSON[struct{ Items []alerts.Fence }](t, body)
	if len(created.Items) != 1 || created.Items[0].ID == 0 || created.Items[0].Name != "阳新县城" {
		t.Fatalf("created %s", body)
	}
	fid := created.Items[0].ID
	if code, body := ysup.do("POST", fmt.Sprintf("/api/v1/geofences?vehicle=%d", f.veh["鄂B00001"]), fenceKML); code != 201 {
		t.Fatalf("KML: %d %s", code, body)
	}
	if rules.Reloads() != 2 {
		t.Errorf("%d reloads, want 2", rules.Reloads())
	}
	for who, want := range map[string]int{"yx_super": 2, "hs_inspector": 2, "wh_super": 0, "admin": 2} {
		code, body := f.users[who].do("GET", "/api/v1/geofences", nil)
		if n, _ := total(t, body); code != 200 || n != want {
			t.Errorf("%s lists %d fences (%d), want %d", who, n, code, want)
		}
	}
	if code, body := ysup.do("GET", fmt.Sprintf("/api/v1/geofences?unit=%d", yx), nil); !strings.Contains(body, `"name":"阳新县城"`) || code != 200 {
		t.Errorf("list by unit: %d %s", code, body)
	}
	if code, _ := wsup.do("DELETE", fmt.Sprintf("/api/v1/geofences/%d", fid), nil); code != 404 {
		t.Errorf("武汉 supervisor deletes a 阳新 fence: %d", code)
	}
	if code, body := ysup.do("DELETE", fmt.Sprintf("/api/v1/geofences/%d", fid), nil); code != 204 {
		t.Errorf("delete: %d %s", code, body)
	}
	var n int
	if err := f.db.Pool.QueryRow(context.Background(), "SELECT count(*) FROM audit_log WHERE action LIKE 'geofence.%'").Scan(&n); err != nil || n != 3 {
		t.Errorf("%d geofence audit entries, want 3 (%v)", n, err)
	}
}

// TestRulesConfig: calendars, parameters, approvals and holidays.
func TestRulesConfig(t *testing.T) {
	f, rules := alertFixture(t, nil)
	ysup, hsi, admin := f.users["yx_super"], f.users["hs_inspector"], f.users["admin"]
	yx, hs := f.units["湖北省/黄石市/阳新县"], f.units["湖北省/黄石市"]

	// Calendar: inherited from the default until the unit has its own.
	code, body := hsi.do("GET", fmt.Sprintf("/api/v1/units/%d/calendar", yx), nil)
	if code != 200 || !strings.Contains(body, `"own":false`) {
		t.Fatalf("calendar: %d %s", code, body)
	}
	cal := `{"week":[[],[{"start":"08:00","end":"12:00"},{"start":"14:30","end":"18:00"}],[],[],[],[],[]]}`
	if code, body := hsi.do("PUT", fmt.Sprintf("/api/v1/units/%d/calendar", yx), cal); code != 403 {
		t.Errorf("inspector edits a calendar: %d %s", code, body)
	}
	if code, body := ysup.do("PUT", fmt.Sprintf("/api/v1/units/%d/calendar", hs), cal); code != 404 {
		t.Errorf("阳新 supervisor edits 黄石市's calendar: %d %s", code, body)
	}
	if code, body := ysup.do("PUT", "/api/v1/units/0/calendar", cal); code != 403 {
		t.Errorf("supervisor edits the default calendar: %d %s", code, body)
	}
	if code, body := ysup.do("PUT", fmt.Sprintf("/api/v1/units/%d/calendar", yx), `{"week":[[{"start":"18:00","end":"08:00"}],[],[],[],[],[],[]]}`); code != 400 {
		t.Errorf("bad calendar: %d %s", code, body)
	}
	if code, body := ysup.do("PUT", fmt.Sprintf("/api/v1/units/%d/calendar", yx), cal); code != 200 {
		t.Fatalf("put calendar: %d %s", code, body)
	}
	code, body = hsi.do("GET", fmt.Sprintf("/api/v1/units/%d/calendar", yx), nil)
	if code != 200 || !strings.Contains(body, `"own":true`) || !strings.Contains(body, `"14:30"`) {
		t.Errorf("calendar after put: %d %s", code, body)
	}

	// Parameters: a unit sets only what it names; durations read and
	// write as "5m".
	if code, body := ysup.do("PUT", fmt.Sprintf("/api/v1/units/%d/rule-params", yx), `{"time":{"min_violation":"5m"}}`); code != 200 ||
		!strings.Contains(body, `"min_violation":"5m"`) || !strings.Contains(body, `"min_distance_m":500`) {
		t.Errorf("put params: %d %s", code, body)
	}
	if code, body := ysup.do("PUT", fmt.Sprintf("/api/v1/units/%d/rule-params", yx), `{"drive":{"min_distance_m":-1}}`); code != 400 {
		t.Errorf("bad params: %d %s", code, body)
	}
	if code, body := hsi.do("GET", fmt.Sprintf("/api/v1/units/%d/rule-params", yx), nil); code != 200 || !strings.Contains(body, `"min_violation":"5m"`) {
		t.Errorf("get params: %d %s", code, body)
	}

	// Approvals: one entered, two imported, one import refused whole.
	if code, body := ysup.do("POST", "/api/v1/approvals", map[string]any{"vehicle_id": f.veh["鄂B00001"], "driver": "张三", "purpose": "防汛检查",
		"from": "2026-11-20T18:00:00+08:00", "to": "2026-11-20T22:00:00+08:00", "approver": "李四"}); code != 201 {
		t.Errorf("create approval: %d %s", code, body)
	}
	if code, body := ysup.do("POST", "/api/v1/approvals", map[string]any{"vehicle_id": f.veh["鄂A00003"],
		"from": "2026-11-20T18:00:00+08:00", "to": "2026-11-20T22:00:00+08:00"}); code != 404 {
		t.Errorf("approval for a vehicle outside: %d %s", code, body)
	}
	bad := "vehicle_plate,driver,purpose,from,to,approver\n鄂B00001,王五,会议,2026-11-21 08:00,2026-11-21 12:00,李四\n鄂A00003,赵六,会议,2026-11-21 08:00,2026-11-21 12:00,李四\n"
	if code, body := ysup.do("POST", "/api/v1/approvals/import", bad); code != 400 || !strings.Contains(body, "line 3") {
		t.Errorf("import with a vehicle outside: %d %s", code, body)
	}
	good := "vehicle_plate,driver,purpose,from,to,approver\n鄂B00001,王五,会议,2026-11-21 08:00,2026-11-21 12:00,李四\n鄂B00001,王五,接待,2026-11-22T08:00:00+08:00,2026-11-22T10:00:00+08:00,李四\n"
	if code, body := ysup.do("POST", "/api/v1/approvals/import", good); code != 200 || !strings.Contains(body, `"imported":2`) {
		t.Errorf("import: %d %s", code, body)
	}
	code, body = hsi.do("GET", "/api/v1/approvals?from=2026-11-21T00:00:00%2B08:00", nil)
	if n, _ := total(t, body); code != 200 || n != 2 || !strings.Contains(body, `"from":"2026-11-21T08:00:00+08:00"`) {
		t.Errorf("approvals from the 21st: %d %s", code, body)
	}
	if code, body := f.users["wh_super"].do("GET", "/api/v1/approvals", nil); code != 200 || !strings.Contains(body, `"total":0`) {
		t.Errorf("武汉 supervisor lists approvals: %d %s", code, body)
	}

	// Holidays: administrators at the top.
	hol := `{"years":{"2027":{"holidays":[{"name":"元旦","days":["2027-01-01"]}],"workdays":[]}}}`
	if code, body := ysup.do("PUT", "/api/v1/holidays", hol); code != 403 {
		t.Errorf("supervisor imports holidays: %d %s", code, body)
	}
	if code, body := admin.do("PUT", "/api/v1/holidays", hol); code != 200 || !strings.Contains(body, "2027") {
		t.Errorf("import holidays: %d %s", code, body)
	}
	ics := "BEGIN:VCALENDAR\r\nBEGIN:VEVENT\r\nDTSTART;VALUE=DATE:20280101\r\nSUMMARY:元旦放假\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n"
	if code, body := admin.do("PUT", "/api/v1/holidays", ics); code != 200 || !strings.Contains(body, "2028") {
		t.Errorf("import holidays (iCalendar): %d %s", code, body)
	}
	if code, body := hsi.do("GET", "/api/v1/holidays", nil); code != 200 || !strings.Contains(body, `"2027"`) || !strings.Contains(body, `"2026"`) {
		t.Errorf("holidays: %d %s", code, body)
	}
	// calendar, params, approval, import, 2 × holidays.
	if rules.Reloads() != 6 {
		t.Errorf("%d reloads, want 6", rules.Reloads())
	}
	var n int
	if err := f.db.Pool.QueryRow(context.Background(), `SELECT count(*) FROM audit_log
		WHERE action IN ('calendar.put', 'rule_params.put', 'approval.create', 'approval.import', 'holidays.import')`).Scan(&n); err != nil || n != 6 {
		t.Errorf("%d configuration audit entries, want 6 (%v)", n, err)
	}
}

// TestReevaluatePreview: a preview shows what would change and writes
// nothing; apply writes it.
func TestReevaluatePreview(t *testing.T) {
	f, _ := alertFixture(t, nil)
	// A stored episode the rules do not reproduce from the stored
	// positions (a calendar or fence since changed, say).
	ep := f.putEpisode("ep-stale", "鄂B00001", alerts.RuleAfterHours, trackDay.Add(19*time.Hour))
	req := map[string]any{"vehicle_id": ep.VehicleID, "from": "2026-11-20T00:00:00+08:00", "to": "2026-11-21T00:00:00+08:00"}
	if code, _ := f.users["yx_super"].do("POST", "/api/v1/alerts/reevaluate", req); code != 403 {
		t.Errorf("supervisor re-evaluates: %d", code)
	}
	type diff struct {
		Applied bool `json:"applied"`
		Changes []struct {
			Kind string     `json:"kind"`
			Old  *alertJSON `json:"old"`
		} `json:"changes"`
	}
	code, body := f.users["admin"].do("POST", "/api/v1/alerts/reevaluate", req)
	if code != 200 {
		t.Fatalf("preview: %d %s", code, body)
	}
	d := decodeJSON[diff](t, body)
	retracted := func(d diff) bool {
		for _, c := range d.Changes {
			if c.Kind == "retracted" && c.Old != nil && c.Old.ID == ep.ID {
				return true
			}
		}
		return false
	}
	if d.Applied || !retracted(d) {
		t.Fatalf("preview %s", body)
	}
	status := func() string {
		var s string
		if err := f.db.Pool.QueryRow(context.Background(), "SELECT status FROM episodes WHERE id = $1", ep.ID).Scan(&s); err != nil {
			t.Fatal(err)
		}
		return s
	}
	if s := status(); s != "closed" {
		t.Fatalf("after a preview the episode is %s", s)
	}
	req["apply"] = true
	code, body = f.users["admin"].do("POST", "/api/v1/alerts/reevaluate", req)
	if d := decodeJSON[diff](t, body); code != 200 || !d.Applied || !retracted(d) {
		t.Fatalf("apply: %d %s", code, body)
	}
	if s := status(); s != "retracted" {
		t.Errorf("after apply the episode is %s", s)
	}
	// A retracted alert is listed only when asked for, and not verified.
	if code, body := f.users["admin"].do("GET", "/api/v1/alerts?state=retracted", nil); code != 200 || !strings.Contains(body, ep.ID) {
		t.Errorf("retracted list: %d %s", code, body)
	}
	if code, _ := f.users["admin"].do("POST", "/api/v1/alerts/"+ep.ID+"/verification", map[string]string{"action": "confirm", "reason": "无派车单"}); code != 409 {
		t.Errorf("confirm a retracted alert: %d", code)
	}
	var n int
	if err := f.db.Pool.QueryRow(context.Background(), "SELECT count(*) FROM audit_log WHERE action = 'alert.reevaluate'").Scan(&n); err != nil || n != 2 {
		t.Errorf("%d re-evaluation audit entries, want 2 (%v)", n, err)
	}
}

// TestPublishAlerts: episodes the engine stores reach the live hub as
// "alert" events carrying the alert's JSON, for subscribers that see the
// vehicle.
func TestPublishAlerts(t *testing.T) {
	hub := track.NewHub(nil)
	f, _ := alertFixture(t, func(c *Config) { c.Live = hub })
	ep := f.putEpisode("ep-live", "鄂B00001", alerts.RuleSealedMove, trackDay.Add(10*time.Hour))
	sees := hub.Subscribe(track.Filter{Vehicles: map[int64]struct{}{ep.VehicleID: {}}}, 16)
	defer sees.Close()
	blind := hub.Subscribe(track.Filter{Vehicles: map[int64]struct{}{f.veh["鄂A00003"]: {}}}, 16)
	defer blind.Close()
	f.srv.PublishAlerts([]alerts.Episode{ep})
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_, evs, err := sees.Next(ctx, nil, nil)
	if err != nil || len(evs) != 1 || evs[0].Kind != "alert" || evs[0].VehicleID != ep.VehicleID {
		t.Fatalf("events %+v %v", evs, err)
	}
	b, _ := json.Marshal(evs[0].Payload)
	if a := decodeJSON[alertJSON](t, string(b)); a.ID != ep.ID || a.Vehicle.Plate != "鄂B00001" || a.Rule.Name != "封存车辆移动" || a.Verification != "open" {
		t.Errorf("payload %s", b)
	}
	short, cancel2 := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel2()
	if _, evs, err := blind.Next(short, nil, nil); err == nil || len(evs) != 0 {
		t.Errorf("a subscriber without the vehicle got %+v", evs)
	}
}
