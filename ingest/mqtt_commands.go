package ingest

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"time"

	"fleetmon/ingest/jt808"
	"fleetmon/track/commands"
)

// Commands over MQTT. A terminal that publishes frames has no connection
// to hold: it counts as online for mqttOnlineFor after each frame it
// publishes (the TCP gateway's idle timeout), and its commands are
// published, QoS 1, on its down topic: its up topic with the last level
// "up" replaced by "down" (fleetmon/jt808/<phone>/down by default). A
// command queued while it is silent goes out with its next frame. The
// message serial is the command's id modulo 65536: the nodes share no
// serial counter, and a terminal's answers come back through whichever
// node the broker gives them to.

// mqttOnlineFor is how long after its last frame an MQTT terminal gets
// commands at once.
const mqttOnlineFor = 3 * time.Minute

// mqttTerminal is what the subscriber knows of a terminal that publishes
// frames, for sending it commands.
type mqttTerminal struct {
	down    string
	hdr     jt808.Header // version and phone of its frames
	seen    time.Time
	sending bool
}

// mqttCommands holds the MQTT terminals heard from.
type mqttCommands struct {
	mu    sync.Mutex
	terms map[int64]*mqttTerminal
}

// DownTopic returns the topic commands to a terminal publishing on up go
// to.
func DownTopic(up string) string {
	return strings.TrimSuffix(up, "/up") + "/down"
}

// saw notes a frame from terminal id on topic; a terminal heard from
// after a silence gets its queued commands.
func (s *Subscriber) saw(id int64, topic string, h *jt808.Header, now time.Time) {
	if s.cfg.Commands == nil {
		return
	}
	s.cmds.mu.Lock()
	t := s.cmds.terms[id]
	back := t == nil || now.Sub(t.seen) > mqttOnlineFor
	if t == nil {
		t = &mqttTerminal{}
		s.cmds.terms[id] = t
	}
	t.down, t.seen = DownTopic(topic), now
	t.hdr = jt808.Header{Version: h.Version, ProtoVer: h.ProtoVer, Phone: h.Phone}
	s.cmds.mu.Unlock()
	if back {
		s.Wake(id)
	}
}

// Wake publishes terminal terminalID's queued commands if it has been
// heard from lately through this subscriber. It never blocks.
func (s *Subscriber) Wake(terminalID int64) {
	if s.cfg.Commands == nil {
		return
	}
	s.cmds.mu.Lock()
	t := s.cmds.terms[terminalID]
	if t == nil || time.Since(t.seen) > mqttOnlineFor || t.sending || s.client == nil {
		s.cmds.mu.Unlock()
		return
	}
	t.sending = true
	s.cmds.mu.Unlock()
	go s.publishCommands(terminalID)
}

func (s *Subscriber) publishCommands(terminalID int64) {
	defer func() {
		s.cmds.mu.Lock()
		s.cmds.terms[terminalID].sending = false
		s.cmds.mu.Unlock()
	}()
	deliverQueued(context.Background(), s.cfg.Commands, terminalID, s.cfg.ClientID, s.log,
		func(c commands.Command) uint16 { return uint16(c.ID) },
		func(c *commands.Command) error { return s.publishCommand(terminalID, c) })
}

func (s *Subscriber) publishCommand(terminalID int64, c *commands.Command) error {
	s.cmds.mu.Lock()
	t := *s.cmds.terms[terminalID]
	s.cmds.mu.Unlock()
	h := t.hdr
	id, body := encodeCommand(nil, c, h.Version)
	h.ID, h.Serial = id, uint16(c.Serial)
	tok := s.client.Publish(t.down, 1, false, jt808.AppendFrame(nil, &h, body))
	if !tok.WaitTimeout(commandAttempt) {
		return fmt.Errorf("publish to %s: no answer from the broker in %v", t.down, commandAttempt)
	}
	return tok.Error()
}

// recordAnswer records a terminal's answer to a command that came over
// MQTT.
func (s *Subscriber) recordAnswer(ctx context.Context, terminalID int64, msg jt808.Message) {
	recordAnswer(ctx, s.cfg.Commands, terminalID, msg, s.log)
}
