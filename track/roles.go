package track

import (
	"context"
	"fmt"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// Least privilege in the database. The schema belongs to an owner role,
// which runs the migrations; fleetd serve connects as a runtime role that
// owns nothing. Owning a table is what lets a login disable its triggers,
// drop them or truncate it, so the append-only guarantees of the audit log
// and the evidence tables hold only against a login that owns none of
// them and may only insert into them.

// EvidenceTables may only be inserted into and read by the runtime role:
// the audit log, what the daily seals cover or record, and the vehicles'
// seal (封存) history.
var EvidenceTables = []string{"audit_log", "positions", "raw_frames", "seals", "seal_parts", "seal_days", "vehicle_seals"}

// readOnlyTables may only be read by the runtime role.
var readOnlyTables = []string{"schema_migrations"}

// GrantRuntime gives role, an existing role that owns nothing in the
// schema, what fleetd serve needs there: SELECT, INSERT, UPDATE and DELETE
// on the working tables, SELECT and INSERT on EvidenceTables, SELECT on
// the migration record, the partition function, and no TRUNCATE,
// REFERENCES, TRIGGER or CREATE. It runs as the owner (pool), in the
// schema first on its search_path, after every migration, and is
// idempotent: the grants are recomputed from nothing each time, so a table
// a later migration adds gets them too.
func GrantRuntime(ctx context.Context, pool *pgxpool.Pool, role string) error {
	if err := checkRuntimeRole(ctx, pool, role); err != nil {
		return err
	}
	r := pgx.Identifier{role}.Sanitize()
	ev := strings.Join(EvidenceTables, ", ")
	stmts := []string{
		"REVOKE ALL ON ALL TABLES IN SCHEMA %[1]s FROM %[2]s",
		"REVOKE ALL ON ALL SEQUENCES IN SCHEMA %[1]s FROM %[2]s",
		"REVOKE CREATE ON SCHEMA %[1]s FROM %[2]s",
		"GRANT USAGE ON SCHEMA %[1]s TO %[2]s",
		"GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA %[1]s TO %[2]s",
		"REVOKE UPDATE, DELETE ON " + ev + " FROM %[2]s",
		"REVOKE INSERT, UPDATE, DELETE ON " + strings.Join(readOnlyTables, ", ") + " FROM %[2]s",
		"GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA %[1]s TO %[2]s",
		"GRANT EXECUTE ON FUNCTION ensure_month_partition(regclass, timestamptz) TO %[2]s",
	}
	return pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
		var schema string
		if err := tx.QueryRow(ctx, "SELECT current_schema()").Scan(&schema); err != nil {
			return fmt.Errorf("grant runtime role %s: %w", role, err)
		}
		s := pgx.Identifier{schema}.Sanitize()
		for _, st := range stmts {
			q := fmt.Sprintf(st, s, r)
			if _, err := tx.Exec(ctx, q); err != nil {
				return fmt.Errorf("grant runtime role %s: %s: %w", role, q, err)
			}
		}
		return nil
	})
}

// checkRuntimeRole refuses a runtime role that is missing, a superuser, or
// able to act as the owner (the owner itself, or a member of it): granting
// it less would change nothing.
func checkRuntimeRole(ctx context.Context, pool *pgxpool.Pool, role string) error {
	var exists, super, owner bool
	var self string
	err := pool.QueryRow(ctx, `SELECT true, rolsuper, pg_has_role($1, current_user, 'MEMBER'), current_user::text
		FROM pg_roles WHERE rolname = $1`, role).Scan(&exists, &super, &owner, &self)
	if err == pgx.ErrNoRows {
		return fmt.Errorf("runtime role %q does not exist: create it first (CREATE ROLE %s LOGIN PASSWORD '...', as a role with CREATEROLE)",
			role, pgx.Identifier{role}.Sanitize())
	}
	if err != nil {
		return fmt.Errorf("look up runtime role %s: %w", role, err)
	}
	if super {
		return fmt.Errorf("runtime role %q is a superuser: it would bypass every privilege", role)
	}
	if owner {
		return fmt.Errorf("runtime role %q is, or is a member of, the owner role %q: it could alter the tables", role, self)
	}
	return nil
}

