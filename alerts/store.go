package alerts

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"math"
	"slices"
	"strconv"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"fleetmon/track"
)

// Store keeps the rules' configuration, the episodes and the engine's
// saved state in PostgreSQL (tables of migration 0004_alerts.sql), and
// reads positions back. Safe for concurrent use.
type Store struct {
	pool *pgxpool.Pool
	// db runs the configuration's changes (holidays, calendars,
	// parameters, fences, approvals) and verification steps: the pool,
	// or the transaction of a store from InTx.
	db dbtx
}

// dbtx is what a configuration change runs on: a pool or a transaction
// (Begin then opens a savepoint).
type dbtx interface {
	querier
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
	Begin(ctx context.Context) (pgx.Tx, error)
}

// NewStore returns a store on pool.
func NewStore(pool *pgxpool.Pool) *Store { return &Store{pool: pool, db: pool} }

// InTx returns the store with its configuration changes and verification
// steps running in tx: the caller commits them together with its own
// statements (the change's audit entry), or not at all. Everything else
// still uses the pool.
func (s *Store) InTx(tx pgx.Tx) *Store { return &Store{pool: s.pool, db: tx} }

// Loaded is the configuration as read from the database.
type Loaded struct {
	// Config has Tree, Calendars, Fences, Policy and Approvals set;
	// CheckpointEvery and Horizon are left for the caller.
	Config   Config
	Holidays *HolidaySet
	// Vehicles are every registered vehicle, in id order (Plate,
	// Category, UnitID and Sealed set).
	Vehicles []track.Vehicle
}

// LoadOptions bound what LoadConfig reads.
type LoadOptions struct {
	// Approvals overlapping [ApprovalsFrom, ApprovalsTo) are loaded; zero
	// bounds are open.
	ApprovalsFrom, ApprovalsTo time.Time
}

// LoadConfig reads holidays (seeding the embedded years that are
// missing), calendars, parameters, fences, approvals, the unit tree and the
// vehicles, and builds the engine's Config from them.
func (s *Store) LoadConfig(ctx context.Context, opt LoadOptions) (*Loaded, error) {
	if err := s.EnsureHolidays(ctx); err != nil {
		return nil, err
	}
	hol, err := s.Holidays(ctx)
	if err != nil {
		return nil, err
	}
	tree, err := s.tree(ctx)
	if err != nil {
		return nil, err
	}
	specs, err := s.Calendars(ctx)
	if err != nil {
		return nil, err
	}
	def := &CalendarSpec{Week: StandardWeek()}
	var own []*Calendar
	for i := range specs {
		if specs[i].UnitID == 0 {
			def = &specs[i]
			continue
		}
		c, err := NewCalendar(specs[i], hol)
		if err != nil {
			return nil, err
		}
		own = append(own, c)
	}
	defCal, err := NewCalendar(*def, hol)
	if err != nil {
		return nil, err
	}
	cals, err := NewCalendars(tree, defCal, own...)
	if err != nil {
		return nil, err
	}
	defParams, units, err := s.Params(ctx)
	if err != nil {
		return nil, err
	}
	pol, err := NewPolicy(tree, defParams, units)
	if err != nil {
		return nil, err
	}
	fences, err := s.Fences(ctx)
	if err != nil {
		return nil, err
	}
	fs, err := NewFenceSet(fences)
	if err != nil {
		return nil, err
	}
	recs, err := s.Approvals(ctx, 0, opt.ApprovalsFrom, opt.ApprovalsTo)
	if err != nil {
		return nil, err
	}
	as := make([]Approval, len(recs))
	for i := range recs {
		as[i] = recs[i].Approval
	}
	aps, err := NewApprovals(as)
	if err != nil {
		return nil, err
	}
	vs, err := s.Vehicles(ctx, 0)
	if err != nil {
		return nil, err
	}
	return &Loaded{
		Config:   Config{Tree: tree, Calendars: cals, Fences: fs, Policy: pol, Approvals: aps},
		Holidays: hol,
		Vehicles: vs,
	}, nil
}

func (s *Store) tree(ctx context.Context) (Parents, error) {
	rows, err := s.pool.Query(ctx, "SELECT id, parent_id FROM units WHERE parent_id IS NOT NULL")
	if err != nil {
		return nil, fmt.Errorf("load units: %w", err)
	}
	p := Parents{}
	var id, parent int64
	_, err = pgx.ForEachRow(rows, []any{&id, &parent}, func() error { p[id] = parent; return nil })
	if err != nil {
		return nil, fmt.Errorf("load units: %w", err)
	}
	return p, nil
}

