package ingest

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"runtime/debug"
	"sync"
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

// session is one terminal connection. Its fields below mu are owned by the
// goroutine running run; mu guards only the close reason, which Shutdown
// may set from another goroutine.
type session struct {
	srv    *Server
	conn   net.Conn
	log    *slog.Logger
	opened time.Time

	mu     sync.Mutex
	reason CloseReason

	authed   bool
	term     track.Terminal
	phone    jt808.Phone // as authenticated
	lastRead time.Time
	serial   uint16 // the platform's message serial on this connection
	badRun   int
	tokens   float64
	tokensAt time.Time

	frame jt808.Frame
	loc   jt808.Location
	batch jt808.BatchLocation
	items []byte
	out   []byte
	body  []byte

	frags     map[fragKey]*fragment
	fragBytes int
}

func newSession(s *Server, c net.Conn) *session {
	now := time.Now()
	return &session{
		srv:      s,
		conn:     c,
		log:      s.log.With("remote", c.RemoteAddr().String()),
		opened:   now,
		lastRead: now,
		tokens:   float64(s.cfg.FrameBurst),
		tokensAt: now,
	}
}

// closeWith closes the connection, remembering the first reason given.
func (s *session) closeWith(r CloseReason) {
	s.mu.Lock()
	if s.reason == "" {
		s.reason = r
	}
	s.mu.Unlock()
	s.conn.Close()
}

func (s *session) closeReason(fallback CloseReason) CloseReason {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.reason == "" {
		s.reason = fallback
	}
	return s.reason
}

// run serves the connection until it ends. Nothing a terminal sends may
// crash the server: a panic closes this connection only, and is logged.
func (s *session) run(ctx context.Context) {
	defer func() {
		if v := recover(); v != nil {
			s.log.Error("session panic", "panic", v, "stack", string(debug.Stack()))
			s.closeWith(ClosePanic)
		}
		s.conn.Close()
		r := s.closeReason(CloseEOF)
		s.srv.m.closed.WithLabelValues(string(r)).Inc()
		lvl := slog.LevelDebug
		switch r {
		case CloseOversized, CloseFlood, CloseBadFrames, ClosePanic, CloseAuthTime:
			lvl = slog.LevelWarn
		}
		s.log.Log(context.Background(), lvl, "connection closed", "reason", r,
			"duration", time.Since(s.opened).Round(time.Millisecond))
	}()
	sp := jt808.NewSplitter(s.conn, s.srv.cfg.MaxFrame)
	var skipped int64
	var deadline time.Time
	timedOut := false
	for {
		// Moving the deadline is a syscall's worth of work: move it only
		// when it must come earlier, or has fallen a second behind (an
		// early wake-up just finds nothing due and sets it again).
		if d := s.nextDeadline(); timedOut || d.Before(deadline) || d.Sub(deadline) > time.Second {
			_ = s.conn.SetReadDeadline(d)
			deadline = d
		}
		raw, err := sp.Next()
		if n := sp.Skipped(); n > skipped {
			s.srv.m.skippedBytes.Add(float64(n - skipped))
			skipped = n
		}
		now := time.Now()
		if err != nil {
			var ne net.Error
			switch {
			case errors.As(err, &ne) && ne.Timeout():
				timedOut = true
				if r := s.onTimeout(now); r != "" {
					s.closeWith(r)
					return
				}
				continue
			case errors.Is(err, jt808.ErrFrameTooLarge):
				s.srv.m.decodeErrors.WithLabelValues("oversized").Inc()
				s.closeWith(CloseOversized)
				return
			case errors.Is(err, jt808.ErrBadEscape):
				s.srv.m.decodeErrors.WithLabelValues("escape").Inc()
				s.srv.m.frame(0xffff, "malformed").Inc()
				if s.badRun++; s.badRun >= s.srv.cfg.MaxBadFrames {
					s.closeWith(CloseBadFrames)
					return
				}
				continue
			case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
				s.closeWith(CloseEOF)
				return
			default:
				s.closeWith(CloseReadError)
				return
			}
		}
		s.lastRead, timedOut = now, false
		if !s.allow(now) {
			s.closeWith(CloseFlood)
			return
		}
		if r := s.handleFrame(ctx, raw, now); r != "" {
			s.closeWith(r)
			return
		}
	}
}

