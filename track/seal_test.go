package track_test

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/hex"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"fleetmon/track"
	"fleetmon/track/pgtest"
)

// TestRebuiltSealFailsVerification is the insider's attack on the seals:
// alter positions and delete audit entries, delete the seals, let the
// daily job seal again. The rebuilt seals are self-consistent, but the
// day's digest differs from the one an earlier export (and the operator's
// offline copy) recorded, and a rebuild without the key is not signed by
// it.
func TestRebuiltSealFailsVerification(t *testing.T) {
	s := pgtest.New(t)
	ctx := context.Background()
	app := s.AppPool(t)
	v, term := seedVehicle(t, s.Pool, "鄂B00951", "13800000951")
	w := startWriter(t, app, track.WriterConfig{})
	day := time.Date(2026, 11, 20, 9, 0, 0, 0, beijing)
	var ps []track.Position
	for i := range 10 {
		p := pos(v, term, day.Add(time.Duration(i)*time.Minute), 30.2+float64(i)*1e-3, 115.04)
		p.Received = p.Time.Add(time.Second)
		ps = append(ps, p)
	}
	if err := w.Write(ctx, 0, ps, nil); err != nil {
		t.Fatal(err)
	}
	for i := range 3 {
		if _, err := app.Exec(ctx, `INSERT INTO audit_log (at, actor_name, action, vehicle_id, reason) VALUES ($1, 'insp', 'track.view', $2, 'case')`,
			day.Add(time.Duration(i)*time.Hour), v); err != nil {
			t.Fatal(err)
		}
	}
	keyPath := filepath.Join(t.TempDir(), "seal.key")
	pub, err := track.CreateSealKey(keyPath)
	if err != nil {
		t.Fatal(err)
	}
	key, err := track.LoadSealKey(keyPath)
	if err != nil {
		t.Fatal(err)
	}
	if back, err := track.ParseSealPublicKey(keyPath + ".pub"); err != nil || !back.Equal(pub) {
		t.Fatalf("public key file: %v", err)
	}
	// fleetd serve seals as the runtime role, with the key.
	st := track.NewStore(app)
	st.SetSealKey(key)
	sealedAt := time.Date(2026, 11, 21, 1, 30, 0, 0, beijing)
	made, err := st.SealDays(ctx, sealedAt)
	if err != nil {
		t.Fatal(err)
	}
	kinds := map[string]bool{}
	for _, m := range made {
		kinds[m.Kind] = true
		if !m.Signed {
			t.Errorf("seal %s %s unsigned", m.Kind, m.Day.Format(time.DateOnly))
		}
	}
	if !kinds["audit_log"] || !kinds["positions"] {
		t.Fatalf("sealed %v, want the audit log and positions", kinds)
	}
	all := [2]time.Time{day.AddDate(0, 0, -5), day.AddDate(0, 0, 5)}
	check := track.SealCheck{PublicKey: pub}
	if problems, err := st.VerifySealsWith(ctx, all[0], all[1], check); err != nil || len(problems) != 0 {
		t.Fatalf("untouched: %v %v", problems, err)
	}
	// What the operator keeps offline, and an export of the day.
	recs, err := st.SealDayRecords(ctx, all[0], all[1])
	if err != nil || len(recs) != 1 || recs[0].Day != "2026-11-20" {
		t.Fatalf("day records %+v %v", recs, err)
	}
	check.Expected = map[string][]byte{recs[0].Day: recs[0].Digest}
	m, err := st.NewManifest(ctx, v, "鄂B00951", day, day.Add(time.Hour), "insp", "case", sealedAt)
	if err != nil {
		t.Fatal(err)
	}
	if m.SealPublicKey != hex.EncodeToString(pub) || len(m.SealDays) != 1 || m.SealDays[0].Digest != hex.EncodeToString(recs[0].Digest) || m.SealDays[0].Signature == "" {
		t.Fatalf("manifest seals: key %q days %+v", m.SealPublicKey, m.SealDays)
	}

	// The owner rewrites the day: a position moved, two audit entries gone.
	tamper := func(stmts ...string) {
		t.Helper()
		for _, q := range stmts {
			if _, err := s.Pool.Exec(ctx, q); err != nil {
				t.Fatalf("%s: %v", q, err)
			}
		}
	}
	tamper(`UPDATE positions SET geom = ST_SetSRID(ST_MakePoint(114.3, 30.6), 4326) WHERE device_time = '2026-11-20 09:05:00+08'`,
		`ALTER TABLE audit_log DISABLE TRIGGER USER`, `DELETE FROM audit_log WHERE at > '2026-11-20 09:30:00+08'`,
		`ALTER TABLE audit_log ENABLE TRIGGER USER`)
	problems, err := st.VerifySealsWith(ctx, all[0], all[1], check)
	if err != nil {
		t.Fatal(err)
	}
	if !hasProblem(problems, "positions", "digest mismatch", v) || !hasProblem(problems, "audit_log", "1 rows now, 3 sealed", 0) {
		t.Fatalf("tampered rows: %v, want positions of vehicle %d and the audit log named", problems, v)
	}

	// ... deletes the seals and lets the job run again, with the key.
	rebuild := func(with *track.Store) {
		t.Helper()
		for _, tbl := range []string{"seals", "seal_parts", "seal_days"} {
			tamper(`ALTER TABLE `+tbl+` DISABLE TRIGGER USER`, `DELETE FROM `+tbl, `ALTER TABLE `+tbl+` ENABLE TRIGGER USER`)
		}
		if _, err := with.SealDays(ctx, sealedAt); err != nil {
			t.Fatal(err)
		}
	}
	rebuild(st)
	// Within the database alone the rebuilt chain holds: that was the hole.
	if problems, err := st.VerifySealsWith(ctx, all[0], all[1], track.SealCheck{PublicKey: pub}); err != nil || len(problems) != 0 {
		t.Fatalf("rebuilt seals, no offline digests: %v %v", problems, err)
	}
	// Against the digest kept offline, and against the export, it fails.
	problems, err = st.VerifySealsWith(ctx, all[0], all[1], check)
	if err != nil || !hasProblem(problems, "seal_days", "rebuilt", 0) {
		t.Fatalf("rebuilt seal against the offline digest: %v %v", problems, err)
	}
	verifier := track.NewStore(s.Pool)
	verifier.SetSealPublicKey(pub)
	problems, err = verifier.CheckManifestSeals(ctx, m)
	if err != nil || !hasProblem(problems, "seal_days", "rebuilt", 0) || problems[0].Day.Format(time.DateOnly) != "2026-11-20" {
		t.Fatalf("rebuilt seal against the export: %v %v", problems, err)
	}

	// Rebuilt without the key (another key, or none): the signatures fail
	// against the public key kept offline.
	_, other, _ := ed25519.GenerateKey(rand.Reader)
	forger := track.NewStore(s.Pool)
	forger.SetSealKey(other)
	rebuild(forger)
	problems, _ = st.VerifySealsWith(ctx, all[0], all[1], track.SealCheck{PublicKey: pub})
	if !hasProblem(problems, "seal_days", "signed by another key", 0) {
		t.Fatalf("seal signed by another key: %v", problems)
	}
	rebuild(track.NewStore(s.Pool))
	problems, _ = st.VerifySealsWith(ctx, all[0], all[1], track.SealCheck{PublicKey: pub})
	if !hasProblem(problems, "seal_days", "unsigned", 0) {
		t.Fatalf("unsigned rebuild: %v", problems)
	}
	// A signature edited in the database does not verify.
	rebuild(st)
	tamper(`ALTER TABLE seal_days DISABLE TRIGGER USER`, `UPDATE seal_days SET sealed_at = sealed_at - interval '1 day'`,
		`ALTER TABLE seal_days ENABLE TRIGGER USER`)
	problems, _ = st.VerifySealsWith(ctx, all[0], all[1], track.SealCheck{PublicKey: pub})
	if !hasProblem(problems, "seal_days", "signature invalid", 0) {
		t.Fatalf("edited record: %v", problems)
	}
	// A day record deleted while a later one stays is named missing.
	rebuild(st)
	if _, err := st.SealDays(ctx, sealedAt.AddDate(0, 0, 1)); err != nil {
		t.Fatal(err)
	}
	tamper(`ALTER TABLE seal_days DISABLE TRIGGER USER`, `DELETE FROM seal_days WHERE day = '2026-11-20'`,
		`ALTER TABLE seal_days ENABLE TRIGGER USER`)
	problems, _ = st.VerifySealsWith(ctx, all[0], all[1], track.SealCheck{PublicKey: pub})
	if !hasProblem(problems, "seal_days", "missing", 0) {
		t.Fatalf("deleted day record: %v", problems)
	}
}

func hasProblem(ps []track.SealProblem, kind, what string, vehicle int64) bool {
	for _, p := range ps {
		if p.Kind == kind && strings.Contains(p.What, what) && (vehicle == 0 || p.VehicleID == vehicle) && !p.Warning {
			return true
		}
	}
	return false
}
