package sim

// The reading side of a simulated terminal's connection: the platform's
// replies matched to what was sent, and its requests answered.

import (
	"errors"
	"io"
	"net"
	"time"

	"fleetmon/ingest/jt808"
)

// read runs in its own goroutine for one connection: it splits and parses the platform's
// frames, matches replies and answers requests, until the connection ends.
func (t *Terminal) read(conn net.Conn, done chan struct{}) {
	defer close(done)
	sp := jt808.NewSplitter(conn, 0)
	var (
		f     jt808.Frame
		pr    jt808.PlatformReply
		rr    jt808.RegisterReply
		rq    jt808.ResendRequest
		out   []byte
		body  []byte
		qr    jt808.QueryLocationReply
		err   error
		frame []byte
	)
	for {
		frame, err = sp.Next()
		if err != nil {
			// The splitter resynchronises on the next 0x7e after both.
			if errors.Is(err, jt808.ErrBadEscape) || errors.Is(err, jt808.ErrFrameTooLarge) {
				continue
			}
			break
		}
		if err := jt808.ParseFrame(frame, &f); err != nil {
			t.log.Debug("bad frame from platform", "err", err)
			continue
		}
		if t.cfg.OnMessage != nil {
			t.cfg.OnMessage(&f.Header, f.Body)
		}
		switch f.Header.ID {
		case jt808.IDPlatformReply:
			if err := pr.Decode(f.Body, &f.Header); err != nil {
				t.log.Debug("bad 0x8001", "err", err)
				continue
			}
			t.onReply(pr.ReplySerial, pr.ReplyID, pr.Result)
		case jt808.IDRegisterReply:
			if err := rr.Decode(f.Body, &f.Header); err != nil {
				t.log.Debug("bad 0x8100", "err", err)
				continue
			}
			t.deliver(reply{id: jt808.IDRegister, serial: rr.ReplySerial, result: rr.Result, authCode: rr.AuthCode})
		case jt808.IDQueryTimeReply, jt808.IDTerminalReply:
			// Replies to requests this terminal does not make.
		case jt808.IDQueryLocation:
			t.mu.Lock()
			p := t.lastFix
			t.mu.Unlock()
			locationOf(&p, &qr.Location)
			qr.ReplySerial = f.Header.Serial
			body = qr.AppendTo(body[:0], t.cfg.Version)
			out = t.appendFrame(out[:0], jt808.IDQueryLocationReply, t.nextSerial(), body)
			t.writeFromReader(conn, out, true)
		case jt808.IDResendRequest:
			if err := rq.Decode(f.Body, &f.Header); err != nil {
				t.log.Debug("bad 0x8003", "err", err)
				continue
			}
			// 2013 §7.12: the sender sends the listed packages again, exactly as before; the
			// packages are the answer (no 0x0001).
			if out = t.appendRequested(out[:0], rq.OrigSerial, rq.IDs); len(out) > 0 {
				t.writeFromReader(conn, out, false)
			}
		case jt808.IDSetParams, jt808.IDQueryParams, jt808.IDTrackControl, jt808.IDTextMessage:
			id, b := t.onCommand(&f, body[:0], time.Now())
			body = b
			out = t.appendFrame(out[:0], id, t.nextSerial(), body)
			t.writeFromReader(conn, out, true)
		default:
			// JT/T 808 §8.1: the terminal answers platform requests with 0x0001.
			tr := jt808.TerminalReply{ReplySerial: f.Header.Serial, ReplyID: f.Header.ID, Result: 0}
			body = tr.AppendTo(body[:0], t.cfg.Version)
			out = t.appendFrame(out[:0], jt808.IDTerminalReply, t.nextSerial(), body)
			t.writeFromReader(conn, out, true)
		}
	}
	if errors.Is(err, net.ErrClosed) {
		err = io.EOF
	}
	t.mu.Lock()
	t.readErr = err
	t.mu.Unlock()
	t.log.Debug("connection ended", "err", err)
}

