package ingest

import (
	"context"
	"errors"
	"time"

	"fleetmon/ingest/jt808"
	"fleetmon/track"
)

// keepBatchItems is the most decoded batch items a session keeps between
// messages: a single-frame 0x0704 holds at most 34 (1023-byte body, 30-byte
// items). A reassembled sub-packaged batch can hold thousands of ~1 KiB
// Location values; keeping that capacity for the life of every connection
// would let terminals pin gigabytes.
const keepBatchItems = 64

// onLocations serves a location report (0x0200), an answer to a location
// query (0x0201) or a batch (0x0704): its positions are stored and, once
// committed, acknowledged. Items that cannot be stored are refused by the
// converter's rule, and the message is then answered with result 2.
func (s *session) onLocations(ctx context.Context, in *inbound, msg jt808.Message) {
	defer func() {
		if cap(s.dec.BatchLocation.Items) > keepBatchItems {
			s.dec.BatchLocation.Items = nil
		}
	}()
	h := in.h
	r, _ := s.conv.convert(msg, h, in.raw, s.term, in.received)
	if len(r.positions) == 0 {
		s.malformed(ctx, in, r.why)
		return
	}
	if r.refused > 0 {
		s.srv.m.decodeErrors.WithLabelValues("batch_item").Inc()
		s.log.Info("batch with invalid items", "items", len(r.positions)+r.refused, "invalid", r.refused, "err", r.why)
	}
	if err := s.srv.sink.Write(ctx, s.term.ID, r.positions, []track.RawFrame{r.frame}); err != nil {
		s.writeFailed(h, err)
		return
	}
	if r.refused > 0 {
		s.srv.m.frame(h.ID, "malformed").Inc()
		s.generalReply(h, resultMalformed)
		return
	}
	s.srv.m.frame(h.ID, "ok").Inc()
	s.srv.m.positionsBy(r.kind).Add(float64(len(r.positions)))
	if h.ID == jt808.IDQueryLocationReply {
		return // an answer to the platform's query is not itself answered
	}
	s.generalReply(h, resultOK)
	if s.end == closeNone {
		s.srv.m.ackSeconds.Observe(time.Since(in.received).Seconds())
	}
}

// writeFailed answers a write the database refused with 0x8001 result 1;
// any other failure (shutdown) closes the connection unacknowledged, and the
// terminal resends.
func (s *session) writeFailed(h *jt808.Header, err error) {
	if errors.Is(err, track.ErrRejected) {
		s.srv.m.frame(h.ID, "rejected").Inc()
		s.log.Error("reports rejected by the database", "msg_id", h.ID.String(), "err", err)
		s.generalReply(h, resultFailure)
		return
	}
	s.srv.m.frame(h.ID, "error").Inc()
	s.fail(CloseShutdown)
}
