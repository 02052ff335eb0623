package ingest

import (
	"context"
	"time"

	"fleetmon/ingest/jt808"
	"fleetmon/track"
)

// General reply results (0x8001, JT/T 808-2019 8.1).
const (
	resultOK          = 0
	resultFailure     = 1
	resultMalformed   = 2
	resultUnsupported = 3
)

// keep records the frame of in (whose header may be nil when the frame
// could not be parsed) as evidence with disposition d, without waiting for
// the commit. A frame refused on a connection that has not authenticated is
// kept only within the sample (sampled). The sink refuses only when it is
// stopping: the connection closes.
func (s *session) keep(ctx context.Context, in *inbound, d track.Disposition) {
	if d != track.DispOK && !s.sampled(in.received) {
		return
	}
	if err := s.srv.sink.Record(ctx, s.term.ID, s.rawFrame(in, d)); err != nil {
		s.fail(CloseShutdown)
	}
}

// rawFrame copies the frame of in for raw_frames.
func (s *session) rawFrame(in *inbound, d track.Disposition) track.RawFrame {
	f := track.RawFrame{
		ID:          s.srv.ids.Next(),
		Received:    in.received,
		Frame:       append([]byte(nil), in.raw...),
		Disposition: d,
	}
	if h := in.h; h != nil {
		f.MsgID, f.Serial = uint16(h.ID), h.Serial
		if s.authed && h.Phone == s.phone {
			f.Phone, f.TerminalID = s.term.Phone, s.term.ID
		} else {
			f.Phone = h.Phone.ID()
		}
	} else if len(in.raw) >= 2 {
		f.MsgID = uint16(in.raw[0])<<8 | uint16(in.raw[1])
	}
	return f
}

// accept records the frame and answers 0x8001 result 0.
func (s *session) accept(ctx context.Context, in *inbound) {
	s.srv.m.frame(in.h.ID, "ok").Inc()
	s.keep(ctx, in, track.DispOK)
	s.generalReply(in.h, resultOK)
}

// malformed counts and records a message whose body does not decode, and
// answers 0x8001 result 2; the connection stays. The terminal's own replies
// are not answered, whatever they hold.
func (s *session) malformed(ctx context.Context, in *inbound, err error) {
	s.srv.m.decodeErrors.WithLabelValues("body").Inc()
	s.srv.m.frame(in.h.ID, "malformed").Inc()
	s.log.Info("malformed message", "msg_id", in.h.ID.String(), "phone", in.h.Phone.ID(), "err", err)
	s.keep(ctx, in, track.DispMalformed)
	if in.h.ID != jt808.IDTerminalReply && in.h.ID != jt808.IDQueryParamsReply {
		s.generalReply(in.h, resultMalformed)
	}
}

// unsupported records a message fleetmon does not serve and answers 0x8001
// result 3.
func (s *session) unsupported(ctx context.Context, in *inbound) {
	s.srv.m.frame(in.h.ID, "unsupported").Inc()
	s.keep(ctx, in, track.DispUnsupported)
	s.generalReply(in.h, resultUnsupported)
}

// generalReply answers h with 0x8001.
func (s *session) generalReply(h *jt808.Header, result uint8) {
	rep := jt808.PlatformReply{ReplySerial: h.Serial, ReplyID: h.ID, Result: result}
	s.send(h, jt808.IDPlatformReply, rep.AppendTo(s.body[:0], h.Version), resultLabel(result))
}

// send frames body as message id, in the version and with the phone number
// of the message it answers, and writes it; nothing is sent once the
// connection is closing.
func (s *session) send(to *jt808.Header, id jt808.MsgID, body []byte, result string) {
	s.body = body[:0]
	if s.end != closeNone {
		return
	}
	s.wmu.Lock()
	rh := jt808.Header{ID: id, Version: to.Version, ProtoVer: to.ProtoVer, Phone: to.Phone, Serial: s.serial}
	s.serial++
	s.out = jt808.AppendFrame(s.out[:0], &rh, body)
	_ = s.conn.SetWriteDeadline(time.Now().Add(s.srv.cfg.WriteTimeout))
	_, err := s.conn.Write(s.out)
	s.wmu.Unlock()
	if err != nil {
		s.log.Debug("write reply", "err", err)
		s.fail(CloseWriteError)
		return
	}
	s.srv.m.reply(id, result).Inc()
}

func resultLabel(r uint8) string {
	const digits = "0123456789"
	if r < 10 {
		return digits[r : r+1]
	}
	return "other"
}
