package alerts

import (
	"context"
	"errors"
	"time"
)

// ClockConfig drives the clock-driven checks (see clock.go): a vehicle
// that stops reporting is judged on time, not when its next fix comes.
// Zero values take the defaults.
//
// These checks are the only verdicts the wall clock takes part in, and
// only in when they are said: an absence of data can be judged only once
// the time has passed. What they say (the episode, its start, its ID) is
// computed from the vehicle's fixes and the configuration, as the next fix
// would judge it; a fix that comes later, however late, carries it on or
// retracts it (settle). The runner's other readings of the wall clock
// only measure (metrics, Status), pace (back-offs, polls, state saves) or
// bound the first replay by arrival (Run): none decides a verdict.
type ClockConfig struct {
	// Now returns the current time. Default time.Now; tests inject a
	// clock of their own and call Runner.Tick.
	Now func() time.Time
	// Every is how often each shard judges its vehicles. Default 1 min:
	// a 22:00 check is judged by 22:00 + Lag + Every.
	Every time.Duration
	// Lag is how far behind Now the checks are judged, so that reports
	// on their way (a terminal's 30 s interval, the writer's batching,
	// a terminal clock a little behind) arrive before the check that
	// would miss them. Default 2 min. Later data is still judged (it
	// corrects the verdict, as back-fills do), this only saves flapping.
	Lag time.Duration
}

func (c *ClockConfig) defaults() {
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.Every <= 0 {
		c.Every = time.Minute
	}
	if c.Lag <= 0 {
		c.Lag = 2 * time.Minute
	}
}

// errRunnerStopped is Tick's error once Run has returned.
var errRunnerStopped = errors.New("alerts: runner stopped")

type tickRequest struct {
	now  time.Time
	done chan struct{}
}

// Tick makes every shard judge its vehicles' clock-driven checks as if
// the time were now (minus Clock.Lag), and returns once their episodes
// are stored; Run does it every Clock.Every with Clock.Now. A tick is
// idempotent: judging the same time again, or an earlier one, changes
// nothing.
func (r *Runner) Tick(ctx context.Context, now time.Time) error {
	reqs := make([]tickRequest, len(r.shards))
	for i, s := range r.shards {
		reqs[i] = tickRequest{now: now, done: make(chan struct{})}
		select {
		case s.tick <- reqs[i]:
		case <-r.stopped:
			return errRunnerStopped
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	for _, q := range reqs {
		select {
		case <-q.done:
		case <-r.stopped:
			return errRunnerStopped
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	return nil
}

// clockTick judges the shard's vehicles as of now − Lag and stores what
// changed. Vehicles whose clock view changed are saved with the next
// states (their processed_until does not move).
func (s *shard) clockTick(ctx context.Context, now time.Time) {
	asOf := now.Add(-s.r.cfg.Clock.Lag)
	s.out = s.eng.Tick(s.out[:0], asOf)
	// The wall clock here only says when the checks ran (Status).
	defer s.prog.ticked(time.Now(), asOf)
	if len(s.out) == 0 {
		return
	}
	for i := range s.out {
		vid := s.out[i].VehicleID
		if _, ok := s.dirty[vid]; !ok {
			s.dirty[vid] = time.Time{} // SaveStates keeps the stored processed_until
		}
	}
	s.emit(s.out)
	s.flush(ctx)
}
