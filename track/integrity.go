package track

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"hash"
	"math"
	"time"

	"github.com/jackc/pgx/v5"
)

// Evidence integrity: every local day's stored rows of raw_frames, of
// positions and of the audit log are hashed once the day is over (a seal),
// and each seal hashes the one before it; each day's seals are then bound
// together and signed (seal.go). A row's digest is SHA-256 over its canonical encoding
// (below); a day's digest is SHA-256 over its rows' digests in a fixed
// order; a seal's chain link is SHA-256(previous link ‖ kind ‖ day ‖ rows ‖
// digest). Days are Asia/Shanghai days of received_at (of at for the audit
// log) — when fleetd stored
// a row, not when the terminal took the fix — so a blind-zone back-fill
// arriving days later is sealed with the day it arrived and never changes an
// older seal. A day is sealed SealGrace after it ends, so that a batch still
// being written across midnight lands before its day is sealed.

// SealGrace is how long after a day ends it is sealed.
const SealGrace = time.Hour

// SealKinds are the tables that are sealed, in the order a day's digest
// takes their chain links.
var SealKinds = []string{"positions", "raw_frames", "audit_log"}

// sealTime is the column whose local day a row of each kind is sealed with.
var sealTime = map[string]string{"positions": "received_at", "raw_frames": "received_at", "audit_log": "at"}

// Canonical row encoding, version 1. Fields are written in the order of the
// select lists below, each as: integers big-endian 8 bytes; floats as their
// IEEE-754 bits, 8 bytes; booleans 1 byte; times as Unix microseconds, 8
// bytes; text and bytea as a 4-byte length then the bytes; a NULL as a
// single 0xff byte where a value would start with its own presence byte 0x01.
const positionsCanonical = `vehicle_id, device_time, fix_hash, received_at, terminal_id,
	ST_Y(geom), ST_X(geom), speed_kmh::float8, heading::bigint, altitude_m::bigint, alarm, status,
	mileage_km, fuel_l::float8, rec_speed_kmh::float8, signal::bigint, satellites::bigint, items::text,
	backfill, frame_id::text`

const rawFramesCanonical = `received_at, id::text, terminal_id, phone, msg_id::bigint, serial::bigint,
	frame, disposition`

const auditLogCanonical = `id, at, actor_id, actor_name, actor_unit_id, action, vehicle_id, subject_unit_id,
	period_from, period_to, reason, remote_addr, detail::text`

// rowEncoder writes canonical encodings into a reused buffer.
type rowEncoder struct{ buf []byte }

func (e *rowEncoder) reset() { e.buf = e.buf[:0] }

func (e *rowEncoder) add(v any) error {
	switch x := v.(type) {
	case nil:
		e.buf = append(e.buf, 0xff)
	case int64:
		e.buf = append(e.buf, 1)
		e.buf = binary.BigEndian.AppendUint64(e.buf, uint64(x))
	case int32:
		e.buf = append(e.buf, 1)
		e.buf = binary.BigEndian.AppendUint64(e.buf, uint64(int64(x)))
	case float64:
		e.buf = append(e.buf, 1)
		e.buf = binary.BigEndian.AppendUint64(e.buf, math.Float64bits(x))
	case bool:
		e.buf = append(e.buf, 1)
		if x {
			e.buf = append(e.buf, 1)
		} else {
			e.buf = append(e.buf, 0)
		}
	case time.Time:
		e.buf = append(e.buf, 1)
		e.buf = binary.BigEndian.AppendUint64(e.buf, uint64(x.UnixMicro()))
	case string:
		e.buf = append(e.buf, 1)
		e.buf = binary.BigEndian.AppendUint32(e.buf, uint32(len(x)))
		e.buf = append(e.buf, x...)
	case []byte:
		e.buf = append(e.buf, 1)
		e.buf = binary.BigEndian.AppendUint32(e.buf, uint32(len(x)))
		e.buf = append(e.buf, x...)
	default:
		return fmt.Errorf("integrity: no canonical encoding for %T", v)
	}
	return nil
}

// RowDigest is the SHA-256 of one row's canonical encoding.
type RowDigest [32]byte

// digestRows streams the rows of query (whose select list is a canonical
// list) and calls fn with each row's digest and values.
func digestRows(ctx context.Context, q interface {
	Query(context.Context, string, ...any) (pgx.Rows, error)
}, sql string, args []any, fn func(d RowDigest, vals []any) error) error {
	rows, err := q.Query(ctx, sql, args...)
	if err != nil {
		return err
	}
	defer rows.Close()
	var enc rowEncoder
	for rows.Next() {
		vals, err := rows.Values()
		if err != nil {
			return err
		}
		enc.reset()
		for _, v := range vals {
			if err := enc.add(v); err != nil {
				return err
			}
		}
		if err := fn(sha256.Sum256(enc.buf), vals); err != nil {
			return err
		}
	}
	return rows.Err()
}

