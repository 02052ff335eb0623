package ingest

import (
	"context"
	"time"

	"fleetmon/track"
)

// How the gateway asks the registry (registration, authentication, logout)
// while the database is away. A terminal that gets no answer waits its own
// reply timeout (tens of seconds) before it sends again, so giving up on
// the first error would hold every reconnecting terminal back that long
// past a failover. The session instead keeps the frame and asks again,
// each attempt under its own deadline (a hung primary answers nothing),
// and answers as soon as the new primary does.
const (
	// registryAttempt bounds one call to the registry.
	registryAttempt = 5 * time.Second
	// registryRetryMin and registryRetryMax bound the back-off between
	// attempts, as the writer's: the new primary is found within a second.
	registryRetryMin = 100 * time.Millisecond
	registryRetryMax = time.Second
)

// askRegistry runs call until it succeeds, the database refuses the data
// (track.IsRejection), the session's context ends, or the connection's
// AuthTimeout has passed since the frame came in: an unauthenticated
// connection is closed by then anyway, and a terminal that waited that
// long has given up on the answer. It returns the last attempt's error.
func (s *session) askRegistry(ctx context.Context, call func(ctx context.Context) error) error {
	giveUp := time.Now().Add(s.srv.cfg.AuthTimeout)
	wait := registryRetryMin
	for {
		actx, cancel := context.WithTimeout(ctx, registryAttempt)
		err := call(actx)
		cancel()
		if err == nil || track.IsRejection(err) || ctx.Err() != nil || time.Now().Add(wait).After(giveUp) {
			return err
		}
		s.srv.m.registryRetries.Inc()
		select {
		case <-ctx.Done():
			return err
		case <-time.After(wait):
		}
		wait = min(2*wait, registryRetryMax)
	}
}
