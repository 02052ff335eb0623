package alerts

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"fleetmon/track"
)

// Loading the rules' configuration, and the fences and approvals it is
// built from.

// Loaded is the configuration as read from the database.
type Loaded struct {
	// Config has Tree, Calendars, Fences, Policy, Approvals and Seals set;
	// CheckpointEvery and Horizon are left for the caller.
	Config   Config
	Holidays *HolidaySet
	// Vehicles are every registered vehicle, in id order (Plate,
	// Category and UnitID set; whether a vehicle is sealed is
	// Config.Seals, by time).
	Vehicles []track.Vehicle
}

// LoadOptions bound what LoadConfig reads.
type LoadOptions struct {
	// Approvals overlapping [ApprovalsFrom, ApprovalsTo) are loaded; zero
	// bounds are open.
	ApprovalsFrom, ApprovalsTo time.Time
	// NoApprovals leaves Config.Approvals nil: the caller loads each
	// vehicle's approvals for the device times it judges (the runner's
	// shards, runner_approvals.go).
	NoApprovals bool
}

// LoadConfig reads holidays (seeding the embedded years that are
// missing), calendars, parameters, fences, approvals, the unit tree, the
// vehicles and their seal history, and builds the engine's Config from
// them.
func (s *Store) LoadConfig(ctx context.Context, opt LoadOptions) (*Loaded, error) {
	hol, tree, cals, err := s.loadCalendars(ctx)
	if err != nil {
		return nil, err
	}
	layers, err := s.Params(ctx)
	if err != nil {
		return nil, err
	}
	defParams, err := layers[0].apply(DefaultParams())
	if err != nil {
		return nil, fmt.Errorf("default params: %w", err)
	}
	delete(layers, 0)
	pol, err := NewPolicy(tree, defParams, layers)
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
	var aps *Approvals
	if !opt.NoApprovals {
		recs, err := s.Approvals(ctx, 0, opt.ApprovalsFrom, opt.ApprovalsTo)
		if err != nil {
			return nil, err
		}
		if aps, err = NewApprovals(approvalsOf(recs)); err != nil {
			return nil, err
		}
	}
	vs, err := s.Vehicles(ctx, 0)
	if err != nil {
		return nil, err
	}
	// The whole history: a vehicle is sealed a few times in its life.
	seals, err := track.SealEntries(ctx, s.pool, 0)
	if err != nil {
		return nil, err
	}
	return &Loaded{
		Config: Config{Tree: tree, Calendars: cals, Fences: fs, Policy: pol, Approvals: aps,
			Seals: NewSeals(track.SealPeriods(seals))},
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

// Tree returns the organisation tree (unit → parent; units at the top
// have no entry).
func (s *Store) Tree(ctx context.Context) (Parents, error) { return s.tree(ctx) }

// Vehicles returns the registered vehicles in id order, or the one with
// id when id is not 0.
func (s *Store) Vehicles(ctx context.Context, id int64) ([]track.Vehicle, error) {
	rows, err := s.pool.Query(ctx, `SELECT v.id, v.plate, v.plate_color, v.category, v.unit_id
		FROM vehicles v JOIN units u ON u.id = v.unit_id
		WHERE $1::bigint = 0 OR v.id = $1 ORDER BY v.id`, id)
	if err != nil {
		return nil, fmt.Errorf("load vehicles: %w", err)
	}
	vs, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (track.Vehicle, error) {
		var v track.Vehicle
		var color int16
		var cat string
		err := r.Scan(&v.ID, &v.Plate, &color, &cat, &v.UnitID)
		v.PlateColor, v.Category = uint8(color), track.Category(cat)
		return v, err
	})
	if err != nil {
		return nil, fmt.Errorf("load vehicles: %w", err)
	}
	return vs, nil
}

// PutFence stores a fence after checking it: a new one when f.ID is 0,
// else it replaces fence f.ID and moves its version on. It returns the
// fence as stored (ID and Version set).
//
// A new fence identical to one its owner already has (name, kind,
// category, thresholds and shape) is that fence: a retried upload or a
// file imported twice does not draw the same fence twice, which would
// double every alert it raises. Inside a transaction the owner's fences
// are locked for the check, so two identical uploads at once store one.
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
		var found Fence
		if found, err = s.sameFence(ctx, f, args); err != nil || found.ID != 0 {
			f.ID, f.Version = found.ID, found.Version
			return f, err
		}
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

// sameFence finds the stored fence that args (PutFence's for want)
// describe exactly, or returns a zero Fence.
func (s *Store) sameFence(ctx context.Context, want Fence, args []any) (Fence, error) {
	var f Fence
	if _, inTx := s.db.(pgx.Tx); inTx {
		owner := fmt.Sprintf("fence:unit %d:vehicle %d", want.UnitID, want.VehicleID)
		if _, err := s.db.Exec(ctx, "SELECT pg_advisory_xact_lock(hashtext($1))", owner); err != nil {
			return f, fmt.Errorf("lock the fences of %s: %w", owner, err)
		}
	}
	var version int32
	err := s.db.QueryRow(ctx, `SELECT id, version FROM alert_fences
		WHERE name = $1 AND kind = $2 AND category IS NOT DISTINCT FROM $3
		  AND dwell_min IS NOT DISTINCT FROM $4 AND speed_limit_kmh IS NOT DISTINCT FROM $5
		  AND unit_id IS NOT DISTINCT FROM $6 AND vehicle_id IS NOT DISTINCT FROM $7
		  AND shape = $8::jsonb
		ORDER BY id LIMIT 1`, args[:8]...).Scan(&f.ID, &version)
	if errors.Is(err, pgx.ErrNoRows) {
		return Fence{}, nil
	}
	if err != nil {
		return f, fmt.Errorf("look for fence %q: %w", args[0], err)
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
	// CreatedAt, when set, is the server's clock at the approval, which
	// the dispatch report compares with the trip's time.
	err := s.db.QueryRow(ctx, `INSERT INTO alert_approvals (vehicle_id, driver, purpose, period, fence_id, approver, source, external_ref, created_at)
		VALUES ($1, $2, $3, tstzrange($4, $5, '[)'), $6, $7, $8, $9, COALESCE($10, now())) RETURNING id`,
		a.VehicleID, a.Driver, a.Purpose, a.Start, a.End, nullID(a.FenceID), a.Approver, a.Source, ref, nullTime(a.CreatedAt)).Scan(&id)
	if err != nil {
		return 0, fmt.Errorf("store approval for vehicle %d: %w", a.VehicleID, err)
	}
	return id, nil
}

// vehicleApprovals reads the approvals of one vehicle overlapping [from,
// to) (a zero from is open), the part the rules read: the runner's shards
// ask it for each vehicle as they judge it, so it goes by the vehicle's
// index (written without &&, which draws the planner to the period's
// GiST index and every vehicle's approvals of the period).
func (s *Store) vehicleApprovals(ctx context.Context, vehicleID int64, from, to time.Time) ([]Approval, error) {
	rows, err := s.pool.Query(ctx, `SELECT id, vehicle_id, lower(period), upper(period), COALESCE(fence_id, 0)
		FROM alert_approvals WHERE vehicle_id = $1 AND lower(period) < $3
			AND ($2::timestamptz IS NULL OR upper(period) > $2)
		ORDER BY lower(period)`, vehicleID, nullTime(from), to)
	if err != nil {
		return nil, fmt.Errorf("load approvals of vehicle %d: %w", vehicleID, err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (Approval, error) {
		var a Approval
		err := r.Scan(&a.ID, &a.VehicleID, &a.Start, &a.End, &a.FenceID)
		return a, err
	})
	if err != nil {
		return nil, fmt.Errorf("load approvals of vehicle %d: %w", vehicleID, err)
	}
	return out, nil
}

// approvalsOf returns the part of the records the rules read.
func approvalsOf(recs []ApprovalRecord) []Approval {
	as := make([]Approval, len(recs))
	for i := range recs {
		as[i] = recs[i].Approval
	}
	return as
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

// loadCalendars reads the holidays (seeding the embedded years that are
// missing), the unit tree and the calendars, and builds the units'
// calendars.
func (s *Store) loadCalendars(ctx context.Context) (*HolidaySet, Parents, *Calendars, error) {
	if err := s.EnsureHolidays(ctx); err != nil {
		return nil, nil, nil, err
	}
	hol, err := s.Holidays(ctx)
	if err != nil {
		return nil, nil, nil, err
	}
	tree, err := s.tree(ctx)
	if err != nil {
		return nil, nil, nil, err
	}
	cals, err := s.calendars(ctx, tree, hol)
	return hol, tree, cals, err
}

// calendars builds the units' calendars from the stored specs.
func (s *Store) calendars(ctx context.Context, tree OrgTree, hol *HolidaySet) (*Calendars, error) {
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
	return NewCalendars(tree, defCal, own...)
}
