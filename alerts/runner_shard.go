package alerts

import (
	"cmp"
	"context"
	"errors"
	"slices"
	"sync/atomic"
	"time"

	"fleetmon/track"
)

// shard is one engine and the goroutine that owns it.
type shard struct {
	r      *Runner
	id     int
	q      chan []track.Position
	queued atomic.Int64
	reload chan *Loaded
	tick   chan tickRequest
	prog   progress

	// Owned by the shard's goroutine.
	start   time.Time // when Run started: the initial replay is measured from it
	eng     *Engine
	src     *dbSource
	dirty   map[int64]time.Time // vehicle → latest Received evaluated, since the last save
	failed  map[int64]bool      // vehicles whose evaluation was cut short: their state is not saved
	pending []Episode
	notify  []Episode
	out     []Episode
	step    []track.Position
	// approved is the device-time window of each vehicle's approvals the
	// engine holds (runner_approvals.go).
	approved map[int64]approvalWindow
	// cursor, for a feed read in commit order: every position of the
	// shard's vehicles committed by a transaction below it has been
	// evaluated. Zero for a pushed feed.
	cursor int64
}

func (s *shard) owns(vehicleID int64) bool {
	return s.r.feed.owns(vehicleID) && s.r.shardOf(vehicleID) == s
}

func (s *shard) run(ctx context.Context, l *Loaded, start time.Time) {
	r := s.r
	s.start = start
	s.src = &dbSource{store: r.store, ctx: ctx, timeout: r.cfg.QueryTimeout}
	s.dirty, s.failed = map[int64]time.Time{}, map[int64]bool{}
	eng, err := NewEngine(l.Config, s.src)
	if err != nil {
		// LoadConfig always sets Calendars and Policy: a defect.
		panic("alerts: engine for loaded config: " + err.Error())
	}
	s.eng = eng
	for _, v := range l.Vehicles {
		if s.owns(v.ID) {
			eng.SetVehicle(v)
		}
	}
	due, stopFeed, ok := r.feed.begin(ctx, s)
	if !ok {
		return // ctx ended
	}
	defer stopFeed()
	s.catchUp(ctx, l.Vehicles)
	s.clockTick(ctx, r.cfg.Clock.Now())
	s.prog.replayed.Store(true)

	tick := time.NewTicker(r.cfg.StateEvery)
	defer tick.Stop()
	clock := time.NewTicker(r.cfg.Clock.Every)
	defer clock.Stop()
	for {
		select {
		case <-due:
			s.applyPending(ctx)
			r.feed.read(ctx, s)
		case <-clock.C:
			s.clockTick(ctx, r.cfg.Clock.Now())
		case req := <-s.tick:
			s.clockTick(ctx, req.now)
			close(req.done)
		case b := <-s.q:
			s.applyPending(ctx)
			s.take(b)
			s.collect(ctx)
			s.evaluate(ctx, s.step, "live")
		case nl := <-s.reload:
			s.apply(ctx, nl)
		case <-tick.C:
			s.saveStates(ctx)
		case <-ctx.Done():
			if errors.Is(context.Cause(ctx), errAbandoned) {
				return
			}
			s.drain()
			return
		}
	}
}

func (s *shard) take(b []track.Position) {
	s.queued.Add(-int64(len(b)))
	s.step = append(s.step, b...)
}

// collect adds what is queued to the step without waiting.
func (s *shard) collect(ctx context.Context) {
	for len(s.step) < maxStepPositions {
		select {
		case b := <-s.q:
			s.applyPending(ctx)
			s.take(b)
		default:
			return
		}
	}
}

// drain evaluates what is queued, stores episodes and saves state, for at
// most DrainTimeout, after Run's context ended.
func (s *shard) drain() {
	ctx, cancel := context.WithTimeout(context.Background(), s.r.cfg.DrainTimeout)
	defer cancel()
	s.src.ctx = ctx
	for ctx.Err() == nil {
		s.collect(ctx)
		if len(s.step) == 0 {
			break
		}
		s.evaluate(ctx, s.step, "live")
	}
	s.saveStates(ctx)
}

// applyPending applies a configuration handed over before the positions
// about to be evaluated: select picks among ready cases at random, and a
// seal or approval recorded before a report arrived must judge it.
func (s *shard) applyPending(ctx context.Context) {
	select {
	case nl := <-s.reload:
		s.apply(ctx, nl)
	default:
	}
}