// nextDeadline is the earliest of the idle timeout, the authentication
// timeout and the next sub-package timeout.
func (s *session) nextDeadline() time.Time {
	cfg := &s.srv.cfg
	d := s.lastRead.Add(cfg.IdleTimeout)
	if !s.authed {
		if a := s.opened.Add(cfg.AuthTimeout); a.Before(d) {
			d = a
		}
	}
	for _, f := range s.frags {
		if t := f.deadline(cfg.FragmentTimeout); t.Before(d) {
			d = t
		}
	}
	return d
}

// onTimeout handles a read deadline: sub-package timeouts first, then the
// idle and authentication limits. It returns a reason to close, or "".
func (s *session) onTimeout(now time.Time) CloseReason {
	cfg := &s.srv.cfg
	if r := s.expireFragments(now); r != "" {
		return r
	}
	if !s.authed && !now.Before(s.opened.Add(cfg.AuthTimeout)) {
		return CloseAuthTime
	}
	if !now.Before(s.lastRead.Add(cfg.IdleTimeout)) {
		return CloseIdle
	}
	return ""
}

// allow takes a token from the connection's frame bucket.
func (s *session) allow(now time.Time) bool {
	cfg := &s.srv.cfg
	s.tokens = min(float64(cfg.FrameBurst), s.tokens+now.Sub(s.tokensAt).Seconds()*cfg.MaxFrameRate)
	s.tokensAt = now
	if s.tokens < 1 {
		return false
	}
	s.tokens--
	return true
}

// rawFrame copies a received frame for raw_frames.
func (s *session) rawFrame(raw []byte, h *jt808.Header, received time.Time, d track.Disposition) track.RawFrame {
	f := track.RawFrame{
		ID:          s.srv.ids.Next(),
		Received:    received,
		Frame:       append([]byte(nil), raw...),
		Disposition: d,
	}
	if h != nil {
		f.MsgID, f.Serial = uint16(h.ID), h.Serial
		if s.authed && h.Phone == s.phone {
			f.Phone, f.TerminalID = s.term.Phone, s.term.ID
		} else {
			f.Phone = h.Phone.ID()
		}
	} else if len(raw) >= 2 {
		f.MsgID = uint16(raw[0])<<8 | uint16(raw[1])
	}
	return f
}

// record stores a frame without waiting for the commit.
func (s *session) record(ctx context.Context, f track.RawFrame) CloseReason {
	if err := s.srv.sink.Record(ctx, s.term.ID, f); err != nil {
		return CloseShutdown
	}
	return ""
}

// handleFrame parses one un-escaped frame and serves it. It returns a reason
// to close the connection, or "".
func (s *session) handleFrame(ctx context.Context, raw []byte, received time.Time) CloseReason {
	m := s.srv.m
	if err := jt808.ParseFrame(raw, &s.frame); err != nil {
		var hdr *jt808.Header
		var h jt808.Header
		if _, herr := h.Decode(raw); herr == nil {
			hdr = &h
		}
		disp, kind := track.DispMalformed, "frame"
		if errors.Is(err, jt808.ErrChecksum) {
			disp, kind = track.DispChecksum, "checksum"
		}
		id := jt808.MsgID(0xffff)
		if hdr != nil {
			id = hdr.ID
		}
		m.decodeErrors.WithLabelValues(kind).Inc()
		m.frame(id, string(disp)).Inc()
		if r := s.record(ctx, s.rawFrame(raw, hdr, received, disp)); r != "" {
			return r
		}
		// A bad checksum is skipped without a reply: the frame cannot be
		// trusted to say whom to answer. A frame that checks out but whose
		// header or length is wrong gets 0x8001 result 2.
		if disp == track.DispMalformed && hdr != nil {
			if r := s.generalReply(hdr, resultMalformed); r != "" {
				return r
			}
		}
		if s.badRun++; s.badRun >= s.srv.cfg.MaxBadFrames {
			return CloseBadFrames
		}
		return ""
	}
	s.badRun = 0
	h := &s.frame.Header
	if h.ID != jt808.IDRegister && h.ID != jt808.IDAuth && !s.admitted(h) {
		m.frame(h.ID, "unauthenticated").Inc()
		if r := s.record(ctx, s.rawFrame(raw, h, received, track.DispUnauthenticated)); r != "" {
			return r
		}
		if h.ID == jt808.IDTerminalReply {
			return ""
		}
		return s.generalReply(h, resultFailure)
	}
	if h.Fragmented {
		return s.handleFragment(ctx, raw, received)
	}
	return s.dispatch(ctx, h, s.frame.Body, raw, received)
}

