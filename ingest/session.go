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

	// wmu serialises writes to conn and guards serial: replies are written
	// by run's goroutine and by the reports' flusher (acks.go).
	wmu sync.Mutex
	// reports are the location reports read and not yet answered.
	reports reportQueue

	// end is the reason to close decided while serving a frame. The first
	// one sticks and makes every later reply a no-op, so that handlers
	// need not pass it back up through each call: the run loop looks at it
	// once per frame.
	end CloseReason

	authed   bool
	term     track.Terminal
	phone    jt808.Phone // as authenticated
	lastRead time.Time
	serial   uint16 // the platform's message serial on this connection; guarded by wmu
	badRun   int
	// unauthKept counts the refused frames kept while unauthenticated.
	unauthKept int
	tokens     float64
	tokensAt   time.Time

	frame jt808.Frame
	dec   jt808.Decoder
	conv  converter
	out   []byte
	body  []byte

	frags     map[fragKey]*fragment
	fragBytes int

	// cmdHdr is the header template of commands to the terminal (version,
	// phone); guarded by wmu. cmdWake wakes the command sender
	// (session_commands.go), started at the first authentication, and
	// cmdStop stops it.
	cmdHdr  jt808.Header
	cmdWake chan struct{}
	cmdStop context.CancelFunc
}

// inbound is one complete message as its handler sees it.
type inbound struct {
	h        *jt808.Header
	raw      []byte    // the un-escaped frame that carried (or completed) it: the evidence kept
	received time.Time // when that frame was read
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
		conv:     converter{ids: s.ids, times: s.cfg.DeviceTimes, refused: s.m.refused},
	}
}

// closeWith closes the connection, remembering the first reason given.
func (s *session) closeWith(r CloseReason) {
	s.mu.Lock()
	if s.reason == closeNone {
		s.reason = r
	}
	s.mu.Unlock()
	s.conn.Close()
}

func (s *session) closeReason(fallback CloseReason) CloseReason {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.reason == closeNone {
		s.reason = fallback
	}
	return s.reason
}

// fail decides to close the connection for r once the current frame has
// been served; the first reason wins.
func (s *session) fail(r CloseReason) {
	if s.end == closeNone {
		s.end = r
	}
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
		s.goOffline()
		// Reports read before the end are still committed (and their
		// answers, on a closed connection, dropped): the session ends once
		// the sink is done with them.
		s.waitReports()
		r := s.closeReason(CloseEOF)
		s.srv.m.closed.WithLabelValues(r.String()).Inc()
		lvl := slog.LevelDebug
		if r.suspicious() {
			lvl = slog.LevelWarn
		}
		s.log.Log(context.Background(), lvl, "connection closed", "reason", r.String(),
			"duration", time.Since(s.opened).Round(time.Millisecond))
	}()
	sp := jt808.NewSplitter(s.conn, s.srv.cfg.MaxFrame)
	var skipped int64
	var deadline time.Time
	timedOut := false
	for s.end == closeNone {
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
				s.onTimeout(now)
			case errors.Is(err, jt808.ErrFrameTooLarge):
				s.srv.m.decodeErrors.WithLabelValues("oversized").Inc()
				s.fail(CloseOversized)
			case errors.Is(err, jt808.ErrBadEscape):
				s.srv.m.decodeErrors.WithLabelValues("escape").Inc()
				s.srv.m.frame(0xffff, "malformed").Inc()
				s.countBad()
			case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
				s.fail(CloseEOF)
			default:
				s.fail(CloseReadError)
			}
			continue
		}
		s.lastRead, timedOut = now, false
		if !s.allow(now) {
			s.fail(CloseFlood)
			continue
		}
		s.handleFrame(ctx, raw, now)
	}
	s.closeWith(s.end)
}

