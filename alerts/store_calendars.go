package alerts

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strconv"

	"github.com/jackc/pgx/v5"
)

// The national holiday calendar, the units' work calendars and the
// units' rule parameters, as stored.

// EnsureHolidays stores each year of the embedded national calendar
// (DefaultHolidays) that the database does not hold yet; a year already
// there, imported or seeded, is left alone.
func (s *Store) EnsureHolidays(ctx context.Context) error {
	f := DefaultHolidays().File()
	var years []int32
	var specs [][]byte
	for _, ys := range slices.Sorted(maps.Keys(f.Years)) {
		year, err := strconv.Atoi(ys)
		if err != nil {
			return fmt.Errorf("alerts: embedded holidays: bad year %q", ys)
		}
		js, err := json.Marshal(f.Years[ys])
		if err != nil {
			return err
		}
		years, specs = append(years, int32(year)), append(specs, js)
	}
	// One statement, rows in year order: nodes starting together insert
	// the same keys in the same order, so they queue behind each other
	// instead of deadlocking (a batch in map order did, in CI).
	_, err := s.pool.Exec(ctx, `INSERT INTO alert_holiday_years (year, spec, source)
		SELECT y, s, 'embedded' FROM unnest($1::int[], $2::jsonb[]) AS t(y, s) ORDER BY y
		ON CONFLICT (year) DO NOTHING`, years, specs)
	if err != nil {
		return fmt.Errorf("seed holidays: %w", err)
	}
	return nil
}

// PutHolidayYear stores (or replaces) one year of the national calendar
// after checking it; source says where it came from.
func (s *Store) PutHolidayYear(ctx context.Context, year int, y HolidayYear, source string) error {
	if _, err := NewHolidaySet(HolidayFile{Years: map[string]HolidayYear{strconv.Itoa(year): y}}); err != nil {
		return err
	}
	js, err := json.Marshal(y)
	if err != nil {
		return err
	}
	_, err = s.db.Exec(ctx, `INSERT INTO alert_holiday_years (year, spec, source) VALUES ($1, $2, $3)
		ON CONFLICT (year) DO UPDATE SET spec = excluded.spec, source = excluded.source,
			version = alert_holiday_years.version + 1, imported_at = now()`, year, js, source)
	if err != nil {
		return fmt.Errorf("store holidays %d: %w", year, err)
	}
	return nil
}

// Holidays reads the stored national calendar.
func (s *Store) Holidays(ctx context.Context) (*HolidaySet, error) {
	rows, err := s.pool.Query(ctx, "SELECT year, spec FROM alert_holiday_years ORDER BY year")
	if err != nil {
		return nil, fmt.Errorf("load holidays: %w", err)
	}
	f := HolidayFile{Years: map[string]HolidayYear{}}
	var year int32
	var spec []byte
	_, err = pgx.ForEachRow(rows, []any{&year, &spec}, func() error {
		var y HolidayYear
		if err := json.Unmarshal(spec, &y); err != nil {
			return fmt.Errorf("year %d: %w", year, err)
		}
		f.Years[strconv.Itoa(int(year))] = y
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("load holidays: %w", err)
	}
	return NewHolidaySet(f)
}

// PutCalendar stores a unit's calendar (UnitID 0: the default), replacing
// the one it had, after checking it, and returns it with its ID and new
// Revision.
func (s *Store) PutCalendar(ctx context.Context, spec CalendarSpec) (CalendarSpec, error) {
	if _, err := NewCalendar(spec, DefaultHolidays()); err != nil {
		return spec, err
	}
	js, err := json.Marshal(spec)
	if err != nil {
		return spec, err
	}
	err = s.db.QueryRow(ctx, `INSERT INTO alert_calendars (unit_id, spec) VALUES ($1, $2)
		ON CONFLICT (unit_id) DO UPDATE SET spec = excluded.spec,
			revision = alert_calendars.revision + 1, updated_at = now()
		RETURNING id, revision`, nullID(spec.UnitID), js).Scan(&spec.ID, &spec.Revision)
	if err != nil {
		return spec, fmt.Errorf("store calendar of unit %d: %w", spec.UnitID, err)
	}
	return spec, nil
}

// Calendars reads the stored calendars; the default has UnitID 0.
func (s *Store) Calendars(ctx context.Context) ([]CalendarSpec, error) {
	rows, err := s.pool.Query(ctx, "SELECT id, COALESCE(unit_id, 0), revision, spec FROM alert_calendars ORDER BY id")
	if err != nil {
		return nil, fmt.Errorf("load calendars: %w", err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (CalendarSpec, error) {
		var id, unit int64
		var rev int32
		var js []byte
		if err := r.Scan(&id, &unit, &rev, &js); err != nil {
			return CalendarSpec{}, err
		}
		var c CalendarSpec
		if err := json.Unmarshal(js, &c); err != nil {
			return c, fmt.Errorf("calendar %d: %w", id, err)
		}
		c.ID, c.UnitID, c.Revision = id, unit, int(rev)
		return c, nil
	})
	if err != nil {
		return nil, fmt.Errorf("load calendars: %w", err)
	}
	return out, nil
}
