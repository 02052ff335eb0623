package alerts

import (
	"context"
	"time"

	"fleetmon/track"
)

// catchUp restores the saved state of the shard's vehicles and replays
// the positions received after it (a vehicle without state: those
// received in the last InitialReplay).
func (s *shard) catchUp(ctx context.Context, vehicles []track.Vehicle) {
	nv, np := 0, 0
	for _, v := range vehicles {
		if !s.owns(v.ID) || ctx.Err() != nil {
			continue
		}
		if n := s.catchUpVehicle(ctx, v.ID); n > 0 {
			nv++
			np += n
		}
	}
	if np > 0 {
		s.r.log.Info("alerts: caught up", "shard", s.id, "vehicles", nv, "positions", np)
	}
}

// catchUpVehicle restores the saved state of one registered vehicle and
// evaluates the positions to replay after it; it returns how many. It is
// also how a vehicle the loaded configuration did not know yet (added
// since) joins, when the feed first brings it: another node may have
// judged it before this one took the shard.
func (s *shard) catchUpVehicle(ctx context.Context, vid int64) int {
	r := s.r
	horizon := s.eng.cfg.Horizon
	var (
		st SavedState
		ok bool
	)
	err := r.retry(ctx, "catch_up", dbRetryable, func(ctx context.Context) error {
		var err error
		st, ok, err = r.store.State(ctx, vid)
		return err
	})
	if err != nil {
		s.fail(vid, "catch up", err)
		return 0
	}
	if ok {
		if err := s.eng.RestoreVehicle(vid, st.State); err != nil {
			r.log.Warn("alerts: saved state not usable; replaying as if none", "vehicle_id", vid, "err", err)
			ok = false
		}
	}
	// received bounds the replay by arrival (the wall clock of the
	// nodes that stored the rows); device only by the device times
	// the engine can still take (Horizon behind the vehicle's last
	// fix). A vehicle without state has no last fix: its replay is
	// bounded by arrival alone, because a report received yesterday
	// may have been made a fortnight or a year ago (a blind-zone
	// back-fill, a terminal offline for weeks) and must be judged
	// all the same.
	var received, device time.Time
	switch {
	case ok:
		received = st.ProcessedUntil.Add(-r.cfg.CatchUpSlack)
		if last, has := s.eng.LastTime(vid); has {
			device = last.Add(-horizon)
		}
	case r.cfg.InitialReplay > 0:
		received = s.start.Add(-r.cfg.InitialReplay)
	default:
		return 0
	}
	var ps []track.Position
	err = r.retry(ctx, "catch_up", dbRetryable, func(ctx context.Context) error {
		var err error
		ps, err = r.store.positionsReceivedAfter(ctx, vid, received, device, st.ProcessedXID, s.cursor)
		return err
	})
	if err != nil {
		s.fail(vid, "catch up", err)
		return 0
	}
	if len(ps) > 0 {
		// A slice of its own: a vehicle joining from the feed is caught
		// up in the middle of evaluating the feed's step.
		s.evaluate(ctx, ps, "catch_up")
	}
	return len(ps)
}
