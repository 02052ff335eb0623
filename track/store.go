package track

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
)

// Store is the registry side of storage: units, vehicles and terminals.
type Store struct {
	pool *pgxpool.Pool
	// db runs the statements of units and vehicles (units.go,
	// vehicles.go): the pool, or the transaction of a store from InTx.
	db dbtx
	// sealKey signs the daily seals (nil: unsigned); sealPub is its public
	// half, or the key verification expects.
	sealKey ed25519.PrivateKey
	sealPub ed25519.PublicKey
	// auth checks terminals' auth codes in batches (admit.go).
	auth *authBatcher
}

// dbtx is what the unit and vehicle methods run on: a pool or a
// transaction (Begin then opens a savepoint).
type dbtx interface {
	Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error)
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
	Begin(ctx context.Context) (pgx.Tx, error)
}

// NewStore returns a store on pool.
func NewStore(pool *pgxpool.Pool) *Store {
	return &Store{pool: pool, db: pool, auth: newAuthBatcher(pool)}
}

// InTx returns the store with its unit and vehicle methods running in tx:
// the caller commits their changes together with its own statements (the
// change's audit entry), or not at all. Other methods still use the pool.
func (s *Store) InTx(tx pgx.Tx) *Store {
	return &Store{pool: s.pool, db: tx, sealKey: s.sealKey, sealPub: s.sealPub, auth: s.auth}
}

// Pool returns the store's connection pool.
func (s *Store) Pool() *pgxpool.Pool { return s.pool }

// UnassignedUnit is the top-level unit that open registration puts unknown
// terminals' vehicles in, for pilots (see RegisterPolicy).
const UnassignedUnit = "未分配"

// RegisterResult is the 0x8100 result code (JT/T 808-2019 表 4).
type RegisterResult uint8

// The registration results of 0x8100.
const (
	RegisterOK              RegisterResult = 0
	RegisterVehicleTaken    RegisterResult = 1
	RegisterNoVehicle       RegisterResult = 2
	RegisterTerminalTaken   RegisterResult = 3
	RegisterUnknownTerminal RegisterResult = 4
)

// Registration is what a terminal says of itself in 0x0100.
type Registration struct {
	Phone           string // leading zeros removed
	ProtocolVersion int    // 2011, 2013 or 2019
	Province, City  uint16
	Maker, Model    string
	TerminalIdent   string
	PlateColor      uint8
	Plate           string
}

// Register admits a terminal: a terminal bound to a vehicle gets a fresh
// random auth code, stored, and RegisterOK. A terminal not bound to a vehicle
// gets RegisterUnknownTerminal, unless open is set: then it (and a vehicle
// named after the plate it reports, or after its phone) is created in the
// UnassignedUnit for an administrator to sort out.
func (s *Store) Register(ctx context.Context, reg Registration, open bool) (RegisterResult, string, error) {
	code := newAuthCode()
	// The usual case, a terminal bound to a vehicle, in one statement: a
	// round trip and a commit instead of four round trips.
	tag, err := s.pool.Exec(ctx, `UPDATE terminals SET auth_code = $2, protocol_version = $3,
		maker = $4, model = $5, terminal_ident = $6, province = $7, city = $8, reg_plate = $9,
		reg_plate_color = $10, registered_at = now()
		WHERE phone = $1 AND vehicle_id IS NOT NULL`, reg.Phone, code, nullVersion(reg.ProtocolVersion), reg.Maker, reg.Model,
		reg.TerminalIdent, int32(reg.Province), int32(reg.City), reg.Plate, int16(reg.PlateColor))
	if err != nil {
		return 0, "", fmt.Errorf("register terminal %s: %w", reg.Phone, err)
	}
	if tag.RowsAffected() == 1 {
		return RegisterOK, code, nil
	}
	var result RegisterResult
	err = pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		var vehicleID *int64
		err := tx.QueryRow(ctx, "SELECT vehicle_id FROM terminals WHERE phone = $1 FOR UPDATE", reg.Phone).Scan(&vehicleID)
		switch {
		case errors.Is(err, pgx.ErrNoRows):
			if !open {
				result = RegisterUnknownTerminal
				return nil
			}
			if _, err := tx.Exec(ctx, "INSERT INTO terminals (phone) VALUES ($1)", reg.Phone); err != nil {
				return fmt.Errorf("create terminal: %w", err)
			}
		case err != nil:
			return fmt.Errorf("look up terminal: %w", err)
		}
		if vehicleID == nil {
			if !open {
				result = RegisterUnknownTerminal
				return nil
			}
			id, err := createUnassignedVehicle(ctx, tx, reg)
			if err != nil {
				return err
			}
			vehicleID = &id
		}
		_, err = tx.Exec(ctx, `UPDATE terminals SET vehicle_id = $2, auth_code = $3, protocol_version = $4,
			maker = $5, model = $6, terminal_ident = $7, province = $8, city = $9, reg_plate = $10,
			reg_plate_color = $11, registered_at = now()
			WHERE phone = $1`, reg.Phone, *vehicleID, code, nullVersion(reg.ProtocolVersion), reg.Maker, reg.Model,
			reg.TerminalIdent, int32(reg.Province), int32(reg.City), reg.Plate, int16(reg.PlateColor))
		if err != nil {
			return fmt.Errorf("store registration: %w", err)
		}
		result = RegisterOK
		return nil
	})
	if err != nil {
		return 0, "", fmt.Errorf("register terminal %s: %w", reg.Phone, err)
	}
	if result != RegisterOK {
		code = ""
	}
	return result, code, nil
}

