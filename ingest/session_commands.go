package ingest

import (
	"context"
	"time"

	"fleetmon/ingest/jt808"
	"fleetmon/track/commands"
)

// Commands on a TCP connection: once a terminal has authenticated, the
// gateway holds its connection for the command queue (Server.Wake finds
// it by terminal), and a goroutine of the session's own sends what is
// queued for it, one command after another, whenever it is woken: at
// authentication, when a command is queued (on any node), and at the
// queue's sweeps.

// Wake asks the session holding terminal terminalID's connection, if this
// gateway has one, to send the terminal's queued commands. It never
// blocks.
func (s *Server) Wake(terminalID int64) {
	s.mu.Lock()
	sess := s.online[terminalID]
	s.mu.Unlock()
	if sess != nil {
		sess.wakeCommands()
	}
}

// goOnline registers the authenticated session as the holder of its
// terminal's connection and starts its command sender (once per
// connection), which sends at once what is queued.
func (s *session) goOnline(ctx context.Context, h *jt808.Header) {
	q := s.srv.cfg.Commands
	if q == nil {
		return
	}
	s.wmu.Lock()
	s.cmdHdr = jt808.Header{Version: h.Version, ProtoVer: h.ProtoVer, Phone: h.Phone}
	s.wmu.Unlock()
	s.srv.mu.Lock()
	s.srv.online[s.term.ID] = s
	s.srv.mu.Unlock()
	if s.cmdWake == nil {
		s.cmdWake = make(chan struct{}, 1)
		var cctx context.Context
		cctx, s.cmdStop = context.WithCancel(ctx)
		go s.sendCommands(cctx, q, s.term.ID)
	}
	s.wakeCommands()
}

// goOffline, when the connection ends, stops the command sender and lets
// go of the terminal.
func (s *session) goOffline() {
	if s.cmdStop == nil {
		return
	}
	s.cmdStop()
	s.leave()
}

// leave lets go of the terminal (unless a newer connection of its holds it
// already): after a logout, commands wait for the next authentication.
func (s *session) leave() {
	s.srv.mu.Lock()
	if s.srv.online[s.term.ID] == s {
		delete(s.srv.online, s.term.ID)
	}
	s.srv.mu.Unlock()
}

func (s *session) wakeCommands() {
	select {
	case s.cmdWake <- struct{}{}:
	default:
	}
}

// sendCommands runs for the life of an authenticated connection: until
// ctx ends with it (goOffline) or with the server.
func (s *session) sendCommands(ctx context.Context, q CommandQueue, terminalID int64) {
	var buf []byte
	for {
		select {
		case <-s.cmdWake:
		case <-ctx.Done():
			return
		}
		deliverQueued(ctx, q, terminalID, s.srv.cfg.Node, s.log, func(commands.Command) uint16 { return s.reserveSerial() },
			func(c *commands.Command) (err error) {
				buf, err = s.writeCommand(buf[:0], c)
				return err
			})
	}
}

// reserveSerial takes the next platform serial of the connection.
func (s *session) reserveSerial() uint16 {
	s.wmu.Lock()
	defer s.wmu.Unlock()
	v := s.serial
	s.serial++
	return v
}

// writeCommand frames c with the serial it was claimed with and writes it.
func (s *session) writeCommand(buf []byte, c *commands.Command) ([]byte, error) {
	s.wmu.Lock()
	defer s.wmu.Unlock()
	h := s.cmdHdr
	id, body := encodeCommand(nil, c, h.Version)
	h.ID, h.Serial = id, uint16(c.Serial)
	buf = jt808.AppendFrame(buf, &h, body)
	_ = s.conn.SetWriteDeadline(time.Now().Add(s.srv.cfg.WriteTimeout))
	_, err := s.conn.Write(buf)
	if err == nil {
		s.srv.m.reply(id, "command").Inc()
	}
	return buf, err
}

// recordAnswer records a terminal's answer to a command.
func (s *session) recordAnswer(ctx context.Context, msg jt808.Message) {
	recordAnswer(ctx, s.srv.cfg.Commands, s.term.ID, msg, s.log)
}
