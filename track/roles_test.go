package track_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"fleetmon/track"
	"fleetmon/track/pgtest"
)

// tamperStatements are what an insider holding the application's database
// login would try on the append-only tables: turn the guard off, go
// around it, or remove it.
var tamperStatements = []string{
	`ALTER TABLE audit_log DISABLE TRIGGER audit_log_no_change`,
	`ALTER TABLE audit_log DISABLE TRIGGER ALL`,
	`SET session_replication_role = replica`,
	`UPDATE audit_log SET reason = 'nothing to see'`,
	`DELETE FROM audit_log WHERE action = 'track.view'`,
	`TRUNCATE audit_log`,
	`DROP TRIGGER audit_log_no_change ON audit_log`,
	`CREATE OR REPLACE FUNCTION audit_log_append_only() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RETURN OLD; END $$`,
	`ALTER TABLE audit_log OWNER TO CURRENT_USER`,
	`CREATE TABLE audit_log_copy (LIKE audit_log)`,
	`CREATE FUNCTION nothing() RETURNS int LANGUAGE sql AS 'SELECT 1'`,
	`DROP TABLE audit_log`,
	`UPDATE positions SET speed_kmh = 0`,
	`DELETE FROM positions`,
	`TRUNCATE positions`,
	`UPDATE raw_frames SET disposition = 'ok'`,
	`DELETE FROM raw_frames`,
	`DROP TABLE raw_frames_2026m11`,
	`DELETE FROM seals`,
	`ALTER TABLE seals DISABLE TRIGGER seals_no_change`,
	`TRUNCATE seal_parts`,
	`UPDATE vehicle_seals SET sealed = false`,
	`DELETE FROM vehicle_seals`,
	`TRUNCATE vehicle_seals`,
	`ALTER TABLE vehicle_seals DISABLE TRIGGER vehicle_seals_no_change`,
	`SELECT ensure_month_partition('audit_log'::regclass, now())`,
}

// TestRuntimeRoleCannotTamper runs every tampering statement as the runtime
// role fleetd serve uses, on a schema holding an audit entry, positions,
// raw frames and seals: each must be refused (and leave the rows as they
// were), while what serve does (insert, read, keep its working tables,
// make a month's partition) still works.
func TestRuntimeRoleCannotTamper(t *testing.T) {
	s := pgtest.New(t)
	ctx := context.Background()
	v, term := seedVehicle(t, s.Pool, "鄂B00901", "13800000901")
	day := time.Date(2026, 11, 20, 10, 0, 0, 0, beijing)
	app := s.AppPool(t)
	// Serve's own work, as the runtime role: positions and frames through
	// the writer (which makes the month's partitions), an audit entry, a
	// change to a working table, the day's seals.
	w := startWriter(t, app, track.WriterConfig{})
	p := pos(v, term, day, 30.2, 115.04)
	p.Received = day
	frames := []track.RawFrame{{ID: track.NewFrameID(), Received: day, TerminalID: term, Phone: "13800000901", MsgID: 0x0200, Frame: []byte{1, 2, 3}}}
	if err := w.Write(ctx, 0, []track.Position{p}, frames); err != nil {
		t.Fatalf("runtime role writes positions: %v", err)
	}
	if _, err := app.Exec(ctx, `INSERT INTO audit_log (at, actor_name, action, vehicle_id, reason) VALUES (now(), 'inspector', 'track.view', $1, 'case 7')`, v); err != nil {
		t.Fatalf("runtime role appends to the audit log: %v", err)
	}
	if _, err := app.Exec(ctx, `UPDATE vehicles SET category = 'special' WHERE id = $1`, v); err != nil {
		t.Fatalf("runtime role updates a vehicle: %v", err)
	}
	if _, _, err := track.NewStore(app).SetSeal(ctx, track.All, v, track.SealChange{Sealed: true, At: day, ActorName: "admin"}); err != nil {
		t.Fatalf("runtime role seals a vehicle: %v", err)
	}
	if _, err := track.NewStore(app).SealDays(ctx, day.AddDate(0, 0, 2)); err != nil {
		t.Fatalf("runtime role seals: %v", err)
	}
	counts := func() string {
		var a, ps, rf, sl, vs int
		if err := s.Pool.QueryRow(ctx, `SELECT (SELECT count(*) FROM audit_log), (SELECT count(*) FROM positions),
			(SELECT count(*) FROM raw_frames), (SELECT count(*) FROM seals), (SELECT count(*) FROM vehicle_seals WHERE sealed)`).Scan(&a, &ps, &rf, &sl, &vs); err != nil {
			t.Fatal(err)
		}
		return fmt.Sprintf("%d/%d/%d/%d/%d", a, ps, rf, sl, vs)
	}
	before := counts()
	// For comparison, what the same statements do as the owner (the login
	// fleetd served with before): each in a transaction rolled back.
	for _, stmt := range tamperStatements {
		tx, err := s.Pool.Begin(ctx)
		if err != nil {
			t.Fatal(err)
		}
		_, err = tx.Exec(ctx, stmt)
		_ = tx.Rollback(ctx)
		var pe *pgconn.PgError
		if errors.As(err, &pe) {
			t.Logf("owner: refused %s (%s)  %s", pe.Code, pe.Message, stmt)
		} else {
			t.Logf("owner: ALLOWED  %s", stmt)
		}
	}

	conn, err := pgx.Connect(ctx, s.AppConnString)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	for _, stmt := range tamperStatements {
		_, err := conn.Exec(ctx, stmt)
		var pe *pgconn.PgError
		if !errors.As(err, &pe) {
			t.Errorf("as the runtime role, %s: %v, want refused", stmt, err)
			continue
		}
		t.Logf("runtime: refused %s (%s)  %s", pe.Code, pe.Message, stmt)
	}
	if after := counts(); after != before {
		t.Errorf("audit/positions/frames/seals/vehicle seals rows went from %s to %s", before, after)
	}
	var role string
	if err := conn.QueryRow(ctx, "SHOW session_replication_role").Scan(&role); err != nil || role != "origin" {
		t.Errorf("session_replication_role is %q (%v), want origin", role, err)
	}
	if _, err := conn.Exec(ctx, "SELECT ensure_month_partition('positions'::regclass, $1)", day.AddDate(0, 3, 0)); err != nil {
		t.Errorf("runtime role makes a month's partition: %v", err)
	}
}

// TestGrantRuntimeRefusesOwner checks that the owner itself, or a
// superuser, is never "granted" as a runtime role: it would still own the
// tables.
func TestGrantRuntimeRefusesOwner(t *testing.T) {
	s := pgtest.New(t)
	var me string
	if err := s.Pool.QueryRow(context.Background(), "SELECT current_user::text").Scan(&me); err != nil {
		t.Fatal(err)
	}
	if err := track.GrantRuntime(context.Background(), s.Pool, me); err == nil {
		t.Fatalf("granted the owner %s as a runtime role", me)
	}
	if err := track.GrantRuntime(context.Background(), s.Pool, "no_such_role_xyz"); err == nil || !strings.Contains(err.Error(), "does not exist") {
		t.Fatalf("missing role: %v", err)
	}
	priv, err := track.CurrentPrivilege(context.Background(), s.AppPool(t))
	if err != nil || priv != track.PrivRuntime {
		t.Fatalf("runtime login's privilege %v, %v", priv, err)
	}
}