func createUnassignedVehicle(ctx context.Context, tx pgx.Tx, reg Registration) (int64, error) {
	unit, err := ensureUnitPath(ctx, tx, []string{UnassignedUnit})
	if err != nil {
		return 0, err
	}
	plate := strings.TrimSpace(reg.Plate)
	var taken bool
	if plate != "" {
		if err := tx.QueryRow(ctx, "SELECT EXISTS (SELECT 1 FROM vehicles WHERE plate = $1)", plate).Scan(&taken); err != nil {
			return 0, fmt.Errorf("look up plate: %w", err)
		}
	}
	if plate == "" || taken {
		plate = UnassignedUnit + "-" + reg.Phone
	}
	var id int64
	err = tx.QueryRow(ctx, `INSERT INTO vehicles (plate, plate_color, unit_id) VALUES ($1, $2, $3)
		ON CONFLICT (plate) DO UPDATE SET plate = excluded.plate RETURNING id`, plate, int16(reg.PlateColor), unit).Scan(&id)
	if err != nil {
		return 0, fmt.Errorf("create unassigned vehicle: %w", err)
	}
	return id, nil
}

// authCodeAlphabet avoids look-alike characters; codes travel as GBK/ASCII.
const authCodeAlphabet = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"

// newAuthCode returns a random 16-character auth code (80 bits).
func newAuthCode() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	for i := range b {
		b[i] = authCodeAlphabet[int(b[i])%len(authCodeAlphabet)]
	}
	return string(b[:])
}

// ErrUnknownTerminal is returned for a phone number the registry does not
// know, or whose terminal is not bound to a vehicle.
var ErrUnknownTerminal = errors.New("track: terminal not registered to a vehicle")

// Authentication is what a terminal says in 0x0102.
type Authentication struct {
	Phone string // leading zeros removed
	Code  string
	// ProtocolVersion is 2013 or 2019 (0: unknown, left as stored).
	ProtocolVersion int
	// IMEI and SoftwareVersion come with JT/T 808-2019 only.
	IMEI, SoftwareVersion string
}

// Authenticate checks the code against the terminal's stored auth code. It
// returns the terminal and whether the code matched. Authentications
// waiting at the same time are checked in one statement (admit.go).
func (s *Store) Authenticate(ctx context.Context, a Authentication) (Terminal, bool, error) {
	return s.auth.authenticate(ctx, a)
}

func nullVersion(v int) any {
	if v == 0 {
		return nil
	}
	return int16(v)
}

// TerminalByPhone returns the terminal with phone (leading zeros removed)
// and whether it is bound to a vehicle.
func (s *Store) TerminalByPhone(ctx context.Context, phone string) (Terminal, bool, error) {
	var t Terminal
	var vehicleID *int64
	err := s.pool.QueryRow(ctx, "SELECT id, phone, vehicle_id FROM terminals WHERE phone = $1", phone).Scan(&t.ID, &t.Phone, &vehicleID)
	if errors.Is(err, pgx.ErrNoRows) {
		return t, false, nil
	}
	if err != nil {
		return t, false, fmt.Errorf("look up terminal %s: %w", phone, err)
	}
	if vehicleID == nil {
		return t, false, nil
	}
	t.VehicleID = *vehicleID
	return t, true, nil
}