// writeFromReader answers a platform request. It writes from a new goroutine with a copy of the
// frame, so that the reader keeps reading replies while the owner is blocked writing (when the
// platform pushes back); platform requests are rare, so the copy does not matter. control says
// whether the frame counts as a control message (an answer), not as resent packages.
func (t *Terminal) writeFromReader(conn net.Conn, frame []byte, control bool) {
	frame = append([]byte(nil), frame...)
	go t.writeAnswer(conn, frame, control)
}

func (t *Terminal) writeAnswer(conn net.Conn, frame []byte, control bool) {
	t.wmu.Lock()
	_, err := conn.Write(frame)
	t.wmu.Unlock()
	if err == nil && control {
		t.m.control.Add(1)
	}
}

// appendRequested answers a 0x8003 补传分包请求: it appends to dst the frames of the packages ids
// (1-based) of the pending sub-packaged report whose first package has serial orig, as first
// sent, and marks them unanswered. Indexes out of range and repeated ones are skipped; a report
// no longer pending (answered already) has nothing to send.
func (t *Terminal) appendRequested(dst []byte, orig uint16, ids []uint16) []byte {
	t.mu.Lock()
	defer t.mu.Unlock()
	p, ok := t.pending[orig]
	if !ok || p.pkgs == 0 {
		t.log.Debug("0x8003 for no pending sub-packaged report", "serial", orig)
		return dst
	}
	var done uint64
	for _, id := range ids {
		if id == 0 || int(id) > p.pkgs {
			continue
		}
		bit := uint64(1) << (id - 1)
		if done&bit != 0 {
			continue
		}
		done |= bit
		dst = append(dst, nthFrame(p.frame, int(id)-1)...)
		p.acked &^= bit
		t.m.pkgResent.Add(1)
	}
	t.pending[orig] = p
	return dst
}

// onReply handles a 0x8001: the answer to a pending report or one of its packages, or to a
// control message.
func (t *Terminal) onReply(serial uint16, id jt808.MsgID, result uint8) {
	now := time.Now()
	t.mu.Lock()
	key := serial
	if first, ok := t.parts[serial]; ok {
		key = first
	}
	p, ok := t.pending[key]
	if !ok || p.id != id {
		t.mu.Unlock()
		t.deliver(reply{id: id, serial: serial, result: result})
		return
	}
	// Result 1 (failure) is retried like a timeout; 2 and 3 say resending will not help.
	if result == 1 {
		t.mu.Unlock()
		return
	}
	if p.pkgs > 0 && result == 0 {
		// A sub-packaged report is acknowledged by the answer that leaves no package
		// unanswered (see Terminal).
		p.acked |= 1 << (serial - key)
		if p.acked != uint64(1)<<p.pkgs-1 {
			t.pending[key] = p
			t.mu.Unlock()
			return
		}
	}
	delete(t.pending, key)
	for i := 1; i < p.pkgs; i++ {
		delete(t.parts, key+uint16(i))
	}
	t.free = append(t.free, p.frame)
	t.mu.Unlock()
	latency := now.Sub(p.first)
	if result == 0 {
		t.m.onAck(p.positions, now, latency)
	} else {
		t.m.onReject(p.positions)
	}
	if t.cfg.OnAck != nil {
		t.cfg.OnAck(Ack{ID: id, Serial: key, Packages: max(p.pkgs, 1), Result: result, Positions: p.positions,
			Resends: p.resends, Latency: latency, Fixes: p.fixes})
	}
	select {
	case t.ackEvent <- struct{}{}:
	default:
	}
}

// deliver hands a control reply to a waiting call; with nobody waiting it is dropped.
func (t *Terminal) deliver(r reply) {
	select {
	case t.replies <- r:
	default:
		// A stale reply (to a call that timed out) fills the channel: drop the oldest.
		select {
		case <-t.replies:
		default:
		}
		select {
		case t.replies <- r:
		default:
		}
	}
}
