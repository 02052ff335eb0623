package track

import (
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5/pgconn"
)

// Scope is a jurisdiction: the subtree of the unit Root, or every unit when
// Root is 0. Every query below filters by it in SQL (unit_subtree, migration
// 0002), so rows outside it are neither returned nor counted.
type Scope struct {
	Root int64
}

// All is the jurisdiction of an administrator at the top.
var All = Scope{}

// SQLArg returns the scope as the argument of unit_subtree(): the root id,
// or NULL for All.
func (s Scope) SQLArg() any { return s.root() }

func (s Scope) root() any {
	if s.Root == 0 {
		return nil
	}
	return s.Root
}

// ErrNotFound is returned for an object that does not exist or lies outside
// the caller's scope: the two are deliberately indistinguishable.
var ErrNotFound = errors.New("track: not found")

// ErrConflict is returned when a change would break a uniqueness rule
// (a plate, a unit name among its siblings, a terminal bound elsewhere) or
// the tree (a unit moved under itself).
var ErrConflict = errors.New("track: conflict")

func conflictOr(err error, what string) error {
	var pe *pgconn.PgError
	if errors.As(err, &pe) && (pe.Code == "23505" || pe.Code == "23514") {
		return fmt.Errorf("%s: %w", what, ErrConflict)
	}
	return fmt.Errorf("%s: %w", what, err)
}
