package track

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
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
	rows, err := s.pool.Query(ctx, `SELECT u.id, COALESCE(u.parent_id, 0), u.name, unit_path(u.id) AS path
		FROM units u WHERE u.id IN (SELECT unit_subtree($1)) ORDER BY path`, sc.root())
	if err != nil {
		return nil, fmt.Errorf("list units: %w", err)
	}
	return pgx.CollectRows(rows, pgx.RowToStructByPos[Unit])
}

// UnitIn returns the unit id if it is in scope.
func (s *Store) UnitIn(ctx context.Context, sc Scope, id int64) (Unit, error) {
	var u Unit
	err := s.pool.QueryRow(ctx, `SELECT u.id, COALESCE(u.parent_id, 0), u.name, unit_path(u.id)
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
		err := s.pool.QueryRow(ctx, "SELECT id FROM units WHERE parent_id IS NOT DISTINCT FROM $1 AND name = $2", parent, name).Scan(&u.ID)
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
	if err := s.pool.QueryRow(ctx, "INSERT INTO units (parent_id, name) VALUES ($1, $2) RETURNING id", p, name).Scan(&id); err != nil {
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
	tag, err := s.pool.Exec(ctx, "UPDATE units SET name = $3 WHERE id = $2 AND id IN (SELECT unit_subtree($1))", sc.root(), id, name)
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
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
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
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
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

// VehicleFilter narrows a vehicle list. Zero fields do not filter.
type VehicleFilter struct {
	Plate    string // substring
	UnitID   int64  // the unit's subtree
	Category Category
	Sealed   *bool
	Limit    int
	Offset   int
}

const vehicleColumns = `v.id, v.plate, v.plate_color, v.category, v.unit_id, unit_path(v.unit_id), v.sealed, COALESCE(t.phone, '')`

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
	rows, err := s.pool.Query(ctx, `SELECT `+vehicleColumns+`, count(*) OVER ()
		FROM vehicles v LEFT JOIN terminals t ON t.vehicle_id = v.id
		WHERE v.unit_id IN (SELECT unit_subtree($1))
		  AND ($2::bigint IS NULL OR v.unit_id IN (SELECT unit_subtree($2)))
		  AND ($3 = '' OR strpos(v.plate, $3) > 0)
		  AND ($4 = '' OR v.category = $4)
		  AND ($5::boolean IS NULL OR v.sealed = $5)
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
		err = s.pool.QueryRow(ctx, `SELECT count(*) FROM vehicles v
			WHERE v.unit_id IN (SELECT unit_subtree($1))
			  AND ($2::bigint IS NULL OR v.unit_id IN (SELECT unit_subtree($2)))
			  AND ($3 = '' OR strpos(v.plate, $3) > 0)
			  AND ($4 = '' OR v.category = $4)
			  AND ($5::boolean IS NULL OR v.sealed = $5)`,
			sc.root(), unit, f.Plate, string(f.Category), f.Sealed).Scan(&total)
		if err != nil {
			return nil, 0, fmt.Errorf("count vehicles: %w", err)
		}
	}
	return vs, total, nil
}

