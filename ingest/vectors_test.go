package ingest_test

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"testing"
	"time"

	"fleetmon/ingest"
	"fleetmon/ingest/jt808"
)

type vector struct {
	Name   string         `json:"name"`
	Hex    string         `json:"hex"`
	Tags   []string       `json:"tags"`
	Expect map[string]any `json:"expect"`
}

func readVectors(t *testing.T) []vector {
	t.Helper()
	f, err := os.Open("../testdata/jt808/vectors.jsonl")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var vs []vector
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		var v vector
		if err := json.Unmarshal(sc.Bytes(), &v); err != nil {
			t.Fatal(err)
		}
		vs = append(vs, v)
	}
	return vs
}

// TestRealDeviceFrames sends the location and batch frames captured from
// real terminals and public implementations (testdata/jt808) through the
// gateway, as the terminal they name, and checks what is stored: the
// coordinates (south and west included), the time, the speed, and the
// number of positions; frames with a bad checksum or an impossible
// latitude are not stored, and the connection serves on.
func TestRealDeviceFrames(t *testing.T) {
	g := newGateway(t, ingest.Config{}, "")
	ctx := context.Background()
	n := 0
	for _, v := range readVectors(t) {
		id, _ := v.Expect["msg_id"].(string)
		if id != "0x0200" && id != "0x0704" {
			continue
		}
		n++
		t.Run(v.Name, func(t *testing.T) {
			wire := mustHex(t, v.Hex)
			un, err := jt808.Unescape(nil, wire[1:len(wire)-1])
			if err != nil {
				t.Fatal(err)
			}
			var h jt808.Header
			if _, err := h.Decode(un); err != nil {
				t.Fatal(err)
			}
			phone := h.Phone.ID()
			plate := "V" + phone[max(0, len(phone)-10):]
			importCSV(t, g.pool, fmt.Sprintf("plate,plate_color,terminal_phone,unit,category\n%s,1,%s,测试/向量,general\n", plate, phone))
			tm := dial(t, g.addr, h.Phone.Digits(), h.Version)
			tm.login(plate)
			tm.write(wire)
			checksumOK, stated := v.Expect["checksum_ok"].(bool)
			checksumOK = checksumOK || !stated
			var stored int
			count := func() int {
				if err := g.pool.QueryRow(ctx, `SELECT count(*) FROM positions p JOIN terminals t ON t.vehicle_id = p.vehicle_id
					WHERE t.phone = $1`, phone).Scan(&stored); err != nil {
					t.Fatal(err)
				}
				return stored
			}
			if !checksumOK {
				// Skipped without a reply; the next frame is served.
				hb := tm.send(jt808.IDHeartbeat, nil)
				if r := tm.generalReply(hb); r != 0 {
					t.Fatalf("heartbeat after bad frame: %d", r)
				}
				if count() != 0 {
					t.Fatal("frame with a bad checksum stored")
				}
				return
			}
			result := tm.generalReply(h)
			if lat := maxLatRaw(v.Expect); lat > 90e6 {
				// Synthetic test data: answered as malformed, nothing stored.
				if result != 2 || count() != 0 {
					t.Fatalf("latitude %v°: result %d, %d stored; want 2 and none", lat/1e6, result, stored)
				}
				return
			}
			if result != 0 {
				t.Fatalf("result %d", result)
			}
			want := 1
			if c, ok := v.Expect["count"].(float64); ok {
				want = int(c)
			}
			if got := count(); got != want {
				t.Fatalf("stored %d positions, want %d", got, want)
			}
			if id == "0x0704" {
				var backfill int
				_ = g.pool.QueryRow(ctx, `SELECT count(*) FROM positions p JOIN terminals t ON t.vehicle_id = p.vehicle_id
					WHERE t.phone = $1 AND p.backfill`, phone).Scan(&backfill)
				if bt, _ := v.Expect["batch_type"].(float64); (bt == 1) != (backfill == want) {
					t.Errorf("batch type %v: %d of %d marked back-fill", bt, backfill, want)
				}
				return
			}
			var lat, lon, speed float64
			var at time.Time
			err = g.pool.QueryRow(ctx, `SELECT ST_Y(geom), ST_X(geom), speed_kmh, device_time FROM positions p
				JOIN terminals t ON t.vehicle_id = p.vehicle_id WHERE t.phone = $1`, phone).Scan(&lat, &lon, &speed, &at)
			if err != nil {
				t.Fatal(err)
			}
			if want, ok := v.Expect["lat"].(float64); ok && math.Abs(lat-want) > 1e-9 {
				t.Errorf("lat %v, want %v", lat, want)
			}
			if want, ok := v.Expect["lon"].(float64); ok && math.Abs(lon-want) > 1e-9 {
				t.Errorf("lon %v, want %v", lon, want)
			}
			if want, ok := v.Expect["speed_raw"].(float64); ok && math.Abs(speed-want/10) > 1e-4 {
				t.Errorf("speed %v km/h, want %v", speed, want/10)
			}
			if want, ok := v.Expect["time"].(string); ok {
				if got := at.In(cst).Format("2006-01-02 15:04:05"); got != want {
					t.Errorf("time %s (GMT+8), want %s", got, want)
				}
			}
		})
	}
	if n < 10 {
		t.Fatalf("only %d location vectors found", n)
	}
}

// maxLatRaw is the largest raw latitude of a location or batch vector.
func maxLatRaw(e map[string]any) float64 {
	lat, _ := e["lat_raw"].(float64)
	items, _ := e["items"].([]any)
	for _, it := range items {
		if m, ok := it.(map[string]any); ok {
			if l, ok := m["lat_raw"].(float64); ok && l > lat {
				lat = l
			}
		}
	}
	return lat
}
