package ingest_test

import (
	"context"
	"encoding/json"
	"fmt"
	"testing"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"

	"fleetmon/ingest"
	"fleetmon/ingest/jt808"
	"fleetmon/ingest/mqtttest"
	"fleetmon/track"
	"fleetmon/track/pgtest"
)

// startSubscriber runs a subscriber with its own writer on pool until the
// returned stop function is called.
func startSubscriber(t testing.TB, pool *pgxpool.Pool, cfg ingest.MQTTConfig) (stop func()) {
	t.Helper()
	w := track.NewWriter(pool, track.WriterConfig{RetryMax: 300 * time.Millisecond}, logger(t), nil)
	wctx, stopWriter := context.WithCancel(context.Background())
	wdone := make(chan struct{})
	go func() { defer close(wdone); _ = w.Run(wctx, 0) }()
	st := track.NewStore(pool)
	sub := ingest.NewSubscriber(cfg, w, st, st, logger(t), prometheus.NewRegistry())
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- sub.Run(ctx) }()
	stopped := false
	stop = func() {
		if stopped {
			return
		}
		stopped = true
		cancel()
		if err := <-done; err != nil {
			t.Errorf("subscriber: %v", err)
		}
		stopWriter()
		<-wdone
	}
	t.Cleanup(stop)
	return stop
}

func publisher(t testing.TB, url string) mqtt.Client {
	t.Helper()
	c := mqtt.NewClient(mqtt.NewClientOptions().AddBroker(url).SetClientID(fmt.Sprintf("pub-%d", time.Now().UnixNano())))
	if tok := c.Connect(); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		t.Fatalf("publisher connect: %v", tok.Error())
	}
	t.Cleanup(func() { c.Disconnect(100) })
	return c
}

// settledPublisher returns a publisher once the subscriber's subscription
// is live: a message published before it is not queued for a session that
// does not exist yet. The unusable message it sends to find out is parked.
func settledPublisher(t testing.TB, pool *pgxpool.Pool, url string) mqtt.Client {
	t.Helper()
	pub := publisher(t, url)
	waitFor(t, func() bool {
		publish(t, pub, "fleetmon/positions/settle", []byte(`{"phone":"1","time":"2026-01-01T00:00:00+08:00","lat":0,"lon":0}`))
		return count(t, pool, "SELECT count(*) FROM parked") > 0
	})
	return pub
}

func publish(t testing.TB, c mqtt.Client, topic string, payload []byte) {
	t.Helper()
	tok := c.Publish(topic, 1, false, payload)
	if !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		t.Fatalf("publish: %v", tok.Error())
	}
}