// Park keeps a payload that could not be used, for inspection.
func (s *Store) Park(ctx context.Context, p Parked) error {
	_, err := s.pool.Exec(ctx, `INSERT INTO parked (received_at, source, topic, kind, payload, reason)
		VALUES ($1, $2, $3, $4, $5, $6)`, p.Received, p.Source, p.Topic, p.Kind, p.Payload, p.Reason)
	if err != nil {
		return fmt.Errorf("park %s payload: %w", p.Source, err)
	}
	return nil
}

// Deregister clears a terminal's auth code (0x0003 终端注销): it must
// register again before it is admitted.
func (s *Store) Deregister(ctx context.Context, terminalID int64) error {
	if _, err := s.pool.Exec(ctx, "UPDATE terminals SET auth_code = NULL WHERE id = $1", terminalID); err != nil {
		return fmt.Errorf("deregister terminal %d: %w", terminalID, err)
	}
	return nil
}

// ensureUnitPath returns the id of the unit at path (names from the top),
// creating the missing units.
func ensureUnitPath(ctx context.Context, tx pgx.Tx, path []string) (int64, error) {
	var parent *int64
	var id int64
	for _, name := range path {
		err := tx.QueryRow(ctx, `INSERT INTO units (parent_id, name) VALUES ($1, $2)
			ON CONFLICT (parent_id, name) DO UPDATE SET name = excluded.name RETURNING id`, parent, name).Scan(&id)
		if err != nil {
			return 0, fmt.Errorf("unit %q: %w", strings.Join(path, "/"), err)
		}
		parent = &id
	}
	return id, nil
}

// VehicleImport is one line of a vehicle import file.
type VehicleImport struct {
	Line          int
	Plate         string
	PlateColor    uint8
	TerminalPhone string // leading zeros removed
	UnitPath      []string
	Category      Category
	// Seal, when the line fills the optional column sealed, is the seal
	// state the vehicle takes (from At, the import's time when zero).
	Seal *SealChange
}

// ImportError names the line of an import file that is wrong.
type ImportError struct {
	Line int
	Err  error
}

func (e *ImportError) Error() string { return fmt.Sprintf("line %d: %v", e.Line, e.Err) }
func (e *ImportError) Unwrap() error { return e.Err }