// countBad counts a frame that failed to parse; too many in a row close the
// connection.
func (s *session) countBad() {
	if s.badRun++; s.badRun >= s.srv.cfg.MaxBadFrames {
		s.fail(CloseBadFrames)
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
// idle and authentication limits.
func (s *session) onTimeout(now time.Time) {
	cfg := &s.srv.cfg
	s.expireFragments(now)
	switch {
	case !s.authed && !now.Before(s.opened.Add(cfg.AuthTimeout)):
		s.fail(CloseAuthTime)
	case !now.Before(s.lastRead.Add(cfg.IdleTimeout)):
		s.fail(CloseIdle)
	}
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

// handleFrame parses one un-escaped frame and serves it.
func (s *session) handleFrame(ctx context.Context, raw []byte, received time.Time) {
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
		s.keep(ctx, &inbound{h: hdr, raw: raw, received: received}, disp)
		// A bad checksum is skipped without a reply: the frame cannot be
		// trusted to say whom to answer. A frame that checks out but whose
		// header or length is wrong gets 0x8001 result 2.
		if disp == track.DispMalformed && hdr != nil {
			s.generalReply(hdr, resultMalformed)
		}
		s.countBad()
		return
	}
	s.badRun = 0
	in := &inbound{h: &s.frame.Header, raw: raw, received: received}
	if in.h.ID != jt808.IDRegister && in.h.ID != jt808.IDAuth && !s.admitted(in.h) {
		s.unauthenticated(ctx, in)
		return
	}
	if in.h.Fragmented {
		s.handleFragment(ctx, in)
		return
	}
	s.dispatch(ctx, in)
}

// admitted reports whether the frame comes from the terminal this connection
// authenticated.
func (s *session) admitted(h *jt808.Header) bool {
	if !s.authed {
		return false
	}
	return h.Phone == s.phone || h.Phone.ID() == s.term.Phone
}

// unauthenticated refuses a message that needs an authenticated
// connection: 0x8001 result 1, and no reply to a terminal's own reply.
func (s *session) unauthenticated(ctx context.Context, in *inbound) {
	s.srv.m.frame(in.h.ID, "unauthenticated").Inc()
	s.keep(ctx, in, track.DispUnauthenticated)
	if in.h.ID != jt808.IDTerminalReply {
		s.generalReply(in.h, resultFailure)
	}
}

// dispatch decodes one complete message, s.frame (a single frame, or the
// body reassembled from sub-packages), with the codec's reusable decoder,
// and serves it by its type.
func (s *session) dispatch(ctx context.Context, in *inbound) {
	msg, err := s.dec.Decode(&s.frame)
	// Message ids with the top bit set are the platform's (JT/T 808-2019
	// 表 3): a terminal sending one is as unsupported as an unknown id.
	if errors.Is(err, jt808.ErrUnsupported) || in.h.ID&0x8000 != 0 {
		s.unsupported(ctx, in)
		return
	}
	if err != nil {
		s.malformed(ctx, in, err)
		return
	}
	switch m := msg.(type) {
	case *jt808.Register:
		s.onRegister(ctx, in, m)
	case *jt808.Auth:
		s.onAuth(ctx, in, m)
	case *jt808.Heartbeat:
		s.accept(ctx, in)
	case *jt808.Logout:
		s.onLogout(ctx, in)
	case *jt808.QueryTime:
		s.onQueryTime(ctx, in)
	case *jt808.QueryLocationReply:
		s.recordAnswer(ctx, msg)
		s.onLocations(ctx, in, msg)
	case *jt808.Location, *jt808.BatchLocation:
		s.onLocations(ctx, in, msg)
	case *jt808.TerminalReply, *jt808.QueryParamsReply:
		// Replies to the platform's own commands: stored, recorded
		// against their command, not answered.
		s.srv.m.frame(in.h.ID, "ok").Inc()
		s.keep(ctx, in, track.DispOK)
		s.recordAnswer(ctx, msg)
	default:
		s.unsupported(ctx, in)
	}
}
