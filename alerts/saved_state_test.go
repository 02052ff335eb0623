package alerts

import (
	"encoding/json"
	"reflect"
	"slices"
	"testing"
	"time"

	"fleetmon/track"
)

// savedVehicleJSON is one vehicle as MarshalVehicle wrote it (and the
// runner stored it in alert_engine_state) before the rules were split into
// a file each: a sealed car mid-way through a real after-hours drive, with
// every rule's state set, two checkpoints, its log and a clock view. The
// state a running fleet saved must restore after an upgrade, so this
// literal is never regenerated: a change that breaks it breaks the fleet.
const savedVehicleJSON = `{
	"state": {
		"vehicle_id": 1,
		"n": 60,
		"last": {
			"t": "2026-03-10T19:19:30+08:00",
			"lat": 32.144788737019894,
			"lon": 118.89009183751273,
			"v": 40,
			"acc": true,
			"alarm": 0
		},
		"drive": {
			"active": true,
			"real": true,
			"start": {
				"t": "2026-03-10T18:59:30+08:00",
				"lat": 32.06,
				"lon": 118.79,
				"v": 0,
				"acc": false,
				"alarm": 0
			},
			"far": 39,
			"dist_m": 13333.25596879348,
			"max_speed_kmh": 40,
			"still": {
				"t": "2026-03-10T19:19:30+08:00",
				"lat": 32.144788737019894,
				"lon": 118.89009183751273,
				"v": 40,
				"acc": true,
				"alarm": 0
			},
			"still_dist_m": 13333.25596879348
		},
		"time_run": {
			"id": "d5b79ae290a5ae7e",
			"status": "open",
			"rule": "after_hours",
			"vehicle_id": 1,
			"unit_id": 11,
			"start": "2026-03-10T18:59:30+08:00",
			"StartLat": 32.06,
			"StartLon": 118.79,
			"EndLat": 0,
			"EndLon": 0,
			"distance_m": 13333.25596879348,
			"max_speed_kmh": 40,
			"calendar_version": "cal1.r1.b22899dff06f",
			"params_version": "8c874ed3b6ca",
			"params": "[{\"min_distance_m\":500,\"min_duration\":180000000000,\"moving_kmh\":5,\"stop_radius_m\":100,\"stop_duration\":300000000000,\"max_plausible_kmh\":250},{\"min_violation\":60000000000,\"exempt\":[\"emergency\",\"confidential\"]}]"
		},
		"pending": [
			{
				"id": "f95602f9da4e4cf7",
				"status": "",
				"rule": "holiday_use",
				"vehicle_id": 1,
				"unit_id": 11,
				"start": "2026-03-10T19:18:30+08:00",
				"StartLat": 32.144788737019894,
				"StartLon": 118.89009183751273,
				"EndLat": 0,
				"EndLon": 0,
				"distance_m": 0,
				"max_speed_kmh": 40,
				"detail": "pending",
				"calendar_version": "cal1.r1.b22899dff06f",
				"params_version": "8c874ed3b6ca",
				"params": "[{\"min_distance_m\":500,\"min_duration\":180000000000,\"moving_kmh\":5,\"stop_radius_m\":100,\"stop_duration\":300000000000,\"max_plausible_kmh\":250},{\"min_violation\":60000000000,\"exempt\":[\"emergency\",\"confidential\"]}]"
			}
		],
		"sealed": {
			"id": "b93a92f63a0d4a90",
			"status": "open",
			"rule": "sealed_move",
			"vehicle_id": 1,
			"unit_id": 11,
			"start": "2026-03-10T18:59:30+08:00",
			"StartLat": 32.06,
			"StartLon": 118.79,
			"EndLat": 0,
			"EndLon": 0,
			"distance_m": 13333.25596879348,
			"max_speed_kmh": 40,
			"params_version": "8c874ed3b6ca",
			"params": "[{\"min_distance_m\":500,\"min_duration\":180000000000,\"moving_kmh\":5,\"stop_radius_m\":100,\"stop_duration\":300000000000,\"max_plausible_kmh\":250}]"
		},
		"area": {
			"out": true,
			"count": 1,
			"cross": {
				"t": "2026-03-10T19:19:30+08:00",
				"lat": 32.144788737019894,
				"lon": 118.89009183751273,
				"v": 40,
				"acc": true,
				"alarm": 0
			},
			"cache": {
				"t": "2026-03-10T19:19:30+08:00",
				"lat": 32.144788737019894,
				"lon": 118.89009183751273,
				"v": 40,
				"acc": true,
				"alarm": 0
			},
			"cache_d": 123.5,
			"ep": {
				"id": "722542c2adca093f",
				"status": "open",
				"rule": "out_of_area",
				"vehicle_id": 1,
				"unit_id": 11,
				"start": "2026-03-10T19:18:30+08:00",
				"StartLat": 32.144788737019894,
				"StartLon": 118.89009183751273,
				"EndLat": 0,
				"EndLon": 0,
				"distance_m": 0,
				"max_speed_kmh": 40,
				"params_version": "8c874ed3b6ca",
				"params": "[{\"fixes\":3,\"margin_m\":100}]"
			}
		},
		"places": [
			{
				"fence_id": 3,
				"in": true,
				"count": 1,
				"enter": {
					"t": "2026-03-10T19:19:30+08:00",
					"lat": 32.144788737019894,
					"lon": 118.89009183751273,
					"v": 40,
					"acc": true,
					"alarm": 0
				},
				"leave": {
					"t": "2026-03-10T19:19:30+08:00",
					"lat": 32.144788737019894,
					"lon": 118.89009183751273,
					"v": 40,
					"acc": true,
					"alarm": 0
				},
				"ep": {
					"id": "2d7584e6e48d166d",
					"status": "open",
					"rule": "sensitive_dwell",
					"vehicle_id": 1,
					"unit_id": 11,
					"fence_id": 3,
					"start": "2026-03-10T19:18:30+08:00",
					"StartLat": 32.144788737019894,
					"StartLon": 118.89009183751273,
					"EndLat": 0,
					"EndLon": 0,
					"distance_m": 0,
					"max_speed_kmh": 40,
					"detail": "某酒店 (hotel)",
					"params_version": "8c874ed3b6ca",
					"params": "[{\"fixes\":2,\"dwell\":{\"golf\":600000000000,\"hotel\":7200000000000,\"ktv_sauna\":600000000000,\"residential\":3600000000000,\"scenic\":3600000000000}}]"
				}
			}
		],
		"parking": {
			"id": "7007a921b23793be",
			"status": "open",
			"rule": "night_parking",
			"vehicle_id": 1,
			"unit_id": 11,
			"start": "2026-03-10T19:18:30+08:00",
			"StartLat": 32.144788737019894,
			"StartLon": 118.89009183751273,
			"EndLat": 0,
			"EndLon": 0,
			"distance_m": 0,
			"max_speed_kmh": 40,
			"detail": "check at 22:00",
			"calendar_version": "cal1.r1.b22899dff06f",
			"params_version": "8c874ed3b6ca",
			"params": "[{\"check_at\":[\"22:00\"]}]"
		},
		"next_check": "2026-03-10T22:19:30+08:00",
		"power": {
			"id": "1a26718cffb5a945",
			"status": "open",
			"rule": "power_cut",
			"vehicle_id": 1,
			"unit_id": 11,
			"start": "2026-03-10T19:18:30+08:00",
			"StartLat": 32.144788737019894,
			"StartLon": 118.89009183751273,
			"EndLat": 0,
			"EndLon": 0,
			"distance_m": 0,
			"max_speed_kmh": 40,
			"detail": "main power cut (alarm bit 8)",
			"params_version": "8c874ed3b6ca",
			"params": "[]"
		},
		"antenna": {
			"id": "6643f953011b8c04",
			"status": "open",
			"rule": "antenna",
			"vehicle_id": 1,
			"unit_id": 11,
			"start": "2026-03-10T19:18:30+08:00",
			"StartLat": 32.144788737019894,
			"StartLon": 118.89009183751273,
			"EndLat": 0,
			"EndLon": 0,
			"distance_m": 0,
			"max_speed_kmh": 40,
			"detail": "GNSS antenna cut (alarm bit 5)",
			"params_version": "8c874ed3b6ca",
			"params": "[]"
		},
		"speed": {
			"id": "ea23c42f7cb97664",
			"status": "open",
			"rule": "speeding",
			"vehicle_id": 1,
			"unit_id": 11,
			"start": "2026-03-10T19:18:30+08:00",
			"StartLat": 32.144788737019894,
			"StartLon": 118.89009183751273,
			"EndLat": 0,
			"EndLon": 0,
			"distance_m": 0,
			"max_speed_kmh": 40,
			"detail": "limit 120 km/h",
			"params_version": "8c874ed3b6ca",
			"params": "[{\"default_kmh\":120,\"min_duration\":30000000000}]"
		}
	},
	"checkpoints": [
		{
			"t": "0001-01-01T00:00:00Z",
			"state": "eyJ2ZWhpY2xlX2lkIjoxLCJuIjowLCJkcml2ZSI6eyJhY3RpdmUiOmZhbHNlLCJyZWFsIjpmYWxzZSwic3RhcnQiOnsidCI6IjAwMDEtMDEtMDFUMDA6MDA6MDBaIiwibGF0IjowLCJsb24iOjAsInYiOjAsImFjYyI6ZmFsc2UsImFsYXJtIjowfSwiZmFyIjowLCJkaXN0X20iOjAsIm1heF9zcGVlZF9rbWgiOjAsInN0aWxsIjp7InQiOiIwMDAxLTAxLTAxVDAwOjAwOjAwWiIsImxhdCI6MCwibG9uIjowLCJ2IjowLCJhY2MiOmZhbHNlLCJhbGFybSI6MH0sInN0aWxsX2Rpc3RfbSI6MH0sImFyZWEiOnsib3V0IjpmYWxzZSwiY291bnQiOjAsImNhY2hlX2QiOjB9fQ=="
		},
		{
			"t": "2026-03-10T18:50:00+08:00",
			"state": "eyJ2ZWhpY2xlX2lkIjoxLCJuIjoxLCJsYXN0Ijp7InQiOiIyMDI2LTAzLTEwVDE4OjUwOjAwKzA4OjAwIiwibGF0IjozMi4wNiwibG9uIjoxMTguNzksInYiOjAsImFjYyI6ZmFsc2UsImFsYXJtIjowfSwiZHJpdmUiOnsiYWN0aXZlIjpmYWxzZSwicmVhbCI6ZmFsc2UsInN0YXJ0Ijp7InQiOiIwMDAxLTAxLTAxVDAwOjAwOjAwWiIsImxhdCI6MCwibG9uIjowLCJ2IjowLCJhY2MiOmZhbHNlLCJhbGFybSI6MH0sImZhciI6MCwiZGlzdF9tIjowLCJtYXhfc3BlZWRfa21oIjowLCJzdGlsbCI6eyJ0IjoiMDAwMS0wMS0wMVQwMDowMDowMFoiLCJsYXQiOjAsImxvbiI6MCwidiI6MCwiYWNjIjpmYWxzZSwiYWxhcm0iOjB9LCJzdGlsbF9kaXN0X20iOjB9LCJhcmVhIjp7Im91dCI6ZmFsc2UsImNvdW50IjowLCJjYWNoZSI6eyJ0IjoiMjAyNi0wMy0xMFQxODo1MDowMCswODowMCIsImxhdCI6MzIuMDYsImxvbiI6MTE4Ljc5LCJ2IjowLCJhY2MiOmZhbHNlLCJhbGFybSI6MH0sImNhY2hlX2QiOi01MDAwMC4wMDAwMDAwMDAxNn0sIm5leHRfY2hlY2siOiIyMDI2LTAzLTEwVDIyOjAwOjAwKzA4OjAwIn0="
		}
	],
	"log": [
		{
			"at": "2026-03-10T19:02:30+08:00",
			"ep": {
				"id": "b93a92f63a0d4a90",
				"status": "open",
				"rule": "sealed_move",
				"vehicle_id": 1,
				"unit_id": 11,
				"start": "2026-03-10T18:59:30+08:00",
				"StartLat": 32.06,
				"StartLon": 118.79,
				"EndLat": 0,
				"EndLon": 0,
				"distance_m": 1999.9884115281884,
				"max_speed_kmh": 40,
				"params_version": "8c874ed3b6ca",
				"params": "[{\"min_distance_m\":500,\"min_duration\":180000000000,\"moving_kmh\":5,\"stop_radius_m\":100,\"stop_duration\":300000000000,\"max_plausible_kmh\":250}]"
			}
		},
		{
			"at": "2026-03-10T19:02:30+08:00",
			"ep": {
				"id": "d5b79ae290a5ae7e",
				"status": "open",
				"rule": "after_hours",
				"vehicle_id": 1,
				"unit_id": 11,
				"start": "2026-03-10T18:59:30+08:00",
				"StartLat": 32.06,
				"StartLon": 118.79,
				"EndLat": 0,
				"EndLon": 0,
				"distance_m": 1999.9884115281884,
				"max_speed_kmh": 40,
				"calendar_version": "cal1.r1.b22899dff06f",
				"params_version": "8c874ed3b6ca",
				"params": "[{\"min_distance_m\":500,\"min_duration\":180000000000,\"moving_kmh\":5,\"stop_radius_m\":100,\"stop_duration\":300000000000,\"max_plausible_kmh\":250},{\"min_violation\":60000000000,\"exempt\":[\"emergency\",\"confidential\"]}]"
			}
		}
	],
	"ticked": "2026-03-10T19:39:30+08:00",
	"clock": [
		{
			"id": "d4f8be48a9aec348",
			"status": "open",
			"rule": "silent",
			"vehicle_id": 1,
			"unit_id": 11,
			"start": "2026-03-10T19:18:30+08:00",
			"StartLat": 32.144788737019894,
			"StartLon": 118.89009183751273,
			"EndLat": 0,
			"EndLon": 0,
			"distance_m": 0,
			"max_speed_kmh": 40,
			"params_version": "8c874ed3b6ca",
			"params": "[{\"silent_after\":600000000000,\"silent_min_distance_m\":1000},5]"
		}
	]
}`

