package main

import (
	"context"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"fleetmon/track"
	"fleetmon/track/pgtest"
)

// TestPointInTimeRestore is the restore drill of docs/DEPLOY.md (see
// pointInTimeRestore) on the primary of the Patroni pair that TestFailover
// runs, archiving as docs/DEPLOY.md configures it: through Patroni's
// dynamic configuration, into a stanza that names both nodes, pgBackRest
// finding the primary among them. Then fleetd backup status and serve's
// metrics report the backup and the WAL archiver.
func TestPointInTimeRestore(t *testing.T) {
	b := newPatroniDrill(t, needPgBackRest(t))
	s := pointInTimeRestore(t, b)

	// What the operator watches. (Serve comes last: its seal job would
	// seal the days up to today.)
	status := []string{"backup", "status", "--backup-stanza", b.stanza, "--pgbackrest-config", b.conf}
	if code, out, errs := fleetd(t, status...); code != 0 || !strings.Contains(out, "last full backup ") || !strings.Contains(out, "OK") {
		t.Errorf("backup status: exit %d\n%s%s", code, out, errs)
	}
	if code, out, errs := fleetd(t, append(status, "--max-age", "1ms")...); code != 1 || !strings.Contains(errs, "more than --max-age") {
		t.Errorf("backup status --max-age 1ms: exit %d, want 1\n%s%s", code, out, errs)
	}
	srv := startServe(t, "--db", s.ConnString, "--data-dir", t.TempDir(), "--backup-stanza", b.stanza, "--pgbackrest-config", b.conf)
	body := scrapeUntil(t, srv.HTTP, []string{
		"fleetmon_wal_archive_enabled 1", "fleetmon_wal_archive_failures_total 0", "fleetmon_wal_archive_age_seconds ",
		`fleetmon_backup_last_success_timestamp_seconds{type="full"}`, "fleetmon_backup_age_seconds ",
	})
	if !strings.Contains(body, "fleetmon_wal_archived_total ") || strings.Contains(body, "fleetmon_wal_archived_total 0\n") {
		t.Errorf("no WAL archived, by /metrics:\n%s", grepLines(body, "fleetmon_wal"))
	}
	if strings.Contains(body, `result="error"`) {
		t.Errorf("a maintenance job failed:\n%s", grepLines(body, "fleetmon_maintenance"))
	}
}

// pointInTimeRestore is the restore drill, with pgBackRest: the cluster
// archives its WAL into a local repository; reports are stored and days
// sealed with the seal key; a full backup is taken; more is written and
// sealed, a point in time picked, and more written and sealed after it.
// The backup is restored into a fresh data directory to that point and
// started as a cluster of its own: every row up to the point is there,
// none after, and fleetd verify --seals passes for every sealed day
// against the public key kept offline. It returns the test's schema on the
// original cluster.
func pointInTimeRestore(t *testing.T, b *backupDrill) *pgtest.Schema {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	s := pgtest.NewOn(t, b.connString)
	csv := writeFile(t, "v.csv", "plate,plate_color,terminal_phone,unit,category\n鄂B12345,1,13800000001,湖北省/黄石市,general\n")
	if code, out, errs := fleetd(t, "vehicles", "import", "--db", s.ConnString, csv); code != 0 {
		t.Fatalf("import: %d %s %s", code, out, errs)
	}
	keyPath := filepath.Join(t.TempDir(), "seal.key")
	if _, err := track.CreateSealKey(keyPath); err != nil {
		t.Fatal(err)
	}
	key, err := track.LoadSealKey(keyPath)
	if err != nil {
		t.Fatal(err)
	}
	app := s.AppPool(t)
	st := track.NewStore(app)
	st.SetSealKey(key)
	var vid, tid int64
	if err := s.Pool.QueryRow(ctx, "SELECT vehicle_id, id FROM terminals").Scan(&vid, &tid); err != nil {
		t.Fatal(err)
	}
	cst := time.FixedZone("CST", 8*3600)
	day := func(d int) time.Time { return time.Date(2026, 11, 20+d, 9, 0, 0, 0, cst) }
	// store writes ten reports received on day d (0 is 2026-11-20), the
	// k-th batch of that day, in one transaction as the writer does.
	store := func(d, k int) {
		t.Helper()
		err := pgx.BeginFunc(ctx, app, func(tx pgx.Tx) error {
			if _, err := tx.Exec(ctx, `SELECT ensure_month_partition('positions', $1)`, day(d)); err != nil {
				return err
			}
			for i := range 10 {
				at := day(d).Add(time.Duration(k*10+i) * time.Minute)
				if _, err := tx.Exec(ctx, `INSERT INTO positions (vehicle_id, device_time, received_at, terminal_id, geom, speed_kmh, heading, altitude_m, alarm, status, fix_hash)
					VALUES ($2, $1, $1, $3, ST_SetSRID(ST_MakePoint(115.04, 30.2), 4326), 30, 90, 20, 0, 3, $4)`, at, vid, tid, int64(d*1000+k*10+i)); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			t.Fatalf("store day %d batch %d: %v", d, k, err)
		}
	}
	// seal seals every day that ended before day d began, as serve's
	// hourly job does on day d.
	seal := func(d int) {
		t.Helper()
		if _, err := st.SealDays(ctx, day(d)); err != nil {
			t.Fatal(err)
		}
	}

	store(0, 0)
	seal(1)
	b.pgbackrest(ctx, "backup", "--type=full")
	store(1, 0)
	seal(2)
	store(2, 0)
	// The point in time, in whole seconds as an operator gives it: after
	// the last commit to keep, before the first to lose, by the server's
	// clock that stamps the commits.
	target := b.nextSecond(ctx)
	store(2, 1)
	seal(3)
	// check switches to a new WAL segment and waits until the old one,
	// which holds the last commits, is in the repository.
	b.pgbackrest(ctx, "check")

	restored := b.restore(ctx, target)
	cs := restored.connString(s.Name)
	conn, err := pgx.Connect(ctx, cs)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	var before, after int
	if err := conn.QueryRow(ctx, `SELECT count(*) FILTER (WHERE received_at < $1), count(*) FILTER (WHERE received_at >= $1)
		FROM positions`, day(2).Add(10*time.Minute)).Scan(&before, &after); err != nil {
		t.Fatal(err)
	}
	if before != 30 || after != 0 {
		t.Errorf("restored to %s: %d reports up to the point (want 30), %d after it (want 0)", target.Format(time.RFC3339Nano), before, after)
	}
	rows, _ := conn.Query(ctx, `SELECT DISTINCT day::text FROM seals ORDER BY 1`)
	sealed, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(sealed, " ") != "2026-11-20 2026-11-21" {
		t.Errorf("restored seals for days %v, want 2026-11-20 and 2026-11-21 (the seal of 2026-11-22 came after the point)", sealed)
	}
	code, out, errs := fleetd(t, "verify", "--seals", "--from", "2026-11-20", "--to", "2026-11-22", "--db", cs, "--seal-pubkey", keyPath+".pub")
	if code != 0 || !strings.Contains(out, "2026-11-20 ") || !strings.Contains(out, "2026-11-21 ") || strings.Contains(out, "unsigned") {
		t.Errorf("verify --seals on the restored cluster: exit %d\n%s%s", code, out, errs)
	}

	return s
}
