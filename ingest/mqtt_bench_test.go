package ingest_test

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"

	"fleetmon/ingest"
	"fleetmon/ingest/jt808"
	"fleetmon/ingest/mqtttest"
	"fleetmon/track/pgtest"
)

// BenchmarkMQTTIngest measures positions stored per second through a real
// Mosquitto at QoS 1: one publisher sends b.N messages of one position each
// (1,000 terminals, reports 10 s apart), the subscriber writes and
// acknowledges them, and the clock stops when the last row is committed.
// Sub-benchmarks: raw JT/T 808 frames and the JSON format.
func BenchmarkMQTTIngest(b *testing.B) {
	const terminals = 1000
	for _, kind := range []string{"frame", "json"} {
		b.Run(kind, func(b *testing.B) {
			broker := mqtttest.Start(b)
			s := pgtest.New(b)
			var csv strings.Builder
			csv.WriteString("plate,plate_color,terminal_phone,unit,category\n")
			for i := range terminals {
				fmt.Fprintf(&csv, "鄂B%05d,1,1390000%04d,湖北省/黄石市,general\n", i, i)
			}
			importCSV(b, s.Pool, csv.String())
			startSubscriber(b, s.Pool, ingest.MQTTConfig{Broker: broker.URL, ClientID: "bench-" + kind})
			pub := settledPublisher(b, s.Pool, broker.URL)
			payloads := make([][]byte, b.N)
			topics := make([]string, b.N)
			t0 := time.Date(2026, 11, 21, 8, 0, 0, 0, cst)
			for i := range payloads {
				term := i % terminals
				phone := fmt.Sprintf("1390000%04d", term)
				at := t0.Add(time.Duration(i/terminals) * 10 * time.Second)
				lat, lon := 30.2+float64(term)*1e-4, 115.0+float64(i/terminals)*1e-4
				if kind == "frame" {
					topics[i] = "fleetmon/jt808/" + phone + "/up"
					payloads[i] = frameOf(b, phone, jt808.IDLocation, location(at, lat, lon, 40).AppendTo(nil, jt808.Version2013))
				} else {
					topics[i] = "fleetmon/positions/" + phone
					payloads[i], _ = json.Marshal(map[string]any{"phone": phone, "time": at.Format(time.RFC3339),
						"lat": lat, "lon": lon, "speed_kmh": 40, "heading": 123, "status": 3})
				}
			}
			b.ResetTimer()
			start := time.Now()
			toks := make([]mqtt.Token, 0, 1000)
			for i := range payloads {
				toks = append(toks, pub.Publish(topics[i], 1, false, payloads[i]))
				if len(toks) == cap(toks) || i == len(payloads)-1 {
					for _, tk := range toks {
						if !tk.WaitTimeout(time.Minute) || tk.Error() != nil {
							b.Fatalf("publish: %v", tk.Error())
						}
					}
					toks = toks[:0]
				}
			}
			deadline := time.Now().Add(5 * time.Minute)
			for count(b, s.Pool, "SELECT count(*) FROM positions") < b.N {
				if time.Now().After(deadline) {
					b.Fatal("not every position was stored")
				}
				time.Sleep(5 * time.Millisecond)
			}
			b.StopTimer()
			b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "positions/s")
		})
	}
}