// TestSavedStateRestores restores a state saved by an earlier build: every
// field lands where the rules read it (it is written back identically,
// checkpoints included), the open episodes are the saved ones, and the
// drive carries on to close the same episodes.
func TestSavedStateRestores(t *testing.T) {
	w := newWorld(t, testFences(), nil)
	sealed := track.Vehicle{ID: 1, UnitID: unitBureau, Category: track.CategoryGeneral, Sealed: true}
	e, err := NewEngine(sealedAllAlong(w.cfg, 1), nil)
	if err != nil {
		t.Fatal(err)
	}
	e.SetVehicle(sealed)
	if err := e.RestoreVehicle(1, []byte(savedVehicleJSON)); err != nil {
		t.Fatal(err)
	}

	b, _, err := e.MarshalVehicle(1)
	if err != nil {
		t.Fatal(err)
	}
	var saved, again map[string]any
	if err := json.Unmarshal([]byte(savedVehicleJSON), &saved); err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &again); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(saved, again) {
		t.Errorf("restored state is written back differently:\n%s", b)
	}
	for i, cp := range e.vs[1].cps {
		var st VehicleState
		if err := json.Unmarshal(cp.State, &st); err != nil {
			t.Fatalf("checkpoint %d: %v", i, err)
		}
		if got := mustJSON(&st); !reflect.DeepEqual(jsonValue(t, got), jsonValue(t, cp.State)) {
			t.Errorf("checkpoint %d is read back differently:\n%s\n%s", i, cp.State, got)
		}
	}

	var open []string
	for _, ep := range e.Open(nil, 1) {
		open = append(open, string(ep.Rule)+" "+ep.ID)
	}
	want := []string{
		"after_hours d5b79ae290a5ae7e",
		"sealed_move b93a92f63a0d4a90",
		"out_of_area 722542c2adca093f",
		"sensitive_dwell 2d7584e6e48d166d",
		"night_parking 7007a921b23793be",
		"power_cut 1a26718cffb5a945",
		"antenna 6643f953011b8c04",
		"speeding ea23c42f7cb97664",
		"silent d4f8be48a9aec348",
	}
	if !slices.Equal(open, want) {
		t.Errorf("open after restore:\n got %q\nwant %q", open, want)
	}

	// The car switches off where it stands: the drive ends, and with it
	// the after-hours run and the sealed car's move, under their IDs.
	st, _ := e.State(1)
	p := track.Position{VehicleID: 1, Time: st.Last.Time.Add(30 * time.Second), Lat: st.Last.Lat, Lon: st.Last.Lon}
	out, err := e.Feed(nil, &p)
	if err != nil {
		t.Fatal(err)
	}
	closed := map[string]bool{}
	for _, ep := range out {
		if ep.Status == EpisodeClosed {
			closed[ep.ID] = true
		}
	}
	if !closed["d5b79ae290a5ae7e"] || !closed["b93a92f63a0d4a90"] {
		t.Errorf("after-hours and sealed episodes not closed by the car stopping: %+v", out)
	}
}

func jsonValue(t *testing.T, b []byte) any {
	t.Helper()
	var v any
	if err := json.Unmarshal(b, &v); err != nil {
		t.Fatal(err)
	}
	return v
}
