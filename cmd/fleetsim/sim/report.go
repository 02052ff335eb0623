package sim

// What a simulated terminal reports: positions, one by one or in batches,
// kept out of coverage and uploaded when it returns, resent when no answer
// comes.

import (
	"context"
	"fmt"
	"slices"
	"time"

	"fleetmon/ingest/jt808"
)

// SetCoverage switches the simulated mobile coverage. Out of coverage, Report keeps positions
// (as terminals keep them in storage) and heartbeats are not sent; the connection stays open.
// When coverage returns, the kept positions are uploaded as 0x0704 of type 1 (blind-zone
// back-fill) in batches of up to Config.BlindBatch.
func (t *Terminal) SetCoverage(covered bool) error {
	t.covered = covered
	if !covered {
		return nil
	}
	return t.flushBlind()
}

// Covered reports whether the terminal is in coverage.
func (t *Terminal) Covered() bool { return t.covered }

func (t *Terminal) flushBlind() error {
	for len(t.blind) > 0 {
		n := min(len(t.blind), t.cfg.BlindBatch)
		if err := t.SendBatch(1, t.blind[:n]); err != nil {
			return err
		}
		t.blind = t.blind[n:]
	}
	t.blind = t.blind[:0:cap(t.blind)]
	return nil
}

// Report hands the terminal a new position. In coverage it resends overdue reports, then sends
// the position as a 0x0200, or adds it to the current 0x0704 batch when Config.Batch > 0 (sent
// when full). Out of coverage it keeps the position for the back-fill.
func (t *Terminal) Report(p Point) error {
	t.mu.Lock()
	t.lastFix = p
	t.mu.Unlock()
	if !t.covered {
		if len(t.blind) >= t.cfg.BlindCap {
			drop := max(1, len(t.blind)/10)
			t.blind = append(t.blind[:0], t.blind[drop:]...)
			t.m.blindDrop.Add(int64(drop))
		}
		t.blind = append(t.blind, p)
		return nil
	}
	if err := t.resendDue(time.Now()); err != nil {
		return err
	}
	if t.cfg.Batch == 0 {
		return t.SendLocation(p)
	}
	t.queue = append(t.queue, p)
	if len(t.queue) < t.cfg.Batch {
		return nil
	}
	err := t.SendBatch(0, t.queue)
	t.queue = t.queue[:0]
	return err
}

// Flush sends a partly filled 0x0704 batch, and the blind-zone positions if in coverage.
func (t *Terminal) Flush() error {
	if !t.covered {
		return nil
	}
	if len(t.queue) > 0 {
		err := t.SendBatch(0, t.queue)
		t.queue = t.queue[:0]
		if err != nil {
			return err
		}
	}
	return t.flushBlind()
}

// SendLocation sends p as one 0x0200 now, whatever the coverage and batching.
func (t *Terminal) SendLocation(p Point) error {
	locationOf(&p, &t.loc)
	t.body = t.loc.AppendTo(t.body[:0], t.cfg.Version)
	if t.cfg.KeepFixes {
		t.fixes = append(t.fixes[:0], fixOfLocation(&t.loc))
	}
	return t.sendReport(jt808.IDLocation, 1)
}

// SendBatch sends pts (at most MaxBatch) as one 0x0704 of the given type (0 normal, 1 blind-zone
// back-fill) now, whatever the coverage. More than SinglePackageBatch positions are sent as
// sub-packages.
func (t *Terminal) SendBatch(typ uint8, pts []Point) error {
	if len(pts) == 0 {
		return nil
	}
	if len(pts) > MaxBatch {
		return fmt.Errorf("sim: batch of %d positions exceeds %d", len(pts), MaxBatch)
	}
	t.batch.Type = typ
	if cap(t.batch.Items) < len(pts) {
		// Sized to the batch, not to MaxBatch: a jt808.Location is over 1 KB, and a load test
		// runs thousands of Terminals.
		t.batch.Items = make([]jt808.Location, len(pts))
	}
	t.batch.Items = t.batch.Items[:len(pts)]
	t.fixes = t.fixes[:0]
	for i := range pts {
		locationOf(&pts[i], &t.batch.Items[i])
		if t.cfg.KeepFixes {
			t.fixes = append(t.fixes, fixOfLocation(&t.batch.Items[i]))
		}
	}
	t.body = t.batch.AppendTo(t.body[:0], t.cfg.Version)
	return t.sendReport(jt808.IDBatchLocation, len(pts))
}

