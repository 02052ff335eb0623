package ingest

import (
	"context"

	"fleetmon/ingest/jt808"
)

// keepBatchItems is the most decoded batch items a session keeps between
// messages: a single-frame 0x0704 holds at most 34 (1023-byte body, 30-byte
// items). A reassembled sub-packaged batch can hold thousands of ~1 KiB
// Location values; keeping that capacity for the life of every connection
// would let terminals pin gigabytes.
const keepBatchItems = 64

// onLocations serves a location report (0x0200), an answer to a location
// query (0x0201) or a batch (0x0704): its positions are queued to be
// stored and, once committed, acknowledged (acks.go). Items that cannot be
// stored are refused by the converter's rule, and the message is then
// answered with result 2.
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
	rep := &pendingReport{h: *h, shard: s.term.ID, positions: r.positions, frame: r.frame, refused: r.refused > 0,
		kind: r.kind, received: in.received}
	if !s.queueReport(ctx, rep) {
		s.srv.m.frame(h.ID, "error").Inc()
		s.fail(CloseShutdown)
	}
}
