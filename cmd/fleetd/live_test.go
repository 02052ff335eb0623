package main

import (
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"fleetmon/ingest/jt808"
	"fleetmon/track/pgtest"
)

// TestServeLive: a report from a terminal reaches a websocket client that
// holds an inspector's API token, through the real gateway and commit.
func TestServeLive(t *testing.T) {
	db := pgtest.New(t).ConnString
	csv := writeFile(t, "v.csv", "plate,plate_color,terminal_phone,unit,category\n鄂B12345,1,13800000001,湖北省/黄石市,general\n")
	if code, out, errs := fleetd(t, "vehicles", "import", "--db", db, csv); code != 0 {
		t.Fatalf("import: %d %s %s", code, out, errs)
	}
	if code, out, errs := fleetd(t, "users", "add", "--db", db, "--name", "insp", "--role", "inspector", "--unit", "湖北省/黄石市"); code != 0 {
		t.Fatalf("users add: %d %s %s", code, out, errs)
	}
	code, out, errs := fleetd(t, "token", "create", "--db", db, "--user", "insp")
	if code != 0 {
		t.Fatalf("token create: %d %s %s", code, out, errs)
	}
	fields := strings.Fields(out)
	token := fields[len(fields)-1]
	srv := startServe(t, "--db", db, "--data-dir", t.TempDir())

	ws, _, err := websocket.DefaultDialer.Dial("ws://"+srv.HTTP+"/api/v1/live", map[string][]string{"Authorization": {"Bearer " + token}})
	if err != nil {
		t.Fatal(err)
	}
	defer ws.Close()
	var m struct {
		Type      string `json:"type"`
		Positions []struct {
			Lat      float64 `json:"lat"`
			Received string  `json:"received"`
		} `json:"positions"`
	}
	_ = ws.SetReadDeadline(time.Now().Add(10 * time.Second))
	if err := ws.ReadJSON(&m); err != nil || m.Type != "snapshot" {
		t.Fatalf("first message %+v %v", m, err)
	}
	tm := dialTerminal(t, srv.JT808, "13800000001")
	tm.login("鄂B12345")
	loc := jt808.Location{Status: jt808.StatusFixed, LatE6: 30212345, LonE6: 115040000, Time: jt808.NewBCDTime(time.Now())}
	sent := time.Now().Truncate(time.Millisecond)
	tm.expectOK("location", jt808.IDLocation, loc.AppendTo(nil, jt808.Version2013))
	for {
		if err := ws.ReadJSON(&m); err != nil {
			t.Fatalf("waiting for the position: %v", err)
		}
		if m.Type == "positions" && len(m.Positions) == 1 && m.Positions[0].Lat == 30.212345 {
			break
		}
	}
	// The stamp says when fleetd read the report: after it was sent, before it arrived here.
	got, err := time.Parse(time.RFC3339Nano, m.Positions[0].Received)
	if err != nil || got.Before(sent) || got.After(time.Now()) {
		t.Errorf("received %q (%v): want a time between %v and now", m.Positions[0].Received, err, sent)
	}
}
