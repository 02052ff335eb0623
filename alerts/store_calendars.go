package alerts

import (
	"context"
	"encoding/json"
	"errors"
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
	_, err := s.PutHolidayYearIfChanged(ctx, year, y, source)
	return err
}

// PutHolidayYearIfChanged is PutHolidayYear that leaves a year holding
// the same days alone (its version and source unchanged), and says
// whether it changed anything: importing a file twice changes nothing.
func (s *Store) PutHolidayYearIfChanged(ctx context.Context, year int, y HolidayYear, source string) (bool, error) {
	if _, err := NewHolidaySet(HolidayFile{Years: map[string]HolidayYear{strconv.Itoa(year): y}}); err != nil {
		return false, err
	}
	js, err := json.Marshal(y)
	if err != nil {
		return false, err
	}
	tag, err := s.db.Exec(ctx, `INSERT INTO alert_holiday_years (year, spec, source) VALUES ($1, $2, $3)
		ON CONFLICT (year) DO UPDATE SET spec = excluded.spec, source = excluded.source,
			version = alert_holiday_years.version + 1, imported_at = now()
		WHERE alert_holiday_years.spec IS DISTINCT FROM excluded.spec`, year, js, source)
	if err != nil {
		return false, fmt.Errorf("store holidays %d: %w", year, err)
	}
	return tag.RowsAffected() > 0, nil
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
	spec, _, err := s.PutCalendarIfChanged(ctx, spec)
	return spec, err
}

// PutCalendarIfChanged is PutCalendar that leaves a calendar with the same
// content alone (its revision unchanged, so verdicts keep its version),
// and says whether it changed anything.
func (s *Store) PutCalendarIfChanged(ctx context.Context, spec CalendarSpec) (CalendarSpec, bool, error) {
	if _, err := NewCalendar(spec, DefaultHolidays()); err != nil {
		return spec, false, err
	}
	// The stored spec is the content alone: its identity is in the row.
	spec.ID, spec.Revision = 0, 0
	js, err := json.Marshal(spec)
	if err != nil {
		return spec, false, err
	}
	err = s.db.QueryRow(ctx, `INSERT INTO alert_calendars (unit_id, spec) VALUES ($1, $2)
		ON CONFLICT (unit_id) DO UPDATE SET spec = excluded.spec,
			revision = alert_calendars.revision + 1, updated_at = now()
		WHERE alert_calendars.spec IS DISTINCT FROM excluded.spec
		RETURNING id, revision`, nullID(spec.UnitID), js).Scan(&spec.ID, &spec.Revision)
	if errors.Is(err, pgx.ErrNoRows) {
		err = s.db.QueryRow(ctx, `SELECT id, revision FROM alert_calendars WHERE unit_id IS NOT DISTINCT FROM $1`,
			nullID(spec.UnitID)).Scan(&spec.ID, &spec.Revision)
		if err != nil {
			return spec, false, fmt.Errorf("read calendar of unit %d: %w", spec.UnitID, err)
		}
		return spec, false, nil
	}
	if err != nil {
		return spec, false, fmt.Errorf("store calendar of unit %d: %w", spec.UnitID, err)
	}
	return spec, true, nil
}

// DeleteCalendar removes a unit's own calendar, so that it inherits its
// nearest ancestor's again, and says whether it had one. The default
// (unit 0) is never removed.
func (s *Store) DeleteCalendar(ctx context.Context, unit int64) (bool, error) {
	if unit == 0 {
		return false, errors.New("alerts: the default calendar cannot be removed")
	}
	tag, err := s.db.Exec(ctx, `DELETE FROM alert_calendars WHERE unit_id = $1`, unit)
	if err != nil {
		return false, fmt.Errorf("remove calendar of unit %d: %w", unit, err)
	}
	return tag.RowsAffected() > 0, nil
}

// Calendars reads the stored calendars; the default has UnitID 0.
func (s *Store) Calendars(ctx context.Context) ([]CalendarSpec, error) {
	rows, err := s.pool.Query(ctx, "SELECT id, COALESCE(unit_id, 0), revision, spec FROM alert_calendars ORDER BY id")
	if err != nil {
		return nil, fmt.Errorf("load calendars: %w", err)
	}
	return collectCalendars(rows)
}

func collectCalendars(rows pgx.Rows) ([]CalendarSpec, error) {
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

// CalendarsForUpdate reads the stored calendars as Calendars does, but in
// the store's transaction and locking them, for a change that starts from
// what is stored (a unit's days imported into its calendar, or into the
// one it inherits).
func (s *Store) CalendarsForUpdate(ctx context.Context) ([]CalendarSpec, error) {
	rows, err := s.db.Query(ctx, "SELECT id, COALESCE(unit_id, 0), revision, spec FROM alert_calendars ORDER BY id FOR UPDATE")
	if err != nil {
		return nil, fmt.Errorf("load calendars: %w", err)
	}
	return collectCalendars(rows)
}
