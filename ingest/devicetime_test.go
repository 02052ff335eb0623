package ingest_test

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"fleetmon/ingest"
	"fleetmon/ingest/jt808"
	"fleetmon/ingest/mqtttest"
	"fleetmon/track/pgtest"
)

// TestImpossibleDeviceTimes: a report dated far in the future (a terminal
// whose clock is wrong, or a forger) is answered result 2 and stored
// nowhere, so it cannot pin the vehicle's state there; nor is one dated
// before any JT/T 808 terminal existed (a clock reset to 2000). A year-old
// blind-zone report is a genuine back-fill and is stored. In a batch only
// the impossible items are refused, and each is counted.
func TestImpossibleDeviceTimes(t *testing.T) {
	g := newGateway(t, ingest.Config{}, fleetCSV)
	ctx := context.Background()
	tm := dial(t, g.addr, "13800000001", jt808.Version2013)
	tm.login("鄂B12345")

	future := time.Date(2099, 12, 31, 12, 0, 0, 0, cst)
	h := tm.send(jt808.IDLocation, location(future, 30.2, 115.04, 40).AppendTo(nil, jt808.Version2013))
	if r := tm.generalReply(h); r != 2 {
		t.Errorf("report dated 2099: result %d, want 2", r)
	}
	// An hour ahead is beyond any clock skew a fixed terminal has.
	h = tm.send(jt808.IDLocation, location(time.Now().Add(time.Hour), 30.2, 115.04, 40).AppendTo(nil, jt808.Version2013))
	if r := tm.generalReply(h); r != 2 {
		t.Errorf("report an hour ahead: result %d, want 2", r)
	}
	reset := time.Date(2000, 1, 1, 0, 0, 5, 0, cst)
	h = tm.send(jt808.IDLocation, location(reset, 30.2, 115.04, 40).AppendTo(nil, jt808.Version2013))
	if r := tm.generalReply(h); r != 2 {
		t.Errorf("report dated 2000-01-01: result %d, want 2", r)
	}

	// The genuine report after them moves the vehicle.
	now := time.Now().Truncate(time.Second)
	h = tm.send(jt808.IDLocation, location(now, 30.3, 115.1, 40).AppendTo(nil, jt808.Version2013))
	if r := tm.generalReply(h); r != 0 {
		t.Fatalf("genuine report: result %d", r)
	}
	var stateTime time.Time
	if err := g.pool.QueryRow(ctx, `SELECT s.device_time FROM vehicle_state s JOIN vehicles v ON v.id = s.vehicle_id
		WHERE v.plate = '鄂B12345'`).Scan(&stateTime); err != nil {
		t.Fatal(err)
	}
	if !stateTime.Equal(now) {
		t.Errorf("vehicle_state at %v, want the genuine report's %v", stateTime, now)
	}

	// A blind-zone batch: a year old (stored), the reset clock, 2099, and
	// a minute ago (stored). Result 2, the two good items stored.
	yearAgo := now.AddDate(-1, 0, 0)
	blind := jt808.BatchLocation{Type: jt808.BatchBlindZone, Items: []jt808.Location{
		*location(yearAgo, 30.2, 115.0, 30), *location(reset.Add(time.Minute), 30.2, 115.0, 30),
		*location(future.Add(time.Minute), 30.2, 115.0, 30), *location(now.Add(-time.Minute), 30.25, 115.05, 30)}}
	h = tm.send(jt808.IDBatchLocation, blind.AppendTo(nil, jt808.Version2013))
	if r := tm.generalReply(h); r != 2 {
		t.Errorf("batch with impossible times: result %d, want 2", r)
	}
	var total, old, impossible int
	if err := g.pool.QueryRow(ctx, `SELECT count(*), count(*) FILTER (WHERE device_time = $1),
		count(*) FILTER (WHERE device_time > now() + interval '1 day' OR device_time < '2010-01-01')
		FROM positions`, yearAgo).Scan(&total, &old, &impossible); err != nil {
		t.Fatal(err)
	}
	if total != 3 || old != 1 || impossible != 0 {
		t.Errorf("positions %d (a year old %d, impossible %d); want 3 (1, 0)", total, old, impossible)
	}
	var partitions int
	if err := g.pool.QueryRow(ctx, `SELECT count(*) FROM pg_class WHERE relname ~ '^positions_(2099|2000)'`).Scan(&partitions); err != nil {
		t.Fatal(err)
	}
	if partitions != 0 {
		t.Errorf("%d partitions made for impossible times", partitions)
	}
	if err := g.pool.QueryRow(ctx, `SELECT s.device_time FROM vehicle_state s JOIN vehicles v ON v.id = s.vehicle_id
		WHERE v.plate = '鄂B12345'`).Scan(&stateTime); err != nil {
		t.Fatal(err)
	}
	if !stateTime.Equal(now) {
		t.Errorf("vehicle_state at %v after the batch, want %v", stateTime, now)
	}
	if n := g.counter(t, "fleetmon_ingest_positions_refused_total", "reason", "future"); n != 3 {
		t.Errorf("refused as future: %v, want 3", n)
	}
	if n := g.counter(t, "fleetmon_ingest_positions_refused_total", "reason", "past"); n != 2 {
		t.Errorf("refused as too old: %v, want 2", n)
	}
}

