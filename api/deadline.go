package api

import (
	"context"
	"net/http"
	"time"
)

// requestTimeout bounds a request's database work: the HTTP server's write
// timeout (60 s) ends an ordinary answer by then anyway, and a primary
// that hangs (a frozen machine) must not hold a handler and its
// connection for the kernel's minutes. Streams that extend their own
// write deadline (a track, an evidence export) get streamTimeout, the
// same ten minutes; the live stream runs as long as the client stays.
const (
	requestTimeout = 60 * time.Second
	streamTimeout  = 10 * time.Minute
)

// longRequests are the routes that do not take requestTimeout: a duration
// of their own, or none (0).
var longRequests = map[string]time.Duration{
	"GET /api/v1/live":                 0,
	"GET /api/v1/vehicles/{id}/track":  streamTimeout,
	"GET /api/v1/vehicles/{id}/export": streamTimeout,
}

// withDeadline returns r with the deadline of its route (pattern).
func withDeadline(r *http.Request, pattern string) (*http.Request, context.CancelFunc) {
	d, ok := longRequests[pattern]
	if !ok {
		d = requestTimeout
	}
	if d == 0 {
		return r, func() {}
	}
	ctx, cancel := context.WithTimeout(r.Context(), d)
	return r.WithContext(ctx), cancel
}
