package fuel

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"fleetmon/alerts"
	"fleetmon/track"
)

// Store reads fills, cards and vehicles for matching and keeps the leads.
// It is safe for concurrent use.
type Store struct {
	pool   *pgxpool.Pool
	tracks *track.Store
}

// NewStore returns a Store on pool, reading tracks through tracks.
func NewStore(pool *pgxpool.Pool, tracks *track.Store) *Store {
	return &Store{pool: pool, tracks: tracks}
}

// lookBack bounds how far before a period the fill a period's first fill
// is measured from is searched: a car that filled nothing for longer is
// not judged by distance (its track would be months long).
const lookBack = 45 * 24 * time.Hour

// RunResult says what a matching run did.
type RunResult struct {
	Vehicles int `json:"vehicles"`
	Fills    int `json:"fills"`
	Leads    int `json:"leads"`
	// Removed counts open leads that no longer hold (the configuration or
	// the data changed) and were removed.
	Removed int `json:"removed"`
	// Unbound counts the period's fills on cards bound to no vehicle at
	// their time (in the report; they cannot be matched).
	Unbound int `json:"unbound"`
}

// boundFills is the SQL of the fills of bound cards in a scope and period
// ($1 scope, $2 from, $3 to, $4 vehicle or NULL), with the vehicle and the
// station, in vehicle and time order.
const boundFills = `SELECT f.id, f.card_no, f.filled_at, f.station, f.product, f.litres::float8, f.amount::float8,
		s.lat, s.lon, c.vehicle_id, v.unit_id, COALESCE(sp.tank_l, 0), COALESCE(sp.norm_l_100km, 0)
	FROM fuel_fills f
	JOIN fuel_cards c ON c.card_no = f.card_no AND c.valid_from <= f.filled_at AND (c.valid_to IS NULL OR f.filled_at < c.valid_to)
	JOIN vehicles v ON v.id = c.vehicle_id
	LEFT JOIN fuel_stations s ON s.name = f.station
	LEFT JOIN fuel_vehicle_specs sp ON sp.vehicle_id = v.id
	WHERE v.unit_id IN (SELECT unit_subtree($1)) AND f.filled_at >= $2 AND f.filled_at < $3
	  AND ($4::bigint IS NULL OR v.id = $4)
	ORDER BY c.vehicle_id, f.filled_at, f.id`

// job is one vehicle's fills to match.
type job struct {
	v     Vehicle
	fills []Fill
}

// Run matches the fills of [from, to) of the vehicles in sc (vehicle, if
// not 0, alone) against their tracks and stores the leads: new ones
// added, those found again updated (their evidence, never their
// verification), open ones that no longer hold removed. Running it again
// on the same data changes nothing.
func (s *Store) Run(ctx context.Context, sc track.Scope, vehicle int64, from, to time.Time, cals *alerts.Calendars, cfg Config) (RunResult, error) {
	cfg = cfg.WithDefaults()
	var res RunResult
	var veh any
	if vehicle != 0 {
		veh = vehicle
	}
	var jobs []job
	rows, err := s.pool.Query(ctx, boundFills, sc.SQLArg(), from, to, veh)
	if err != nil {
		return res, fmt.Errorf("fills of %s to %s: %w", from.Format(time.DateOnly), to.Format(time.DateOnly), err)
	}
	for rows.Next() {
		var f Fill
		var lat, lon *float64
		var v Vehicle
		if err := rows.Scan(&f.ID, &f.Card, &f.At, &f.Station, &f.Product, &f.Litres, &f.Amount, &lat, &lon,
			&v.ID, &v.UnitID, &v.TankL, &v.NormL100km); err != nil {
			rows.Close()
			return res, fmt.Errorf("read fills: %w", err)
		}
		if lat != nil && lon != nil {
			f.Place = &Station{Name: f.Station, Lat: *lat, Lon: *lon}
		}
		if len(jobs) == 0 || jobs[len(jobs)-1].v.ID != v.ID {
			if cals != nil {
				v.Calendar = cals.For(v.UnitID)
			}
			jobs = append(jobs, job{v: v})
		}
		jobs[len(jobs)-1].fills = append(jobs[len(jobs)-1].fills, f)
	}
	if err := rows.Err(); err != nil {
		return res, fmt.Errorf("read fills: %w", err)
	}
	if err := s.pool.QueryRow(ctx, `SELECT count(*) FROM fuel_fills f WHERE f.filled_at >= $1 AND f.filled_at < $2
		AND NOT EXISTS (SELECT 1 FROM fuel_cards c WHERE c.card_no = f.card_no AND c.valid_from <= f.filled_at
			AND (c.valid_to IS NULL OR f.filled_at < c.valid_to))`, from, to).Scan(&res.Unbound); err != nil {
		return res, fmt.Errorf("count unbound fills: %w", err)
	}
	var pts []track.TrackPoint
	for _, j := range jobs {
		prev, err := s.previousFill(ctx, j.v.ID, j.fills[0])
		if err != nil {
			return res, err
		}
		start := j.fills[0].At.Add(-cfg.Window)
		if prev != nil && prev.At.Before(start) {
			start = prev.At
		}
		end := j.fills[len(j.fills)-1].At.Add(cfg.Window + time.Second)
		pts = pts[:0]
		if _, err := s.tracks.Track(ctx, j.v.ID, start, end, func(p *track.TrackPoint) error {
			pts = append(pts, *p)
			return nil
		}); err != nil {
			return res, fmt.Errorf("track of vehicle %d: %w", j.v.ID, err)
		}
		leads := Match(j.v, prev, j.fills, pts, cfg)
		removed, err := s.save(ctx, j.fills, leads)
		if err != nil {
			return res, fmt.Errorf("leads of vehicle %d: %w", j.v.ID, err)
		}
		res.Vehicles++
		res.Fills += len(j.fills)
		res.Leads += len(leads)
		res.Removed += removed
	}
	return res, nil
}