func (s *shard) apply(ctx context.Context, l *Loaded) {
	if err := s.eng.SetConfig(l.Config); err != nil {
		s.r.log.Error("alerts: reload", "err", err)
		return
	}
	clear(s.approved) // SetConfig dropped them, and they may have been edited
	for _, v := range l.Vehicles {
		if s.owns(v.ID) {
			s.register(ctx, v)
		}
	}
}

// register sets a vehicle's record in the engine. One that joins in a
// cluster (added since the configuration was loaded) is caught up like
// those of the start: another node may have judged it, and saved its
// state, before this one took the shard; judged afresh from here, an
// episode under way would be opened a second time. A single node's
// vehicle that joins has not been judged before.
func (s *shard) register(ctx context.Context, v track.Vehicle) {
	_, known := s.eng.Vehicle(v.ID)
	s.eng.SetVehicle(v)
	if !known && !s.r.feed.pushed() {
		s.catchUpVehicle(ctx, v.ID)
	}
}

// evaluate runs the rules over ps (the shard's own; it is reordered and
// emptied) and stores the episodes.
func (s *shard) evaluate(ctx context.Context, ps []track.Position, path string) {
	t0 := time.Now()
	slices.SortStableFunc(ps, func(a, b track.Position) int {
		if c := cmp.Compare(a.VehicleID, b.VehicleID); c != 0 {
			return c
		}
		if c := a.Time.Compare(b.Time); c != 0 {
			return c
		}
		return cmp.Compare(a.FixHash(), b.FixHash())
	})
	for i := 0; i < len(ps); {
		j := i + 1
		for j < len(ps) && ps[j].VehicleID == ps[i].VehicleID {
			j++
		}
		s.vehicle(ctx, ps[i:j])
		i = j
	}
	s.flush(ctx)
	// Counted once their episodes are stored: a caller that waits for the
	// count finds the verdicts in the table.
	s.r.m.positions.WithLabelValues(path).Add(float64(len(ps)))
	if s.q != nil && path == "live" {
		s.prog.judge(len(ps))
	}
	clear(ps)
	s.step = ps[:0]
	s.r.m.stepSeconds.Observe(time.Since(t0).Seconds())
}

// vehicle evaluates one vehicle's positions, sorted by device time. Those
// older than the vehicle's last evaluated fix (back-fills) are stored
// already, so one re-evaluation from the oldest of them takes them all in;
// the rest are fed in order.
func (s *shard) vehicle(ctx context.Context, ps []track.Position) {
	r := s.r
	vid := ps[0].VehicleID
	if _, ok := s.eng.Vehicle(vid); !ok && !s.lookup(ctx, vid) {
		r.m.unknown.Add(float64(len(ps)))
		return
	}
	late := 0
	last, ok := s.eng.LastTime(vid)
	if ok {
		for late < len(ps) && ps[late].Time.Before(last) {
			late++
		}
	}
	if late > 0 {
		if !s.approveLate(ctx, vid, ps[:late], last) {
			return
		}
		r.m.late.Add(float64(late))
		err := r.retry(ctx, "feed", engineRetryable, func(context.Context) error {
			out, err := s.eng.Reevaluate(s.out[:0], vid, ps[0].Time)
			s.out = out
			return err
		})
		switch {
		case err == nil:
			s.emit(s.out)
		case errors.Is(err, ErrTooLate):
			// The oldest is out of reach; the others may not be.
			for i := range ps[:late] {
				if !s.feed(ctx, &ps[i]) {
					return
				}
			}
		default:
			s.fail(vid, "re-evaluate", err)
			return
		}
	}
	for i := late; i < len(ps); i++ {
		if !s.approveAt(ctx, vid, ps[i].Time) || !s.feed(ctx, &ps[i]) {
			return
		}
	}
	until := s.dirty[vid]
	for i := range ps {
		if ps[i].Received.After(until) {
			until = ps[i].Received
		}
	}
	s.dirty[vid] = until
}

// feed evaluates one position and reports whether the vehicle can go on.
func (s *shard) feed(ctx context.Context, p *track.Position) bool {
	r := s.r
	err := r.retry(ctx, "feed", engineRetryable, func(context.Context) error {
		out, err := s.eng.Feed(s.out[:0], p)
		s.out = out
		return err
	})
	switch {
	case err == nil:
		s.emit(s.out)
	case errors.Is(err, ErrTooLate):
		r.m.tooLate.Inc()
		r.log.Debug("alerts: position too late to evaluate", "vehicle_id", p.VehicleID, "device_time", p.Time)
	default:
		s.fail(p.VehicleID, "feed", err)
		return false
	}
	return true
}

