package track

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
)

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
	return s.TerminalsWhere(ctx, sc, TerminalFilter{Phone: phone, Limit: limit, Offset: offset})
}

// TerminalFilter narrows a terminal list. Zero fields do not filter.
type TerminalFilter struct {
	Phone string // the whole phone number, normalised
	// Search is a substring of the phone or of the bound vehicle's plate.
	Search string
	// Unbound keeps only the terminals bound to no vehicle: they belong
	// to no unit, so only scope All sees any.
	Unbound       bool
	Limit, Offset int
}

// TerminalsWhere returns a page of the terminals in scope matching f, by
// phone, and the total.
func (s *Store) TerminalsWhere(ctx context.Context, sc Scope, f TerminalFilter) ([]TerminalInfo, int, error) {
	rows, err := s.db.Query(ctx, `SELECT t.id, t.phone, COALESCE(v.id, 0), COALESCE(v.plate, ''), COALESCE(t.protocol_version, 0),
			COALESCE(t.maker, ''), COALESCE(t.model, ''), t.last_seen_at, count(*) OVER ()
		FROM terminals t LEFT JOIN vehicles v ON v.id = t.vehicle_id
		WHERE (v.unit_id IN (SELECT unit_subtree($1)) OR ($1::bigint IS NULL AND v.id IS NULL))
		  AND ($2 = '' OR t.phone = $2)
		  AND ($5 = '' OR strpos(t.phone, $5) > 0 OR strpos(v.plate, $5) > 0)
		  AND (NOT $6 OR v.id IS NULL)
		ORDER BY t.phone LIMIT $3 OFFSET $4`, sc.root(), f.Phone, f.Limit, f.Offset, f.Search, f.Unbound)
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