// ParseVehicleCSV reads a UTF-8 CSV with the header
// plate,plate_color,terminal_phone,unit,category and validates every line.
// The optional columns sealed (true/false, 是/否; empty: left as it is),
// sealed_at (when the seal or unseal takes effect: RFC 3339, or
// 2006-01-02[ 15:04[:05]] in Beijing time; empty: when imported) and
// seal_reason record a seal or unseal (see SetSeal).
// It returns every bad line's error (joined), so a file is fixed in one go.
func ParseVehicleCSV(r io.Reader) ([]VehicleImport, error) {
	cr := csv.NewReader(r)
	cr.FieldsPerRecord = -1
	header, err := cr.Read()
	if err != nil {
		return nil, fmt.Errorf("read header: %w", err)
	}
	want := []string{"plate", "plate_color", "terminal_phone", "unit", "category"}
	if len(header) > 0 {
		header[0] = strings.TrimPrefix(header[0], "\ufeff") // a BOM from spreadsheet programs
	}
	col := map[string]int{}
	for i, h := range header {
		col[strings.TrimSpace(strings.ToLower(h))] = i
	}
	for _, w := range want {
		if _, ok := col[w]; !ok {
			return nil, &ImportError{Line: 1, Err: fmt.Errorf("header lacks column %q (want %s)", w, strings.Join(want, ","))}
		}
	}
	var out []VehicleImport
	var errs []error
	plates := map[string]int{}
	phones := map[string]int{}
	for {
		rec, err := cr.Read()
		if err == io.EOF {
			break
		}
		line, _ := cr.FieldPos(0)
		if err != nil {
			errs = append(errs, &ImportError{Line: line, Err: err})
			if _, ok := err.(*csv.ParseError); ok {
				continue
			}
			break
		}
		get := func(name string) string {
			if i, ok := col[name]; ok && i < len(rec) {
				return strings.TrimSpace(rec[i])
			}
			return ""
		}
		v, err := parseVehicleLine(line, get)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if prev, dup := plates[v.Plate]; dup {
			errs = append(errs, &ImportError{Line: line, Err: fmt.Errorf("plate %s already on line %d", v.Plate, prev)})
			continue
		}
		plates[v.Plate] = line
		if v.TerminalPhone != "" {
			if prev, dup := phones[v.TerminalPhone]; dup {
				errs = append(errs, &ImportError{Line: line, Err: fmt.Errorf("terminal %s already on line %d", v.TerminalPhone, prev)})
				continue
			}
			phones[v.TerminalPhone] = line
		}
		out = append(out, v)
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return out, nil
}

func parseVehicleLine(line int, get func(string) string) (VehicleImport, error) {
	bad := func(format string, args ...any) (VehicleImport, error) {
		return VehicleImport{}, &ImportError{Line: line, Err: fmt.Errorf(format, args...)}
	}
	v := VehicleImport{Line: line, Plate: get("plate")}
	if v.Plate == "" || !utf8.ValidString(v.Plate) || utf8.RuneCountInString(v.Plate) > 16 {
		return bad("plate %q: want 1 to 16 UTF-8 characters", v.Plate)
	}
	c, err := strconv.ParseUint(get("plate_color"), 10, 8)
	if err != nil {
		return bad("plate_color %q: want a JT/T 808 colour code 0–255 (1 blue, 2 yellow, 3 black, 4 white, 5 green, 9 other)", get("plate_color"))
	}
	v.PlateColor = uint8(c)
	phone := get("terminal_phone")
	if phone != "" {
		p, err := NormalizePhone(phone)
		if err != nil {
			return bad("terminal_phone: %v", err)
		}
		v.TerminalPhone = p
	}
	unit := get("unit")
	for _, name := range strings.Split(unit, "/") {
		name = strings.TrimSpace(name)
		if name == "" {
			return bad("unit %q: want a path of names such as 湖北省/黄石市/阳新县/县机关事务中心", unit)
		}
		v.UnitPath = append(v.UnitPath, name)
	}
	cat := get("category")
	if cat == "" {
		cat = string(CategoryGeneral)
	}
	if v.Category, err = parseCategoryErr(cat); err != nil {
		return bad("%v", err)
	}
	if v.Seal, err = parseSealColumns(get); err != nil {
		return bad("%v", err)
	}
	return v, nil
}

func parseCategoryErr(s string) (Category, error) {
	if c, ok := ParseCategory(s); ok {
		return c, nil
	}
	return "", fmt.Errorf("category %q: want general, confidential, emergency, enforcement, special or 一般公务用车, 机要通信用车, 应急保障用车, 执法执勤用车, 特种专业技术用车", s)
}

// NormalizePhone checks a terminal phone number (1 to 20 digits) and removes
// its leading zeros: the terminal's identity across protocol versions.
func NormalizePhone(s string) (string, error) {
	if s == "" || len(s) > 20 {
		return "", fmt.Errorf("phone %q: want 1 to 20 digits", s)
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return "", fmt.Errorf("phone %q: want digits only", s)
		}
	}
	s = strings.TrimLeft(s, "0")
	if s == "" {
		s = "0"
	}
	return s, nil
}

