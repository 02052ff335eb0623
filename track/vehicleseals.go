package track

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
)

// A vehicle's seal (封存) history: every seal and unseal, each effective
// from a time, with its reason and who recorded it (vehicle_seals,
// append-only). A vehicle is sealed at t when its latest entry effective
// at or before t seals it; the entries make periods of seal, which the
// sealed-vehicle rule judges each position by.

// SealEntry is one seal or unseal of a vehicle.
type SealEntry struct {
	ID        int64
	VehicleID int64
	// Sealed: the entry seals the vehicle from At; false unseals it.
	Sealed bool
	At     time.Time
	Reason string
	// ActorID is the user who recorded it (0: the console or an import);
	// ActorName names it either way.
	ActorID    int64
	ActorName  string
	RecordedAt time.Time
}

// SealPeriod is a time a vehicle was sealed: [From, To), To zero while it
// is still sealed.
type SealPeriod struct {
	VehicleID int64
	From, To  time.Time
}

// Covers says whether the period covers t.
func (p SealPeriod) Covers(t time.Time) bool {
	return !t.Before(p.From) && (p.To.IsZero() || t.Before(p.To))
}

// SealPeriods turns entries (of any vehicles, in any order) into the
// periods they make, by vehicle and time. A seal of a sealed vehicle, or
// an unseal of an unsealed one, changes nothing.
func SealPeriods(entries []SealEntry) []SealPeriod {
	es := slices.Clone(entries)
	slices.SortFunc(es, func(a, b SealEntry) int {
		if a.VehicleID != b.VehicleID {
			return cmp.Compare(a.VehicleID, b.VehicleID)
		}
		if c := a.At.Compare(b.At); c != 0 {
			return c
		}
		return cmp.Compare(a.ID, b.ID)
	})
	var out []SealPeriod
	open := false
	for i, e := range es {
		if i > 0 && es[i-1].VehicleID != e.VehicleID {
			open = false
		}
		switch {
		case e.Sealed && !open:
			out = append(out, SealPeriod{VehicleID: e.VehicleID, From: e.At})
			open = true
		case !e.Sealed && open:
			out[len(out)-1].To = e.At
			open = false
		}
	}
	return out
}

// SealChange is a seal or unseal to record.
type SealChange struct {
	Sealed    bool
	At        time.Time
	Reason    string
	ActorID   int64
	ActorName string
}

// ErrSealReason refuses a seal reason longer than MaxSealReason characters.
var ErrSealReason = errors.New("reason: want at most 200 characters")

// MaxSealReason bounds a seal's reason, in characters.
const MaxSealReason = 200

// SetSeal records that a vehicle in scope is sealed (or unsealed) from
// c.At. It is idempotent: when the vehicle is in that state at c.At
// already (the same request repeated, or sealing a sealed vehicle) nothing
// is recorded, and it returns the entry that put it in that state (none,
// ID 0, for an unseal of a vehicle never sealed) with changed false. The
// vehicle's row is locked meanwhile, so that two requests at once record
// at most one entry.
func (s *Store) SetSeal(ctx context.Context, sc Scope, vehicleID int64, c SealChange) (e SealEntry, changed bool, err error) {
	if len([]rune(c.Reason)) > MaxSealReason {
		return e, false, ErrSealReason
	}
	if c.At.IsZero() {
		return e, false, errors.New("track: seal without a time")
	}
	err = pgx.BeginFunc(ctx, s.db, func(tx pgx.Tx) error {
		var id int64
		err := tx.QueryRow(ctx, `SELECT id FROM vehicles WHERE id = $2 AND unit_id IN (SELECT unit_subtree($1)) FOR UPDATE`,
			sc.root(), vehicleID).Scan(&id)
		if errors.Is(err, pgx.ErrNoRows) {
			return ErrNotFound
		}
		if err != nil {
			return fmt.Errorf("lock vehicle %d: %w", vehicleID, err)
		}
		rows, err := tx.Query(ctx, `SELECT `+sealEntryColumns+` FROM vehicle_seals
			WHERE vehicle_id = $1 AND effective_at <= $2 ORDER BY effective_at DESC, id DESC LIMIT 1`, vehicleID, c.At)
		if err != nil {
			return fmt.Errorf("seal state of vehicle %d: %w", vehicleID, err)
		}
		last, err := pgx.CollectRows(rows, scanSealEntry)
		if err != nil {
			return fmt.Errorf("seal state of vehicle %d: %w", vehicleID, err)
		}
		sealed := len(last) > 0 && last[0].Sealed
		if sealed == c.Sealed {
			if len(last) > 0 {
				e = last[0]
			}
			return nil
		}
		var actor *int64
		if c.ActorID != 0 {
			actor = &c.ActorID
		}
		rows, err = tx.Query(ctx, `INSERT INTO vehicle_seals (vehicle_id, sealed, effective_at, reason, actor_id, actor_name)
			VALUES ($1, $2, $3, $4, $5, $6) RETURNING `+sealEntryColumns,
			vehicleID, c.Sealed, c.At, c.Reason, actor, c.ActorName)
		if err != nil {
			return fmt.Errorf("record seal of vehicle %d: %w", vehicleID, err)
		}
		if e, err = pgx.CollectExactlyOneRow(rows, scanSealEntry); err != nil {
			return fmt.Errorf("record seal of vehicle %d: %w", vehicleID, err)
		}
		changed = true
		return nil
	})
	return e, changed, err
}

