package alerts

import (
	"context"
	"time"

	"fleetmon/track"
)

// A shard's engine holds each vehicle's approvals for the device times it
// is judging, not for a window around the wall clock: a report that
// reaches fleetmon a month after it was made (a terminal with an expired
// SIM, a car in an underground garage, a node restored from a backlog) is
// judged with the approvals that covered it then. The shard loads them
// per vehicle as the positions come, for a window of device time around
// them, and keeps one window per vehicle, so memory is bounded by what a
// vehicle's approvals over a few ApprovalLookbacks weigh.

// approvalWindow is the device-time period [from, to] whose approvals the
// engine holds for a vehicle; a zero from is open (every approval before
// to).
type approvalWindow struct{ from, to time.Time }

// approveLate makes the engine hold the approvals a re-evaluation for the
// late positions ps (sorted, all before last, the vehicle's last fix)
// replays over: from the checkpoint it restarts at to last. Positions out
// of reach get ErrTooLate and need none. It reports whether the vehicle
// can go on.
func (s *shard) approveLate(ctx context.Context, vid int64, ps []track.Position, last time.Time) bool {
	for i := range ps {
		if back, ok := s.eng.ReachBack(vid, ps[i].Time); ok {
			if !back.IsZero() {
				back = back.Add(-s.r.cfg.ApprovalLookback)
			}
			return s.approve(ctx, vid, back, last)
		}
	}
	return true
}

// approveAt makes the engine hold the approvals a fix at t is judged
// with: those covering t, and those that ended during a drive under way at
// t (an overrun), which started less than ApprovalLookback before it.
func (s *shard) approveAt(ctx context.Context, vid int64, t time.Time) bool {
	return s.approve(ctx, vid, t.Add(-s.r.cfg.ApprovalLookback), t)
}

// approve makes the engine hold the vehicle's approvals overlapping
// [from, to]. A window held already that covers it is kept unless it is
// much wider than needed (after a re-evaluation from the vehicle's first
// fix); otherwise the window [from, to + ApprovalLookback] is loaded, so
// that a vehicle reporting live loads its approvals about once per
// ApprovalLookback. It reports whether the vehicle can go on.
func (s *shard) approve(ctx context.Context, vid int64, from, to time.Time) bool {
	lb := s.r.cfg.ApprovalLookback
	if w, ok := s.approved[vid]; ok && !to.After(w.to) && (w.from.IsZero() || !from.Before(w.from)) &&
		(from.IsZero() || w.to.Sub(w.from) <= to.Sub(from)+2*lb) {
		return true
	}
	w := approvalWindow{from: from, to: to.Add(lb)}
	var as []Approval
	err := s.r.retry(ctx, "load_approvals", dbRetryable, func(ctx context.Context) error {
		var err error
		as, err = s.r.store.vehicleApprovals(ctx, vid, w.from, w.to)
		return err
	})
	if err != nil {
		s.fail(vid, "load approvals", err)
		return false
	}
	s.r.m.approvalLoads.Inc()
	s.eng.SetApprovals(vid, as)
	if s.approved == nil {
		s.approved = map[int64]approvalWindow{}
	}
	s.approved[vid] = w
	return true
}