func count(t testing.TB, pool *pgxpool.Pool, q string) int {
	t.Helper()
	var n int
	if err := pool.QueryRow(context.Background(), q).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

func frameOf(t testing.TB, phone string, id jt808.MsgID, body []byte) []byte {
	t.Helper()
	p, err := jt808.ParsePhone(phone, jt808.Version2013)
	if err != nil {
		t.Fatal(err)
	}
	h := jt808.Header{ID: id, Phone: p, Serial: 7}
	return jt808.AppendFrame(nil, &h, body)
}

func TestMQTTIngest(t *testing.T) {
	broker := mqtttest.Start(t)
	s := pgtest.New(t)
	importCSV(t, s.Pool, fleetCSV)
	startSubscriber(t, s.Pool, ingest.MQTTConfig{Broker: broker.URL, ClientID: "fleetd-test"})
	pub := settledPublisher(t, s.Pool, broker.URL)

	at := time.Date(2026, 11, 21, 22, 0, 0, 0, cst)
	live := frameOf(t, "13800000001", jt808.IDLocation, location(at, -33.45, -70.66, 50).AppendTo(nil, jt808.Version2013))
	blind := jt808.BatchLocation{Type: jt808.BatchBlindZone}
	for i := range 3 {
		blind.Items = append(blind.Items, *location(at.Add(time.Duration(i+1)*time.Minute), 30.2, 115.0+float64(i)*0.01, 40))
	}
	topic := "fleetmon/jt808/13800000001/up"
	publish(t, pub, topic, live)
	publish(t, pub, topic, live) // a resend: stored once
	publish(t, pub, topic, frameOf(t, "13800000001", jt808.IDBatchLocation, blind.AppendTo(nil, jt808.Version2013)))
	one, _ := json.Marshal(map[string]any{"phone": "013800000002", "time": "2026-11-21T22:00:00+08:00",
		"lat": 30.21, "lon": 115.05, "speed_kmh": 33.5, "heading": 270, "mileage_km": 88.8, "satellites": 12})
	publish(t, pub, "fleetmon/positions/13800000002", one)
	publish(t, pub, "fleetmon/positions/13800000002", []byte(`[
		{"phone":"13800000002","time":"2026-11-21T22:00:10+08:00","lat":30.22,"lon":115.06},
		{"phone":"13800000002","time":"2026-11-21T22:00:20+08:00","lat":30.23,"lon":115.07,"backfill":true}]`))
	// Unusable payloads are parked, acknowledged, and do not stop the stream.
	publish(t, pub, "fleetmon/positions/13800000002", []byte(`{"phone":"13800000002","time":`))
	publish(t, pub, "fleetmon/positions/13800000002", []byte(`{"phone":"13800000002","time":"2026-11-21T22:00:00+08:00","lat":95,"lon":115}`))
	publish(t, pub, "fleetmon/jt808/19900000000/up", frameOf(t, "19900000000", jt808.IDLocation, location(at, 30, 115, 1).AppendTo(nil, jt808.Version2013)))
	publish(t, pub, topic, []byte("\x7e\x01\x02garbage\x7e"))
	publish(t, pub, "fleetmon/positions/13800000002", []byte(`{"phone":"13800000002","time":"2026-11-21T22:00:30+08:00","lat":30.24,"lon":115.08}`))

	waitFor(t, func() bool {
		return count(t, s.Pool, "SELECT count(*) FROM positions") == 8 &&
			count(t, s.Pool, "SELECT count(*) FROM parked WHERE topic <> 'fleetmon/positions/settle'") == 4
	})
	var lat, lon float64
	if err := s.Pool.QueryRow(context.Background(), `SELECT ST_Y(geom), ST_X(geom) FROM positions WHERE device_time = $1 AND NOT backfill
		AND vehicle_id = (SELECT vehicle_id FROM terminals WHERE phone = '13800000001')`, at).Scan(&lat, &lon); err != nil {
		t.Fatal(err)
	}
	if lat != -33.45 || lon != -70.66 {
		t.Errorf("raw frame position %v %v", lat, lon)
	}
	if n := count(t, s.Pool, "SELECT count(*) FROM positions WHERE backfill"); n != 4 {
		t.Errorf("back-filled rows %d, want 4 (3 blind-zone, 1 JSON backfill)", n)
	}
	if n := count(t, s.Pool, "SELECT count(*) FROM positions WHERE mileage_km = 88.8 AND satellites = 12 AND speed_kmh = 33.5"); n != 1 {
		t.Errorf("JSON optional fields not stored: %d", n)
	}
	if n := count(t, s.Pool, "SELECT count(*) FROM raw_frames WHERE disposition = 'json'"); n != 3 {
		t.Errorf("JSON messages kept as evidence: %d, want 3", n)
	}
}

// TestMQTTAcknowledgesOnlyCommitted: with PostgreSQL down, the subscriber
// takes messages but acknowledges none; it is stopped, messages keep coming
// while no fleetd is connected, PostgreSQL returns, and a new subscriber with
// the same client id (a restarted fleetd) gets every message again from the
// broker's persistent session: all are stored, once.
func TestMQTTAcknowledgesOnlyCommitted(t *testing.T) {
	broker := mqtttest.Start(t)
	pg := privateCluster(t)
	s := pgtest.NewOn(t, pg.ConnString())
	importCSV(t, s.Pool, fleetCSV)
	cfg := ingest.MQTTConfig{Broker: broker.URL, ClientID: "fleetd-a"}
	stop := startSubscriber(t, s.Pool, cfg)
	pub := publisher(t, broker.URL)
	base := time.Date(2026, 11, 22, 9, 0, 0, 0, cst)
	msg := func(i int) []byte {
		return []byte(fmt.Sprintf(`{"phone":"13800000001","time":"%s","lat":30.2,"lon":115.0}`, base.Add(time.Duration(i)*time.Second).Format(time.RFC3339)))
	}
	// The subscription is live once a message round-trips; one published
	// before it exists is not queued for anyone, so publish until one is
	// stored (the same fix each time: stored once).
	waitFor(t, func() bool {
		publish(t, pub, "fleetmon/positions/1", msg(0))
		time.Sleep(50 * time.Millisecond)
		return count(t, s.Pool, "SELECT count(*) FROM positions") == 1
	})

	ctx := context.Background()
	if err := pg.Kill(ctx); err != nil {
		t.Fatal(err)
	}
	for i := 1; i <= 40; i++ {
		publish(t, pub, "fleetmon/positions/1", msg(i))
	}
	time.Sleep(500 * time.Millisecond) // received, not committed
	stop()
	for i := 41; i <= 60; i++ { // while no fleetd is connected
		publish(t, pub, "fleetmon/positions/1", msg(i))
	}
	if err := pg.Restart(ctx); err != nil {
		t.Fatal(err)
	}
	startSubscriber(t, s.Pool, cfg)
	waitFor(t, func() bool { return count(t, s.Pool, "SELECT count(*) FROM positions") == 61 })
	if n := count(t, s.Pool, "SELECT count(*) - count(DISTINCT device_time) FROM positions"); n != 0 {
		t.Fatalf("%d duplicates", n)
	}
}