// Seal is one day's seal of one table.
type Seal struct {
	Kind   string
	Day    time.Time // midnight, Asia/Shanghai
	Rows   int64
	Digest []byte
	Prev   []byte
	Chain  []byte
	// Signed is true when the day's record was signed (a seal key was
	// configured); false for seals made without one.
	Signed bool
}

func dayBounds(day time.Time) (time.Time, time.Time) {
	d := time.Date(day.Year(), day.Month(), day.Day(), 0, 0, 0, 0, Beijing)
	return d, d.AddDate(0, 0, 1)
}

// daySQL returns the query of one day's rows of kind, in seal order.
func daySQL(kind string) (string, error) {
	switch kind {
	case "positions":
		return `SELECT ` + positionsCanonical + ` FROM positions WHERE received_at >= $1 AND received_at < $2
			ORDER BY received_at, vehicle_id, device_time, fix_hash`, nil
	case "raw_frames":
		return `SELECT ` + rawFramesCanonical + ` FROM raw_frames WHERE received_at >= $1 AND received_at < $2
			ORDER BY received_at, id`, nil
	case "audit_log":
		return `SELECT ` + auditLogCanonical + ` FROM audit_log WHERE at >= $1 AND at < $2 ORDER BY id`, nil
	}
	return "", fmt.Errorf("integrity: unknown seal kind %q", kind)
}

// dayDigest computes a day's digest and row count, and for positions the
// per-vehicle digests.
func (s *Store) dayDigest(ctx context.Context, kind string, day time.Time) (int64, []byte, map[int64]*partDigest, error) {
	q, err := daySQL(kind)
	if err != nil {
		return 0, nil, nil, err
	}
	from, to := dayBounds(day)
	h := sha256.New()
	var n int64
	parts := map[int64]*partDigest{}
	err = digestRows(ctx, s.pool, q, []any{from, to}, func(d RowDigest, vals []any) error {
		h.Write(d[:])
		n++
		if kind == "positions" {
			v := vals[0].(int64)
			p := parts[v]
			if p == nil {
				p = &partDigest{h: sha256.New()}
				parts[v] = p
			}
			p.h.Write(d[:])
			p.rows++
		}
		return nil
	})
	if err != nil {
		return 0, nil, nil, fmt.Errorf("digest %s of %s: %w", kind, from.Format(time.DateOnly), err)
	}
	return n, h.Sum(nil), parts, nil
}

type partDigest struct {
	h    hash.Hash
	rows int64
}

func chainLink(prev []byte, kind string, day time.Time, rows int64, digest []byte) []byte {
	h := sha256.New()
	h.Write(prev)
	h.Write([]byte(kind))
	h.Write([]byte(day.Format(time.DateOnly)))
	h.Write(binary.BigEndian.AppendUint64(nil, uint64(rows)))
	h.Write(digest)
	return h.Sum(nil)
}

// SealDays seals every day of each kind that ended at least SealGrace
// before now and is not sealed yet, in order, extending each kind's chain.
// Days before the first stored row are not sealed; days without rows are
// sealed with 0 rows, so a gap in the chain cannot hide a deleted day.
// It returns the seals made.
func (s *Store) SealDays(ctx context.Context, now time.Time) ([]Seal, error) {
	var made []Seal
	for _, kind := range SealKinds {
		var last *time.Time
		var prev []byte
		err := s.pool.QueryRow(ctx, `SELECT day, chain FROM seals WHERE kind = $1 ORDER BY day DESC LIMIT 1`, kind).Scan(&last, &prev)
		if err != nil && !errors.Is(err, pgx.ErrNoRows) {
			return made, fmt.Errorf("seal %s: %w", kind, err)
		}
		var next time.Time
		if last != nil {
			next = time.Date(last.Year(), last.Month(), last.Day(), 0, 0, 0, 0, Beijing).AddDate(0, 0, 1)
		} else {
			var first *time.Time
			if err := s.pool.QueryRow(ctx, "SELECT min("+sealTime[kind]+") FROM "+pgx.Identifier{kind}.Sanitize()).Scan(&first); err != nil {
				return made, fmt.Errorf("seal %s: %w", kind, err)
			}
			if first == nil {
				continue
			}
			next, _ = dayBounds(first.In(Beijing))
			prev = make([]byte, 32)
		}
		for {
			_, end := dayBounds(next)
			if now.Before(end.Add(SealGrace)) {
				break
			}
			rows, digest, parts, err := s.dayDigest(ctx, kind, next)
			if err != nil {
				return made, err
			}
			seal := Seal{Kind: kind, Day: next, Rows: rows, Digest: digest, Prev: prev,
				Chain: chainLink(prev, kind, next, rows, digest)}
			err = pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
				if _, err := tx.Exec(ctx, `INSERT INTO seals (kind, day, rows, digest, prev, chain) VALUES ($1, $2, $3, $4, $5, $6)`,
					kind, next.Format(time.DateOnly), rows, digest, prev, seal.Chain); err != nil {
					return err
				}
				for v, p := range parts {
					if _, err := tx.Exec(ctx, `INSERT INTO seal_parts (kind, day, vehicle_id, rows, digest) VALUES ($1, $2, $3, $4, $5)`,
						kind, next.Format(time.DateOnly), v, p.rows, p.h.Sum(nil)); err != nil {
						return err
					}
				}
				return nil
			})
			if err != nil {
				return made, fmt.Errorf("store seal of %s %s: %w", kind, next.Format(time.DateOnly), err)
			}
			made = append(made, seal)
			prev = seal.Chain
			next = next.AddDate(0, 0, 1)
		}
	}
	days, err := s.sealDayRecords(ctx, now)
	if err != nil {
		return made, err
	}
	for i := range made {
		made[i].Signed = days[made[i].Day.Format(time.DateOnly)]
	}
	return made, nil
}