// TestMQTTImpossibleDeviceTimes: over MQTT the same rule applies to frames
// and to JSON: an impossible time is parked with the reason, a bad item
// among good ones is left out and the rest stored.
func TestMQTTImpossibleDeviceTimes(t *testing.T) {
	broker := mqtttest.Start(t)
	s := pgtest.New(t)
	importCSV(t, s.Pool, fleetCSV)
	startSubscriber(t, s.Pool, ingest.MQTTConfig{Broker: broker.URL, ClientID: "fleetd-times"})
	pub := settledPublisher(t, s.Pool, broker.URL)
	now := time.Now().Truncate(time.Second)
	future := time.Date(2099, 12, 31, 12, 0, 0, 0, cst)
	publish(t, pub, "fleetmon/jt808/13800000001/up",
		frameOf(t, "13800000001", jt808.IDLocation, location(future, 30.2, 115.04, 40).AppendTo(nil, jt808.Version2013)))
	items, _ := json.Marshal([]map[string]any{
		{"phone": "13800000002", "time": now.Add(-time.Minute).Format(time.RFC3339), "lat": 30.2, "lon": 115.0},
		{"phone": "13800000002", "time": now.Add(2 * time.Hour).Format(time.RFC3339), "lat": 30.2, "lon": 115.0},
		{"phone": "13800000002", "time": now.Format(time.RFC3339), "lat": 30.21, "lon": 115.01},
	})
	publish(t, pub, "fleetmon/positions/13800000002", items)
	// Parked first, then the good positions committed.
	waitFor(t, func() bool {
		return count(t, s.Pool, "SELECT count(*) FROM parked WHERE topic <> 'fleetmon/positions/settle'") == 2 &&
			count(t, s.Pool, "SELECT count(*) FROM positions") == 2
	})
	if n := count(t, s.Pool, "SELECT count(*) FROM positions WHERE device_time > now() + interval '10 minutes'"); n != 0 {
		t.Errorf("%d positions from the future stored", n)
	}
	rows, err := s.Pool.Query(context.Background(), "SELECT reason FROM parked WHERE topic <> 'fleetmon/positions/settle' ORDER BY id")
	if err != nil {
		t.Fatal(err)
	}
	var reasons []string
	for rows.Next() {
		var r string
		if err := rows.Scan(&r); err != nil {
			t.Fatal(err)
		}
		reasons = append(reasons, r)
	}
	if len(reasons) != 2 || !strings.Contains(reasons[0], "future") || !strings.Contains(reasons[1], "future") {
		t.Errorf("parked reasons %q, want both to say the time is in the future", reasons)
	}
	var stateTime time.Time
	if err := s.Pool.QueryRow(context.Background(), `SELECT s.device_time FROM vehicle_state s JOIN terminals t
		ON t.vehicle_id = s.vehicle_id WHERE t.phone = '13800000002'`).Scan(&stateTime); err != nil {
		t.Fatal(err)
	}
	if !stateTime.Equal(now) {
		t.Errorf("vehicle_state at %v, want %v", stateTime, now)
	}
}
