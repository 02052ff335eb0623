package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"io"
	"maps"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"fleetmon/track/pgtest"
)

// TestDemoShowsEachRule runs what `make run` runs: the demo vehicles imported, fleetd serving,
// `fleetsim setup` through the API with an administrator's token, and `fleetsim demo` driving,
// at the production rule defaults. Within a bound it must see an alert of each kind the demo
// promises: after hours, a sealed car moving, speeding, out of the permitted area and night
// parking outside the compound, whatever the time of day the test runs.
//
// It lives here, beside the simulator, rather than with fleetd's tests: it drives the fleet
// for about five minutes of wall-clock time, which go test then spends in parallel with
// fleetd's own long package instead of after it. fleetd runs as its built binary, as
// `make run` runs it.
func TestDemoShowsEachRule(t *testing.T) {
	bin := t.TempDir()
	build := exec.Command("go", "build", "-o", bin, "fleetmon/cmd/fleetsim", "fleetmon/cmd/fleetd")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build fleetsim fleetd: %v\n%s", err, out)
	}
	fleetsim, fleetd := filepath.Join(bin, "fleetsim"), filepath.Join(bin, "fleetd")
	const count = "20"

	owner := pgtest.New(t).ConnString
	// Like production, serve runs as the runtime role, with the owner for its maintenance.
	runtime := pgtest.RuntimeConnString(owner)
	if runtime == "" {
		t.Fatal("the test schema has no runtime role")
	}
	csv, err := exec.Command(fleetsim, "csv", "--count", count).Output()
	if err != nil {
		t.Fatalf("fleetsim csv: %v", err)
	}
	csvFile := filepath.Join(t.TempDir(), "demo.csv")
	if err := os.WriteFile(csvFile, csv, 0o600); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command(fleetd, "vehicles", "import", "--db", owner, csvFile).CombinedOutput(); err != nil {
		t.Fatalf("fleetd vehicles import: %v\n%s", err, out)
	}
	jt808Addr, httpAddr := serveFleetd(t, fleetd, "--db", runtime, "--owner-db", owner, "--data-dir", t.TempDir())
	base := "http://" + httpAddr

	out, err := exec.Command(fleetd, "token", "create", "--db", owner, "--user", "admin", "--label", "demo test").Output()
	if err != nil {
		t.Fatalf("fleetd token create: %v", err)
	}
	f := strings.Fields(string(out))
	if len(f) == 0 {
		t.Fatal("fleetd token create printed nothing")
	}
	token := f[len(f)-1]

	setupEnv := append(os.Environ(), "FLEETSIM_TOKEN="+token)
	setup := exec.Command(fleetsim, "setup", "--url", base, "--count", count)
	setup.Env = setupEnv
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
	again := exec.Command(fleetsim, "setup", "--url", base, "--count", count)
	again.Env = setupEnv
	if out, err := again.CombinedOutput(); err != nil {
		t.Fatalf("second fleetsim setup: %v\n%s", err, out)
	}
	var fences struct{ Items []struct{ Name string } }
	getJSON(t, base, token, "/api/v1/geofences", &fences)
	if len(fences.Items) != 3 {
		t.Errorf("after two set-ups: %d fences, want 3 (area, speed zone, parking): %+v", len(fences.Items), fences.Items)
	}

	demo := exec.Command(fleetsim, "demo", "--addr", jt808Addr, "--count", count)
	var demoLog lockedBuffer
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
		getJSON(t, base, token, "/api/v1/alerts?limit=500", &alerts)
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

// serveFleetd starts the built fleetd serve on free loopback ports until the test ends, and
// returns the addresses it printed. At the end it is stopped as Ctrl-C stops it and must exit
// with status 0.
func serveFleetd(t *testing.T, fleetd string, args ...string) (jt808Addr, httpAddr string) {
	t.Helper()
	cmd := exec.Command(fleetd, append([]string{"serve", "--jt808-addr", "127.0.0.1:0", "--http-addr", "127.0.0.1:0"}, args...)...)
	var stderr lockedBuffer
	cmd.Stderr = &stderr
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	sc := bufio.NewScanner(stdout)
	for httpAddr == "" && sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "jt808 "); ok {
			jt808Addr = v
		} else if v, ok := strings.CutPrefix(sc.Text(), "http "); ok {
			httpAddr = v
		}
	}
	go func() { _, _ = io.Copy(io.Discard, stdout) }()
	t.Cleanup(func() {
		_ = cmd.Process.Signal(os.Interrupt)
		if err := cmd.Wait(); err != nil {
			t.Errorf("fleetd serve: %v\n%s", err, stderr.String())
		}
	})
	if httpAddr == "" || jt808Addr == "" {
		_ = cmd.Process.Kill()
		t.Fatalf("fleetd serve did not start; stderr:\n%s", stderr.String())
	}
	return jt808Addr, httpAddr
}

// getJSON GETs path from base with token and decodes the JSON answer into v.
func getJSON(t *testing.T, base, token, path string, v any) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, base+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("GET %s: %v", path, err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %s %s", path, resp.Status, body)
	}
	if err := json.Unmarshal(body, v); err != nil {
		t.Fatalf("GET %s: %v: %s", path, err, body)
	}
}

// lockedBuffer is a bytes.Buffer that a process's output goroutines and the test share.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}