// SealProblem is one thing VerifySeals found wrong.
type SealProblem struct {
	// Kind is the table whose rows or seal changed: positions,
	// raw_frames, audit_log, or seal_days for the signed day record.
	Kind string
	Day  time.Time
	// VehicleID names the vehicle whose positions changed that day (0 when
	// the change is not to positions, or is a vehicle added to the day).
	VehicleID int64
	What      string
	// Warning marks what proves nothing altered but leaves a seal
	// unprovable (a day sealed without a key, or sealed late); the rest
	// is evidence of a change.
	Warning bool
}

func (p SealProblem) String() string {
	s := fmt.Sprintf("%s %s: %s", p.Kind, p.Day.Format(time.DateOnly), p.What)
	if p.VehicleID != 0 {
		s += fmt.Sprintf(" (vehicle %d)", p.VehicleID)
	}
	return s
}

// VerifySeals recomputes the sealed days between from and to (inclusive,
// local days) and checks every chain link: it returns what no longer
// matches, naming the day and, for positions, the vehicle. It is
// VerifySealsWith checking signatures against the keys the database
// records, and leaving out warnings.
func (s *Store) VerifySeals(ctx context.Context, from, to time.Time) ([]SealProblem, error) {
	all, err := s.VerifySealsWith(ctx, from, to, SealCheck{})
	var problems []SealProblem
	for _, p := range all {
		if !p.Warning {
			problems = append(problems, p)
		}
	}
	return problems, err
}

