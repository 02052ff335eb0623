package main

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"fleetmon/ingest/jt808"
	"fleetmon/track/pgtest"
)

// TestServeAlertsEndToEnd is issue 5's end-to-end test: vehicles imported,
// a 黄石市 supervisor with an API token seals one through the API, three
// simulated terminals drive through fleetd serve over JT/T 808 (the sealed
// car in working hours, two cars on a workday evening, one of them in
// 武汉市), and the supervisor finds exactly the two expected alerts of
// 黄石市 through GET /api/v1/alerts, and receives them on the live stream.
//
// fleetd runs on the real clock: the drives are on the latest working day
// whose evening is over, and on one a year before (reports that arrive a
// year late are judged the same).
func TestServeAlertsEndToEnd(t *testing.T) {
	now := time.Now()
	for _, c := range []struct {
		name string
		back time.Duration
	}{{"recent", 0}, {"year_old", 365 * 24 * time.Hour}} {
		day := workdayEndedBy(t, now.Add(-c.back))
		t.Run(c.name, func(t *testing.T) {
			t.Logf("drives on %s", day.Format("2006-01-02 Mon"))
			serveAlertsEndToEnd(t, day)
		})
	}
}

func serveAlertsEndToEnd(t *testing.T, day time.Time) {
	s := pgtest.New(t)
	db := s.ConnString
	csv := writeFile(t, "v.csv", "plate,plate_color,terminal_phone,unit,category\n"+
		"鄂B12345,1,13800000001,湖北省/黄石市,general\n"+
		"鄂B12346,1,13800000002,湖北省/黄石市/阳新县,general\n"+
		"鄂A12347,1,13800000003,湖北省/武汉市,general\n")
	if code, out, errs := fleetd(t, "vehicles", "import", "--db", db, csv); code != 0 {
		t.Fatalf("import: %d %s %s", code, out, errs)
	}
	if code, out, errs := fleetd(t, "users", "add", "--db", db, "--name", "hs_super", "--role", "supervisor", "--unit", "湖北省/黄石市"); code != 0 {
		t.Fatalf("users add: %d %s %s", code, out, errs)
	}
	code, out, errs := fleetd(t, "token", "create", "--db", db, "--user", "hs_super")
	if code != 0 {
		t.Fatalf("token create: %d %s %s", code, out, errs)
	}
	fields := strings.Fields(out)
	token := fields[len(fields)-1]
	srv := startServe(t, "--db", db, "--data-dir", t.TempDir())

	call := func(method, path string, body string) (int, string) {
		t.Helper()
		req, err := http.NewRequest(method, "http://"+srv.HTTP+path, strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Authorization", "Bearer "+token)
		if body != "" {
			req.Header.Set("Content-Type", "application/json")
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	var vehicles struct {
		Items []struct {
			ID    int64  `json:"id"`
			Plate string `json:"plate"`
		} `json:"items"`
	}
	code, body := call("GET", "/api/v1/vehicles", "")
	if err := json.Unmarshal([]byte(body), &vehicles); err != nil || code != 200 || len(vehicles.Items) != 2 {
		t.Fatalf("vehicles: %d %s", code, body)
	}
	veh := map[string]int64{}
	for _, v := range vehicles.Items {
		veh[v.Plate] = v.ID
	}
	// Sealed since the day before the drives: the rule judges each report
	// by the seal covering its device time.
	seal := fmt.Sprintf(`{"at": %q, "reason": "封存待处置"}`, day.AddDate(0, 0, -1).Format(time.RFC3339))
	if code, body := call("POST", fmt.Sprintf("/api/v1/vehicles/%d/seal", veh["鄂B12345"]), seal); code != 200 {
		t.Fatalf("seal: %d %s", code, body)
	}

	ws, _, err := websocket.DefaultDialer.Dial("ws://"+srv.HTTP+"/api/v1/live", map[string][]string{"Authorization": {"Bearer " + token}})
	if err != nil {
		t.Fatal(err)
	}
	defer ws.Close()

	// Ten minutes north at 36 km/h (100 m per 10 s), ACC on, then parked
	// with ACC off.
	drive := func(phone, plate string, t0 time.Time, lon uint32) {
		tm := dialTerminal(t, srv.JT808, phone)
		tm.login(plate)
		for i := range 80 {
			speed := uint16(360)
			status := jt808.StatusACC | jt808.StatusFixed
			lat := 30.2 + float64(min(i, 60))*0.0009
			if i > 60 {
				speed, status = 0, jt808.StatusFixed
			}
			loc := jt808.Location{Status: status, LatE6: uint32(lat * 1e6), LonE6: lon, SpeedDeciKmh: speed,
				Time: jt808.NewBCDTime(t0.Add(time.Duration(i) * 10 * time.Second))}
			tm.expectOK("location", jt808.IDLocation, loc.AppendTo(nil, jt808.Version2013))
		}
	}
	// day is a workday: 10:00 is working time, 19:30 is not.
	evening := day.Add(19*time.Hour + 30*time.Minute)
	drive("13800000001", "鄂B12345", day.Add(10*time.Hour), 115040000)
	drive("13800000002", "鄂B12346", evening, 115050000)
	drive("13800000003", "鄂A12347", evening, 114300000)
	period := "/api/v1/alerts?from=" + url.QueryEscape(day.Format(time.RFC3339)) +
		"&to=" + url.QueryEscape(day.AddDate(0, 0, 1).Format(time.RFC3339))

	type alert struct {
		ID      string `json:"id"`
		Vehicle struct {
			Plate string `json:"plate"`
		} `json:"vehicle"`
		Rule struct {
			ID   string `json:"id"`
			Name string `json:"name"`
		} `json:"rule"`
		Start string `json:"start"`
	}
	got := func(as []alert) []string {
		var out []string
		for _, a := range as {
			out = append(out, a.Vehicle.Plate+" "+a.Rule.ID+" "+a.Rule.Name)
		}
		slices.Sort(out)
		return out
	}
	want := []string{"鄂B12345 sealed_move 封存车辆移动", "鄂B12346 after_hours 非工作时间用车"}
	deadline := time.Now().Add(30 * time.Second)
	var list struct {
		Items []alert `json:"items"`
		Total int     `json:"total"`
	}
	for {
		code, body := call("GET", period, "")
		if err := json.Unmarshal([]byte(body), &list); err != nil || code != 200 {
			t.Fatalf("alerts: %d %s", code, body)
		}
		if list.Total >= len(want) || time.Now().After(deadline) {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	// Let anything late arrive, then expect exactly these.
	time.Sleep(500 * time.Millisecond)
	code, body = call("GET", period, "")
	if err := json.Unmarshal([]byte(body), &list); err != nil || code != 200 {
		t.Fatalf("alerts: %d %s", code, body)
	}
	if g := got(list.Items); fmt.Sprint(g) != fmt.Sprint(want) || list.Total != len(want) {
		t.Fatalf("alerts %v (total %d), want %v; stderr:\n%s", g, list.Total, want, srv.Stderr.String())
	}
	for _, a := range list.Items {
		if a.Vehicle.Plate == "鄂B12346" && a.Start != evening.Format(time.RFC3339) {
			t.Errorf("after-hours alert starts %s", a.Start)
		}
	}
	// 武汉市's after-hours drive was judged too, and is not shown.
	var n int
	if err := s.Pool.QueryRow(t.Context(), `SELECT count(*) FROM episodes e JOIN vehicles v ON v.id = e.vehicle_id
		WHERE v.plate = '鄂A12347' AND e.rule = 'after_hours'`).Scan(&n); err != nil || n != 1 {
		t.Errorf("武汉 after-hours episodes: %d %v", n, err)
	}

	// The live stream carried both alerts, and nothing of 武汉市.
	seen := map[string]bool{}
	_ = ws.SetReadDeadline(time.Now().Add(10 * time.Second))
	for len(seen) < len(want) {
		var m struct {
			Type   string `json:"type"`
			Events []struct {
				Kind string `json:"kind"`
				Data alert  `json:"data"`
			} `json:"events"`
		}
		if err := ws.ReadJSON(&m); err != nil {
			t.Fatalf("live: %v after %v", err, seen)
		}
		for _, e := range m.Events {
			if e.Kind != "alert" {
				continue
			}
			if e.Data.Vehicle.Plate == "鄂A12347" {
				t.Fatalf("a 武汉 alert on a 黄石 supervisor's stream: %+v", e.Data)
			}
			seen[e.Data.Vehicle.Plate+" "+e.Data.Rule.ID+" "+e.Data.Rule.Name] = true
		}
	}
	for _, w := range want {
		if !seen[w] {
			t.Errorf("live stream lacks %s (saw %v)", w, seen)
		}
	}
	srv.Stop()
}
