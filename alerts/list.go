package alerts

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/jackc/pgx/v5"

	"fleetmon/track"
)

// EpisodeQuery selects stored episodes for people (the API): within a
// jurisdiction, a page at a time. Zero fields do not filter.
type EpisodeQuery struct {
	// Scope limits to the vehicles whose unit is in its subtree (by the
	// vehicle's current unit).
	Scope track.Scope
	IDs   []string
	// VehicleID and Rule select one vehicle, one rule.
	VehicleID int64
	Rule      RuleID
	// Status selects one engine status; without it retracted episodes are
	// left out unless WithRetracted.
	Status        EpisodeStatus
	WithRetracted bool
	Verification  Verification
	// Episodes overlapping [From, To) (an open one reaches to now).
	From, To time.Time
	// Limit 0 means no limit.
	Limit, Offset int
}

const episodesWhere = `FROM episodes e JOIN vehicles v ON v.id = e.vehicle_id
		WHERE v.unit_id IN (SELECT unit_subtree($1))
			AND ($2::text[] IS NULL OR e.id = ANY($2))
			AND ($3::bigint = 0 OR e.vehicle_id = $3)
			AND ($4::text = '' OR e.rule = $4)
			AND (CASE WHEN $5::text = '' THEN e.status <> 'retracted' OR $9::boolean ELSE e.status = $5 END)
			AND ($6::text = '' OR e.verification = $6)
			AND ($7::timestamptz IS NULL OR e.end_time IS NULL OR e.end_time > $7)
			AND ($8::timestamptz IS NULL OR e.start_time < $8)`

// ListedEpisode is a stored episode with its vehicle's plate.
type ListedEpisode struct {
	StoredEpisode
	Plate string
}

// ListEpisodes returns a page of the episodes q selects, newest start
// first, and how many it selects in all. The caller owns the slice.
func (s *Store) ListEpisodes(ctx context.Context, q EpisodeQuery) ([]ListedEpisode, int, error) {
	limit := nullPositive(q.Limit)
	var ids []string
	if q.IDs != nil {
		ids = q.IDs
	}
	args := []any{q.Scope.SQLArg(), ids, q.VehicleID, string(q.Rule), string(q.Status), string(q.Verification),
		nullTime(q.From), nullTime(q.To), q.WithRetracted}
	rows, err := s.pool.Query(ctx, `SELECT `+episodeColumns+`, v.plate, count(*) OVER ()
		`+episodesWhere+`
		ORDER BY e.start_time DESC, e.rule, e.id
		LIMIT $10 OFFSET $11`, append(args, limit, q.Offset)...)
	if err != nil {
		return nil, 0, fmt.Errorf("list episodes: %w", err)
	}
	total := 0
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (ListedEpisode, error) {
		var e ListedEpisode
		err := scanEpisode(r, &e.StoredEpisode, &e.Plate, &total)
		return e, err
	})
	if err != nil {
		return nil, 0, fmt.Errorf("list episodes: %w", err)
	}
	if len(out) == 0 && q.Offset > 0 {
		// count(*) OVER () has no row to ride on past the last page.
		if err := s.pool.QueryRow(ctx, `SELECT count(*) `+episodesWhere, args...).Scan(&total); err != nil {
			return nil, 0, fmt.Errorf("count episodes: %w", err)
		}
	}
	return out, total, nil
}

// ErrVerificationState is returned for a verification step that the
// episode's current verification does not allow.
var ErrVerificationState = errors.New("alerts: verification step not allowed in the current state")

// TransitionVerification moves episode id's verification to `to` when it
// is one of from, and calls also (when not nil) in the same transaction:
// the caller's audit entry commits with the change or neither does. It
// returns the verification before. An unknown id is track.ErrNotFound; a
// current verification not in from is ErrVerificationState.
func (s *Store) TransitionVerification(ctx context.Context, id string, from []Verification, to Verification,
	also func(pgx.Tx, Verification) error) (Verification, error) {
	var prev Verification
	err := pgx.BeginFunc(ctx, s.db, func(tx pgx.Tx) error {
		var cur string
		err := tx.QueryRow(ctx, "SELECT verification FROM episodes WHERE id = $1 FOR UPDATE", id).Scan(&cur)
		if errors.Is(err, pgx.ErrNoRows) {
			return track.ErrNotFound
		}
		if err != nil {
			return err
		}
		prev = Verification(cur)
		if !slices.Contains(from, prev) {
			return ErrVerificationState
		}
		if _, err := tx.Exec(ctx, "UPDATE episodes SET verification = $2 WHERE id = $1", id, string(to)); err != nil {
			return err
		}
		if also != nil {
			return also(tx, prev)
		}
		return nil
	})
	if err != nil {
		if errors.Is(err, track.ErrNotFound) || errors.Is(err, ErrVerificationState) {
			return prev, err
		}
		return prev, fmt.Errorf("verification of episode %s: %w", id, err)
	}
	return prev, nil
}

// ApprovalQuery selects stored approvals for the API. Zero fields do not
// filter.
type ApprovalQuery struct {
	Scope     track.Scope
	VehicleID int64
	// UnitID, if not 0, keeps the approvals of the vehicles of this unit
	// and the units below it.
	UnitID int64
	// Approvals overlapping [From, To).
	From, To      time.Time
	Limit, Offset int
}

// ListedApproval is an approval with its vehicle's plate.
type ListedApproval struct {
	ApprovalRecord
	Plate string
	// VehicleSealed says the vehicle is sealed (封存) during some of the
	// approval's window: no approval lets a sealed vehicle be driven.
	VehicleSealed bool
}

