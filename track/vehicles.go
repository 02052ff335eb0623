package track

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"
)

// VehicleFilter narrows a vehicle list. Zero fields do not filter.
type VehicleFilter struct {
	Plate    string // substring
	UnitID   int64  // the unit's subtree
	Category Category
	Sealed   *bool
	Limit    int
	Offset   int
}

const vehicleColumns = `v.id, v.plate, v.plate_color, v.category, v.unit_id, unit_path(v.unit_id), vehicle_sealed_at(v.id, now()), COALESCE(t.phone, '')`

func scanVehicle(r pgx.Row) (Vehicle, error) {
	var v Vehicle
	var color int16
	var cat string
	err := r.Scan(&v.ID, &v.Plate, &color, &cat, &v.UnitID, &v.UnitPath, &v.Sealed, &v.TerminalPhone)
	v.PlateColor, v.Category = uint8(color), Category(cat)
	return v, err
}

// VehiclesIn returns a page of the vehicles in scope matching f, by plate,
// and how many match in all.
func (s *Store) VehiclesIn(ctx context.Context, sc Scope, f VehicleFilter) ([]Vehicle, int, error) {
	var unit any
	if f.UnitID != 0 {
		unit = f.UnitID
	}
	rows, err := s.db.Query(ctx, `SELECT `+vehicleColumns+`, count(*) OVER ()
		FROM vehicles v LEFT JOIN terminals t ON t.vehicle_id = v.id
		WHERE v.unit_id IN (SELECT unit_subtree($1))
		  AND ($2::bigint IS NULL OR v.unit_id IN (SELECT unit_subtree($2)))
		  AND ($3 = '' OR strpos(v.plate, $3) > 0)
		  AND ($4 = '' OR v.category = $4)
		  AND ($5::boolean IS NULL OR vehicle_sealed_at(v.id, now()) = $5)
		ORDER BY v.plate LIMIT $6 OFFSET $7`,
		sc.root(), unit, f.Plate, string(f.Category), f.Sealed, f.Limit, f.Offset)
	if err != nil {
		return nil, 0, fmt.Errorf("list vehicles: %w", err)
	}
	total := 0
	vs, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (Vehicle, error) {
		var v Vehicle
		var color int16
		var cat string
		err := r.Scan(&v.ID, &v.Plate, &color, &cat, &v.UnitID, &v.UnitPath, &v.Sealed, &v.TerminalPhone, &total)
		v.PlateColor, v.Category = uint8(color), Category(cat)
		return v, err
	})
	if err != nil {
		return nil, 0, fmt.Errorf("list vehicles: %w", err)
	}
	if len(vs) == 0 && f.Offset > 0 {
		// count(*) OVER () has no row to ride on past the last page.
		err = s.db.QueryRow(ctx, `SELECT count(*) FROM vehicles v
			WHERE v.unit_id IN (SELECT unit_subtree($1))
			  AND ($2::bigint IS NULL OR v.unit_id IN (SELECT unit_subtree($2)))
			  AND ($3 = '' OR strpos(v.plate, $3) > 0)
			  AND ($4 = '' OR v.category = $4)
			  AND ($5::boolean IS NULL OR vehicle_sealed_at(v.id, now()) = $5)`,
			sc.root(), unit, f.Plate, string(f.Category), f.Sealed).Scan(&total)
		if err != nil {
			return nil, 0, fmt.Errorf("count vehicles: %w", err)
		}
	}
	return vs, total, nil
}

// VehicleIn returns the vehicle if it is in scope, else ErrNotFound.
func (s *Store) VehicleIn(ctx context.Context, sc Scope, id int64) (Vehicle, error) {
	v, err := scanVehicle(s.db.QueryRow(ctx, `SELECT `+vehicleColumns+`
		FROM vehicles v LEFT JOIN terminals t ON t.vehicle_id = v.id
		WHERE v.id = $2 AND v.unit_id IN (SELECT unit_subtree($1))`, sc.root(), id))
	if errors.Is(err, pgx.ErrNoRows) {
		return v, ErrNotFound
	}
	if err != nil {
		return v, fmt.Errorf("vehicle %d: %w", id, err)
	}
	return v, nil
}