// fail notes that a vehicle's evaluation was cut short (the context
// ended while the database failed, or the engine refused its state): its
// state is not saved, so the next start replays it.
func (s *shard) fail(vid int64, what string, err error) {
	s.failed[vid] = true
	s.r.log.Error("alerts: evaluation cut short; the next start replays it", "vehicle_id", vid, "op", what, "err", err)
}

func (s *shard) emit(eps []Episode) {
	for i := range eps {
		s.r.m.episodes.WithLabelValues(string(eps[i].Status)).Inc()
	}
	s.pending = append(s.pending, eps...)
}

// lookup registers a vehicle that was not in the vehicles table when the
// configuration was loaded.
func (s *shard) lookup(ctx context.Context, vid int64) bool {
	var vs []track.Vehicle
	err := s.r.retry(ctx, "lookup_vehicle", dbRetryable, func(ctx context.Context) error {
		var err error
		vs, err = s.r.store.Vehicles(ctx, vid)
		return err
	})
	if err != nil || len(vs) == 0 {
		return false
	}
	s.register(ctx, vs[0])
	return true
}

// flush stores the pending episodes. When the database rejects the batch,
// they are stored one by one so that only the offending ones are lost
// (and logged).
func (s *shard) flush(ctx context.Context) {
	if len(s.pending) == 0 {
		return
	}
	r := s.r
	var written []string
	store := func(eps []Episode) error {
		return r.retry(ctx, "store_episodes", dbRetryable, func(ctx context.Context) error {
			ids, err := r.write.upsertEpisodes(ctx, eps)
			r.m.rowsWritten.Add(float64(len(ids)))
			written = append(written, ids...)
			return err
		})
	}
	err := store(s.pending)
	if err != nil && ctx.Err() == nil && !errors.Is(err, errLeaseLost) {
		for i := range s.pending {
			if err1 := store(s.pending[i : i+1]); err1 != nil {
				r.log.Error("alerts: episode rejected by the database", "episode", s.pending[i].ID,
					"vehicle_id", s.pending[i].VehicleID, "rule", s.pending[i].Rule, "err", err1)
			}
		}
		err = nil
	}
	if err != nil {
		for i := range s.pending {
			s.failed[s.pending[i].VehicleID] = true
		}
		r.log.Error("alerts: episodes not stored; the next start replays them", "episodes", len(s.pending), "err", err)
	}
	if len(r.tell) > 0 && len(written) > 0 {
		s.notify = pickWritten(s.notify[:0], s.pending, written)
		r.told(s.notify)
		clear(s.notify)
	}
	clear(s.pending)
	s.pending = s.pending[:0]
}

// pickWritten appends to dst the last of eps with each id in written.
func pickWritten(dst, eps []Episode, written []string) []Episode {
	want := make(map[string]bool, len(written))
	for _, id := range written {
		want[id] = true
	}
	for i := len(eps) - 1; i >= 0; i-- {
		if want[eps[i].ID] {
			want[eps[i].ID] = false
			dst = append(dst, eps[i])
		}
	}
	slices.Reverse(dst)
	return dst
}

// saveStates saves the state of the vehicles evaluated since the last
// save (their episodes are stored by then).
func (s *shard) saveStates(ctx context.Context) {
	if len(s.dirty) == 0 {
		return
	}
	sts := make([]SavedState, 0, len(s.dirty))
	for vid, until := range s.dirty {
		if s.failed[vid] {
			continue
		}
		b, ok, err := s.eng.MarshalVehicle(vid)
		if err != nil || !ok {
			s.r.log.Error("alerts: vehicle state does not marshal", "vehicle_id", vid, "err", err)
			continue
		}
		sts = append(sts, SavedState{VehicleID: vid, State: b, ProcessedUntil: until, ProcessedXID: s.cursor})
	}
	if err := s.r.write.saveStates(ctx, sts); err != nil {
		s.r.m.errors.WithLabelValues("save_state").Inc()
		s.r.log.Warn("alerts: save engine state", "vehicles", len(sts), "err", err)
		return // the next tick tries again
	}
	s.r.m.statesSaved.Add(float64(len(sts)))
	clear(s.dirty)
}