// sendReport frames t.body as a report (as sub-packages if it exceeds jt808.MaxBodyLen),
// records it as pending and writes it.
func (t *Terminal) sendReport(id jt808.MsgID, positions int) error {
	if t.conn == nil {
		return ErrNotConnected
	}
	pkgs := 0
	if len(t.body) > jt808.MaxBodyLen {
		pkgs = (len(t.body) + jt808.MaxBodyLen - 1) / jt808.MaxBodyLen
		if pkgs > maxPackages {
			return fmt.Errorf("sim: %s body of %d bytes exceeds %d packages", id, len(t.body), maxPackages)
		}
	}
	serial := t.nextSerials(max(pkgs, 1))
	t.mu.Lock()
	var buf []byte
	if n := len(t.free); n > 0 {
		buf, t.free = t.free[n-1][:0], t.free[:n-1]
	}
	t.mu.Unlock()
	var frame []byte
	if pkgs == 0 {
		frame = t.appendFrame(buf, id, serial, t.body)
	} else {
		frame = t.appendPackages(buf, id, serial, pkgs, t.body)
	}
	now := time.Now()
	t.mu.Lock()
	var fixes []Fix
	if t.cfg.KeepFixes {
		fixes = slices.Clone(t.fixes)
	}
	t.pending[serial] = pendingMsg{id: id, positions: positions, first: now, due: now.Add(t.cfg.AckTimeout), frame: frame, pkgs: pkgs, fixes: fixes}
	for i := 1; i < pkgs; i++ {
		t.parts[serial+uint16(i)] = serial
	}
	t.mu.Unlock()
	t.m.onSend(positions)
	return t.write(frame)
}

// resendDue resends the reports whose acknowledgement is overdue.
func (t *Terminal) resendDue(now time.Time) error {
	if t.cfg.MaxResends < 0 {
		return nil
	}
	var due []uint16
	t.mu.Lock()
	for s, p := range t.pending {
		if !p.due.IsZero() && !now.Before(p.due) {
			due = append(due, s)
		}
	}
	t.mu.Unlock()
	for _, s := range due {
		t.mu.Lock()
		p, ok := t.pending[s]
		if !ok {
			t.mu.Unlock()
			continue
		}
		p.resends++
		p.acked = 0 // every package is sent again and must be answered again
		if p.resends >= t.cfg.MaxResends {
			p.due = time.Time{}
		} else {
			p.due = now.Add(t.cfg.AckTimeout * time.Duration(p.resends+1))
		}
		t.pending[s] = p
		frame := p.frame
		t.mu.Unlock()
		t.m.resent.Add(1)
		if err := t.write(frame); err != nil {
			return err
		}
	}
	return nil
}

// WaitAcks flushes buffered positions (in coverage) and waits until every report sent has been
// answered, resending overdue ones. It returns ctx's error if ctx ends first, and a connection
// error if the connection ends.
func (t *Terminal) WaitAcks(ctx context.Context) error {
	if err := t.Flush(); err != nil {
		return err
	}
	// Resends are checked at least this often while waiting.
	const poll = 100 * time.Millisecond
	timer := time.NewTimer(poll)
	defer timer.Stop()
	for {
		if err := t.resendDue(time.Now()); err != nil {
			return err
		}
		if t.Pending() == 0 {
			return nil
		}
		if t.conn == nil {
			return ErrNotConnected
		}
		timer.Reset(poll)
		select {
		case <-t.ackEvent:
		case <-timer.C:
		case <-t.done:
			if t.Pending() == 0 {
				return nil
			}
			return t.connErr()
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// Play reports every position of src, pausing every between two (0: no pause), until src is
// exhausted, then waits for the acknowledgements (WaitAcks). It returns the number of positions
// reported. It is meant for tests that drive a server along a Script.
func (t *Terminal) Play(ctx context.Context, src Source, every time.Duration) (int, error) {
	n := 0
	for {
		p, ok := src.Next(time.Now())
		if !ok {
			break
		}
		if n > 0 && every > 0 {
			timer := time.NewTimer(every)
			select {
			case <-ctx.Done():
				timer.Stop()
				return n, ctx.Err()
			case <-timer.C:
			}
		}
		if err := t.Report(p); err != nil {
			return n, err
		}
		n++
	}
	return n, t.WaitAcks(ctx)
}

// Stats returns the terminal's own counters when it has its own Metrics; with shared Metrics it
// returns the shared totals.
func (t *Terminal) Stats() Snapshot { return t.m.Snapshot() }
