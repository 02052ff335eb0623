package main

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"fleetmon/ingest/jt808"
	"fleetmon/track"
	"fleetmon/track/pgtest"
)

// syncBuffer is a bytes.Buffer safe for a writer goroutine and a reader.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func fleetd(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	var out, errb bytes.Buffer
	code := run(context.Background(), args, &out, &errb)
	return code, out.String(), errb.String()
}

func writeFile(t *testing.T, name, content string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestVehiclesImportAllOrNothing(t *testing.T) {
	db := pgtest.New(t).ConnString
	good := writeFile(t, "good.csv", "plate,plate_color,terminal_phone,unit,category\n"+
		"鄂B12345,1,13800000001,湖北省/黄石市/阳新县/县机关事务中心,一般公务用车\n"+
		"鄂B54321,2,13800000002,湖北省/黄石市/阳新县/县机关事务中心,emergency\n")
	if code, out, errs := fleetd(t, "vehicles", "import", "--db", db, good); code != 0 || !strings.Contains(out, "2 created") {
		t.Fatalf("import: exit %d\n%s%s", code, out, errs)
	}
	bad := writeFile(t, "bad.csv", "plate,plate_color,terminal_phone,unit,category\n"+
		"鄂B77777,1,13800000007,湖北省/黄石市,general\n"+
		"鄂B88888,1,13800000008,湖北省/黄石市,truck\n")
	code, _, errs := fleetd(t, "vehicles", "import", "--db", db, bad)
	if code != 1 || !strings.Contains(errs, "line 3: category \"truck\"") || !strings.Contains(errs, "nothing imported") {
		t.Fatalf("bad import: exit %d, stderr %q", code, errs)
	}
	code, out, errs := fleetd(t, "vehicles", "list", "--db", db)
	if code != 0 {
		t.Fatalf("list: exit %d %s", code, errs)
	}
	if !strings.Contains(out, "鄂B12345") || !strings.Contains(out, "湖北省/黄石市/阳新县/县机关事务中心") || strings.Contains(out, "鄂B77777") {
		t.Fatalf("list after a refused import:\n%s", out)
	}
	if code, out, _ := fleetd(t, "migrate", "--db", db); code != 0 || !strings.Contains(out, "schema at version") {
		t.Fatalf("migrate: exit %d %s", code, out)
	}
	if code, _, _ := fleetd(t, "vehicles", "import", "--db", db); code != 2 {
		t.Errorf("import without a file: exit %d, want 2", code)
	}
	if code, _, _ := fleetd(t, "frobnicate"); code != 2 {
		t.Errorf("unknown command: exit %d, want 2", code)
	}
}

func TestServe(t *testing.T) {
	db := pgtest.New(t).ConnString
	csv := writeFile(t, "v.csv", "plate,plate_color,terminal_phone,unit,category\n鄂B12345,1,13800000001,湖北省/黄石市,general\n")
	if code, out, errs := fleetd(t, "vehicles", "import", "--db", db, csv); code != 0 {
		t.Fatalf("import: %d %s %s", code, out, errs)
	}
	srv := startServe(t, "--db", db, "--data-dir", t.TempDir())
	addrs := map[string]string{"jt808": srv.JT808, "http": srv.HTTP}

	// A terminal registers, authenticates and reports.
	tm := dialTerminal(t, addrs["jt808"], "13800000001")
	tm.login("鄂B12345")
	loc := jt808.Location{Status: jt808.StatusFixed, LatE6: 30200000, LonE6: 115040000, Time: jt808.NewBCDTime(time.Now())}
	tm.expectOK("location", jt808.IDLocation, loc.AppendTo(nil, jt808.Version2013))

	for path, want := range map[string]string{
		"/healthz": "ok",
		"/metrics": `fleetmon_ingest_frames_total{msg_id="0x0200",result="ok"} 1`,
	} {
		resp, err := http.Get("http://" + addrs["http"] + path)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 || !strings.Contains(string(body), want) {
			t.Errorf("GET %s: %d, lacks %q", path, resp.StatusCode, want)
		}
	}
	srv.Stop()
}

// TestPrivateDatabase runs fleetd the way a newcomer does: no --db, so
// fleetd runs its own PostgreSQL+PostGIS in --data-dir. An admin command
// beside a running fleetd serve joins its database and leaves it running.
func TestPrivateDatabase(t *testing.T) {
	pgtest.ConnString(t) // the same prerequisites (PostgreSQL installed) as the other database tests
	data := t.TempDir()
	if os.Geteuid() == 0 {
		// As root, PostgreSQL runs as the postgres user, who must reach data.
		if err := os.Chmod(filepath.Dir(data), 0o711); err != nil {
			t.Fatal(err)
		}
	}
	csv := writeFile(t, "v.csv", "plate,plate_color,terminal_phone,unit,category\n鄂B12345,1,13800000001,湖北省/黄石市,general\n")
	if code, out, errs := fleetd(t, "vehicles", "import", "--data-dir", data, csv); code != 0 {
		t.Fatalf("import: %d %s %s", code, out, errs)
	}
	srv := startServe(t, "--data-dir", data)
	httpAddr := srv.HTTP
	code, out, stderr := fleetd(t, "vehicles", "list", "--data-dir", data)
	if code != 0 || !strings.Contains(out, "鄂B12345") {
		t.Fatalf("list beside serve: %d %s %s", code, out, stderr)
	}
	resp, err := http.Get("http://" + httpAddr + "/healthz")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("serve's database went away after an admin command: %d", resp.StatusCode)
	}
	srv.Stop()
}