// admitted reports whether the frame comes from the terminal this connection
// authenticated.
func (s *session) admitted(h *jt808.Header) bool {
	if !s.authed {
		return false
	}
	return h.Phone == s.phone || h.Phone.ID() == s.term.Phone
}

// dispatch serves one complete message: body is its (reassembled) body and
// raw the frame that completed it.
func (s *session) dispatch(ctx context.Context, h *jt808.Header, body, raw []byte, received time.Time) CloseReason {
	switch h.ID {
	case jt808.IDRegister:
		return s.handleRegister(ctx, h, body, raw, received)
	case jt808.IDAuth:
		return s.handleAuth(ctx, h, body, raw, received)
	case jt808.IDHeartbeat:
		return s.simple(ctx, h, raw, received, resultOK)
	case jt808.IDLogout:
		if err := s.srv.registry.Deregister(ctx, s.term.ID); err != nil {
			if ctx.Err() != nil {
				return CloseShutdown
			}
			s.log.Error("deregister", "err", err)
			s.srv.m.frame(h.ID, "error").Inc()
			return ""
		}
		if r := s.simple(ctx, h, raw, received, resultOK); r != "" {
			return r
		}
		s.authed = false
		return ""
	case jt808.IDQueryTime:
		if r := s.record(ctx, s.rawFrame(raw, h, received, track.DispOK)); r != "" {
			return r
		}
		s.srv.m.frame(h.ID, "ok").Inc()
		rep := jt808.QueryTimeReply{Time: time.Now().UTC()}
		return s.send(h, jt808.IDQueryTimeReply, rep.AppendTo(s.body[:0], h.Version), "0")
	case jt808.IDLocation, jt808.IDQueryLocationReply:
		return s.handleLocation(ctx, h, body, raw, received)
	case jt808.IDBatchLocation:
		return s.handleBatch(ctx, h, body, raw, received)
	case jt808.IDTerminalReply, jt808.IDQueryParamsReply:
		// Replies to the platform's own commands: stored, not answered.
		s.srv.m.frame(h.ID, "ok").Inc()
		return s.record(ctx, s.rawFrame(raw, h, received, track.DispOK))
	default:
		s.srv.m.frame(h.ID, "unsupported").Inc()
		if r := s.record(ctx, s.rawFrame(raw, h, received, track.DispUnsupported)); r != "" {
			return r
		}
		return s.generalReply(h, resultUnsupported)
	}
}

// simple records the frame and answers 0x8001 with result.
func (s *session) simple(ctx context.Context, h *jt808.Header, raw []byte, received time.Time, result uint8) CloseReason {
	s.srv.m.frame(h.ID, "ok").Inc()
	if r := s.record(ctx, s.rawFrame(raw, h, received, track.DispOK)); r != "" {
		return r
	}
	return s.generalReply(h, result)
}

// malformed counts and records a frame whose body does not decode, and
// answers 0x8001 result 2; the connection stays.
func (s *session) malformed(ctx context.Context, h *jt808.Header, raw []byte, received time.Time, err error) CloseReason {
	s.srv.m.decodeErrors.WithLabelValues("body").Inc()
	s.srv.m.frame(h.ID, "malformed").Inc()
	s.log.Info("malformed message", "msg_id", h.ID.String(), "phone", h.Phone.ID(), "err", err)
	if r := s.record(ctx, s.rawFrame(raw, h, received, track.DispMalformed)); r != "" {
		return r
	}
	return s.generalReply(h, resultMalformed)
}

