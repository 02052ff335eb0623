package alerts

import (
	"context"
	"fmt"
	"math"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"fleetmon/track"
)

// ChangeKind says how a re-evaluation changes a stored episode.
type ChangeKind string

// The kinds of change.
const (
	ChangeAdded     ChangeKind = "added"     // a new episode
	ChangeChanged   ChangeKind = "changed"   // same episode (same id), different verdict
	ChangeRetracted ChangeKind = "retracted" // a stored episode that no longer holds
)

// Change is one difference between the stored episodes and a
// re-evaluation. Old is nil for an added episode, New for a retracted one
// (when applied, the row is kept with status retracted).
type Change struct {
	Kind ChangeKind
	Old  *StoredEpisode
	New  *Episode
}

// Diff is what a re-evaluation of one vehicle's period would change, or
// changed when Applied.
type Diff struct {
	VehicleID int64
	// Episodes starting in [From, To) were compared.
	From, To  time.Time
	Changes   []Change
	Unchanged int
	Applied   bool
}

// Reevaluate recomputes the episodes of one vehicle starting in [from, to)
// from its stored positions and the current stored configuration, compares
// them with the stored episodes, and returns the difference: what the
// administrator sees before applying a changed calendar, fence, approval
// or parameter to the past. With apply, it also stores the difference
// (new and changed episodes upserted, vanished ones marked retracted);
// verifications already made are kept.
//
// Positions from ReevaluateLead before from to ReevaluateLead after to are
// read, so that a drive under way at from is seen from its beginning. An
// episode still open at the end of that data is compared as open. The
// clock-driven checks are judged as of the end of that data (or now, if
// earlier): a dwell longer than ReevaluateLead that ends in silence is
// not seen. Episode
// fields that only record what a verdict was judged with (parameter JSON,
// versions) are not compared.
//
// Reevaluate does not change the running engines; call Reload after
// editing the configuration so that new positions are judged by it.
func (r *Runner) Reevaluate(ctx context.Context, vehicleID int64, from, to time.Time, apply bool) (*Diff, error) {
	if !to.After(from) {
		return nil, fmt.Errorf("alerts: re-evaluate: period ends before it starts")
	}
	l, err := r.loadForReevaluate(ctx, from, to)
	if err != nil {
		return nil, err
	}
	i := slices.IndexFunc(l.Vehicles, func(v track.Vehicle) bool { return v.ID == vehicleID })
	if i < 0 {
		return nil, fmt.Errorf("vehicle %d: %w", vehicleID, ErrUnknownVehicle)
	}
	return r.reevaluate(ctx, l, l.Vehicles[i], from, to, apply)
}

// ReevaluateAll is Reevaluate for many vehicles (every registered one
// when vehicleIDs is empty), with the configuration read once and
// workers vehicles at a time (0: one per CPU). Each vehicle's positions
// are streamed through its engine, never held. It returns the vehicles'
// differences in vehicle order; on an error it stops and returns it (the
// differences of vehicles already applied stay applied).
func (r *Runner) ReevaluateAll(ctx context.Context, vehicleIDs []int64, from, to time.Time, apply bool, workers int) ([]*Diff, error) {
	if !to.After(from) {
		return nil, fmt.Errorf("alerts: re-evaluate: period ends before it starts")
	}
	l, err := r.loadForReevaluate(ctx, from, to)
	if err != nil {
		return nil, err
	}
	vs := l.Vehicles
	if len(vehicleIDs) > 0 {
		vs = slices.DeleteFunc(slices.Clone(vs), func(v track.Vehicle) bool { return !slices.Contains(vehicleIDs, v.ID) })
		if len(vs) != len(vehicleIDs) {
			return nil, fmt.Errorf("alerts: re-evaluate: %d of %d vehicles: %w", len(vehicleIDs)-len(vs), len(vehicleIDs), ErrUnknownVehicle)
		}
	}
	if workers <= 0 {
		workers = runtime.GOMAXPROCS(0)
	}
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	diffs := make([]*Diff, len(vs))
	next := atomic.Int64{}
	var wg sync.WaitGroup
	for range min(workers, len(vs)) {
		wg.Go(func() {
			for {
				k := int(next.Add(1)) - 1
				if k >= len(vs) || ctx.Err() != nil {
					return
				}
				d, err := r.reevaluate(ctx, l, vs[k], from, to, apply)
				if err != nil {
					cancel(err)
					return
				}
				diffs[k] = d
			}
		})
	}
	wg.Wait()
	if err := context.Cause(ctx); err != nil {
		return nil, err
	}
	return diffs, nil
}

func (r *Runner) loadForReevaluate(ctx context.Context, from, to time.Time) (*Loaded, error) {
	lead := r.cfg.ReevaluateLead
	l, err := r.store.LoadConfig(ctx, LoadOptions{ApprovalsFrom: from.Add(-lead), ApprovalsTo: to.Add(lead)})
	if err != nil {
		return nil, fmt.Errorf("alerts: re-evaluate: %w", err)
	}
	return l, nil
}