// ImportVehicles creates or updates the vehicles (by plate) and binds their
// terminals, creating units as needed, all in one transaction: either the
// whole file is imported or nothing is. A terminal bound to another vehicle
// is moved to the one named here. It returns how many vehicles were created
// and updated.
func (s *Store) ImportVehicles(ctx context.Context, vs []VehicleImport) (created, updated int, err error) {
	now := time.Now()
	err = pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		created, updated = 0, 0
		units := map[string]int64{}
		for _, v := range vs {
			key := strings.Join(v.UnitPath, "/")
			unit, ok := units[key]
			if !ok {
				if unit, err = ensureUnitPath(ctx, tx, v.UnitPath); err != nil {
					return &ImportError{Line: v.Line, Err: err}
				}
				units[key] = unit
			}
			var id int64
			var inserted bool
			err := tx.QueryRow(ctx, `INSERT INTO vehicles (plate, plate_color, category, unit_id) VALUES ($1, $2, $3, $4)
				ON CONFLICT (plate) DO UPDATE SET plate_color = excluded.plate_color, category = excluded.category,
					unit_id = excluded.unit_id, updated_at = now()
				RETURNING id, xmax = 0`, v.Plate, int16(v.PlateColor), string(v.Category), unit).Scan(&id, &inserted)
			if err != nil {
				return &ImportError{Line: v.Line, Err: fmt.Errorf("vehicle %s: %w", v.Plate, err)}
			}
			if v.Seal != nil {
				c := *v.Seal
				if c.At.IsZero() {
					c.At = now
				}
				if err := importSeal(ctx, s.InTx(tx), tx, id, unit, c); err != nil {
					return &ImportError{Line: v.Line, Err: fmt.Errorf("seal of %s: %w", v.Plate, err)}
				}
			}
			if inserted {
				created++
			} else {
				updated++
			}
			if v.TerminalPhone == "" {
				continue
			}
			// Unbind whatever terminal this vehicle had, then bind the named one.
			if _, err := tx.Exec(ctx, "UPDATE terminals SET vehicle_id = NULL WHERE vehicle_id = $1 AND phone <> $2", id, v.TerminalPhone); err != nil {
				return &ImportError{Line: v.Line, Err: fmt.Errorf("unbind old terminal of %s: %w", v.Plate, err)}
			}
			_, err = tx.Exec(ctx, `INSERT INTO terminals (phone, vehicle_id) VALUES ($1, $2)
				ON CONFLICT (phone) DO UPDATE SET vehicle_id = excluded.vehicle_id`, v.TerminalPhone, id)
			if err != nil {
				return &ImportError{Line: v.Line, Err: fmt.Errorf("bind terminal %s to %s: %w", v.TerminalPhone, v.Plate, err)}
			}
		}
		return nil
	})
	return created, updated, err
}

// ListVehicles returns every vehicle with its unit path and terminal, by plate.
func (s *Store) ListVehicles(ctx context.Context) ([]Vehicle, error) {
	rows, err := s.pool.Query(ctx, `
		WITH RECURSIVE up(id, path) AS (
			SELECT id, name FROM units WHERE parent_id IS NULL
			UNION ALL
			SELECT u.id, up.path || '/' || u.name FROM units u JOIN up ON u.parent_id = up.id)
		SELECT v.id, v.plate, v.plate_color, v.category, v.unit_id, up.path, vehicle_sealed_at(v.id, now()), COALESCE(t.phone, '')
		FROM vehicles v JOIN up ON up.id = v.unit_id LEFT JOIN terminals t ON t.vehicle_id = v.id
		ORDER BY v.plate`)
	if err != nil {
		return nil, fmt.Errorf("list vehicles: %w", err)
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (Vehicle, error) {
		var v Vehicle
		var color int16
		var cat string
		err := r.Scan(&v.ID, &v.Plate, &color, &cat, &v.UnitID, &v.UnitPath, &v.Sealed, &v.TerminalPhone)
		v.PlateColor, v.Category = uint8(color), Category(cat)
		return v, err
	})
}

// PruneRawFrames drops the raw_frames partitions that end before cutoff and
// returns their names. Raw frames are kept as evidence; retention is an
// administrator's decision (fleetd serve --raw-retention).
func (s *Store) PruneRawFrames(ctx context.Context, cutoff time.Time) ([]string, error) {
	rows, err := s.pool.Query(ctx, `
		SELECT c.relname::text
		FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
		WHERE i.inhparent = 'raw_frames'::regclass`)
	if err != nil {
		return nil, fmt.Errorf("list raw_frames partitions: %w", err)
	}
	names, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return nil, fmt.Errorf("list raw_frames partitions: %w", err)
	}
	var dropped []string
	for _, name := range names {
		// Partition names end in _YYYYmMM (see ensure_month_partition).
		i := strings.LastIndexByte(name, '_')
		if i < 0 {
			continue
		}
		month, err := time.Parse("2006m01", name[i+1:])
		if err != nil {
			continue
		}
		if !month.AddDate(0, 1, 0).After(cutoff) {
			if _, err := s.pool.Exec(ctx, "DROP TABLE "+pgx.Identifier{name}.Sanitize()); err != nil {
				return dropped, fmt.Errorf("drop %s: %w", name, err)
			}
			dropped = append(dropped, name)
		}
	}
	return dropped, nil
}