// VerifySealsWith is VerifySeals that also checks each day's signed record
// (seal.go) against what check holds: the public key and the day digests
// kept offline.
func (s *Store) VerifySealsWith(ctx context.Context, from, to time.Time, check SealCheck) ([]SealProblem, error) {
	rows, err := s.pool.Query(ctx, `SELECT kind, day, rows, digest, prev, chain FROM seals
		WHERE day >= $1 AND day <= $2 ORDER BY kind, day`, from.Format(time.DateOnly), to.Format(time.DateOnly))
	if err != nil {
		return nil, fmt.Errorf("read seals: %w", err)
	}
	var seals []Seal
	for rows.Next() {
		var sl Seal
		var day time.Time
		if err := rows.Scan(&sl.Kind, &day, &sl.Rows, &sl.Digest, &sl.Prev, &sl.Chain); err != nil {
			rows.Close()
			return nil, fmt.Errorf("read seals: %w", err)
		}
		sl.Day = time.Date(day.Year(), day.Month(), day.Day(), 0, 0, 0, 0, Beijing)
		seals = append(seals, sl)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read seals: %w", err)
	}
	var problems []SealProblem
	for i, sl := range seals {
		if !bytes.Equal(chainLink(sl.Prev, sl.Kind, sl.Day, sl.Rows, sl.Digest), sl.Chain) {
			problems = append(problems, SealProblem{Kind: sl.Kind, Day: sl.Day, What: "seal record altered: its chain link does not match its digest"})
		}
		if i > 0 && seals[i-1].Kind == sl.Kind && seals[i-1].Day.AddDate(0, 0, 1).Equal(sl.Day) && !bytes.Equal(seals[i-1].Chain, sl.Prev) {
			problems = append(problems, SealProblem{Kind: sl.Kind, Day: sl.Day, What: "chain broken: the previous seal is not the one this seal links to"})
		}
		n, digest, parts, err := s.dayDigest(ctx, sl.Kind, sl.Day)
		if err != nil {
			return problems, err
		}
		if n == sl.Rows && bytes.Equal(digest, sl.Digest) {
			continue
		}
		what := fmt.Sprintf("digest mismatch: stored rows differ from the seal: %d rows now, %d sealed", n, sl.Rows)
		if sl.Kind != "positions" {
			problems = append(problems, SealProblem{Kind: sl.Kind, Day: sl.Day, What: what})
			continue
		}
		// Narrow down to the vehicles whose part changed.
		prows, err := s.pool.Query(ctx, `SELECT vehicle_id, rows, digest FROM seal_parts WHERE kind = $1 AND day = $2`,
			sl.Kind, sl.Day.Format(time.DateOnly))
		if err != nil {
			return problems, fmt.Errorf("read seal parts: %w", err)
		}
		sealed := map[int64][2]any{}
		for prows.Next() {
			var v, r int64
			var d []byte
			if err := prows.Scan(&v, &r, &d); err != nil {
				prows.Close()
				return problems, err
			}
			sealed[v] = [2]any{r, d}
		}
		prows.Close()
		found := false
		for v, sp := range sealed {
			p := parts[v]
			if p == nil || p.rows != sp[0].(int64) || !bytes.Equal(p.h.Sum(nil), sp[1].([]byte)) {
				problems = append(problems, SealProblem{Kind: sl.Kind, Day: sl.Day, VehicleID: v, What: what})
				found = true
			}
		}
		for v := range parts {
			if _, ok := sealed[v]; !ok {
				problems = append(problems, SealProblem{Kind: sl.Kind, Day: sl.Day, VehicleID: v, What: "rows of a vehicle not in the seal"})
				found = true
			}
		}
		if !found {
			problems = append(problems, SealProblem{Kind: sl.Kind, Day: sl.Day, What: what})
		}
	}
	dp, err := s.verifyDayRecords(ctx, from, to, check)
	return append(problems, dp...), err
}

// PositionRow is one position in its canonical form, as an export carries
// it to be verified later: the key and the digest.
type PositionRow struct {
	VehicleID  int64
	DeviceTime time.Time
	FixHash    int64
	Digest     RowDigest
}

// PositionDigests returns the canonical digests of a vehicle's positions
// with from ≤ device time < to, in (device_time, fix_hash) order: what an
// export records, and what verifying it recomputes.
func (s *Store) PositionDigests(ctx context.Context, vehicleID int64, from, to time.Time) ([]PositionRow, error) {
	var out []PositionRow
	err := digestRows(ctx, s.pool, `SELECT `+positionsCanonical+` FROM positions
		WHERE vehicle_id = $1 AND device_time >= $2 AND device_time < $3 ORDER BY device_time, fix_hash`,
		[]any{vehicleID, from, to}, func(d RowDigest, vals []any) error {
			out = append(out, PositionRow{VehicleID: vals[0].(int64), DeviceTime: vals[1].(time.Time), FixHash: vals[2].(int64), Digest: d})
			return nil
		})
	if err != nil {
		return nil, fmt.Errorf("digests of vehicle %d: %w", vehicleID, err)
	}
	return out, nil
}

// Difference is one record on which an export and the stored rows disagree.
type Difference struct {
	VehicleID  int64
	DeviceTime time.Time
	FixHash    int64
	// What is "altered" (same record, different content), "missing" (in
	// the export, no longer stored) or "added" (stored, not in the export).
	What string
}

// CompareDigests compares an export's rows with what is stored now and
// names every record that differs.
func CompareDigests(exported, stored []PositionRow) []Difference {
	type key struct {
		v    int64
		t, f int64
	}
	now := map[key]RowDigest{}
	for _, r := range stored {
		now[key{r.VehicleID, r.DeviceTime.UnixMicro(), r.FixHash}] = r.Digest
	}
	var diffs []Difference
	for _, r := range exported {
		k := key{r.VehicleID, r.DeviceTime.UnixMicro(), r.FixHash}
		d, ok := now[k]
		switch {
		case !ok:
			diffs = append(diffs, Difference{r.VehicleID, r.DeviceTime, r.FixHash, "missing"})
		case d != r.Digest:
			diffs = append(diffs, Difference{r.VehicleID, r.DeviceTime, r.FixHash, "altered"})
		}
		delete(now, k)
	}
	for _, r := range stored {
		if _, ok := now[key{r.VehicleID, r.DeviceTime.UnixMicro(), r.FixHash}]; ok {
			diffs = append(diffs, Difference{r.VehicleID, r.DeviceTime, r.FixHash, "added"})
		}
	}
	return diffs
}
