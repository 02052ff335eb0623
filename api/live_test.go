package api

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"fleetmon/track"
)

func dialLive(t *testing.T, f *fixture, token string) *websocket.Conn {
	t.Helper()
	url := "ws" + strings.TrimPrefix(f.ts.URL, "http") + "/api/v1/live"
	h := http.Header{}
	if token != "" {
		h.Set("Authorization", "Bearer "+token)
	}
	c, resp, err := websocket.DefaultDialer.Dial(url, h)
	if err != nil {
		code := 0
		if resp != nil {
			code = resp.StatusCode
		}
		t.Fatalf("dial live: %v (HTTP %d)", err, code)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func readLive(t *testing.T, c *websocket.Conn, typ string) liveMessage {
	t.Helper()
	_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
	for {
		var m liveMessage
		if err := c.ReadJSON(&m); err != nil {
			t.Fatalf("read %s: %v", typ, err)
		}
		if m.Type == typ {
			return m
		}
	}
}

func vehiclesOf(m liveMessage) map[int64]bool {
	got := map[int64]bool{}
	for _, p := range m.Positions {
		got[p.VehicleID] = true
	}
	return got
}

// TestLiveStream: an inspector of 黄石市 with an API token gets a snapshot
// and then live positions of 黄石市's vehicles only, can narrow the stream
// without reconnecting, and without credentials there is no stream.
func TestLiveStream(t *testing.T) {
	hub := track.NewHub(nil)
	f := newFixture(t, func(c *Config) { c.Live = hub })
	setupRoles(f)
	_, tok, err := f.srv.acct.CreateToken(context.Background(), "hs_inspector", "live test")
	if err != nil {
		t.Fatal(err)
	}
	url := "ws" + strings.TrimPrefix(f.ts.URL, "http") + "/api/v1/live"
	if _, resp, err := websocket.DefaultDialer.Dial(url, nil); err == nil || resp == nil || resp.StatusCode != 401 {
		t.Fatalf("without credentials: %v %v", err, resp)
	}

	c := dialLive(t, f, tok)
	snap := readLive(t, c, "snapshot")
	if got := vehiclesOf(snap); len(got) != 2 || !got[f.veh["鄂B00001"]] || !got[f.veh["鄂B00002"]] {
		t.Fatalf("snapshot = %+v, want 黄石市's two vehicles", snap.Positions)
	}
	now := time.Now().Truncate(time.Second)
	pos := func(plate string, dt time.Duration, lat float64) track.Position {
		return track.Position{VehicleID: f.veh[plate], Time: now.Add(dt), Lat: lat, Lon: 115.1, SpeedKmh: 30}
	}
	hub.Publish([]track.Position{pos("鄂A00003", 0, 30.5), pos("鄂B00001", 0, 30.2), pos("鄂B00002", 0, 30.3)})
	got := map[int64]bool{}
	for len(got) < 2 {
		for v := range vehiclesOf(readLive(t, c, "positions")) {
			got[v] = true
		}
	}
	if got[f.veh["鄂A00003"]] {
		t.Fatal("a 武汉市 vehicle reached a 黄石市 inspector")
	}
	// Narrow to one vehicle: a snapshot of it, then only its positions.
	if err := c.WriteJSON(liveSubscribe{Type: "subscribe", Vehicles: []int64{f.veh["鄂B00002"], f.veh["鄂A00003"]}}); err != nil {
		t.Fatal(err)
	}
	snap = readLive(t, c, "snapshot")
	if got := vehiclesOf(snap); len(got) != 1 || !got[f.veh["鄂B00002"]] {
		t.Fatalf("narrowed snapshot = %+v (asking for another city's vehicle must not widen it)", snap.Positions)
	}
	hub.Publish([]track.Position{pos("鄂B00001", time.Second, 30.21), pos("鄂B00002", time.Second, 30.31)})
	m := readLive(t, c, "positions")
	if got := vehiclesOf(m); len(got) != 1 || !got[f.veh["鄂B00002"]] || m.Positions[0].Lat != 30.31 {
		t.Fatalf("narrowed positions = %+v", m.Positions)
	}
	// Narrow by unit: 阳新县 holds 鄂B00001.
	if err := c.WriteJSON(liveSubscribe{Type: "subscribe", Units: []int64{f.units["湖北省/黄石市/阳新县"]}}); err != nil {
		t.Fatal(err)
	}
	if got := vehiclesOf(readLive(t, c, "snapshot")); len(got) != 1 || !got[f.veh["鄂B00001"]] {
		t.Fatalf("unit snapshot = %v", got)
	}
	// Events reach the stream too.
	hub.PublishEvent(track.Event{VehicleID: f.veh["鄂B00001"], Kind: "alert_opened", Payload: map[string]string{"rule": "after_hours"}})
	ev := readLive(t, c, "events")
	if len(ev.Events) != 1 || ev.Events[0].Kind != "alert_opened" {
		t.Fatalf("events = %+v", ev.Events)
	}
}

// TestLiveStates: the snapshot says each vehicle's state, and sealing a
// vehicle through the API announces its new state on the stream.
func TestLiveStates(t *testing.T) {
	hub := track.NewHub(nil)
	f := newFixture(t, func(c *Config) { c.Live = hub })
	setupRoles(f)
	seeds, err := f.srv.store.LiveSeeds(context.Background()) // as fleetd serve does
	if err != nil {
		t.Fatal(err)
	}
	hub.Seed(seeds)
	_, tok, err := f.srv.acct.CreateToken(context.Background(), "hs_inspector", "live test")
	if err != nil {
		t.Fatal(err)
	}
	c := dialLive(t, f, tok)
	snap := readLive(t, c, "snapshot")
	for _, p := range snap.Positions {
		// The fixture's reports are from a past day: offline now.
		if p.State != track.StateOffline {
			t.Errorf("snapshot vehicle %d state %q, want offline", p.VehicleID, p.State)
		}
	}
	v1 := f.veh["鄂B00001"]
	if code, body := f.users["yx_super"].do("POST", fmt.Sprintf("/api/v1/vehicles/%d/seal", v1), nil); code != 200 {
		t.Fatalf("seal: %d %s", code, body)
	}
	ev := readLive(t, c, "events")
	if len(ev.Events) != 1 || ev.Events[0].Kind != track.EventState || ev.Events[0].VehicleID != v1 {
		t.Fatalf("events after sealing = %+v", ev.Events)
	}
	if d, _ := ev.Events[0].Data.(map[string]any); d["state"] != track.StateSealed || d["previous"] != track.StateOffline {
		t.Errorf("state change = %v, want offline → sealed", ev.Events[0].Data)
	}
}