// Privilege is what a database login may do to fleetmon's tables, as
// fleetd serve reports it at start.
type Privilege int

const (
	// PrivRuntime owns nothing: the append-only tables hold against it.
	PrivRuntime Privilege = iota
	// PrivOwner owns the audit log (or may act as its owner): it can
	// disable the triggers that keep it append-only.
	PrivOwner
	// PrivSuperuser bypasses every check.
	PrivSuperuser
)

// CurrentPrivilege says whether the pool's login is a superuser, the owner
// of audit_log (or a member of the owner), or neither.
func CurrentPrivilege(ctx context.Context, pool *pgxpool.Pool) (Privilege, error) {
	var super, owner bool
	err := pool.QueryRow(ctx, `SELECT r.rolsuper,
			COALESCE(pg_has_role((SELECT relowner FROM pg_class WHERE oid = to_regclass('audit_log')), 'MEMBER'), false)
		FROM pg_roles r WHERE r.rolname = current_user`).Scan(&super, &owner)
	if err != nil {
		return 0, fmt.Errorf("look up the database login's privileges: %w", err)
	}
	switch {
	case super:
		return PrivSuperuser, nil
	case owner:
		return PrivOwner, nil
	}
	return PrivRuntime, nil
}

// TransferOwnership makes role the owner of every table, sequence, view and
// function of the current schema that the connection's login owns and
// that no extension installed: for a schema created by a superuser before
// the owner role existed. It runs as that superuser.
func TransferOwnership(ctx context.Context, conn *pgx.Conn, role string) (int, error) {
	rows, err := conn.Query(ctx, `
		SELECT CASE c.relkind WHEN 'S' THEN 'SEQUENCE' WHEN 'v' THEN 'VIEW' WHEN 'm' THEN 'MATERIALIZED VIEW' ELSE 'TABLE' END,
			c.oid::regclass::text
		FROM pg_class c
		WHERE c.relnamespace = current_schema()::regnamespace AND c.relkind IN ('r', 'p', 'S', 'v', 'm')
			AND c.relowner = (SELECT oid FROM pg_roles WHERE rolname = current_user)
			AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.classid = 'pg_class'::regclass AND d.objid = c.oid AND d.deptype = 'e')
			-- A sequence owned by an identity column follows its table.
			AND NOT (c.relkind = 'S' AND EXISTS (SELECT 1 FROM pg_depend d WHERE d.classid = 'pg_class'::regclass AND d.objid = c.oid AND d.deptype IN ('a', 'i')))
		UNION ALL
		SELECT 'FUNCTION', p.oid::regprocedure::text
		FROM pg_proc p
		WHERE p.pronamespace = current_schema()::regnamespace
			AND p.proowner = (SELECT oid FROM pg_roles WHERE rolname = current_user)
			AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.classid = 'pg_proc'::regclass AND d.objid = p.oid AND d.deptype = 'e')`)
	if err != nil {
		return 0, fmt.Errorf("list objects to give to %s: %w", role, err)
	}
	type obj struct{ kind, name string }
	var objs []obj
	var o obj
	if _, err := pgx.ForEachRow(rows, []any{&o.kind, &o.name}, func() error { objs = append(objs, o); return nil }); err != nil {
		return 0, fmt.Errorf("list objects to give to %s: %w", role, err)
	}
	r := pgx.Identifier{role}.Sanitize()
	for _, o := range objs {
		if _, err := conn.Exec(ctx, "ALTER "+o.kind+" "+o.name+" OWNER TO "+r); err != nil {
			return 0, fmt.Errorf("give %s %s to %s: %w", strings.ToLower(o.kind), o.name, role, err)
		}
	}
	return len(objs), nil
}
