package alerts

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/jackc/pgx/v5"
)

// PutParams stores the parameters a unit sets (unit 0: the defaults for
// every unit), after checking them; the names it leaves out are
// inherited. It replaces what the unit set before.
func (s *Store) PutParams(ctx context.Context, unit int64, o Overrides) error {
	if err := o.Check(); err != nil {
		return err
	}
	js, err := json.Marshal(o)
	if err != nil {
		return err
	}
	_, err = s.db.Exec(ctx, `INSERT INTO alert_params (unit_id, params) VALUES ($1, $2)
		ON CONFLICT (unit_id) DO UPDATE SET params = excluded.params,
			version = alert_params.version + 1, updated_at = now()`, nullID(unit), js)
	if err != nil {
		return fmt.Errorf("store params of unit %d: %w", unit, err)
	}
	return nil
}

// Check checks the values o sets: each in range. (Each parameter is
// checked on its own, so a unit's overrides are valid whatever it
// inherits.)
func (o Overrides) Check() error {
	p, err := o.apply(DefaultParams())
	if err != nil {
		return err
	}
	return p.validate()
}

// DeleteParams removes what a unit sets: it inherits every parameter
// again. It reports whether the unit had any.
func (s *Store) DeleteParams(ctx context.Context, unit int64) (bool, error) {
	tag, err := s.db.Exec(ctx, "DELETE FROM alert_params WHERE unit_id IS NOT DISTINCT FROM $1", nullID(unit))
	if err != nil {
		return false, fmt.Errorf("delete params of unit %d: %w", unit, err)
	}
	return tag.RowsAffected() > 0, nil
}

// Params reads the stored parameters: what the defaults (unit 0) and each
// unit set. Rows written before parameters were inherited one by one hold
// every parameter, with durations in nanoseconds: they read as a unit
// setting them all, as they did.
func (s *Store) Params(ctx context.Context) (map[int64]Overrides, error) {
	out := map[int64]Overrides{}
	rows, err := s.pool.Query(ctx, "SELECT COALESCE(unit_id, 0), params FROM alert_params")
	if err != nil {
		return nil, fmt.Errorf("load params: %w", err)
	}
	var unit int64
	var js []byte
	_, err = pgx.ForEachRow(rows, []any{&unit, &js}, func() error {
		o, err := parseOverrides(js, true)
		if err != nil {
			return fmt.Errorf("unit %d: %w", unit, err)
		}
		out[unit] = o
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("load params: %w", err)
	}
	return out, nil
}
