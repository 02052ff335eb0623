package ingest

import (
	"context"
	"errors"
	"sync"
	"time"

	"fleetmon/ingest/jt808"
	"fleetmon/track"
)

// A connection's location reports are stored and acknowledged off the
// goroutine that reads them. Waiting for each report's commit before
// reading the next allowed one report per connection per commit: once the
// database took longer to commit than a terminal took to report, its
// reports queued in the socket without bound, and their resends with them.
// Now the reading goroutine queues each converted report and reads on; a
// flusher goroutine, started when reports are queued and gone once none
// are, writes all the reports queued at that moment in one request to the
// sink and, once that request is committed, answers them all in one write.
// A report is still acknowledged only after its commit.

// maxInFlight bounds the reports of one connection read but not yet
// answered. Beyond it the reading goroutine waits, so the socket and TCP
// push back on the terminal, as they did when one report was in flight.
const maxInFlight = 64

// maxRequestPositions bounds the positions of one request a connection's
// flusher makes of its queued reports.
const maxRequestPositions = 200

// pendingReport is one location report waiting for its commit and answer.
type pendingReport struct {
	h         jt808.Header // copied: the session's frame is reused
	shard     int64        // the terminal's id when it was read
	positions []track.Position
	frame     track.RawFrame
	refused   bool
	kind      string
	received  time.Time
}

// reportQueue holds a connection's reports between its reading goroutine
// and its flusher.
type reportQueue struct {
	slots chan struct{} // one per report in flight
	wg    sync.WaitGroup

	mu      sync.Mutex
	queue   []*pendingReport
	running bool // a flusher is running and will take what is queued
}

// queueReport hands r to the flusher, waiting while maxInFlight reports are
// in flight. It reports false when ctx ended first (the server is shutting
// down).
func (s *session) queueReport(ctx context.Context, r *pendingReport) bool {
	q := &s.reports
	if q.slots == nil {
		q.slots = make(chan struct{}, maxInFlight)
	}
	select {
	case q.slots <- struct{}{}:
	case <-ctx.Done():
		return false
	}
	q.mu.Lock()
	q.queue = append(q.queue, r)
	start := !q.running
	q.running = true
	q.mu.Unlock()
	if start {
		q.wg.Add(1)
		go s.flushReports(ctx)
	}
	return true
}

// waitReports waits until every queued report has been written and
// answered (or refused, at shutdown).
func (s *session) waitReports() { s.reports.wg.Wait() }

// flushReports stores and answers queued reports until none are left.
func (s *session) flushReports(ctx context.Context) {
	q := &s.reports
	defer q.wg.Done()
	var batch []*pendingReport
	var out []byte
	for {
		q.mu.Lock()
		if len(q.queue) == 0 {
			q.running = false
			q.mu.Unlock()
			return
		}
		// At most maxRequestPositions a request (but at least one report):
		// one connection's back-log must not swell the writer's batch, in
		// which every other terminal's reports wait too.
		n, positions := 0, 0
		for n < len(q.queue) && (n == 0 || positions+len(q.queue[n].positions) <= maxRequestPositions) {
			positions += len(q.queue[n].positions)
			n++
		}
		batch = append(batch[:0], q.queue[:n]...)
		rest := copy(q.queue, q.queue[n:])
		clear(q.queue[rest:])
		q.queue = q.queue[:rest]
		q.mu.Unlock()
		out = s.storeAndAnswer(ctx, batch, out[:0])
		for range batch {
			<-q.slots
		}
		clear(batch)
	}
}

// storeAndAnswer writes batch to the sink in one request and answers each
// report in one write to the connection. When the database rejects the
// request, each report is written alone so that only the offending one is
// refused.
func (s *session) storeAndAnswer(ctx context.Context, batch []*pendingReport, out []byte) []byte {
	errs := make([]error, len(batch))
	if len(batch) == 1 {
		r := batch[0]
		errs[0] = s.srv.sink.Write(ctx, r.shard, r.positions, []track.RawFrame{r.frame})
	} else {
		n := 0
		for _, r := range batch {
			n += len(r.positions)
		}
		positions := make([]track.Position, 0, n)
		frames := make([]track.RawFrame, 0, len(batch))
		for _, r := range batch {
			positions = append(positions, r.positions...)
			frames = append(frames, r.frame)
		}
		err := s.srv.sink.Write(ctx, batch[0].shard, positions, frames)
		for i, r := range batch {
			if errors.Is(err, track.ErrRejected) {
				errs[i] = s.srv.sink.Write(ctx, r.shard, r.positions, []track.RawFrame{r.frame})
			} else {
				errs[i] = err
			}
		}
	}
	m := s.srv.m
	answered := make([]*pendingReport, 0, len(batch))
	s.wmu.Lock()
	defer s.wmu.Unlock()
	for i, r := range batch {
		h := &r.h
		switch err := errs[i]; {
		case errors.Is(err, track.ErrRejected):
			m.frame(h.ID, "rejected").Inc()
			s.srv.log.Error("reports rejected by the database", "phone", r.frame.Phone, "msg_id", h.ID.String(), "err", err)
			out = s.appendReply(out, h, resultFailure)
		case err != nil:
			// Shutting down: the connection closes with these reports
			// unacknowledged, and the terminal sends them again.
			m.frame(h.ID, "error").Inc()
			s.closeWith(CloseShutdown)
			return out
		case r.refused:
			m.frame(h.ID, "malformed").Inc()
			out = s.appendReply(out, h, resultMalformed)
		default:
			m.frame(h.ID, "ok").Inc()
			m.positionsBy(r.kind).Add(float64(len(r.positions)))
			if h.ID != jt808.IDQueryLocationReply { // an answer to the platform's query is not itself answered
				out = s.appendReply(out, h, resultOK)
				answered = append(answered, r)
			}
		}
	}
	if len(out) == 0 || s.closing() {
		return out
	}
	_ = s.conn.SetWriteDeadline(time.Now().Add(s.srv.cfg.WriteTimeout))
	if _, err := s.conn.Write(out); err != nil {
		s.srv.log.Debug("write replies", "phone", batch[0].frame.Phone, "err", err)
		s.closeWith(CloseWriteError)
		return out
	}
	now := time.Now()
	for _, r := range answered {
		m.ackSeconds.Observe(now.Sub(r.received).Seconds())
	}
	for i, r := range batch {
		switch {
		case errors.Is(errs[i], track.ErrRejected):
			m.reply(jt808.IDPlatformReply, resultLabel(resultFailure)).Inc()
		case r.refused:
			m.reply(jt808.IDPlatformReply, resultLabel(resultMalformed)).Inc()
		case r.h.ID != jt808.IDQueryLocationReply:
			m.reply(jt808.IDPlatformReply, resultLabel(resultOK)).Inc()
		}
	}
	return out
}

// appendReply appends a 0x8001 answering h to out; the caller holds wmu,
// which guards the platform's serial.
func (s *session) appendReply(out []byte, h *jt808.Header, result uint8) []byte {
	var body [5]byte
	rep := jt808.PlatformReply{ReplySerial: h.Serial, ReplyID: h.ID, Result: result}
	rh := jt808.Header{ID: jt808.IDPlatformReply, Version: h.Version, ProtoVer: h.ProtoVer, Phone: h.Phone, Serial: s.serial}
	s.serial++
	return jt808.AppendFrame(out, &rh, rep.AppendTo(body[:0], h.Version))
}

// closing reports whether the connection is being closed.
func (s *session) closing() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.reason != closeNone
}
