package track_test

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"testing"
	"time"

	"fleetmon/track"
	"fleetmon/track/pgtest"
)

// TestImportSeals: the vehicle import's optional seal columns record a
// seal with its time and reason; importing the same file again records
// nothing; a bad value names its line.
func TestImportSeals(t *testing.T) {
	s := pgtest.New(t)
	ctx := context.Background()
	st := track.NewStore(s.Pool)
	const file = `plate,plate_color,terminal_phone,unit,category,sealed,sealed_at,seal_reason
鄂B00001,1,13800000001,湖北省/黄石市,general,是,2026-11-10 08:00,待拍卖
鄂B00002,1,13800000002,湖北省/黄石市,general,,,
`
	for range 2 {
		vs, err := track.ParseVehicleCSV(strings.NewReader(file))
		if err != nil {
			t.Fatal(err)
		}
		if _, _, err := st.ImportVehicles(ctx, vs); err != nil {
			t.Fatal(err)
		}
	}
	vs, err := st.ListVehicles(ctx)
	if err != nil {
		t.Fatal(err)
	}
	es, err := track.SealEntries(ctx, s.Pool, 0)
	if err != nil {
		t.Fatal(err)
	}
	want := time.Date(2026, 11, 10, 8, 0, 0, 0, track.Beijing)
	if len(es) != 1 || es[0].VehicleID != vs[0].ID || !es[0].Sealed || !es[0].At.Equal(want) || es[0].Reason != "待拍卖" {
		t.Fatalf("seal entries after importing twice: %+v", es)
	}
	var audited int
	if err := s.Pool.QueryRow(ctx, `SELECT count(*) FROM audit_log WHERE action = 'vehicle.seal' AND reason = '待拍卖'
		AND vehicle_id = $1 AND period_from = $2`, vs[0].ID, want).Scan(&audited); err != nil || audited != 1 {
		t.Errorf("%d audit entries of the imported seal (%v), want 1", audited, err)
	}
	if !vs[0].Sealed || vs[1].Sealed {
		t.Errorf("sealed now: %v %v, want true false", vs[0].Sealed, vs[1].Sealed)
	}
	_, err = track.ParseVehicleCSV(strings.NewReader(`plate,plate_color,terminal_phone,unit,category,sealed,sealed_at,seal_reason
鄂B00003,1,,湖北省/黄石市,general,maybe,,
鄂B00004,1,,湖北省/黄石市,general,true,yesterday,
鄂B00005,1,,湖北省/黄石市,general,,,why
`))
	for _, w := range []string{`line 2: sealed "maybe"`, `line 3: sealed_at "yesterday"`, "line 4: sealed_at and seal_reason need sealed"} {
		if err == nil || !strings.Contains(err.Error(), w) {
			t.Errorf("bad seal columns: %v, want %q", err, w)
		}
	}
}

// TestMigrateSealFlags: migration 0013 turns the seal flags into history,
// at the times the audit log gives for seals and unseals made through the
// API, and a flag it does not explain into a seal from before any report.
func TestMigrateSealFlags(t *testing.T) {
	s := pgtest.New(t)
	ctx := context.Background()
	st := track.NewStore(s.Pool)
	vs, err := track.ParseVehicleCSV(strings.NewReader(`plate,plate_color,terminal_phone,unit,category
鄂B00001,1,,湖北省/黄石市,general
鄂B00002,1,,湖北省/黄石市,general
鄂B00003,1,,湖北省/黄石市,general
`))
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := st.ImportVehicles(ctx, vs); err != nil {
		t.Fatal(err)
	}
	// The schema as it was before 0013, with its flags and audit entries.
	t1 := time.Date(2026, 11, 1, 9, 0, 0, 0, track.Beijing)
	t2 := t1.AddDate(0, 0, 5)
	for _, q := range []string{
		`DROP TABLE vehicle_seals`,
		`DROP FUNCTION vehicle_sealed_at(bigint, timestamptz)`,
		`DROP FUNCTION vehicle_seals_append_only()`,
		`ALTER TABLE vehicles ADD COLUMN sealed boolean NOT NULL DEFAULT false`,
		`DELETE FROM schema_migrations WHERE version = 13`,
		`UPDATE vehicles SET sealed = plate IN ('鄂B00001', '鄂B00002')`,
	} {
		if _, err := s.Pool.Exec(ctx, q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	for _, a := range []struct {
		plate, action string
		at            time.Time
	}{{"鄂B00001", "vehicle.seal", t1}, {"鄂B00003", "vehicle.seal", t1}, {"鄂B00003", "vehicle.unseal", t2}} {
		if _, err := s.Pool.Exec(ctx, `INSERT INTO audit_log (at, actor_id, actor_name, action, vehicle_id)
			SELECT $1, 7, 'yx_super', $2, id FROM vehicles WHERE plate = $3`, a.at, a.action, a.plate); err != nil {
			t.Fatal(err)
		}
	}
	if n, err := track.Migrate(ctx, s.Pool, slog.New(slog.DiscardHandler)); err != nil || n != 1 {
		t.Fatalf("migrate: %d %v", n, err)
	}
	es, err := track.SealEntries(ctx, s.Pool, 0)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, e := range es {
		got = append(got, fmt.Sprintf("%d %v %s %s %d", e.VehicleID, e.Sealed, e.At.In(track.Beijing).Format(time.DateTime), e.ActorName, e.ActorID))
	}
	want := []string{
		"1 true 2026-11-01 09:00:00 yx_super 7",
		"2 true 2000-01-01 00:00:00 (migration) 0",
		"3 true 2026-11-01 09:00:00 yx_super 7",
		"3 false 2026-11-06 09:00:00 yx_super 7",
	}
	if !slices.Equal(got, want) {
		t.Errorf("history after migrating:\n\t%s\nwant\n\t%s", strings.Join(got, "\n\t"), strings.Join(want, "\n\t"))
	}
}