// VehicleIn returns the vehicle if it is in scope, else ErrNotFound.
func (s *Store) VehicleIn(ctx context.Context, sc Scope, id int64) (Vehicle, error) {
	v, err := scanVehicle(s.pool.QueryRow(ctx, `SELECT `+vehicleColumns+`
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
	Sealed     *bool
}

// CreateVehicle creates a vehicle in a unit in scope.
func (s *Store) CreateVehicle(ctx context.Context, sc Scope, plate string, color uint8, cat Category, unit int64) (Vehicle, error) {
	if _, err := s.UnitIn(ctx, sc, unit); err != nil {
		return Vehicle{}, err
	}
	var id int64
	err := s.pool.QueryRow(ctx, "INSERT INTO vehicles (plate, plate_color, category, unit_id) VALUES ($1, $2, $3, $4) RETURNING id",
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
	tag, err := s.pool.Exec(ctx, `UPDATE vehicles SET plate = COALESCE($3, plate), plate_color = COALESCE($4, plate_color),
		category = COALESCE($5, category), unit_id = COALESCE($6, unit_id), sealed = COALESCE($7, sealed), updated_at = now()
		WHERE id = $2 AND unit_id IN (SELECT unit_subtree($1))`, sc.root(), id, c.Plate, color, cat, c.UnitID, c.Sealed)
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
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
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

// TerminalInfo is a terminal as listed by the API.
type TerminalInfo struct {
	ID              int64
	Phone           string
	VehicleID       int64 // 0 when unbound
	Plate           string
	ProtocolVersion int
	Maker, Model    string
	LastSeen        time.Time // zero when never seen
}

// TerminalsIn returns a page of the terminals bound to vehicles in scope
// (in scope All, unbound terminals too), by phone, and the total.
func (s *Store) TerminalsIn(ctx context.Context, sc Scope, phone string, limit, offset int) ([]TerminalInfo, int, error) {
	rows, err := s.pool.Query(ctx, `SELECT t.id, t.phone, COALESCE(v.id, 0), COALESCE(v.plate, ''), COALESCE(t.protocol_version, 0),
			COALESCE(t.maker, ''), COALESCE(t.model, ''), t.last_seen_at, count(*) OVER ()
		FROM terminals t LEFT JOIN vehicles v ON v.id = t.vehicle_id
		WHERE (v.unit_id IN (SELECT unit_subtree($1)) OR ($1::bigint IS NULL AND v.id IS NULL))
		  AND ($2 = '' OR t.phone = $2)
		ORDER BY t.phone LIMIT $3 OFFSET $4`, sc.root(), phone, limit, offset)
	if err != nil {
		return nil, 0, fmt.Errorf("list terminals: %w", err)
	}
	total := 0
	ts, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (TerminalInfo, error) {
		var t TerminalInfo
		var pv int16
		var seen *time.Time
		err := r.Scan(&t.ID, &t.Phone, &t.VehicleID, &t.Plate, &pv, &t.Maker, &t.Model, &seen, &total)
		t.ProtocolVersion = int(pv)
		if seen != nil {
			t.LastSeen = *seen
		}
		return t, err
	})
	if err != nil {
		return nil, 0, fmt.Errorf("list terminals: %w", err)
	}
	return ts, total, nil
}

// State is a vehicle's latest position (vehicle_state).
type State struct {
	VehicleID     int64
	Plate         string
	Time          time.Time
	Lat, Lon      float64
	SpeedKmh      float32
	Heading       int16
	Alarm, Status uint32
}

// LatestIn returns a page of the latest positions of the vehicles in scope,
// by plate, and the total.
func (s *Store) LatestIn(ctx context.Context, sc Scope, limit, offset int) ([]State, int, error) {
	rows, err := s.pool.Query(ctx, `SELECT v.id, v.plate, st.device_time, ST_Y(st.geom), ST_X(st.geom), st.speed_kmh, st.heading,
			st.alarm, st.status, count(*) OVER ()
		FROM vehicle_state st JOIN vehicles v ON v.id = st.vehicle_id
		WHERE v.unit_id IN (SELECT unit_subtree($1))
		ORDER BY v.plate LIMIT $2 OFFSET $3`, sc.root(), limit, offset)
	if err != nil {
		return nil, 0, fmt.Errorf("latest positions: %w", err)
	}
	total := 0
	ss, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (State, error) {
		var st State
		var alarm, status int64
		err := r.Scan(&st.VehicleID, &st.Plate, &st.Time, &st.Lat, &st.Lon, &st.SpeedKmh, &st.Heading, &alarm, &status, &total)
		st.Alarm, st.Status = uint32(alarm), uint32(status)
		return st, err
	})
	if err != nil {
		return nil, 0, fmt.Errorf("latest positions: %w", err)
	}
	return ss, total, nil
}

// TrackPoint is one stored position of a track.
type TrackPoint struct {
	Time          time.Time
	Lat, Lon      float64
	SpeedKmh      float32
	Heading       int16
	Alarm, Status uint32
	Backfill      bool
	// MileageKm is the odometer (item 0x01), valid when HasMileage.
	MileageKm  float64
	HasMileage bool
}

// Track calls fn for every stored position of the vehicle with from <= time
// < to, in time order (two reports of the same second by fix hash, the
// primary key's order: no sort), streaming rows from the database: nothing
// is accumulated. The *TrackPoint is reused between calls. The caller checks
// the vehicle's scope first (VehicleIn).
func (s *Store) Track(ctx context.Context, vehicleID int64, from, to time.Time, fn func(*TrackPoint) error) (int, error) {
	// The point comes as its EWKB (geom::bytea) and is decoded here: ST_Y
	// and ST_X cost the server two function calls a row, most of its time
	// on a month at 10 s.
	rows, err := s.pool.Query(ctx, `SELECT device_time, geom::bytea, speed_kmh, heading, alarm, status, backfill, mileage_km
		FROM positions WHERE vehicle_id = $1 AND device_time >= $2 AND device_time < $3
		ORDER BY device_time, fix_hash`, vehicleID, from, to)
	if err != nil {
		return 0, fmt.Errorf("track of vehicle %d: %w", vehicleID, err)
	}
	defer rows.Close()
	// A month at 10 s is 260,000 rows: decoding the binary columns here
	// rather than through Scan halves the client's time. Every column's
	// type has a binary format that pgx asks for; any other format is a
	// bug, reported as such.
	for i, fd := range rows.FieldDescriptions() {
		if fd.Format != pgx.BinaryFormatCode {
			return 0, fmt.Errorf("track of vehicle %d: column %d not in binary format", vehicleID, i)
		}
	}
	var p TrackPoint
	n := 0
	for rows.Next() {
		if err := decodeTrackRow(rows.RawValues(), &p); err != nil {
			return n, fmt.Errorf("track of vehicle %d: %w", vehicleID, err)
		}
		if err := fn(&p); err != nil {
			return n, err
		}
		n++
	}
	if err := rows.Err(); err != nil {
		return n, fmt.Errorf("track of vehicle %d: %w", vehicleID, err)
	}
	return n, nil
}

// pgEpoch is PostgreSQL's timestamp origin: binary timestamptz values are
// microseconds since then.
var pgEpoch = time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC)

// decodeTrackRow decodes Track's columns from PostgreSQL's binary format:
// timestamptz (int64 µs since 2000), bytea (EWKB), float4, int2, int8,
// int8, bool, float8 (NULL: no odometer).
func decodeTrackRow(v [][]byte, p *TrackPoint) error {
	if len(v) != 8 || len(v[0]) != 8 || len(v[2]) != 4 || len(v[3]) != 2 || len(v[4]) != 8 || len(v[5]) != 8 || len(v[6]) != 1 {
		return fmt.Errorf("track row: unexpected column sizes")
	}
	be := binary.BigEndian
	p.Time = pgEpoch.Add(time.Duration(int64(be.Uint64(v[0]))) * time.Microsecond)
	var err error
	if p.Lat, p.Lon, err = pointEWKB(v[1]); err != nil {
		return fmt.Errorf("track row at %s: %w", p.Time.Format(time.RFC3339), err)
	}
	p.SpeedKmh = math.Float32frombits(be.Uint32(v[2]))
	p.Heading = int16(be.Uint16(v[3]))
	p.Alarm = uint32(be.Uint64(v[4]))
	p.Status = uint32(be.Uint64(v[5]))
	p.Backfill = v[6][0] != 0
	p.HasMileage = v[7] != nil
	p.MileageKm = 0
	if p.HasMileage {
		if len(v[7]) != 8 {
			return fmt.Errorf("track row: mileage of %d bytes", len(v[7]))
		}
		p.MileageKm = math.Float64frombits(be.Uint64(v[7]))
	}
	return nil
}

// pointEWKB decodes a 2-D point in (E)WKB, as geometry::bytea gives it:
// byte order, type (with the SRID flag, then the SRID), X, Y.
func pointEWKB(b []byte) (lat, lon float64, err error) {
	if len(b) < 21 {
		return 0, 0, fmt.Errorf("point: %d bytes of WKB", len(b))
	}
	var order binary.ByteOrder = binary.LittleEndian
	if b[0] == 0 {
		order = binary.BigEndian
	}
	typ := order.Uint32(b[1:])
	off := 5
	if typ&0x20000000 != 0 { // EWKB: an SRID follows
		off += 4
	}
	if typ&0xff != 1 || typ&0xc0000000 != 0 || len(b) < off+16 {
		return 0, 0, fmt.Errorf("point: WKB type %#x, %d bytes", typ, len(b))
	}
	lon = math.Float64frombits(order.Uint64(b[off:]))
	lat = math.Float64frombits(order.Uint64(b[off+8:]))
	return lat, lon, nil
}

// ErrTooManyPoints is returned by TrackPoints when the period holds more
// positions than the caller's limit.
var ErrTooManyPoints = errors.New("track: more positions in the period than allowed")

// trackChunk is the part of a period TrackPoints reads on one connection:
// a month at 10 s is read as four weeks at once, the server scanning and
// sending them in parallel and the client decoding them in parallel.
const trackChunk = 7 * 24 * time.Hour

// TrackPoints returns the vehicle's stored positions with from <= time <
// to, in Track's order, reading parts of a long period concurrently (at
// most 4 connections). More than limit positions is ErrTooManyPoints. The
// caller owns the slice and checks the vehicle's scope first.
func (s *Store) TrackPoints(ctx context.Context, vehicleID int64, from, to time.Time, limit int) ([]TrackPoint, error) {
	parts := min(4, max(1, int((to.Sub(from)+trackChunk-1)/trackChunk)))
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	chunks := make([][]TrackPoint, parts)
	errs := make([]error, parts)
	var total atomic.Int64
	var wg sync.WaitGroup
	step := to.Sub(from) / time.Duration(parts)
	for i := range parts {
		lo, hi := from.Add(time.Duration(i)*step), from.Add(time.Duration(i+1)*step)
		if i == parts-1 {
			hi = to
		}
		wg.Go(func() {
			_, errs[i] = s.Track(ctx, vehicleID, lo, hi, func(p *TrackPoint) error {
				if total.Add(1) > int64(limit) {
					return ErrTooManyPoints
				}
				chunks[i] = append(chunks[i], *p)
				return nil
			})
			if errs[i] != nil {
				cancel()
			}
		})
	}
	wg.Wait()
	if total.Load() > int64(limit) {
		return nil, ErrTooManyPoints
	}
	for _, err := range errs {
		if err != nil {
			return nil, err
		}
	}
	if parts == 1 {
		return chunks[0], nil
	}
	out := make([]TrackPoint, 0, total.Load())
	for _, c := range chunks {
		out = append(out, c...)
	}
	return out, nil
}

// LiveSeeds returns every vehicle's latest stored report and seal, for
// the live hub's start (Hub.Seed).
func (s *Store) LiveSeeds(ctx context.Context) ([]Seed, error) {
	rows, err := s.pool.Query(ctx, `SELECT v.id, st.device_time, st.received_at, COALESCE(st.speed_kmh, 0), COALESCE(st.alarm, 0), v.sealed
		FROM vehicles v LEFT JOIN vehicle_state st ON st.vehicle_id = v.id`)
	if err != nil {
		return nil, fmt.Errorf("track: live seeds: %w", err)
	}
	var out []Seed
	for rows.Next() {
		var sd Seed
		var t, r *time.Time
		var alarm int64
		if err := rows.Scan(&sd.VehicleID, &t, &r, &sd.SpeedKmh, &alarm, &sd.Sealed); err != nil {
			rows.Close()
			return nil, fmt.Errorf("track: live seeds: %w", err)
		}
		if t != nil {
			sd.Time, sd.Received = *t, *r
		}
		sd.Alarm = uint32(alarm)
		out = append(out, sd)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("track: live seeds: %w", err)
	}
	return out, nil
}

// SealedIn returns the sealed vehicles in scope.
func (s *Store) SealedIn(ctx context.Context, sc Scope) (map[int64]bool, error) {
	rows, err := s.pool.Query(ctx, `SELECT id FROM vehicles WHERE sealed AND unit_id IN (SELECT unit_subtree($1))`, sc.root())
	if err != nil {
		return nil, fmt.Errorf("track: sealed vehicles: %w", err)
	}
	ids, err := pgx.CollectRows(rows, pgx.RowTo[int64])
	if err != nil {
		return nil, fmt.Errorf("track: sealed vehicles: %w", err)
	}
	out := make(map[int64]bool, len(ids))
	for _, id := range ids {
		out[id] = true
	}
	return out, nil
}
