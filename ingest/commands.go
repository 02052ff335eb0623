package ingest

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"fleetmon/ingest/jt808"
	"fleetmon/track/commands"
)

// CommandQueue is the queue of commands to terminals: a gateway that
// holds a terminal's connection claims its queued commands, writes them,
// and records the terminal's answers by serial. commands.Store implements
// it.
type CommandQueue interface {
	Claim(ctx context.Context, terminalID int64, node string, serial func(commands.Command) uint16) (commands.Command, bool, error)
	Unclaim(ctx context.Context, id int64) error
	Record(ctx context.Context, a commands.Answer) (bool, error)
}

// commandAttempt bounds one claim or record: the queue is PostgreSQL, and
// a terminal connection must not hang on it.
const commandAttempt = 10 * time.Second

// encodeCommand appends c's body in version v's layout and returns its
// message ID. Arguments were checked when the command was queued; a
// parameter this build does not know is left out.
func encodeCommand(dst []byte, c *commands.Command, v jt808.Version) (jt808.MsgID, []byte) {
	switch c.Kind {
	case commands.SetParams:
		var m jt808.SetParams
		for _, name := range c.Args.ParamNames() {
			def, ok := commands.ParamByName(name)
			if !ok {
				continue
			}
			switch val := c.Args.Params[name].(type) {
			case string:
				m.Params = append(m.Params, jt808.TextParam(def.ID, val))
			case float64:
				m.Params = append(m.Params, jt808.Uint32Param(def.ID, uint32(val)))
			case uint32:
				m.Params = append(m.Params, jt808.Uint32Param(def.ID, val))
			}
		}
		return jt808.IDSetParams, m.AppendTo(dst, v)
	case commands.QueryParams:
		return jt808.IDQueryParams, dst
	case commands.QueryLocation:
		return jt808.IDQueryLocation, dst
	case commands.Track:
		m := jt808.TrackControl{IntervalS: uint16(c.Args.IntervalS), ValidityS: uint32(c.Args.ForS)}
		return jt808.IDTrackControl, m.AppendTo(dst, v)
	case commands.Text:
		m := jt808.TextMessage{Flags: jt808.TextDisplay, Text: c.Args.Text}
		if c.Args.TTS {
			m.Flags |= jt808.TextTTS
		}
		if v == jt808.Version2019 {
			m.Type = jt808.TextTypeNotice
		}
		return jt808.IDTextMessage, m.AppendTo(dst, v)
	}
	return 0, nil
}

// answerOf turns a terminal's answer to a platform message (0x0001,
// 0x0104, 0x0201) into what the command queue records; ok is false for
// any other message.
func answerOf(terminalID int64, msg jt808.Message) (a commands.Answer, ok bool) {
	a.TerminalID = terminalID
	switch m := msg.(type) {
	case *jt808.TerminalReply:
		a.Serial, a.MsgID, a.Result = m.ReplySerial, uint16(m.ReplyID), m.Result
	case *jt808.QueryParamsReply:
		a.Serial, a.DataReply, a.Reply = m.ReplySerial, uint16(jt808.IDQueryParamsReply), paramsReply(m.Params)
	case *jt808.QueryLocationReply:
		a.Serial, a.DataReply, a.Reply = m.ReplySerial, uint16(jt808.IDQueryLocationReply), locationReply(&m.Location)
	default:
		return a, false
	}
	return a, true
}

// paramsReply is what 0x0104 says, by the parameter names fleetmon knows
// (commands.Params); other parameters by their ID in hex, with the value's
// bytes in hex.
func paramsReply(ps []jt808.Param) map[string]any {
	out := make(map[string]any, len(ps))
	for _, p := range ps {
		def, ok := commands.ParamByID(p.ID)
		if !ok {
			out[fmt.Sprintf("0x%04x", p.ID)] = fmt.Sprintf("%x", p.Value)
			continue
		}
		if def.Type == commands.String {
			out[def.Name] = p.Text()
			continue
		}
		if v, err := p.Uint32(); err == nil {
			out[def.Name] = v
		} else {
			out[def.Name] = fmt.Sprintf("%x", p.Value)
		}
	}
	return map[string]any{"params": out}
}

// locationReply is what 0x0201 says: where the terminal is, by its clock.
func locationReply(l *jt808.Location) map[string]any {
	out := map[string]any{"lat": l.Lat(), "lon": l.Lon(), "speed_kmh": float64(l.SpeedDeciKmh) / 10,
		"heading": l.Heading, "alarm": l.Alarm, "status": l.Status}
	if t, err := l.Time.Time(); err == nil {
		out["time"] = t.UTC().Format(time.RFC3339)
	}
	return out
}

// deliverQueued claims terminal terminalID's queued commands one after
// another and writes each with write, until none is left, the queue
// fails, or a write fails: that command goes back to the queue, for the
// next chance. serial gives each claimed command its message serial.
func deliverQueued(ctx context.Context, q CommandQueue, terminalID int64, node string, log *slog.Logger,
	serial func(commands.Command) uint16, write func(*commands.Command) error) {
	for ctx.Err() == nil {
		cctx, cancel := context.WithTimeout(ctx, commandAttempt)
		c, ok, err := q.Claim(cctx, terminalID, node, serial)
		cancel()
		if err != nil {
			log.Warn("claim a command", "err", err)
			return
		}
		if !ok {
			return
		}
		if err := write(&c); err != nil {
			log.Info("send a command", "command", c.ID, "err", err)
			uctx, cancel := context.WithTimeout(context.Background(), commandAttempt)
			if err := q.Unclaim(uctx, c.ID); err != nil {
				log.Warn("put a command back in the queue", "command", c.ID, "err", err)
			}
			cancel()
			return
		}
		log.Info("command sent", "command", c.ID, "kind", c.Kind, "serial", c.Serial)
	}
}

// recordAnswer records a terminal's answer to a command (0x0001, 0x0104,
// 0x0201) in q; other messages are not answers.
func recordAnswer(ctx context.Context, q CommandQueue, terminalID int64, msg jt808.Message, log *slog.Logger) {
	if q == nil {
		return
	}
	a, ok := answerOf(terminalID, msg)
	if !ok {
		return
	}
	rctx, cancel := context.WithTimeout(ctx, commandAttempt)
	defer cancel()
	if _, err := q.Record(rctx, a); err != nil {
		log.Warn("record a command's answer", "serial", a.Serial, "err", err)
	}
}
