package ingest

import (
	"sync"
	"time"
)

// Frames refused because their connection has not authenticated are all
// counted but only sampled into raw_frames: anyone can open a connection and
// send valid frames from a phone that never registered, and storing each
// one would let them fill the disk (raw_frames is kept for ever by
// default). A sample is enough evidence to see what a misconfigured
// terminal, or a prober, was sending.
const (
	// unauthSamplePerConn is how many refused frames of one
	// unauthenticated connection are kept: its first few say who it claims
	// to be and what it tried.
	unauthSamplePerConn = 5
	// unauthSampleRate and unauthSampleBurst bound what all connections
	// together may keep, whatever the number of connections or reconnects:
	// at one frame a second, under 100,000 rows (a few tens of MB) a day.
	unauthSampleRate  = 1.0
	unauthSampleBurst = 60
)

// sampleBudget is the gateway-wide token bucket of the sample.
type sampleBudget struct {
	mu     sync.Mutex
	tokens float64
	at     time.Time
}

func newSampleBudget() *sampleBudget {
	return &sampleBudget{tokens: unauthSampleBurst, at: time.Now()}
}

// take takes one token if there is one.
func (b *sampleBudget) take(now time.Time) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.tokens = min(unauthSampleBurst, b.tokens+now.Sub(b.at).Seconds()*unauthSampleRate)
	b.at = now
	if b.tokens < 1 {
		return false
	}
	b.tokens--
	return true
}

// sampled reports whether a frame the session refused may be kept: always
// once the connection has authenticated (its terminal is known, and the
// frame is evidence of what it sent), else within the sample. What is not
// kept is counted.
func (s *session) sampled(now time.Time) bool {
	if s.authed {
		return true
	}
	if s.unauthKept >= unauthSamplePerConn {
		s.srv.m.unstoredConn.Inc()
		return false
	}
	if !s.srv.sample.take(now) {
		s.srv.m.unstoredRate.Inc()
		return false
	}
	s.unauthKept++
	return true
}
