package main

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"fleetmon/ingest/jt808"
	"fleetmon/track"
	"fleetmon/track/pgtest"
)

// TestVerifyRebuiltSeal: a day sealed with the key, exported, its digests
// kept offline; then the owner alters a position, deletes the seals and
// lets the job seal again with the same key. fleetd verify of the export,
// and fleetd verify --seals against the digests kept, both fail and name
// the day.
func TestVerifyRebuiltSeal(t *testing.T) {
	s := pgtest.New(t)
	ctx := context.Background()
	csv := writeFile(t, "v.csv", "plate,plate_color,terminal_phone,unit,category\n鄂B12345,1,13800000001,湖北省/黄石市,general\n")
	if code, out, errs := fleetd(t, "vehicles", "import", "--db", s.ConnString, csv); code != 0 {
		t.Fatalf("import: %d %s %s", code, out, errs)
	}
	keyPath := filepath.Join(t.TempDir(), "seal.key")
	code, out, errs := fleetd(t, "seal-key", "create", keyPath)
	if code != 0 || !strings.Contains(out, "public key ") {
		t.Fatalf("seal-key create: %d %s %s", code, out, errs)
	}
	pubHex := lastWord(out)
	if code, out, _ := fleetd(t, "seal-key", "show", keyPath); code != 0 || lastWord(out) != pubHex {
		t.Fatalf("seal-key show: %d %s, want %s", code, out, pubHex)
	}
	if fi, err := os.Stat(keyPath); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("key file mode %v %v", fi.Mode(), err)
	}

	var vid, tid int64
	if err := s.Pool.QueryRow(ctx, "SELECT vehicle_id, id FROM terminals").Scan(&vid, &tid); err != nil {
		t.Fatal(err)
	}
	cst := time.FixedZone("CST", 8*3600)
	t0 := time.Date(2026, 11, 21, 9, 0, 0, 0, cst)
	app := s.AppPool(t)
	for i := range 10 {
		if _, err := app.Exec(ctx, `SELECT ensure_month_partition('positions', $1)`, t0); err != nil {
			t.Fatal(err)
		}
		at := t0.Add(time.Duration(i) * time.Minute)
		if _, err := app.Exec(ctx, `INSERT INTO positions (vehicle_id, device_time, received_at, terminal_id, geom, speed_kmh, heading, altitude_m, alarm, status, fix_hash)
			VALUES ($2, $1, $1, $3, ST_SetSRID(ST_MakePoint(115.04, 30.2), 4326), 30, 90, 20, 0, 3, $4)`, at, vid, tid, int64(i)); err != nil {
			t.Fatal(err)
		}
	}
	key, err := track.LoadSealKey(keyPath)
	if err != nil {
		t.Fatal(err)
	}
	st := track.NewStore(app)
	st.SetSealKey(key)
	seal := func() {
		t.Helper()
		if _, err := st.SealDays(ctx, t0.AddDate(0, 0, 1)); err != nil {
			t.Fatal(err)
		}
	}
	seal()
	m, err := st.NewManifest(ctx, vid, "鄂B12345", t0, t0.Add(time.Hour), "inspector", "举报", t0.AddDate(0, 0, 1))
	if err != nil {
		t.Fatal(err)
	}
	line, _ := m.TextLine()
	export := writeFile(t, "track.csv", "time,lat,lon\n# "+line+"\n")
	if code, out, errs := fleetd(t, "verify", "--db", s.ConnString, "--seal-pubkey", pubHex, export); code != 0 || !strings.Contains(out, "OK") {
		t.Fatalf("verify untouched: %d\n%s%s", code, out, errs)
	}
	days := []string{"verify", "--seals", "--from", "2026-11-20", "--to", "2026-11-22", "--db", s.ConnString, "--seal-pubkey", keyPath + ".pub"}
	code, kept, errs := fleetd(t, days...)
	if code != 0 || !strings.Contains(kept, "2026-11-21 ") || !strings.Contains(kept, "signed-by "+pubHex) {
		t.Fatalf("verify --seals untouched: %d\n%s%s", code, kept, errs)
	}
	offline := writeFile(t, "digests.txt", kept)

	for _, q := range []string{
		`UPDATE positions SET speed_kmh = 120 WHERE device_time = '2026-11-21 09:04:00+08'`,
		`ALTER TABLE seals DISABLE TRIGGER USER`, `DELETE FROM seals`, `ALTER TABLE seals ENABLE TRIGGER USER`,
		`ALTER TABLE seal_parts DISABLE TRIGGER USER`, `DELETE FROM seal_parts`, `ALTER TABLE seal_parts ENABLE TRIGGER USER`,
		`ALTER TABLE seal_days DISABLE TRIGGER USER`, `DELETE FROM seal_days`, `ALTER TABLE seal_days ENABLE TRIGGER USER`,
	} {
		if _, err := s.Pool.Exec(ctx, q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	seal()
	// The rebuilt seals hold among themselves...
	if code, out, errs := fleetd(t, days...); code != 0 {
		t.Fatalf("rebuilt seals without the offline digests: %d\n%s%s", code, out, errs)
	}
	// ... but not against what was kept offline, nor against the export.
	code, out, _ = fleetd(t, append(days, "--expect", offline)...)
	if code != 1 || !strings.Contains(out, "ALTERED: seal_days 2026-11-21: rebuilt") {
		t.Fatalf("verify --seals --expect after a rebuild: exit %d\n%s", code, out)
	}
	code, out, _ = fleetd(t, "verify", "--db", s.ConnString, "--seal-pubkey", pubHex, export)
	if code != 1 || !strings.Contains(out, "ALTERED: seal_days 2026-11-21: rebuilt") || !strings.Contains(out, "2026-11-21 09:04:00 CST") {
		t.Fatalf("verify FILE after a rebuild: exit %d\n%s", code, out)
	}
	// A key inside the data directory is refused.
	dataDir := t.TempDir()
	inKey := filepath.Join(dataDir, "seal.key")
	if _, err := track.CreateSealKey(inKey); err != nil {
		t.Fatal(err)
	}
	if code, _, errs := fleetd(t, "serve", "--db", s.ConnString, "--data-dir", dataDir, "--seal-key", inKey); code != 2 || !strings.Contains(errs, "inside --data-dir") {
		t.Fatalf("serve with a key in the data directory: exit %d %s", code, errs)
	}
}

// TestServeAsRuntimeRole: serve on a runtime login stores a terminal's
// reports (making the month's partition through the owner's function)
// and says nothing of excess privilege; on the owner's login it warns at
// start.
func TestServeAsRuntimeRole(t *testing.T) {
	s := pgtest.New(t)
	csv := writeFile(t, "v.csv", "plate,plate_color,terminal_phone,unit,category\n鄂B12345,1,13800000001,湖北省/黄石市,general\n")
	if code, out, errs := fleetd(t, "vehicles", "import", "--db", s.ConnString, csv); code != 0 {
		t.Fatalf("import: %d %s %s", code, out, errs)
	}
	srv := startServeAs(t, "--db", s.AppConnString, "--data-dir", t.TempDir())
	tm := dialTerminal(t, srv.JT808, "13800000001")
	tm.login("鄂B12345")
	loc := jt808.Location{Status: jt808.StatusFixed, LatE6: 30212345, LonE6: 115040000, Time: jt808.NewBCDTime(time.Now())}
	tm.expectOK("location", jt808.IDLocation, loc.AppendTo(nil, jt808.Version2013))
	var n int
	for deadline := time.Now().Add(30 * time.Second); n == 0 && time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		if err := s.Pool.QueryRow(context.Background(), "SELECT count(*) FROM positions").Scan(&n); err != nil {
			t.Fatal(err)
		}
	}
	if n != 1 {
		t.Fatalf("serve as the runtime role stored %d positions", n)
	}
	srv.Stop()
	errs := srv.Stderr.String()
	if strings.Contains(errs, "is connected as") || !strings.Contains(errs, "runs as a runtime role") || !strings.Contains(errs, "UNSIGNED") {
		t.Errorf("serve as the runtime role, stderr:\n%s", errs)
	}
	owner := startServeAs(t, "--db", s.ConnString, "--data-dir", t.TempDir())
	owner.Stop()
	if errs := owner.Stderr.String(); !strings.Contains(errs, "fleetd serve is connected as a superuser") {
		t.Errorf("serve as the superuser did not warn:\n%s", errs)
	}
	if code, out, errs := fleetd(t, "migrate", "--db", s.ConnString, "--runtime-role", pgtest.AppRole); code != 0 || !strings.Contains(out, "granted runtime role") {
		t.Fatalf("migrate --runtime-role: %d %s %s", code, out, errs)
	}
	if code, _, errs := fleetd(t, "migrate", "--db", s.ConnString, "--runtime-role", "no_such_role_q"); code != 1 || !strings.Contains(errs, "does not exist") {
		t.Fatalf("migrate --runtime-role missing: %d %s", code, errs)
	}
}