func (s *session) handleRegister(ctx context.Context, h *jt808.Header, body, raw []byte, received time.Time) CloseReason {
	var reg jt808.Register
	if err := reg.Decode(body, h); err != nil {
		return s.malformed(ctx, h, raw, received, err)
	}
	year := 2013
	switch reg.Layout {
	case jt808.Layout2011:
		year = 2011
	case jt808.Layout2019:
		year = 2019
	}
	phone := h.Phone.ID()
	result, code, err := s.srv.registry.Register(ctx, track.Registration{
		Phone: phone, ProtocolVersion: year, Province: reg.Province, City: reg.City,
		Maker: reg.Maker, Model: reg.Model, TerminalIdent: reg.TerminalID,
		PlateColor: reg.PlateColor, Plate: reg.Plate,
	}, s.srv.cfg.OpenRegistration)
	if err != nil {
		// No reply: the terminal retries registration, as it does on a timeout.
		if ctx.Err() != nil {
			return CloseShutdown
		}
		s.srv.m.frame(h.ID, "error").Inc()
		s.log.Error("register", "phone", phone, "err", err)
		return s.record(ctx, s.rawFrame(raw, h, received, track.DispOK))
	}
	disp := track.DispOK
	if result != track.RegisterOK {
		disp = track.DispRejected
		s.log.Info("registration refused", "phone", phone, "result", result, "plate", reg.Plate)
	}
	s.srv.m.frame(h.ID, string(disp)).Inc()
	s.srv.m.registrations.WithLabelValues(resultLabel(uint8(result))).Inc()
	if r := s.record(ctx, s.rawFrame(raw, h, received, disp)); r != "" {
		return r
	}
	rep := jt808.RegisterReply{ReplySerial: h.Serial, Result: uint8(result), AuthCode: code}
	return s.send(h, jt808.IDRegisterReply, rep.AppendTo(s.body[:0], h.Version), resultLabel(uint8(result)))
}

func (s *session) handleAuth(ctx context.Context, h *jt808.Header, body, raw []byte, received time.Time) CloseReason {
	var a jt808.Auth
	if err := a.Decode(body, h); err != nil {
		return s.malformed(ctx, h, raw, received, err)
	}
	year := 2013
	if h.Version == jt808.Version2019 {
		year = 2019
	}
	phone := h.Phone.ID()
	t, ok, err := s.srv.registry.Authenticate(ctx, track.Authentication{Phone: phone, Code: a.Code,
		ProtocolVersion: year, IMEI: a.IMEI, SoftwareVersion: a.SoftwareVersion})
	if err != nil {
		if ctx.Err() != nil {
			return CloseShutdown
		}
		s.srv.m.frame(h.ID, "error").Inc()
		s.log.Error("authenticate", "phone", phone, "err", err)
		return s.record(ctx, s.rawFrame(raw, h, received, track.DispOK))
	}
	result := uint8(resultOK)
	disp := track.DispOK
	if ok {
		s.authed, s.term, s.phone = true, t, h.Phone
		s.log = s.srv.log.With("remote", s.conn.RemoteAddr().String(), "phone", t.Phone)
		s.srv.m.authentications.WithLabelValues("ok").Inc()
	} else {
		result, disp = resultFailure, track.DispRejected
		s.srv.m.authentications.WithLabelValues("failed").Inc()
		s.log.Info("authentication failed", "phone", phone)
	}
	s.srv.m.frame(h.ID, string(disp)).Inc()
	if r := s.record(ctx, s.rawFrame(raw, h, received, disp)); r != "" {
		return r
	}
	return s.generalReply(h, result)
}

func (s *session) handleLocation(ctx context.Context, h *jt808.Header, body, raw []byte, received time.Time) CloseReason {
	s.loc.Reset()
	var err error
	if h.ID == jt808.IDQueryLocationReply {
		// Rare (an answer to 0x8201): a fresh value is fine.
		var rep jt808.QueryLocationReply
		if err = rep.Decode(body, h); err == nil {
			s.loc = rep.Location
		}
	} else {
		err = s.loc.Decode(body, h)
	}
	if err != nil {
		return s.malformed(ctx, h, raw, received, err)
	}
	ps := make([]track.Position, 1)
	if s.items, err = toPosition(&s.loc, &ps[0], s.items); err != nil {
		return s.malformed(ctx, h, raw, received, err)
	}
	f := s.rawFrame(raw, h, received, track.DispOK)
	s.own(&ps[0], received, f.ID, false)
	if r := s.store(ctx, h, ps, f, "live"); r != "" || h.ID == jt808.IDQueryLocationReply {
		return r
	}
	return s.ackStored(h, received)
}

// keepBatchItems is the most decoded batch items a session keeps between
// messages: a single-frame 0x0704 holds at most 34 (1023-byte body, 30-byte
// items). A reassembled sub-packaged batch can hold thousands of ~1 KiB
// Location values; keeping that capacity for the life of every connection
// would let terminals pin gigabytes.
const keepBatchItems = 64

