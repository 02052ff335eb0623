package ingest

import (
	"context"
	"time"

	"fleetmon/ingest/jt808"
	"fleetmon/track"
)

// maxPendingMessages bounds the sub-packaged messages one connection may
// have open at once; terminals send one at a time.
const maxPendingMessages = 4

// fragKey identifies a sub-packaged message: its id and the serial of its
// first package (packages of one message carry consecutive serials,
// JT/T 808-2019 4.4.3).
type fragKey struct {
	id   jt808.MsgID
	base uint16
}

// fragment collects the packages of one sub-packaged message.
type fragment struct {
	header    jt808.Header // of the first package seen
	parts     [][]byte     // by 0-based package index; nil while missing
	have      int
	bytes     int
	updated   time.Time
	requested bool // 0x8003 sent for the missing packages
}

// deadline is when the fragment next needs attention: after timeout, ask
// for the missing packages; after another timeout, give up.
func (f *fragment) deadline(timeout time.Duration) time.Time {
	if f.requested {
		return f.updated.Add(2 * timeout)
	}
	return f.updated.Add(timeout)
}

func (f *fragment) missing() []uint16 {
	var ids []uint16
	for i, p := range f.parts {
		if p == nil {
			ids = append(ids, uint16(i+1))
		}
	}
	return ids
}

// handleFragment stores one package of a sub-packaged message. Each package
// is answered with 0x8001 as it arrives; the package that completes the
// message is answered once the whole message has been served (for a
// location batch: stored), with that message's reply.
func (s *session) handleFragment(ctx context.Context, in *inbound) {
	h := *in.h
	m := s.srv.m
	if h.PkgTotal == 0 || h.PkgIndex == 0 || h.PkgIndex > h.PkgTotal {
		s.malformed(ctx, in, errBadPackage)
		return
	}
	m.fragments.WithLabelValues("received").Inc()
	key := fragKey{h.ID, h.Serial - (h.PkgIndex - 1)}
	f := s.frags[key]
	if f == nil {
		if len(s.frags) >= maxPendingMessages || int(h.PkgTotal) > s.srv.cfg.MaxFragmentBytes/16 {
			s.rejectFragment(ctx, in)
			return
		}
		f = &fragment{header: h, parts: make([][]byte, h.PkgTotal)}
		if s.frags == nil {
			s.frags = map[fragKey]*fragment{}
		}
		s.frags[key] = f
	}
	if int(h.PkgTotal) != len(f.parts) {
		s.malformed(ctx, in, errBadPackage)
		return
	}
	i := int(h.PkgIndex) - 1
	body := s.frame.Body
	if f.parts[i] == nil {
		if s.fragBytes+len(body) > s.srv.cfg.MaxFragmentBytes {
			s.rejectFragment(ctx, in)
			return
		}
		f.parts[i] = append(make([]byte, 0, len(body)), body...)
		f.have++
		f.bytes += len(body)
		s.fragBytes += len(body)
	}
	f.updated = in.received
	if f.have < len(f.parts) {
		s.keep(ctx, in, track.DispOK)
		s.generalReply(in.h, resultOK)
		return
	}
	// Complete: serve the whole message as if it came in one frame, answered
	// under the serial of the package that completed it.
	delete(s.frags, key)
	s.fragBytes -= f.bytes
	whole := make([]byte, 0, f.bytes)
	for _, p := range f.parts {
		whole = append(whole, p...)
	}
	m.fragments.WithLabelValues("assembled").Inc()
	h.Fragmented, h.PkgTotal, h.PkgIndex = false, 0, 0
	h.BodyLen = uint16(min(len(whole), 0xffff))
	s.frame = jt808.Frame{Header: h, Body: whole}
	s.dispatch(ctx, &inbound{h: &s.frame.Header, raw: in.raw, received: in.received})
}

// rejectFragment refuses a package that would exceed the connection's
// memory bound: 0x8001 result 1, so the terminal may try again later.
func (s *session) rejectFragment(ctx context.Context, in *inbound) {
	s.srv.m.fragments.WithLabelValues("rejected").Inc()
	s.srv.m.frame(in.h.ID, "rejected").Inc()
	s.keep(ctx, in, track.DispRejected)
	s.generalReply(in.h, resultFailure)
}

// expireFragments asks once for the missing packages of a stalled message
// (0x8003 补传分包请求) and drops it when they still do not come.
func (s *session) expireFragments(now time.Time) {
	timeout := s.srv.cfg.FragmentTimeout
	for key, f := range s.frags {
		if now.Before(f.deadline(timeout)) {
			continue
		}
		if !f.requested {
			f.requested = true
			f.updated = now
			s.srv.m.fragments.WithLabelValues("resend_requested").Inc()
			req := jt808.ResendRequest{OrigSerial: key.base, IDs: f.missing()}
			s.send(&f.header, jt808.IDResendRequest, req.AppendTo(s.body[:0], f.header.Version), "0")
			continue
		}
		s.srv.m.fragments.WithLabelValues("expired").Inc()
		s.log.Info("sub-packaged message expired", "msg_id", key.id.String(), "have", f.have, "total", len(f.parts))
		s.fragBytes -= f.bytes
		delete(s.frags, key)
	}
}

type packageError string

func (e packageError) Error() string { return string(e) }

const errBadPackage = packageError("ingest: package index out of range or total changed")
