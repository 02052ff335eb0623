package track

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/jackc/pgx/v5"
)

// Unit is one node of the organisation tree.
type Unit struct {
	ID       int64
	ParentID int64 // 0 at the top
	Name     string
	// Path is the names from the top, "/"-separated.
	Path string
}

// Units returns the units in scope, ordered by path.
func (s *Store) Units(ctx context.Context, sc Scope) ([]Unit, error) {
	rows, err := s.db.Query(ctx, `SELECT u.id, COALESCE(u.parent_id, 0), u.name, unit_path(u.id) AS path
		FROM units u WHERE u.id IN (SELECT unit_subtree($1)) ORDER BY path`, sc.root())
	if err != nil {
		return nil, fmt.Errorf("list units: %w", err)
	}
	return pgx.CollectRows(rows, pgx.RowToStructByPos[Unit])
}

// UnitIn returns the unit id if it is in scope.
func (s *Store) UnitIn(ctx context.Context, sc Scope, id int64) (Unit, error) {
	var u Unit
	err := s.db.QueryRow(ctx, `SELECT u.id, COALESCE(u.parent_id, 0), u.name, unit_path(u.id)
		FROM units u WHERE u.id = $2 AND u.id IN (SELECT unit_subtree($1))`, sc.root(), id).
		Scan(&u.ID, &u.ParentID, &u.Name, &u.Path)
	if errors.Is(err, pgx.ErrNoRows) {
		return u, ErrNotFound
	}
	if err != nil {
		return u, fmt.Errorf("unit %d: %w", id, err)
	}
	return u, nil
}

// UnitByPath returns the unit named by a "/"-separated path from the top.
func (s *Store) UnitByPath(ctx context.Context, path string) (Unit, error) {
	var parent *int64
	var u Unit
	for _, name := range strings.Split(path, "/") {
		name = strings.TrimSpace(name)
		err := s.db.QueryRow(ctx, "SELECT id FROM units WHERE parent_id IS NOT DISTINCT FROM $1 AND name = $2", parent, name).Scan(&u.ID)
		if errors.Is(err, pgx.ErrNoRows) {
			return Unit{}, fmt.Errorf("unit %q: %w", path, ErrNotFound)
		}
		if err != nil {
			return Unit{}, fmt.Errorf("unit %q: %w", path, err)
		}
		id := u.ID
		parent = &id
		u.Name = name
	}
	u.Path = path
	return u, nil
}

// validUnitName reports whether name can name a unit (the CHECK of units.name).
func validUnitName(name string) bool {
	return name != "" && !strings.Contains(name, "/") && len(name) <= 200
}

// CreateUnit creates a unit under parent (0: at the top, only in scope All).
func (s *Store) CreateUnit(ctx context.Context, sc Scope, parent int64, name string) (Unit, error) {
	name = strings.TrimSpace(name)
	if !validUnitName(name) {
		return Unit{}, fmt.Errorf("unit name %q: %w", name, ErrConflict)
	}
	if parent == 0 && sc.Root != 0 {
		return Unit{}, ErrNotFound
	}
	if parent != 0 {
		if _, err := s.UnitIn(ctx, sc, parent); err != nil {
			return Unit{}, err
		}
	}
	var p *int64
	if parent != 0 {
		p = &parent
	}
	var id int64
	if err := s.db.QueryRow(ctx, "INSERT INTO units (parent_id, name) VALUES ($1, $2) RETURNING id", p, name).Scan(&id); err != nil {
		return Unit{}, conflictOr(err, "create unit")
	}
	return s.UnitIn(ctx, All, id)
}

// RenameUnit renames a unit in scope.
func (s *Store) RenameUnit(ctx context.Context, sc Scope, id int64, name string) (Unit, error) {
	name = strings.TrimSpace(name)
	if !validUnitName(name) {
		return Unit{}, fmt.Errorf("unit name %q: %w", name, ErrConflict)
	}
	tag, err := s.db.Exec(ctx, "UPDATE units SET name = $3 WHERE id = $2 AND id IN (SELECT unit_subtree($1))", sc.root(), id, name)
	if err != nil {
		return Unit{}, conflictOr(err, "rename unit")
	}
	if tag.RowsAffected() == 0 {
		return Unit{}, ErrNotFound
	}
	return s.UnitIn(ctx, All, id)
}

// MoveUnit moves a unit in scope under another unit in scope. The scope's
// root itself cannot be moved (it would leave the scope), nor can a unit go
// under its own subtree.
func (s *Store) MoveUnit(ctx context.Context, sc Scope, id, parent int64) (Unit, error) {
	if id == sc.Root {
		return Unit{}, ErrNotFound
	}
	err := pgx.BeginFunc(ctx, s.db, func(tx pgx.Tx) error {
		// Serialise moves: two concurrent moves could otherwise make a cycle.
		if _, err := tx.Exec(ctx, "LOCK TABLE units IN SHARE ROW EXCLUSIVE MODE"); err != nil {
			return err
		}
		var ok bool
		if err := tx.QueryRow(ctx, `SELECT $2::bigint IN (SELECT unit_subtree($1)) AND $3::bigint IN (SELECT unit_subtree($1))`,
			sc.root(), id, parent).Scan(&ok); err != nil {
			return err
		}
		if !ok {
			return ErrNotFound
		}
		var cycle bool
		if err := tx.QueryRow(ctx, "SELECT $2::bigint IN (SELECT unit_subtree($1))", id, parent).Scan(&cycle); err != nil {
			return err
		}
		if cycle {
			return fmt.Errorf("unit %d under its own subtree: %w", id, ErrConflict)
		}
		_, err := tx.Exec(ctx, "UPDATE units SET parent_id = $2 WHERE id = $1", id, parent)
		return err
	})
	if err != nil {
		if errors.Is(err, ErrNotFound) || errors.Is(err, ErrConflict) {
			return Unit{}, err
		}
		return Unit{}, conflictOr(err, "move unit")
	}
	return s.UnitIn(ctx, All, id)
}

// ImportUnits creates every unit named by paths (each a "/"-separated path of
// names from the top) that is missing, in one transaction, and returns how
// many units exist afterwards along those paths.
func (s *Store) ImportUnits(ctx context.Context, paths [][]string) (int, error) {
	seen := map[int64]bool{}
	err := pgx.BeginFunc(ctx, s.db, func(tx pgx.Tx) error {
		for _, p := range paths {
			var parent *int64
			for _, name := range p {
				var id int64
				err := tx.QueryRow(ctx, `INSERT INTO units (parent_id, name) VALUES ($1, $2)
					ON CONFLICT (parent_id, name) DO UPDATE SET name = excluded.name RETURNING id`, parent, name).Scan(&id)
				if err != nil {
					return conflictOr(err, fmt.Sprintf("unit %q", strings.Join(p, "/")))
				}
				seen[id] = true
				parent = &id
			}
		}
		return nil
	})
	return len(seen), err
}