// previousFill returns the fill before f of a card bound to vehicle at
// its time, within lookBack; nil when there is none.
func (s *Store) previousFill(ctx context.Context, vehicle int64, f Fill) (*Fill, error) {
	var p Fill
	err := s.pool.QueryRow(ctx, `SELECT f.id, f.filled_at, f.litres::float8 FROM fuel_fills f
		JOIN fuel_cards c ON c.card_no = f.card_no AND c.valid_from <= f.filled_at AND (c.valid_to IS NULL OR f.filled_at < c.valid_to)
		WHERE c.vehicle_id = $1 AND f.filled_at >= $2 AND (f.filled_at, f.id) < ($3, $4)
		ORDER BY f.filled_at DESC, f.id DESC LIMIT 1`, vehicle, f.At.Add(-lookBack), f.At, f.ID).Scan(&p.ID, &p.At, &p.Litres)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("fill before %d: %w", f.ID, err)
	}
	return &p, nil
}

// save stores one vehicle's leads in one transaction and removes the open
// leads of its fills that were not found again.
func (s *Store) save(ctx context.Context, fills []Fill, leads []Lead) (int, error) {
	ids := make([]int64, len(fills))
	for i, f := range fills {
		ids[i] = f.ID
	}
	var removed int
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		keep := make([]string, 0, len(leads))
		for _, l := range leads {
			fig, err := json.Marshal(l.Figures)
			if err != nil {
				return err
			}
			ex, err := json.Marshal(l.Excerpt)
			if err != nil {
				return err
			}
			if _, err := tx.Exec(ctx, `INSERT INTO fuel_leads (fill_id, kind, vehicle_id, figures, excerpt) VALUES ($1, $2, $3, $4, $5)
				ON CONFLICT (fill_id, kind) DO UPDATE SET vehicle_id = excluded.vehicle_id, figures = excluded.figures, excerpt = excluded.excerpt
				WHERE (fuel_leads.vehicle_id, fuel_leads.figures, fuel_leads.excerpt) IS DISTINCT FROM (excluded.vehicle_id, excluded.figures, excluded.excerpt)`,
				l.FillID, string(l.Kind), l.VehicleID, fig, ex); err != nil {
				return err
			}
			keep = append(keep, fmt.Sprintf("%d/%s", l.FillID, l.Kind))
		}
		tag, err := tx.Exec(ctx, `DELETE FROM fuel_leads WHERE fill_id = ANY($1) AND verification = 'open'
			AND NOT (fill_id::text || '/' || kind = ANY($2))`, ids, keep)
		removed = int(tag.RowsAffected())
		return err
	})
	return removed, err
}

// ErrVerificationState refuses a verification step the lead's state does
// not allow.
var ErrVerificationState = alerts.ErrVerificationState

// TransitionLead moves lead id from one of the states from to to, in tx,
// and returns the state it was in. A lead that does not exist is
// track.ErrNotFound.
func TransitionLead(ctx context.Context, tx pgx.Tx, id int64, from []alerts.Verification, to alerts.Verification) (alerts.Verification, error) {
	var cur string
	err := tx.QueryRow(ctx, `SELECT verification FROM fuel_leads WHERE id = $1 FOR UPDATE`, id).Scan(&cur)
	if errors.Is(err, pgx.ErrNoRows) {
		return "", track.ErrNotFound
	}
	if err != nil {
		return "", fmt.Errorf("verification of lead %d: %w", id, err)
	}
	prev := alerts.Verification(cur)
	if !slices.Contains(from, prev) {
		return prev, ErrVerificationState
	}
	if _, err := tx.Exec(ctx, `UPDATE fuel_leads SET verification = $2 WHERE id = $1`, id, string(to)); err != nil {
		return prev, fmt.Errorf("verification of lead %d: %w", id, err)
	}
	return prev, nil
}