// sealedDuring is an SQL expression: whether approval a's vehicle is
// sealed at any time of its period (sealed at its start, or sealed during
// it).
const sealedDuring = `(vehicle_sealed_at(a.vehicle_id, lower(a.period)) OR EXISTS (SELECT 1 FROM vehicle_seals s
	WHERE s.vehicle_id = a.vehicle_id AND s.sealed AND s.effective_at <@ a.period))`

// SealedDuring reports whether the vehicle is sealed at any time of
// [from, to).
func (s *Store) SealedDuring(ctx context.Context, vehicleID int64, from, to time.Time) (bool, error) {
	var sealed bool
	err := s.db.QueryRow(ctx, `SELECT `+sealedDuring+` FROM (SELECT $1::bigint AS vehicle_id,
		tstzrange($2, $3, '[)') AS period) a`, vehicleID, from, to).Scan(&sealed)
	if err != nil {
		return false, fmt.Errorf("seals of vehicle %d: %w", vehicleID, err)
	}
	return sealed, nil
}

// ListApprovals returns a page of the approvals q selects, newest start
// first, and the total.
func (s *Store) ListApprovals(ctx context.Context, q ApprovalQuery) ([]ListedApproval, int, error) {
	limit := nullPositive(q.Limit)
	rows, err := s.pool.Query(ctx, `SELECT a.id, a.vehicle_id, lower(a.period), upper(a.period), COALESCE(a.fence_id, 0),
			a.driver, a.purpose, a.approver, a.source, COALESCE(a.external_ref, ''), a.created_at, v.plate, `+sealedDuring+`, count(*) OVER ()
		FROM alert_approvals a JOIN vehicles v ON v.id = a.vehicle_id
		WHERE v.unit_id IN (SELECT unit_subtree($1)) AND ($2::bigint = 0 OR a.vehicle_id = $2)
			AND ($7::bigint = 0 OR v.unit_id IN (SELECT unit_subtree($7)))
			AND a.period && tstzrange($3::timestamptz, $4::timestamptz, '[)')
		ORDER BY lower(a.period) DESC, a.id DESC LIMIT $5 OFFSET $6`,
		q.Scope.SQLArg(), q.VehicleID, nullTime(q.From), nullTime(q.To), limit, q.Offset, q.UnitID)
	if err != nil {
		return nil, 0, fmt.Errorf("list approvals: %w", err)
	}
	total := 0
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (ListedApproval, error) {
		var a ListedApproval
		err := r.Scan(&a.ID, &a.VehicleID, &a.Start, &a.End, &a.FenceID, &a.Driver, &a.Purpose, &a.Approver,
			&a.Source, &a.ExternalRef, &a.CreatedAt, &a.Plate, &a.VehicleSealed, &total)
		return a, err
	})
	if err != nil {
		return nil, 0, fmt.Errorf("list approvals: %w", err)
	}
	return out, total, nil
}

// FenceHit names a fence that contains a place.
type FenceHit struct {
	ID       int64
	Name     string
	Kind     FenceKind
	Category PlaceCategory
}

// FencesAt returns, for each of places, the fences that apply to the
// vehicle (its own, its unit's and those of the units above it) and
// contain the place, by fence id. The caller owns the slices.
func (s *Store) FencesAt(ctx context.Context, vehicleID int64, places []Point) ([][]FenceHit, error) {
	out := make([][]FenceHit, len(places))
	if len(places) == 0 {
		return out, nil
	}
	lats, lons := make([]float64, len(places)), make([]float64, len(places))
	for i, p := range places {
		lats[i], lons[i] = p.Lat, p.Lon
	}
	rows, err := s.pool.Query(ctx, `WITH RECURSIVE up AS (
			SELECT u.id, u.parent_id FROM units u JOIN vehicles v ON v.unit_id = u.id WHERE v.id = $1
			UNION ALL SELECT u.id, u.parent_id FROM units u JOIN up ON u.id = up.parent_id)
		SELECT p.i - 1, f.id, f.name, f.kind, COALESCE(f.category, '')
		FROM unnest($2::float8[], $3::float8[]) WITH ORDINALITY AS p(lat, lon, i)
		JOIN alert_fences f ON ST_Intersects(f.geom, ST_SetSRID(ST_MakePoint(p.lon, p.lat), 4326))
		WHERE f.vehicle_id = $1 OR f.unit_id IN (SELECT id FROM up)
		ORDER BY p.i, f.id`, vehicleID, lats, lons)
	if err != nil {
		return nil, fmt.Errorf("fences at %d places of vehicle %d: %w", len(places), vehicleID, err)
	}
	var i int
	var h FenceHit
	var kind, cat string
	_, err = pgx.ForEachRow(rows, []any{&i, &h.ID, &h.Name, &kind, &cat}, func() error {
		h.Kind, h.Category = FenceKind(kind), PlaceCategory(cat)
		out[i] = append(out[i], h)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("fences at %d places of vehicle %d: %w", len(places), vehicleID, err)
	}
	return out, nil
}

// FenceArea returns a fence's owner (UnitID or VehicleID set, with ID and
// Name) and its area as GeoJSON (circles and corridors already buffered),
// for area search. An unknown id is track.ErrNotFound.
func (s *Store) FenceArea(ctx context.Context, id int64) (Fence, string, error) {
	f := Fence{ID: id}
	var gj string
	err := s.pool.QueryRow(ctx, `SELECT name, COALESCE(unit_id, 0), COALESCE(vehicle_id, 0), ST_AsGeoJSON(geom)
		FROM alert_fences WHERE id = $1`, id).Scan(&f.Name, &f.UnitID, &f.VehicleID, &gj)
	if errors.Is(err, pgx.ErrNoRows) {
		return f, "", track.ErrNotFound
	}
	if err != nil {
		return f, "", fmt.Errorf("fence %d: %w", id, err)
	}
	return f, gj, nil
}