// VehicleChange is a change to a vehicle; nil fields are left as they are.
type VehicleChange struct {
	Plate      *string
	PlateColor *uint8
	Category   *Category
	UnitID     *int64
}

// CreateVehicle creates a vehicle in a unit in scope.
func (s *Store) CreateVehicle(ctx context.Context, sc Scope, plate string, color uint8, cat Category, unit int64) (Vehicle, error) {
	if _, err := s.UnitIn(ctx, sc, unit); err != nil {
		return Vehicle{}, err
	}
	var id int64
	err := s.db.QueryRow(ctx, "INSERT INTO vehicles (plate, plate_color, category, unit_id) VALUES ($1, $2, $3, $4) RETURNING id",
		plate, int16(color), string(cat), unit).Scan(&id)
	if err != nil {
		return Vehicle{}, conflictOr(err, "create vehicle")
	}
	return s.VehicleIn(ctx, All, id)
}

// UpdateVehicle changes a vehicle in scope; a new unit must be in scope too.
// It returns the vehicle before and after.
func (s *Store) UpdateVehicle(ctx context.Context, sc Scope, id int64, c VehicleChange) (before, after Vehicle, err error) {
	if before, err = s.VehicleIn(ctx, sc, id); err != nil {
		return before, after, err
	}
	if c.UnitID != nil {
		if _, err := s.UnitIn(ctx, sc, *c.UnitID); err != nil {
			return before, after, err
		}
	}
	var color *int16
	if c.PlateColor != nil {
		v := int16(*c.PlateColor)
		color = &v
	}
	var cat *string
	if c.Category != nil {
		v := string(*c.Category)
		cat = &v
	}
	tag, err := s.db.Exec(ctx, `UPDATE vehicles SET plate = COALESCE($3, plate), plate_color = COALESCE($4, plate_color),
		category = COALESCE($5, category), unit_id = COALESCE($6, unit_id), updated_at = now()
		WHERE id = $2 AND unit_id IN (SELECT unit_subtree($1))`, sc.root(), id, c.Plate, color, cat, c.UnitID)
	if err != nil {
		return before, after, conflictOr(err, "update vehicle")
	}
	if tag.RowsAffected() == 0 {
		return before, after, ErrNotFound
	}
	after, err = s.VehicleIn(ctx, All, id)
	return before, after, err
}

// BindTerminal binds the terminal with phone (normalised) to a vehicle in
// scope, unbinding the vehicle's previous terminal; the terminal is created
// if new. A terminal bound to another vehicle is refused with ErrConflict:
// moving it is an explicit unbind first (or a vehicle import).
func (s *Store) BindTerminal(ctx context.Context, sc Scope, vehicleID int64, phone string) (Vehicle, error) {
	if _, err := s.VehicleIn(ctx, sc, vehicleID); err != nil {
		return Vehicle{}, err
	}
	err := pgx.BeginFunc(ctx, s.db, func(tx pgx.Tx) error {
		var bound *int64
		err := tx.QueryRow(ctx, "SELECT vehicle_id FROM terminals WHERE phone = $1 FOR UPDATE", phone).Scan(&bound)
		if err != nil && !errors.Is(err, pgx.ErrNoRows) {
			return err
		}
		if bound != nil && *bound != vehicleID {
			return fmt.Errorf("terminal bound to another vehicle: %w", ErrConflict)
		}
		if _, err := tx.Exec(ctx, "UPDATE terminals SET vehicle_id = NULL WHERE vehicle_id = $1 AND phone <> $2", vehicleID, phone); err != nil {
			return err
		}
		_, err = tx.Exec(ctx, `INSERT INTO terminals (phone, vehicle_id) VALUES ($1, $2)
			ON CONFLICT (phone) DO UPDATE SET vehicle_id = excluded.vehicle_id`, phone, vehicleID)
		return err
	})
	if err != nil {
		if errors.Is(err, ErrConflict) {
			return Vehicle{}, err
		}
		return Vehicle{}, fmt.Errorf("bind terminal: %w", err)
	}
	return s.VehicleIn(ctx, All, vehicleID)
}
