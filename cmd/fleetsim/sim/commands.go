package sim

// The platform's commands, answered as real terminals answer them
// (JT/T 808-2013 and -2019 §8.1: 0x0001 for every platform message that has
// no answer of its own): 0x8103 sets parameters (the reporting interval
// among them, which Drive follows), 0x8104 reads them back (0x0104),
// 0x8202 tracks at a given interval for a given time, 0x8300 shows text.

import (
	"context"
	"sort"
	"time"

	"fleetmon/ingest/jt808"
)

// DefaultReportInterval is the terminal's 缺省时间汇报间隔 (parameter 0x0029) until the platform
// sets another: 30 s, as many terminals ship.
const DefaultReportInterval = 30 * time.Second

// initParams returns the parameters a terminal starts with.
func (t *Terminal) initParams() map[uint32][]byte {
	every := t.cfg.ReportInterval
	if every <= 0 {
		every = DefaultReportInterval
	}
	ps := map[uint32][]byte{}
	for _, p := range []jt808.Param{
		jt808.Uint32Param(jt808.ParamHeartbeatInterval, 60),
		jt808.Uint32Param(jt808.ParamTCPReplyTimeout, 10),
		jt808.Uint32Param(jt808.ParamTCPRetries, 3),
		jt808.TextParam(jt808.ParamServerAddress, "127.0.0.1"),
		jt808.Uint32Param(jt808.ParamServerTCPPort, 6808),
		jt808.Uint32Param(jt808.ParamReportStrategy, 0),
		jt808.Uint32Param(jt808.ParamSleepInterval, 300),
		jt808.Uint32Param(jt808.ParamSOSInterval, 10),
		jt808.Uint32Param(jt808.ParamDefaultInterval, uint32(every/time.Second)),
		jt808.Uint32Param(jt808.ParamMaxSpeed, 120),
		jt808.Uint32Param(jt808.ParamOverspeedDuration, 10),
	} {
		ps[p.ID] = p.Value
	}
	return ps
}

// Param returns the value of parameter id as the terminal holds it (nil if it has none).
func (t *Terminal) Param(id uint32) []byte {
	t.mu.Lock()
	defer t.mu.Unlock()
	return append([]byte(nil), t.params[id]...)
}

// Texts returns the texts the platform has shown on the driver's display (0x8300), oldest
// first.
func (t *Terminal) Texts() []string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return append([]string(nil), t.texts...)
}

// Tracking returns the last temporary tracking the platform asked for (0x8202): its interval and
// when it began and ends by the terminal's clock; zero if none.
func (t *Terminal) Tracking() (every time.Duration, from, until time.Time) {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.trackEvery, t.trackFrom, t.trackUntil
}

// ReportInterval is how long the terminal waits between two reports at now: the temporary
// tracking interval while 0x8202 tracking lasts, otherwise parameter 0x0029.
func (t *Terminal) ReportInterval(now time.Time) time.Duration {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.intervalLocked(now)
}

func (t *Terminal) intervalLocked(now time.Time) time.Duration {
	if t.trackEvery > 0 && now.Before(t.trackUntil) {
		return t.trackEvery
	}
	if v := t.params[jt808.ParamDefaultInterval]; len(v) == 4 {
		if s := time.Duration(uint32(v[0])<<24|uint32(v[1])<<16|uint32(v[2])<<8|uint32(v[3])) * time.Second; s > 0 {
			return s
		}
	}
	return DefaultReportInterval
}

// onCommand answers a platform command the reader has parsed; it returns the answer's message
// ID and body (appended to body).
func (t *Terminal) onCommand(f *jt808.Frame, body []byte, now time.Time) (jt808.MsgID, []byte) {
	h := &f.Header
	result := jt808.ResultOK
	var d jt808.Decoder
	msg, err := d.Decode(f)
	if err != nil {
		result = jt808.ResultBadMessage
	} else {
		switch m := msg.(type) {
		case *jt808.SetParams:
			t.mu.Lock()
			for _, p := range m.Params {
				t.params[p.ID] = append([]byte(nil), p.Value...)
			}
			t.mu.Unlock()
			t.signal()
		case *jt808.QueryParams:
			t.mu.Lock()
			ids := make([]uint32, 0, len(t.params))
			for id := range t.params {
				ids = append(ids, id)
			}
			sort.Slice(ids, func(i, j int) bool { return ids[i] < ids[j] })
			rep := jt808.QueryParamsReply{ReplySerial: h.Serial}
			for _, id := range ids {
				rep.Params = append(rep.Params, jt808.Param{ID: id, Value: t.params[id]})
			}
			body = rep.AppendTo(body, t.cfg.Version)
			t.mu.Unlock()
			return jt808.IDQueryParamsReply, body
		case *jt808.TrackControl:
			t.mu.Lock()
			t.trackEvery = time.Duration(m.IntervalS) * time.Second
			t.trackFrom, t.trackUntil = now, now.Add(time.Duration(m.ValidityS)*time.Second)
			if m.IntervalS == 0 {
				t.trackUntil = time.Time{}
			}
			t.mu.Unlock()
			t.signal()
		case *jt808.TextMessage:
			t.mu.Lock()
			t.texts = append(t.texts, m.Text)
			t.mu.Unlock()
		}
	}
	tr := jt808.TerminalReply{ReplySerial: h.Serial, ReplyID: h.ID, Result: result}
	return jt808.IDTerminalReply, tr.AppendTo(body, t.cfg.Version)
}

// signal tells Drive that the reporting interval may have changed.
func (t *Terminal) signal() {
	select {
	case t.paramEvent <- struct{}{}:
	default:
	}
}

// Drive reports the positions of src at the terminal's own pace (ReportInterval: parameter
// 0x0029, or the interval of temporary tracking while it lasts), as a terminal on the road does,
// until ctx ends or src is exhausted. A change of the interval by the platform takes effect at
// once. It returns the number of positions reported; the owner goroutine runs it.
func (t *Terminal) Drive(ctx context.Context, src Source) (int, error) {
	n := 0
	last := time.Time{}
	for {
		now := time.Now()
		if wait := last.Add(t.ReportInterval(now)).Sub(now); !last.IsZero() && wait > 0 {
			timer := time.NewTimer(wait)
			select {
			case <-ctx.Done():
				timer.Stop()
				return n, nil
			case <-t.paramEvent:
				timer.Stop()
				continue
			case <-timer.C:
			}
			continue
		}
		p, ok := src.Next(now)
		if !ok {
			return n, nil
		}
		if err := t.Report(p); err != nil {
			return n, err
		}
		n++
		last = now
	}
}