// Vehicles returns the registered vehicles in id order, or the one with
// id when id is not 0.
func (s *Store) Vehicles(ctx context.Context, id int64) ([]track.Vehicle, error) {
	rows, err := s.pool.Query(ctx, `SELECT v.id, v.plate, v.plate_color, v.category, v.unit_id, v.sealed
		FROM vehicles v JOIN units u ON u.id = v.unit_id
		WHERE $1::bigint = 0 OR v.id = $1 ORDER BY v.id`, id)
	if err != nil {
		return nil, fmt.Errorf("load vehicles: %w", err)
	}
	vs, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (track.Vehicle, error) {
		var v track.Vehicle
		var color int16
		var cat string
		err := r.Scan(&v.ID, &v.Plate, &color, &cat, &v.UnitID, &v.Sealed)
		v.PlateColor, v.Category = uint8(color), track.Category(cat)
		return v, err
	})
	if err != nil {
		return nil, fmt.Errorf("load vehicles: %w", err)
	}
	return vs, nil
}

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

// PutParams stores a unit's rule parameters (unit 0: the defaults for
// every unit without their own) after checking them.
func (s *Store) PutParams(ctx context.Context, unit int64, p Params) error {
	if _, err := compileParams(p); err != nil {
		return err
	}
	js, err := json.Marshal(p)
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

// Params reads the stored parameters: the default (DefaultParams unless
// stored) and the units'. A stored Params is read over the defaults, so a
// field it leaves out keeps the default.
func (s *Store) Params(ctx context.Context) (Params, map[int64]Params, error) {
	def := DefaultParams()
	units := map[int64]Params{}
	rows, err := s.pool.Query(ctx, "SELECT COALESCE(unit_id, 0), params FROM alert_params ORDER BY unit_id NULLS FIRST")
	if err != nil {
		return def, nil, fmt.Errorf("load params: %w", err)
	}
	var unit int64
	var js []byte
	_, err = pgx.ForEachRow(rows, []any{&unit, &js}, func() error {
		if unit == 0 {
			return json.Unmarshal(js, &def)
		}
		p := DefaultParams()
		if err := json.Unmarshal(js, &p); err != nil {
			return fmt.Errorf("unit %d: %w", unit, err)
		}
		units[unit] = p
		return nil
	})
	if err != nil {
		return def, nil, fmt.Errorf("load params: %w", err)
	}
	return def, units, nil
}

// PutFence stores a fence after checking it: a new one when f.ID is 0,
// else it replaces fence f.ID and moves its version on. It returns the
// fence as stored (ID and Version set).
func (s *Store) PutFence(ctx context.Context, f Fence) (Fence, error) {
	probe := f
	if probe.ID == 0 {
		probe.ID = -1 // compileFence names the fence in its errors only
	}
	if _, err := compileFence(probe); err != nil {
		return f, err
	}
	shape, err := json.Marshal(f.Shape)
	if err != nil {
		return f, err
	}
	gj, bufM := shapeGeoJSON(f.Shape)
	var category *string
	if f.Kind == FenceSensitive {
		c := string(f.Category)
		category = &c
	}
	args := []any{f.Name, string(f.Kind), category, nullPositive(f.DwellMin), nullPositive(float64(f.SpeedLimitKmh)),
		nullID(f.UnitID), nullID(f.VehicleID), shape, gj, bufM}
	const geom = `CASE WHEN $10::float8 > 0
		THEN ST_Buffer(ST_SetSRID(ST_GeomFromGeoJSON($9), 4326)::geography, $10::float8)::geometry
		ELSE ST_SetSRID(ST_GeomFromGeoJSON($9), 4326) END`
	var version int32
	if f.ID == 0 {
		err = s.db.QueryRow(ctx, `INSERT INTO alert_fences (name, kind, category, dwell_min, speed_limit_kmh,
			unit_id, vehicle_id, shape, geom) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, `+geom+`)
			RETURNING id, version`, args...).Scan(&f.ID, &version)
	} else {
		err = s.db.QueryRow(ctx, `UPDATE alert_fences SET name = $1, kind = $2, category = $3, dwell_min = $4,
			speed_limit_kmh = $5, unit_id = $6, vehicle_id = $7, shape = $8, geom = `+geom+`,
			version = version + 1, updated_at = now()
			WHERE id = $11 RETURNING id, version`, append(args, f.ID)...).Scan(&f.ID, &version)
	}
	if err != nil {
		return f, fmt.Errorf("store fence %q: %w", f.Name, err)
	}
	f.Version = int(version)
	return f, nil
}

// shapeGeoJSON returns the shape's geometry as GeoJSON and the buffer in
// metres that makes it an area (circles and corridors).
func shapeGeoJSON(s Shape) (string, float64) {
	pt := func(p Point) []float64 { return []float64{p.Lon, p.Lat} }
	var g struct {
		Type        string `json:"type"`
		Coordinates any    `json:"coordinates"`
	}
	buf := 0.0
	switch s.Type {
	case ShapeCircle:
		g.Type, g.Coordinates, buf = "Point", pt(s.Center), s.RadiusM
	case ShapeCorridor:
		line := make([][]float64, len(s.Line))
		for i, p := range s.Line {
			line[i] = pt(p)
		}
		g.Type, g.Coordinates, buf = "LineString", line, s.WidthM/2
	default:
		polys := make([][][][]float64, len(s.Polygons))
		for i, poly := range s.Polygons {
			for _, ring := range poly {
				r := make([][]float64, 0, len(ring)+1)
				for _, p := range ring {
					r = append(r, pt(p))
				}
				if ring[0] != ring[len(ring)-1] {
					r = append(r, pt(ring[0])) // GeoJSON rings are closed
				}
				polys[i] = append(polys[i], r)
			}
		}
		g.Type, g.Coordinates = "MultiPolygon", polys
	}
	b, _ := json.Marshal(g)
	return string(b), buf
}

// DeleteFence removes a fence. Episodes that name it keep its id.
func (s *Store) DeleteFence(ctx context.Context, id int64) error {
	if _, err := s.db.Exec(ctx, "DELETE FROM alert_fences WHERE id = $1", id); err != nil {
		return fmt.Errorf("delete fence %d: %w", id, err)
	}
	return nil
}

// Fences reads every stored fence.
func (s *Store) Fences(ctx context.Context) ([]Fence, error) {
	rows, err := s.pool.Query(ctx, `SELECT id, version, name, kind, COALESCE(category, ''), COALESCE(dwell_min, 0),
		COALESCE(speed_limit_kmh, 0), COALESCE(unit_id, 0), COALESCE(vehicle_id, 0), shape FROM alert_fences ORDER BY id`)
	if err != nil {
		return nil, fmt.Errorf("load fences: %w", err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (Fence, error) {
		var f Fence
		var version int32
		var kind, cat string
		var js []byte
		if err := r.Scan(&f.ID, &version, &f.Name, &kind, &cat, &f.DwellMin, &f.SpeedLimitKmh, &f.UnitID, &f.VehicleID, &js); err != nil {
			return f, err
		}
		f.Version, f.Kind, f.Category = int(version), FenceKind(kind), PlaceCategory(cat)
		if err := json.Unmarshal(js, &f.Shape); err != nil {
			return f, fmt.Errorf("fence %d: shape: %w", f.ID, err)
		}
		return f, nil
	})
	if err != nil {
		return nil, fmt.Errorf("load fences: %w", err)
	}
	return out, nil
}

// ApprovalRecord is an approval as stored: the part the rules read, and
// who approved what for whom.
type ApprovalRecord struct {
	Approval
	Driver   string
	Purpose  string
	Approver string
	// Source is "fleetmon" (entered here) or "import"; ExternalRef names
	// an imported one in the system it came from.
	Source      string
	ExternalRef string
	CreatedAt   time.Time
}

// AddApproval stores an approval and returns its id.
func (s *Store) AddApproval(ctx context.Context, a ApprovalRecord) (int64, error) {
	if !a.End.After(a.Start) {
		return 0, fmt.Errorf("alerts: approval: end not after start")
	}
	if a.Source == "" {
		a.Source = "fleetmon"
	}
	var ref *string
	if a.ExternalRef != "" {
		ref = &a.ExternalRef
	}
	var id int64
	err := s.db.QueryRow(ctx, `INSERT INTO alert_approvals (vehicle_id, driver, purpose, period, fence_id, approver, source, external_ref)
		VALUES ($1, $2, $3, tstzrange($4, $5, '[)'), $6, $7, $8, $9) RETURNING id`,
		a.VehicleID, a.Driver, a.Purpose, a.Start, a.End, nullID(a.FenceID), a.Approver, a.Source, ref).Scan(&id)
	if err != nil {
		return 0, fmt.Errorf("store approval for vehicle %d: %w", a.VehicleID, err)
	}
	return id, nil
}

// Approvals reads the approvals of one vehicle (every vehicle when
// vehicleID is 0) overlapping [from, to); zero bounds are open.
func (s *Store) Approvals(ctx context.Context, vehicleID int64, from, to time.Time) ([]ApprovalRecord, error) {
	rows, err := s.pool.Query(ctx, `SELECT id, vehicle_id, lower(period), upper(period), COALESCE(fence_id, 0),
			driver, purpose, approver, source, COALESCE(external_ref, ''), created_at
		FROM alert_approvals
		WHERE ($1::bigint = 0 OR vehicle_id = $1) AND period && tstzrange($2::timestamptz, $3::timestamptz, '[)')
		ORDER BY id`, vehicleID, nullTime(from), nullTime(to))
	if err != nil {
		return nil, fmt.Errorf("load approvals: %w", err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (ApprovalRecord, error) {
		var a ApprovalRecord
		err := r.Scan(&a.ID, &a.VehicleID, &a.Start, &a.End, &a.FenceID, &a.Driver, &a.Purpose, &a.Approver,
			&a.Source, &a.ExternalRef, &a.CreatedAt)
		return a, err
	})
	if err != nil {
		return nil, fmt.Errorf("load approvals: %w", err)
	}
	return out, nil
}

// Verification is the people's verdict on an episode.
type Verification string

// The verification states.
const (
	VerificationOpen                 Verification = "open"
	VerificationExplanationRequested Verification = "explanation_requested"
	VerificationConfirmed            Verification = "confirmed"
	VerificationDismissed            Verification = "dismissed"
)

// StoredEpisode is an episode as stored, with its verification.
type StoredEpisode struct {
	Episode
	Verification         Verification
	CreatedAt, UpdatedAt time.Time
}

// upsertEpisodes writes episodes by id in one statement: new ones are
// inserted, known ones updated when anything the engine says about them
// changed (verification and created_at are never touched). The same id
// twice in eps is written once, with its last value. It returns the ids of
// the rows inserted or changed.
const upsertEpisodes = `
INSERT INTO episodes AS e (id, vehicle_id, unit_id, rule, status, start_time, end_time, start_geom, end_geom,
    distance_m, max_speed_kmh, fence_id, approval_id, detail, params, calendar_version, params_version)
SELECT id, vehicle_id, unit_id, rule, status, start_time, end_time,
    ST_SetSRID(ST_MakePoint(start_lon, start_lat), 4326),
    CASE WHEN end_time IS NULL THEN NULL ELSE ST_SetSRID(ST_MakePoint(end_lon, end_lat), 4326) END,
    distance_m, max_speed_kmh, NULLIF(fence_id, 0), NULLIF(approval_id, 0), detail,
    COALESCE(NULLIF(params, '')::jsonb, '{}'), calendar_version, params_version
FROM unnest($1::text[], $2::bigint[], $3::bigint[], $4::text[], $5::text[], $6::timestamptz[], $7::timestamptz[],
    $8::float8[], $9::float8[], $10::float8[], $11::float8[], $12::float8[], $13::real[], $14::bigint[],
    $15::bigint[], $16::text[], $17::text[], $18::text[], $19::text[])
    AS u(id, vehicle_id, unit_id, rule, status, start_time, end_time, start_lat, start_lon, end_lat, end_lon,
    distance_m, max_speed_kmh, fence_id, approval_id, detail, params, calendar_version, params_version)
-- Rows in id order: two writers of the same episodes (a re-evaluation and
-- the live engine) lock them in one order and cannot deadlock.
ORDER BY id
ON CONFLICT (id) DO UPDATE SET
    unit_id = excluded.unit_id, status = excluded.status, end_time = excluded.end_time,
    start_geom = excluded.start_geom, end_geom = excluded.end_geom, distance_m = excluded.distance_m,
    max_speed_kmh = excluded.max_speed_kmh, fence_id = excluded.fence_id, approval_id = excluded.approval_id,
    detail = excluded.detail, params = excluded.params, calendar_version = excluded.calendar_version,
    params_version = excluded.params_version, updated_at = now()
WHERE (e.unit_id, e.status, e.end_time, e.distance_m, e.max_speed_kmh, e.fence_id, e.approval_id, e.detail,
        e.params, e.calendar_version, e.params_version, ST_AsEWKB(e.start_geom), ST_AsEWKB(e.end_geom))
    IS DISTINCT FROM (excluded.unit_id, excluded.status, excluded.end_time, excluded.distance_m,
        excluded.max_speed_kmh, excluded.fence_id, excluded.approval_id, excluded.detail, excluded.params,
        excluded.calendar_version, excluded.params_version, ST_AsEWKB(excluded.start_geom), ST_AsEWKB(excluded.end_geom))
RETURNING id`

// UpsertEpisodes stores episodes by ID (idempotent: writing the same
// episode again changes nothing) and returns how many rows were inserted
// or changed. A retracted episode keeps its row, with status retracted.
// When eps holds an ID more than once, the last one wins.
func (s *Store) UpsertEpisodes(ctx context.Context, eps []Episode) (int64, error) {
	ids, err := s.upsertEpisodes(ctx, eps)
	return int64(len(ids)), err
}

// upsertEpisodes is UpsertEpisodes returning the ids of the rows inserted
// or changed.
func (s *Store) upsertEpisodes(ctx context.Context, eps []Episode) ([]string, error) {
	return upsertEpisodesOn(ctx, s.pool, eps)
}

// querier is what a statement needs: a pool, a connection or a
// transaction.
type querier interface {
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
	Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error)
}

// upsertEpisodesOn is upsertEpisodes on q (a cluster node writes through
// the connection holding its lease: see cluster.go).
func upsertEpisodesOn(ctx context.Context, q querier, eps []Episode) ([]string, error) {
	if len(eps) == 0 {
		return nil, nil
	}
	last := make(map[string]int, len(eps))
	for i := range eps {
		last[eps[i].ID] = i
	}
	n := len(last)
	var (
		ids, rules, statuses, details, params, cvs, pvs = make([]string, 0, n), make([]string, 0, n), make([]string, 0, n), make([]string, 0, n), make([]string, 0, n), make([]string, 0, n), make([]string, 0, n)
		vids, units, fences, approvals                  = make([]int64, 0, n), make([]int64, 0, n), make([]int64, 0, n), make([]int64, 0, n)
		starts                                          = make([]time.Time, 0, n)
		ends                                            = make([]*time.Time, 0, n)
		slat, slon, elat, elon, dist                    = make([]float64, 0, n), make([]float64, 0, n), make([]float64, 0, n), make([]float64, 0, n), make([]float64, 0, n)
		speeds                                          = make([]float32, 0, n)
	)
	for i := range eps {
		ep := &eps[i]
		if last[ep.ID] != i {
			continue
		}
		ids, rules, statuses, details = append(ids, ep.ID), append(rules, string(ep.Rule)), append(statuses, string(ep.Status)), append(details, ep.Detail)
		params, cvs, pvs = append(params, ep.Params), append(cvs, ep.CalendarVersion), append(pvs, ep.ParamsVersion)
		vids, units, fences, approvals = append(vids, ep.VehicleID), append(units, ep.UnitID), append(fences, ep.FenceID), append(approvals, ep.ApprovalID)
		starts = append(starts, ep.Start)
		if ep.End.IsZero() {
			ends = append(ends, nil)
		} else {
			end := ep.End
			ends = append(ends, &end)
		}
		slat, slon, elat, elon = append(slat, ep.StartLat), append(slon, ep.StartLon), append(elat, ep.EndLat), append(elon, ep.EndLon)
		dist, speeds = append(dist, ep.DistanceM), append(speeds, ep.MaxSpeedKmh)
	}
	rows, err := q.Query(ctx, upsertEpisodes, ids, vids, units, rules, statuses, starts, ends,
		slat, slon, elat, elon, dist, speeds, fences, approvals, details, params, cvs, pvs)
	if err != nil {
		return nil, fmt.Errorf("upsert %d episodes: %w", n, err)
	}
	written, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return nil, fmt.Errorf("upsert %d episodes: %w", n, err)
	}
	return written, nil
}

// SetVerification records people's verdict on an episode (the engine
// never changes it). It returns false when there is no such episode.
func (s *Store) SetVerification(ctx context.Context, id string, v Verification) (bool, error) {
	switch v {
	case VerificationOpen, VerificationExplanationRequested, VerificationConfirmed, VerificationDismissed:
	default:
		return false, fmt.Errorf("alerts: bad verification %q", v)
	}
	tag, err := s.pool.Exec(ctx, "UPDATE episodes SET verification = $2 WHERE id = $1", id, string(v))
	if err != nil {
		return false, fmt.Errorf("set verification of episode %s: %w", id, err)
	}
	return tag.RowsAffected() == 1, nil
}

// EpisodeFilter selects stored episodes. Zero fields do not filter.
type EpisodeFilter struct {
	VehicleID int64
	// Episodes starting in [From, To).
	From, To time.Time
	Rule     RuleID
	// WithRetracted includes retracted episodes.
	WithRetracted bool
}

// Episodes reads stored episodes in start order (then rule, then id).
func (s *Store) Episodes(ctx context.Context, f EpisodeFilter) ([]StoredEpisode, error) {
	rows, err := s.pool.Query(ctx, `SELECT id, vehicle_id, unit_id, rule, status, start_time, end_time,
			ST_Y(start_geom), ST_X(start_geom), COALESCE(ST_Y(end_geom), 0), COALESCE(ST_X(end_geom), 0),
			distance_m, max_speed_kmh, COALESCE(fence_id, 0), COALESCE(approval_id, 0), detail, params::text,
			calendar_version, params_version, verification, created_at, updated_at
		FROM episodes
		WHERE ($1::bigint = 0 OR vehicle_id = $1) AND ($2::timestamptz IS NULL OR start_time >= $2)
			AND ($3::timestamptz IS NULL OR start_time < $3) AND ($4::text = '' OR rule = $4)
			AND ($5::boolean OR status <> 'retracted')
		ORDER BY start_time, rule, id`, f.VehicleID, nullTime(f.From), nullTime(f.To), string(f.Rule), f.WithRetracted)
	if err != nil {
		return nil, fmt.Errorf("load episodes: %w", err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (StoredEpisode, error) {
		var e StoredEpisode
		var rule, status, ver string
		var end *time.Time
		err := r.Scan(&e.ID, &e.VehicleID, &e.UnitID, &rule, &status, &e.Start, &end,
			&e.StartLat, &e.StartLon, &e.EndLat, &e.EndLon, &e.DistanceM, &e.MaxSpeedKmh, &e.FenceID, &e.ApprovalID,
			&e.Detail, &e.Params, &e.CalendarVersion, &e.ParamsVersion, &ver, &e.CreatedAt, &e.UpdatedAt)
		e.Rule, e.Status, e.Verification = RuleID(rule), EpisodeStatus(status), Verification(ver)
		if end != nil {
			e.End = *end
		}
		return e, err
	})
	if err != nil {
		return nil, fmt.Errorf("load episodes: %w", err)
	}
	return out, nil
}

// SavedState is one vehicle's engine state as stored.
type SavedState struct {
	VehicleID int64
	// State is Engine.MarshalVehicle's output.
	State []byte
	// ProcessedUntil is the latest Received of the vehicle's positions
	// the state includes.
	ProcessedUntil time.Time
	// ProcessedXID, when not 0, says that the state includes every
	// position of the vehicle with a commit_xid below it (cluster mode).
	ProcessedXID int64
	UpdatedAt    time.Time
}

// SaveStates upserts the vehicles' states in one statement. A stored
// processed_until never moves back: a state saved because only the clock
// changed it (ProcessedUntil zero) keeps the one stored.
func (s *Store) SaveStates(ctx context.Context, sts []SavedState) error {
	return saveStatesOn(ctx, s.pool, sts)
}

func saveStatesOn(ctx context.Context, q querier, sts []SavedState) error {
	if len(sts) == 0 {
		return nil
	}
	ids := make([]int64, len(sts))
	blobs := make([][]byte, len(sts))
	until := make([]time.Time, len(sts))
	xids := make([]*int64, len(sts))
	for i, st := range sts {
		ids[i], blobs[i], until[i] = st.VehicleID, st.State, st.ProcessedUntil
		if st.ProcessedXID > 0 {
			xids[i] = &sts[i].ProcessedXID
		}
	}
	_, err := q.Exec(ctx, `INSERT INTO alert_engine_state (vehicle_id, state, processed_until, processed_xid)
		SELECT * FROM unnest($1::bigint[], $2::bytea[], $3::timestamptz[], $4::bigint[]) ORDER BY 1
		ON CONFLICT (vehicle_id) DO UPDATE SET state = excluded.state,
			processed_until = GREATEST(alert_engine_state.processed_until, excluded.processed_until),
			processed_xid = COALESCE(excluded.processed_xid, alert_engine_state.processed_xid), updated_at = now()`, ids, blobs, until, xids)
	if err != nil {
		return fmt.Errorf("save state of %d vehicles: %w", len(sts), err)
	}
	return nil
}

// State reads one vehicle's saved state; false when it has none.
func (s *Store) State(ctx context.Context, vehicleID int64) (SavedState, bool, error) {
	st := SavedState{VehicleID: vehicleID}
	err := s.pool.QueryRow(ctx, `SELECT state, processed_until, COALESCE(processed_xid, 0), updated_at
		FROM alert_engine_state WHERE vehicle_id = $1`,
		vehicleID).Scan(&st.State, &st.ProcessedUntil, &st.ProcessedXID, &st.UpdatedAt)
	if errors.Is(err, pgx.ErrNoRows) {
		return st, false, nil
	}
	if err != nil {
		return st, false, fmt.Errorf("load engine state of vehicle %d: %w", vehicleID, err)
	}
	return st, true, nil
}

// positionColumns are what the rules read of a stored position, in
// scanPosition's order; the coordinates come out of geom (X = longitude).
const positionColumns = `vehicle_id, terminal_id, device_time, received_at, ST_Y(geom), ST_X(geom), speed_kmh,
	heading, altitude_m, alarm, status, backfill`

func scanPositions(rows pgx.Rows) ([]track.Position, error) {
	var out []track.Position
	var p track.Position
	var alarm, status int64
	_, err := pgx.ForEachRow(rows, []any{&p.VehicleID, &p.TerminalID, &p.Time, &p.Received, &p.Lat, &p.Lon,
		&p.SpeedKmh, &p.Heading, &p.AltitudeM, &alarm, &status, &p.Backfill}, func() error {
		if alarm < 0 || alarm > math.MaxUint32 || status < 0 || status > math.MaxUint32 {
			return fmt.Errorf("vehicle %d at %s: alarm or status out of range", p.VehicleID, p.Time)
		}
		p.Alarm, p.Status = uint32(alarm), uint32(status)
		out = append(out, p)
		return nil
	})
	return out, err
}

// Positions returns a vehicle's stored positions with after < device time
// <= through, in (device time, fix hash) order, with the fields the rules
// read (no additional items). The caller owns the slice.
func (s *Store) Positions(ctx context.Context, vehicleID int64, after, through time.Time) ([]track.Position, error) {
	rows, err := s.pool.Query(ctx, `SELECT `+positionColumns+` FROM positions
		WHERE vehicle_id = $1 AND device_time > $2 AND device_time <= $3
		ORDER BY device_time, fix_hash`, vehicleID, after, through)
	if err != nil {
		return nil, fmt.Errorf("read positions of vehicle %d: %w", vehicleID, err)
	}
	ps, err := scanPositions(rows)
	if err != nil {
		return nil, fmt.Errorf("read positions of vehicle %d: %w", vehicleID, err)
	}
	return ps, nil
}

// eachPosition streams a vehicle's stored positions with after < device
// time <= through to fn, in (device time, fix hash) order, with only the
// fields a fix is made of (device time, place, speed, alarm, status: less
// to send and decode for a month of a fleet); p is reused after fn
// returns. An error from fn stops the read and is returned.
func (s *Store) eachPosition(ctx context.Context, vehicleID int64, after, through time.Time, fn func(p *track.Position) error) error {
	rows, err := s.pool.Query(ctx, `SELECT device_time, ST_Y(geom), ST_X(geom), speed_kmh, alarm, status FROM positions
		WHERE vehicle_id = $1 AND device_time > $2 AND device_time <= $3
		ORDER BY device_time, fix_hash`, vehicleID, after, through)
	if err != nil {
		return fmt.Errorf("read positions of vehicle %d: %w", vehicleID, err)
	}
	p := track.Position{VehicleID: vehicleID}
	var alarm, status int64
	_, err = pgx.ForEachRow(rows, []any{&p.Time, &p.Lat, &p.Lon, &p.SpeedKmh, &alarm, &status}, func() error {
		if alarm < 0 || alarm > math.MaxUint32 || status < 0 || status > math.MaxUint32 {
			return fmt.Errorf("at %s: alarm or status out of range", p.Time)
		}
		p.Alarm, p.Status = uint32(alarm), uint32(status)
		return fn(&p)
	})
	if err != nil {
		return fmt.Errorf("read positions of vehicle %d: %w", vehicleID, err)
	}
	return nil
}

// positionsReceivedAfter returns a vehicle's positions received after
// received with a device time after device, in (device time, fix hash)
// order: what a restart must replay.
//
// In cluster mode (below > 0) it returns only positions committed before
// the transaction id below (the feed takes the rest), and, when xid is not
// 0, selects by commit_xid >= xid instead of received_at.
func (s *Store) positionsReceivedAfter(ctx context.Context, vehicleID int64, received, device time.Time, xid, below int64) ([]track.Position, error) {
	rows, err := s.pool.Query(ctx, `SELECT `+positionColumns+` FROM positions
		WHERE vehicle_id = $1 AND device_time > $3
			AND CASE WHEN $4::bigint > 0 THEN commit_xid >= $4 ELSE received_at > $2 END
			AND ($5::bigint = 0 OR commit_xid IS NULL OR commit_xid < $5)
		ORDER BY device_time, fix_hash`, vehicleID, received, device, xid, below)
	if err != nil {
		return nil, fmt.Errorf("read positions of vehicle %d received after %s: %w", vehicleID, received, err)
	}
	ps, err := scanPositions(rows)
	if err != nil {
		return nil, fmt.Errorf("read positions of vehicle %d received after %s: %w", vehicleID, received, err)
	}
	return ps, nil
}

// feedHorizon returns the id of the oldest transaction still running:
// every position with a lower commit_xid is committed (or never will be).
func (s *Store) feedHorizon(ctx context.Context) (int64, error) {
	var x int64
	if err := s.pool.QueryRow(ctx, "SELECT pg_snapshot_xmin(pg_current_snapshot())::text::bigint").Scan(&x); err != nil {
		return 0, fmt.Errorf("read the oldest running transaction: %w", err)
	}
	return x, nil
}

// feedPositions returns the positions of the vehicles with id % shards ==
// shard committed by transactions from <= id < to, in no particular order.
func (s *Store) feedPositions(ctx context.Context, shard, shards int, from, to int64) ([]track.Position, error) {
	rows, err := s.pool.Query(ctx, `SELECT `+positionColumns+` FROM positions
		WHERE commit_xid >= $1 AND commit_xid < $2 AND vehicle_id % $3 = $4`, from, to, shards, shard)
	if err != nil {
		return nil, fmt.Errorf("read positions of shard %d committed in [%d, %d): %w", shard, from, to, err)
	}
	ps, err := scanPositions(rows)
	if err != nil {
		return nil, fmt.Errorf("read positions of shard %d committed in [%d, %d): %w", shard, from, to, err)
	}
	return ps, nil
}

// dbSource is the engine's Source over the positions table. The engine
// calls it from the goroutine that owns it, which sets ctx.
type dbSource struct {
	store   *Store
	ctx     context.Context
	timeout time.Duration
}

// Positions implements Source.
func (s *dbSource) Positions(vehicleID int64, after, through time.Time) ([]track.Position, error) {
	ctx, cancel := context.WithTimeout(s.ctx, s.timeout)
	defer cancel()
	ps, err := s.store.Positions(ctx, vehicleID, after, through)
	if err != nil {
		return nil, &sourceError{err}
	}
	return ps, nil
}

// Source returns a Source reading from the positions table with ctx,
// each read bounded by timeout.
func (s *Store) Source(ctx context.Context, timeout time.Duration) Source {
	return &dbSource{store: s, ctx: ctx, timeout: timeout}
}

func nullID(id int64) *int64 {
	if id == 0 {
		return nil
	}
	return &id
}

func nullPositive(v float64) *float64 {
	if v > 0 {
		return &v
	}
	return nil
}

func nullTime(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	return &t
}