// TestVerify: an export's manifest verifies while the data is untouched,
// and fleetd verify names the row someone then edits in PostgreSQL.
func TestVerify(t *testing.T) {
	s := pgtest.New(t)
	csv := writeFile(t, "v.csv", "plate,plate_color,terminal_phone,unit,category\n鄂B12345,1,13800000001,湖北省/黄石市,general\n")
	if code, out, errs := fleetd(t, "vehicles", "import", "--db", s.ConnString, csv); code != 0 {
		t.Fatalf("import: %d %s %s", code, out, errs)
	}
	ctx := context.Background()
	var vid, tid int64
	if err := s.Pool.QueryRow(ctx, "SELECT vehicle_id, id FROM terminals").Scan(&vid, &tid); err != nil {
		t.Fatal(err)
	}
	t0 := time.Date(2026, 11, 21, 21, 0, 0, 0, time.FixedZone("CST", 8*3600))
	for i := range 10 {
		if _, err := s.Pool.Exec(ctx, `SELECT ensure_month_partition('positions', $1)`, t0); err != nil {
			t.Fatal(err)
		}
		if _, err := s.Pool.Exec(ctx, `INSERT INTO positions (vehicle_id, device_time, received_at, terminal_id, geom, speed_kmh, heading, altitude_m, alarm, status, fix_hash)
			VALUES ($2, $1, now(), $3, ST_SetSRID(ST_MakePoint(115.04, 30.2), 4326), 30, 90, 20, 0, 3, $4)`,
			t0.Add(time.Duration(i)*time.Minute), vid, tid, int64(i)); err != nil {
			t.Fatal(err)
		}
	}
	m, err := track.NewStore(s.Pool).NewManifest(ctx, vid, "鄂B12345", t0, t0.Add(time.Hour), "inspector", "举报", time.Now())
	if err != nil {
		t.Fatal(err)
	}
	line, _ := m.TextLine()
	export := writeFile(t, "track.csv", "time,lat,lon\n# "+line+"\n")
	if code, out, errs := fleetd(t, "verify", "--db", s.ConnString, export); code != 0 || !strings.Contains(out, "OK") {
		t.Fatalf("verify untouched: %d\n%s%s", code, out, errs)
	}
	if _, err := s.Pool.Exec(ctx, "UPDATE positions SET speed_kmh = 120 WHERE device_time = $1", t0.Add(4*time.Minute)); err != nil {
		t.Fatal(err)
	}
	code, out, _ := fleetd(t, "verify", "--db", s.ConnString, export)
	if code != 1 || !strings.Contains(out, "ALTERED: vehicle") || !strings.Contains(out, "2026-11-21 21:04:00 CST") || !strings.Contains(out, "altered") {
		t.Fatalf("verify after an edit: exit %d\n%s", code, out)
	}
}

// TestCompact: fleetd compact lays a finished month out once and says so;
// a second run finds nothing to do.
func TestCompact(t *testing.T) {
	s := pgtest.New(t)
	ctx := context.Background()
	old := time.Date(2025, 3, 10, 8, 0, 0, 0, time.UTC)
	if _, err := s.Pool.Exec(ctx, `SELECT ensure_month_partition('positions', $1)`, old); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Pool.Exec(ctx, `INSERT INTO positions (vehicle_id, device_time, received_at, terminal_id, geom, speed_kmh, heading, altitude_m, alarm, status, fix_hash)
		VALUES (1, $1, $1, 1, ST_SetSRID(ST_MakePoint(115.04, 30.2), 4326), 30, 90, 20, 0, 3, 1)`, old); err != nil {
		t.Fatal(err)
	}
	if code, out, errs := fleetd(t, "compact", "--db", s.ConnString); code != 0 || !strings.Contains(out, "compacted positions_2025m03") {
		t.Fatalf("compact: %d\n%s%s", code, out, errs)
	}
	if code, out, errs := fleetd(t, "compact", "--db", s.ConnString); code != 0 || !strings.Contains(out, "nothing to compact") {
		t.Fatalf("compact again: %d\n%s%s", code, out, errs)
	}
}
