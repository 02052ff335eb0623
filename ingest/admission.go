package ingest

import (
	"context"
	"time"

	"fleetmon/ingest/jt808"
	"fleetmon/track"
)

// onRegister serves 0x0100: the registry admits the terminal (or not) and
// the answer is 0x8100 with an auth code.
func (s *session) onRegister(ctx context.Context, in *inbound, reg *jt808.Register) {
	h := in.h
	year := 2013
	switch reg.Layout {
	case jt808.Layout2011:
		year = 2011
	case jt808.Layout2019:
		year = 2019
	}
	phone := h.Phone.ID()
	var result track.RegisterResult
	var code string
	err := s.askRegistry(ctx, func(ctx context.Context) (err error) {
		result, code, err = s.srv.registry.Register(ctx, track.Registration{
			Phone: phone, ProtocolVersion: year, Province: reg.Province, City: reg.City,
			Maker: reg.Maker, Model: reg.Model, TerminalIdent: reg.TerminalID,
			PlateColor: reg.PlateColor, Plate: reg.Plate,
		}, s.srv.cfg.OpenRegistration)
		return err
	})
	if err != nil {
		s.registryFailed(ctx, in, "register", err)
		return
	}
	disp := track.DispOK
	if result != track.RegisterOK {
		disp = track.DispRejected
		s.log.Info("registration refused", "phone", phone, "result", result, "plate", reg.Plate)
	}
	s.srv.m.frame(h.ID, string(disp)).Inc()
	s.srv.m.registrations.WithLabelValues(resultLabel(uint8(result))).Inc()
	s.keep(ctx, in, disp)
	rep := jt808.RegisterReply{ReplySerial: h.Serial, Result: uint8(result), AuthCode: code}
	s.send(h, jt808.IDRegisterReply, rep.AppendTo(s.body[:0], h.Version), resultLabel(uint8(result)))
}

// onAuth serves 0x0102: a matching auth code admits the connection.
func (s *session) onAuth(ctx context.Context, in *inbound, a *jt808.Auth) {
	h := in.h
	year := 2013
	if h.Version == jt808.Version2019 {
		year = 2019
	}
	phone := h.Phone.ID()
	var t track.Terminal
	var ok bool
	err := s.askRegistry(ctx, func(ctx context.Context) (err error) {
		t, ok, err = s.srv.registry.Authenticate(ctx, track.Authentication{Phone: phone, Code: a.Code,
			ProtocolVersion: year, IMEI: a.IMEI, SoftwareVersion: a.SoftwareVersion})
		return err
	})
	if err != nil {
		s.registryFailed(ctx, in, "authenticate", err)
		return
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
	s.keep(ctx, in, disp)
	s.generalReply(h, result)
	if ok {
		s.goOnline(ctx, h)
	}
}

// registryFailed handles a registry that could not answer, after
// askRegistry's attempts: at shutdown the connection closes; otherwise the
// frame is kept and not answered, and the terminal tries again, as it does
// on a timeout.
func (s *session) registryFailed(ctx context.Context, in *inbound, what string, err error) {
	if ctx.Err() != nil {
		s.fail(CloseShutdown)
		return
	}
	s.srv.m.frame(in.h.ID, "error").Inc()
	s.log.Error(what, "phone", in.h.Phone.ID(), "err", err)
	s.keep(ctx, in, track.DispOK)
}

// onLogout serves 0x0003: the auth code is voided, and the connection must
// authenticate again (with a new registration) before it reports.
func (s *session) onLogout(ctx context.Context, in *inbound) {
	err := s.askRegistry(ctx, func(ctx context.Context) error { return s.srv.registry.Deregister(ctx, s.term.ID) })
	if err != nil {
		if ctx.Err() != nil {
			s.fail(CloseShutdown)
			return
		}
		s.log.Error("deregister", "err", err)
		s.srv.m.frame(in.h.ID, "error").Inc()
		return
	}
	s.accept(ctx, in)
	s.authed = false
	s.leave()
}

// onQueryTime serves 0x0004 with the platform's clock (0x8004, in UTC).
func (s *session) onQueryTime(ctx context.Context, in *inbound) {
	s.keep(ctx, in, track.DispOK)
	s.srv.m.frame(in.h.ID, "ok").Inc()
	rep := jt808.QueryTimeReply{Time: time.Now().UTC()}
	s.send(in.h, jt808.IDQueryTimeReply, rep.AppendTo(s.body[:0], in.h.Version), "0")
}
