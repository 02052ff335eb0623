package main

import (
	"context"
	"testing"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"
	"github.com/jackc/pgx/v5"

	"fleetmon/ingest/mqtttest"
	"fleetmon/track/pgtest"
)

// TestServeMQTT runs fleetd serve with --mqtt-broker against a real
// Mosquitto and checks that a JSON position published there is stored.
func TestServeMQTT(t *testing.T) {
	broker := mqtttest.Start(t)
	db := pgtest.New(t).ConnString
	csv := writeFile(t, "v.csv", "plate,plate_color,terminal_phone,unit,category\n鄂B12345,1,13800000001,湖北省/黄石市,general\n")
	if code, out, errs := fleetd(t, "vehicles", "import", "--db", db, csv); code != 0 {
		t.Fatalf("import: %d %s %s", code, out, errs)
	}
	srv := startServe(t, "--db", db, "--data-dir", t.TempDir(), "--mqtt-broker", broker.URL, "--mqtt-client-id", "fleetd-serve-test")
	pub := mqtt.NewClient(mqtt.NewClientOptions().AddBroker(broker.URL).SetClientID("pub"))
	if tok := pub.Connect(); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		t.Fatal(tok.Error())
	}
	defer pub.Disconnect(100)
	conn, err := pgx.Connect(context.Background(), db)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	deadline := time.Now().Add(15 * time.Second)
	for n := 0; n == 0; {
		if time.Now().After(deadline) {
			t.Fatalf("nothing stored from MQTT; stderr:\n%s", srv.Stderr.String())
		}
		// Published until the subscription is live: earlier ones are not queued.
		pub.Publish("fleetmon/positions/13800000001", 1, false,
			`{"phone":"13800000001","time":"2026-11-22T10:00:00+08:00","lat":30.2,"lon":115.04}`).Wait()
		time.Sleep(100 * time.Millisecond)
		if err := conn.QueryRow(context.Background(), "SELECT count(*) FROM positions").Scan(&n); err != nil {
			t.Fatal(err)
		}
	}
	srv.Stop()
}
