package main

import (
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"fleetmon/track/pgtest"
)

// TestDemoShowsEachRule runs what `make run` runs: the demo vehicles imported, fleetd serving,
// `fleetsim setup` through the API with an administrator's token, and `fleetsim demo` driving,
// at the production rule defaults. Within a bound it must see an alert of each kind the demo
// promises: after hours, a sealed car moving, speeding, out of the permitted area and night
// parking outside the compound, whatever the time of day the test runs.
func TestDemoShowsEachRule(t *testing.T) {
	t.Parallel()
	bin := t.TempDir()
	build := exec.Command("go", "build", "-o", bin, "fleetmon/cmd/fleetsim")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build fleetsim: %v\n%s", err, out)
	}
	fleetsim := filepath.Join(bin, "fleetsim")
	const count = "20"

	db := pgtest.New(t).ConnString
	csv, err := exec.Command(fleetsim, "csv", "--count", count).Output()
	if err != nil {
		t.Fatalf("fleetsim csv: %v", err)
	}
	if code, out, errs := fleetd(t, "vehicles", "import", "--db", db, writeFile(t, "demo.csv", string(csv))); code != 0 {
		t.Fatalf("import: %d %s %s", code, out, errs)
	}
	srv := startServe(t, "--db", db)
	code, out, errs := fleetd(t, "token", "create", "--db", db, "--user", "admin", "--label", "demo test")
	if code != 0 {
		t.Fatalf("token create: %d %s %s", code, out, errs)
	}
	token := lastWord(out)

	setup := exec.Command(fleetsim, "setup", "--url", "http://"+srv.HTTP, "--count", count)
	setup.Env = append(os.Environ(), "FLEETSIM_TOKEN="+token)
	plan, err := setup.Output()
	if err != nil {
		var stderr []byte
		if ee, ok := err.(*exec.ExitError); ok {
			stderr = ee.Stderr
		}
		t.Fatalf("fleetsim setup: %v\n%s", err, stderr)
	}
	t.Logf("the demo's plan:\n%s", plan)
	// A second set-up (a second `make run`) must add nothing but new calendars.
	again := exec.Command(fleetsim, "setup", "--url", "http://"+srv.HTTP, "--count", count)
	again.Env = setup.Env
	if out, err := again.CombinedOutput(); err != nil {
		t.Fatalf("second fleetsim setup: %v\n%s", err, out)
	}
	var fences struct{ Items []struct{ Name string } }
	apiGet(t, "http://"+srv.HTTP, token, "/api/v1/geofences", &fences)
	if len(fences.Items) != 3 {
		t.Errorf("after two set-ups: %d fences, want 3 (area, speed zone, parking): %+v", len(fences.Items), fences.Items)
	}

	demo := exec.Command(fleetsim, "demo", "--addr", srv.JT808, "--count", count)
	var demoLog syncBuffer
	demo.Stdout, demo.Stderr = &demoLog, &demoLog
	if err := demo.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		// As at Ctrl-C: the terminals log out and the demo ends with status 0.
		_ = demo.Process.Signal(os.Interrupt)
		if err := demo.Wait(); err != nil {
			t.Errorf("fleetsim demo: %v\n%s", err, demoLog.String())
		}
	})

	// Every plate the plan names must show its alert, and the plan must name each kind.
	want := map[string]string{} // plate -> rule
	rules := map[string]string{"非工作时间用车": "after_hours", "封存车辆移动": "sealed_move", "超速": "speeding",
		"越界": "out_of_area", "夜间未入库": "night_parking"}
	for line := range strings.Lines(string(plan)) {
		f := strings.Fields(line)
		if len(f) == 0 {
			continue
		}
		rule, ok := rules[f[0]]
		if !ok {
			continue
		}
		for _, p := range f[1:] { // the plates
			want[p] = rule
		}
	}
	for _, r := range rules {
		if !slices.Contains(slices.Collect(maps.Values(want)), r) {
			t.Fatalf("the plan names no car for %s:\n%s", r, plan)
		}
	}
	// A generous bound for a loaded machine: the demo promises its alerts within about five
	// minutes.
	deadline := time.Now().Add(15 * time.Minute)
	seen := map[string]bool{}
	for {
		var alerts struct {
			Items []struct {
				Vehicle struct{ Plate string }
				Rule    struct{ ID string }
			}
		}
		apiGet(t, "http://"+srv.HTTP, token, "/api/v1/alerts?limit=500", &alerts)
		for _, a := range alerts.Items {
			if want[a.Vehicle.Plate] == a.Rule.ID {
				seen[a.Vehicle.Plate] = true
			}
		}
		if len(seen) == len(want) {
			return
		}
		if time.Now().After(deadline) {
			var missing []string
			for p, r := range want {
				if !seen[p] {
					missing = append(missing, p+" "+r)
				}
			}
			slices.Sort(missing)
			t.Fatalf("no alert yet for: %s\nalerts: %+v\nfleetsim:\n%s", strings.Join(missing, ", "), alerts.Items, demoLog.String())
		}
		time.Sleep(5 * time.Second)
	}
}