// reevaluate is Reevaluate of one vehicle with the configuration l.
func (r *Runner) reevaluate(ctx context.Context, l *Loaded, veh track.Vehicle, from, to time.Time, apply bool) (*Diff, error) {
	vehicleID := veh.ID
	lead := r.cfg.ReevaluateLead
	lo, hi := from.Add(-lead), to.Add(lead)
	cfg := l.Config
	// Fed in order from a stream, nothing is late and nothing re-read:
	// one checkpoint is all the engine needs.
	cfg.Horizon = hi.Sub(lo) + time.Hour
	cfg.CheckpointEvery = cfg.Horizon
	eng, err := NewEngine(cfg, nil)
	if err != nil {
		return nil, err
	}
	eng.SetVehicle(veh)
	view := map[string]Episode{}
	var out []Episode
	err = r.store.eachPosition(ctx, vehicleID, lo, hi, func(p *track.Position) error {
		var err error
		if out, err = eng.Feed(out[:0], p); err != nil {
			return fmt.Errorf("at %s: %w", p.Time, err)
		}
		for _, ep := range out {
			view[ep.ID] = ep
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("alerts: re-evaluate vehicle %d: %w", vehicleID, err)
	}
	// The clock has judged the vehicle too (a night check of a silent
	// car): judge it as of the end of the data read, or now when that is
	// later than the clock has got. The wall clock only stops the checks
	// from judging a time that has not come yet, as the live clock does.
	asOf := hi
	if now := r.cfg.Clock.Now().Add(-r.cfg.Clock.Lag); now.Before(asOf) {
		asOf = now
	}
	for _, ep := range eng.TickVehicle(out[:0], vehicleID, asOf) {
		view[ep.ID] = ep
	}
	stored, err := r.store.Episodes(ctx, EpisodeFilter{VehicleID: vehicleID, From: from, To: to})
	if err != nil {
		return nil, fmt.Errorf("alerts: re-evaluate: %w", err)
	}
	d := &Diff{VehicleID: vehicleID, From: from, To: to}
	byID := make(map[string]*StoredEpisode, len(stored))
	for k := range stored {
		byID[stored[k].ID] = &stored[k]
	}
	var fresh []Episode
	for _, ep := range view {
		if ep.Status != EpisodeRetracted && !ep.Start.Before(from) && ep.Start.Before(to) {
			fresh = append(fresh, ep)
		}
	}
	slices.SortFunc(fresh, func(a, b Episode) int {
		if c := a.Start.Compare(b.Start); c != 0 {
			return c
		}
		return strings.Compare(string(a.Rule)+a.ID, string(b.Rule)+b.ID)
	})
	seen := map[string]bool{}
	for k := range fresh {
		n := &fresh[k]
		seen[n.ID] = true
		o := byID[n.ID]
		switch {
		case o == nil:
			d.Changes = append(d.Changes, Change{Kind: ChangeAdded, New: n})
		case !sameVerdict(&o.Episode, n):
			d.Changes = append(d.Changes, Change{Kind: ChangeChanged, Old: o, New: n})
		default:
			d.Unchanged++
		}
	}
	for k := range stored {
		if o := &stored[k]; !seen[o.ID] {
			d.Changes = append(d.Changes, Change{Kind: ChangeRetracted, Old: o})
		}
	}
	if !apply || len(d.Changes) == 0 {
		d.Applied = apply
		return d, nil
	}
	eps := make([]Episode, 0, len(d.Changes))
	for _, c := range d.Changes {
		if c.New != nil {
			eps = append(eps, *c.New)
			continue
		}
		ep := c.Old.Episode
		ep.Status = EpisodeRetracted
		eps = append(eps, ep)
	}
	ids, err := r.store.upsertEpisodes(ctx, eps)
	if err != nil {
		return d, fmt.Errorf("alerts: re-evaluate: apply: %w", err)
	}
	r.m.rowsWritten.Add(float64(len(ids)))
	if len(r.tell) > 0 && len(ids) > 0 {
		r.told(pickWritten(nil, eps, ids))
	}
	d.Applied = true
	r.log.Info("alerts: re-evaluation applied", "vehicle_id", vehicleID, "from", from, "to", to,
		"changes", len(d.Changes), "unchanged", d.Unchanged)
	return d, nil
}

// sameVerdict compares what an episode says (not what it was judged
// with). Measures compare within what storing them can change.
func sameVerdict(a, b *Episode) bool {
	near := func(x, y, tol float64) bool { return math.Abs(x-y) <= tol }
	return a.Rule == b.Rule && a.Status == b.Status && a.Start.Equal(b.Start) && a.End.Equal(b.End) &&
		a.FenceID == b.FenceID && a.ApprovalID == b.ApprovalID && a.Detail == b.Detail &&
		near(a.StartLat, b.StartLat, 1e-9) && near(a.StartLon, b.StartLon, 1e-9) &&
		near(a.EndLat, b.EndLat, 1e-9) && near(a.EndLon, b.EndLon, 1e-9) &&
		near(a.DistanceM, b.DistanceM, 0.01) && near(float64(a.MaxSpeedKmh), float64(b.MaxSpeedKmh), 0.01)
}
