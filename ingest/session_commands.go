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
		s.cmdDone = make(chan struct{})
		go s.sendCommands(ctx, q, s.term.ID)
	}
	s.wakeCommands()
}

// goOffline, when the connection ends, stops the command sender and lets
// go of the terminal (unless a newer connection of its holds it already).
func (s *session) goOffline() {
	if s.cmdDone == nil {
		return
	}
	close(s.cmdDone)
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

// sendCommands runs for the life of an authenticated connection.
func (s *session) sendCommands(ctx context.Context, q CommandQueue, terminalID int64) {
	var buf []byte
	for {
		select {
		case <-s.cmdWake:
		case <-s.cmdDone:
			return
		case <-ctx.Done():
			return
		}
		for {
			select {
			case <-s.cmdDone:
				return
			default:
			}
			cctx, cancel := context.WithTimeout(ctx, commandAttempt)
			c, ok, err := q.Claim(cctx, terminalID, s.srv.cfg.Node, func(commands.Command) uint16 { return s.reserveSerial() })
			cancel()
			if err != nil {
				s.log.Warn("claim a command", "err", err)
				break
			}
			if !ok {
				break
			}
			if buf, err = s.writeCommand(buf[:0], &c); err != nil {
				s.log.Info("write a command", "command", c.ID, "err", err)
				uctx, cancel := context.WithTimeout(context.Background(), commandAttempt)
				if err := q.Unclaim(uctx, c.ID); err != nil {
					s.log.Warn("put a command back in the queue", "command", c.ID, "err", err)
				}
				cancel()
				break
			}
			s.log.Info("command sent", "command", c.ID, "kind", c.Kind, "serial", c.Serial)
		}
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

// recordAnswer records a terminal's answer to a command (0x0001, 0x0104,
// 0x0201) in the queue.
func (s *session) recordAnswer(ctx context.Context, msg jt808.Message) {
	q := s.srv.cfg.Commands
	if q == nil {
		return
	}
	a, ok := answerOf(s.term.ID, msg)
	if !ok {
		return
	}
	rctx, cancel := context.WithTimeout(ctx, commandAttempt)
	defer cancel()
	if _, err := q.Record(rctx, a); err != nil {
		s.log.Warn("record a command's answer", "serial", a.Serial, "err", err)
	}
}