func (s *session) handleBatch(ctx context.Context, h *jt808.Header, body, raw []byte, received time.Time) CloseReason {
	defer func() {
		if cap(s.batch.Items) > keepBatchItems {
			s.batch.Items = nil
		}
	}()
	if err := s.batch.Decode(body, h); err != nil {
		return s.malformed(ctx, h, raw, received, err)
	}
	backfill := s.batch.Type == jt808.BatchBlindZone
	f := s.rawFrame(raw, h, received, track.DispOK)
	ps := make([]track.Position, 0, len(s.batch.Items))
	var bad error
	for i := range s.batch.Items {
		var p track.Position
		var err error
		if s.items, err = toPosition(&s.batch.Items[i], &p, s.items); err != nil {
			bad = err
			continue
		}
		s.own(&p, received, f.ID, backfill)
		ps = append(ps, p)
	}
	kind := "batch"
	if backfill {
		kind = "backfill"
	}
	if bad != nil {
		// Store what is valid, and answer result 2 for the message: an
		// acknowledgement would claim the bad item was stored.
		f.Disposition = track.DispMalformed
		s.srv.m.decodeErrors.WithLabelValues("batch_item").Inc()
		s.log.Info("batch with invalid items", "items", len(s.batch.Items), "invalid", len(s.batch.Items)-len(ps), "err", bad)
		if err := s.srv.sink.Write(ctx, s.term.ID, ps, []track.RawFrame{f}); err != nil {
			return s.writeFailed(h, err)
		}
		s.srv.m.frame(h.ID, "malformed").Inc()
		return s.generalReply(h, resultMalformed)
	}
	if r := s.store(ctx, h, ps, f, kind); r != "" {
		return r
	}
	return s.ackStored(h, received)
}

// own fills in what a position knows from the session rather than the wire.
func (s *session) own(p *track.Position, received time.Time, frame track.FrameID, backfill bool) {
	p.VehicleID, p.TerminalID = s.term.VehicleID, s.term.ID
	p.Received, p.FrameID, p.Backfill = received, frame, backfill
}

// store writes positions and their frame and waits for the commit.
func (s *session) store(ctx context.Context, h *jt808.Header, ps []track.Position, f track.RawFrame, kind string) CloseReason {
	if err := s.srv.sink.Write(ctx, s.term.ID, ps, []track.RawFrame{f}); err != nil {
		return s.writeFailed(h, err)
	}
	s.srv.m.frame(h.ID, "ok").Inc()
	s.srv.m.positionsBy(kind).Add(float64(len(ps)))
	return ""
}

// writeFailed answers a write the database refused with 0x8001 result 1;
// any other failure (shutdown) closes the connection unacknowledged, and the
// terminal resends.
func (s *session) writeFailed(h *jt808.Header, err error) CloseReason {
	if errors.Is(err, track.ErrRejected) {
		s.srv.m.frame(h.ID, "rejected").Inc()
		s.log.Error("reports rejected by the database", "msg_id", h.ID.String(), "err", err)
		return s.generalReply(h, resultFailure)
	}
	s.srv.m.frame(h.ID, "error").Inc()
	return CloseShutdown
}

func (s *session) ackStored(h *jt808.Header, received time.Time) CloseReason {
	if r := s.generalReply(h, resultOK); r != "" {
		return r
	}
	s.srv.m.ackSeconds.Observe(time.Since(received).Seconds())
	return ""
}

// generalReply answers h with 0x8001.
func (s *session) generalReply(h *jt808.Header, result uint8) CloseReason {
	rep := jt808.PlatformReply{ReplySerial: h.Serial, ReplyID: h.ID, Result: result}
	return s.send(h, jt808.IDPlatformReply, rep.AppendTo(s.body[:0], h.Version), resultLabel(result))
}

// send frames body as message id, in the version and with the phone number
// of the message it answers, and writes it.
func (s *session) send(to *jt808.Header, id jt808.MsgID, body []byte, result string) CloseReason {
	s.body = body[:0]
	rh := jt808.Header{ID: id, Version: to.Version, ProtoVer: to.ProtoVer, Phone: to.Phone, Serial: s.serial}
	s.serial++
	s.out = jt808.AppendFrame(s.out[:0], &rh, body)
	_ = s.conn.SetWriteDeadline(time.Now().Add(s.srv.cfg.WriteTimeout))
	if _, err := s.conn.Write(s.out); err != nil {
		s.log.Debug("write reply", "err", err)
		return CloseWriteError
	}
	s.srv.m.reply(id, result).Inc()
	return ""
}

func resultLabel(r uint8) string {
	const digits = "0123456789"
	if r < 10 {
		return digits[r : r+1]
	}
	return "other"
}
