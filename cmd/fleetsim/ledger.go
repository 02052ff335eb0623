package main

import (
	"bufio"
	"os"
	"strconv"
	"sync"

	"fleetmon/cmd/fleetsim/sim"
)

// ledger writes every position the server acknowledged, one CSV line each, so
// that the load harness can check row by row that each is stored exactly once
// (a count alone would let a lost row hide behind a duplicated one).
type ledger struct {
	mu   sync.Mutex
	f    *os.File
	w    *bufio.Writer
	line []byte
	err  error
}

func newLedger(f *os.File) *ledger {
	return &ledger{f: f, w: bufio.NewWriterSize(f, 1<<20)}
}

// onAck returns the acknowledgement callback of the terminal with phone, or
// nil without a ledger.
func (l *ledger) onAck(phone string) func(sim.Ack) {
	if l == nil {
		return nil
	}
	return func(a sim.Ack) {
		if a.Result != 0 {
			return
		}
		l.mu.Lock()
		defer l.mu.Unlock()
		for _, f := range a.Fixes {
			alarm, status, lat, lon, alt, speed, heading, t, err := f.Fields()
			if err != nil {
				l.err = err
				continue
			}
			b := append(l.line[:0], phone...)
			b = append(b, ',')
			b = strconv.AppendInt(b, t.Unix(), 10)
			for _, v := range [...]int64{lat, lon, int64(alt), int64(speed), int64(heading), int64(alarm), int64(status)} {
				b = append(b, ',')
				b = strconv.AppendInt(b, v, 10)
			}
			b = append(b, '\n')
			l.line = b
			if _, err := l.w.Write(b); err != nil && l.err == nil {
				l.err = err
			}
		}
	}
}

func (l *ledger) close() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if err := l.w.Flush(); err != nil && l.err == nil {
		l.err = err
	}
	if err := l.f.Close(); err != nil && l.err == nil {
		l.err = err
	}
	return l.err
}
