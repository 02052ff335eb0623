package alerts

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
)

// Episodes as stored: written by the runner by their deterministic ID,
// read back by the API and the re-evaluation, with people's verdict.

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
	rows, err := s.pool.Query(ctx, `SELECT `+episodeColumns+`
		FROM episodes e
		WHERE ($1::bigint = 0 OR vehicle_id = $1) AND ($2::timestamptz IS NULL OR start_time >= $2)
			AND ($3::timestamptz IS NULL OR start_time < $3) AND ($4::text = '' OR rule = $4)
			AND ($5::boolean OR status <> 'retracted')
		ORDER BY start_time, rule, id`, f.VehicleID, nullTime(f.From), nullTime(f.To), string(f.Rule), f.WithRetracted)
	if err != nil {
		return nil, fmt.Errorf("load episodes: %w", err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (StoredEpisode, error) {
		var e StoredEpisode
		err := scanEpisode(r, &e)
		return e, err
	})
	if err != nil {
		return nil, fmt.Errorf("load episodes: %w", err)
	}
	return out, nil
}

// episodeColumns are what a StoredEpisode is read from, in scanEpisode's
// order, for a query naming the episodes table e.
const episodeColumns = `e.id, e.vehicle_id, e.unit_id, e.rule, e.status, e.start_time, e.end_time,
	ST_Y(e.start_geom), ST_X(e.start_geom), COALESCE(ST_Y(e.end_geom), 0), COALESCE(ST_X(e.end_geom), 0),
	e.distance_m, e.max_speed_kmh, COALESCE(e.fence_id, 0), COALESCE(e.approval_id, 0), e.detail, e.params::text,
	e.calendar_version, e.params_version, e.verification, e.created_at, e.updated_at`

// scanEpisode scans a row of episodeColumns into e, then the columns
// that follow them into more.
func scanEpisode(r pgx.Row, e *StoredEpisode, more ...any) error {
	var rule, status, ver string
	var end *time.Time
	err := r.Scan(append([]any{&e.ID, &e.VehicleID, &e.UnitID, &rule, &status, &e.Start, &end,
		&e.StartLat, &e.StartLon, &e.EndLat, &e.EndLon, &e.DistanceM, &e.MaxSpeedKmh, &e.FenceID, &e.ApprovalID,
		&e.Detail, &e.Params, &e.CalendarVersion, &e.ParamsVersion, &ver, &e.CreatedAt, &e.UpdatedAt}, more...)...)
	e.Rule, e.Status, e.Verification = RuleID(rule), EpisodeStatus(status), Verification(ver)
	if end != nil {
		e.End = *end
	}
	return err
}