const sealEntryColumns = `id, vehicle_id, sealed, effective_at, reason, COALESCE(actor_id, 0), actor_name, recorded_at`

func scanSealEntry(r pgx.CollectableRow) (SealEntry, error) {
	var e SealEntry
	err := r.Scan(&e.ID, &e.VehicleID, &e.Sealed, &e.At, &e.Reason, &e.ActorID, &e.ActorName, &e.RecordedAt)
	return e, err
}

// SealHistory returns the seal entries of a vehicle in scope, in the
// order they take effect.
func (s *Store) SealHistory(ctx context.Context, sc Scope, vehicleID int64) ([]SealEntry, error) {
	if _, err := s.VehicleIn(ctx, sc, vehicleID); err != nil {
		return nil, err
	}
	return SealEntries(ctx, s.db, vehicleID)
}

// Querier runs a query: a pool, a connection or a transaction.
type Querier interface {
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
}

// SealEntries reads the seal entries of one vehicle (every vehicle when
// vehicleID is 0) through q, by vehicle and in the order they take effect.
func SealEntries(ctx context.Context, q Querier, vehicleID int64) ([]SealEntry, error) {
	rows, err := q.Query(ctx, `SELECT `+sealEntryColumns+` FROM vehicle_seals
		WHERE $1::bigint = 0 OR vehicle_id = $1 ORDER BY vehicle_id, effective_at, id`, vehicleID)
	if err != nil {
		return nil, fmt.Errorf("read seal history: %w", err)
	}
	out, err := pgx.CollectRows(rows, scanSealEntry)
	if err != nil {
		return nil, fmt.Errorf("read seal history: %w", err)
	}
	return out, nil
}

// importActor names who recorded a seal made by a vehicle import.
const importActor = "(import)"

// importSeal records an import line's seal and, when it changed anything,
// its audit entry, in the import's transaction tx: the change and its
// entry commit together, as a change through the API does. The import is
// run from the console, as the schema's owner.
func importSeal(ctx context.Context, st *Store, tx pgx.Tx, vehicleID, unitID int64, c SealChange) error {
	e, changed, err := st.SetSeal(ctx, All, vehicleID, c)
	if err != nil || !changed {
		return err
	}
	action := "vehicle.unseal"
	if c.Sealed {
		action = "vehicle.seal"
	}
	_, err = tx.Exec(ctx, `INSERT INTO audit_log (at, actor_name, action, vehicle_id, subject_unit_id, period_from, reason, detail)
		VALUES (now(), '(console)', $1, $2, $3, $4, NULLIF($5, ''), jsonb_build_object('source', 'import', 'entry_id', $6::bigint))`,
		action, vehicleID, unitID, c.At, c.Reason, e.ID)
	if err != nil {
		return fmt.Errorf("append audit entry %s: %w", action, err)
	}
	return nil
}

// parseSealColumns reads an import line's optional seal columns (see
// ParseVehicleCSV): nil when sealed is empty.
func parseSealColumns(get func(string) string) (*SealChange, error) {
	state, at, reason := get("sealed"), get("sealed_at"), get("seal_reason")
	if state == "" {
		if at != "" || reason != "" {
			return nil, errors.New("sealed_at and seal_reason need sealed (true or false)")
		}
		return nil, nil
	}
	c := &SealChange{Reason: reason, ActorName: importActor}
	switch strings.ToLower(state) {
	case "true", "1", "yes", "是", "封存":
		c.Sealed = true
	case "false", "0", "no", "否", "启封":
	default:
		return nil, fmt.Errorf("sealed %q: want true or false (是 or 否)", state)
	}
	if len([]rune(reason)) > MaxSealReason {
		return nil, ErrSealReason
	}
	if at != "" {
		t, err := ParseSealTime(at)
		if err != nil {
			return nil, fmt.Errorf("sealed_at %q: %w", at, err)
		}
		c.At = t
	}
	return c, nil
}

// ParseSealTime reads the time a seal takes effect: RFC 3339, or
// 2006-01-02[ 15:04[:05]] in Beijing time.
func ParseSealTime(s string) (time.Time, error) {
	if t, err := time.Parse(time.RFC3339, s); err == nil {
		return t, nil
	}
	for _, layout := range []string{time.DateTime, "2006-01-02 15:04", time.DateOnly} {
		if t, err := time.ParseInLocation(layout, s, Beijing); err == nil {
			return t, nil
		}
	}
	return time.Time{}, errors.New("want RFC 3339 (2026-03-10T08:00:00+08:00) or 2026-03-10[ 08:00[:00]] in Beijing time")
}
