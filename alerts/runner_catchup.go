package alerts

import (
	"context"
	"time"

	"fleetmon/track"
)

// catchUp restores the saved state of the shard's vehicles and replays
// the positions received after it (a vehicle without state: those
// received in the last InitialReplay).
func (s *shard) catchUp(ctx context.Context, vehicles []track.Vehicle, start time.Time) {
	r := s.r
	horizon := s.eng.cfg.Horizon
	nv, np := 0, 0
	for _, v := range vehicles {
		if !s.owns(v.ID) || ctx.Err() != nil {
			continue
		}
		var (
			st SavedState
			ok bool
		)
		err := r.retry(ctx, "catch_up", dbRetryable, func(ctx context.Context) error {
			var err error
			st, ok, err = r.store.State(ctx, v.ID)
			return err
		})
		if err != nil {
			s.fail(v.ID, "catch up", err)
			continue
		}
		if ok {
			if err := s.eng.RestoreVehicle(v.ID, st.State); err != nil {
				r.log.Warn("alerts: saved state not usable; replaying as if none", "vehicle_id", v.ID, "err", err)
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
			if last, has := s.eng.LastTime(v.ID); has {
				device = last.Add(-horizon)
			}
		case r.cfg.InitialReplay > 0:
			received = start.Add(-r.cfg.InitialReplay)
		default:
			continue
		}
		var ps []track.Position
		err = r.retry(ctx, "catch_up", dbRetryable, func(ctx context.Context) error {
			var err error
			ps, err = r.store.positionsReceivedAfter(ctx, v.ID, received, device, st.ProcessedXID, s.cursor)
			return err
		})
		if err != nil {
			s.fail(v.ID, "catch up", err)
			continue
		}
		if len(ps) == 0 {
			continue
		}
		nv++
		np += len(ps)
		s.step = append(s.step[:0], ps...)
		s.evaluate(ctx, s.step, "catch_up")
	}
	if np > 0 {
		r.log.Info("alerts: caught up", "shard", s.id, "vehicles", nv, "positions", np)
	}
}
