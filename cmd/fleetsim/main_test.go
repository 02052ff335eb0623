package main

import (
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"fleetmon/ingest/jt808"
)

// server is a bare JT/T 808 platform for the command's tests: it answers 0x0100 with 0x8100 and
// everything else with 0x8001 (0x0200 only if ackLocations), and counts what it received by
// message id.
type server struct {
	ln           net.Listener
	ackLocations bool
	mu           sync.Mutex
	counts       map[jt808.MsgID]int
	phones       map[string]bool
	wg           sync.WaitGroup
}

func newServer(t *testing.T, ackLocations bool) *server {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := &server{ln: ln, ackLocations: ackLocations, counts: map[jt808.MsgID]int{}, phones: map[string]bool{}}
	s.wg.Go(func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			s.wg.Go(func() { s.serve(t, c) })
		}
	})
	t.Cleanup(func() { ln.Close(); s.wg.Wait() })
	return s
}

func (s *server) serve(t *testing.T, c net.Conn) {
	defer c.Close()
	stop := context.AfterFunc(t.Context(), func() { c.Close() })
	defer stop()
	sp := jt808.NewSplitter(c, 0)
	var f jt808.Frame
	var dec jt808.Decoder
	var body, out []byte
	for {
		raw, err := sp.Next()
		if err != nil {
			return
		}
		if err := jt808.ParseFrame(raw, &f); err != nil {
			t.Errorf("server: %v", err)
			return
		}
		if _, err := dec.Decode(&f); err != nil {
			t.Errorf("server: %v", err)
			return
		}
		s.mu.Lock()
		s.counts[f.Header.ID]++
		s.phones[f.Header.Phone.ID()] = true
		s.mu.Unlock()
		h := jt808.Header{ID: jt808.IDPlatformReply, Version: f.Header.Version, ProtoVer: f.Header.ProtoVer, Phone: f.Header.Phone}
		switch {
		case f.Header.ID == jt808.IDRegister:
			h.ID = jt808.IDRegisterReply
			r := jt808.RegisterReply{ReplySerial: f.Header.Serial, AuthCode: "code"}
			body = r.AppendTo(body[:0], h.Version)
		case f.Header.ID == jt808.IDLocation && !s.ackLocations:
			continue
		default:
			r := jt808.PlatformReply{ReplySerial: f.Header.Serial, ReplyID: f.Header.ID}
			body = r.AppendTo(body[:0], h.Version)
		}
		out = jt808.AppendFrame(out[:0], &h, body)
		if _, err := c.Write(out); err != nil {
			return
		}
	}
}

func (s *server) count(id jt808.MsgID) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.counts[id]
}

func TestCSVCommand(t *testing.T) {
	var out, errb bytes.Buffer
	code := run(t.Context(), []string{"csv", "--count", "30", "--seed", "4", "--phone-base", "13900000000",
		"--unit", "湖北省/黄石市/阳新县/县机关事务中心", "--unit", "湖北省/黄石市/大冶市/市机关事务服务中心"}, &out, &errb)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errb.String())
	}
	recs, err := csv.NewReader(&out).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	if len(recs) != 31 || strings.Join(recs[0], ",") != "plate,plate_color,terminal_phone,unit,category" {
		t.Fatalf("%d records, header %q", len(recs), recs[0])
	}
	if recs[1][2] != "13900000001" || recs[1][3] != "湖北省/黄石市/阳新县/县机关事务中心" || recs[2][3] != "湖北省/黄石市/大冶市/市机关事务服务中心" {
		t.Errorf("rows %q %q", recs[1], recs[2])
	}
	if code := run(t.Context(), []string{"csv", "--bogus"}, &out, &errb); code != 2 {
		t.Errorf("bad flag: exit %d", code)
	}
	if code := run(t.Context(), []string{"nope"}, &out, &errb); code != 2 {
		t.Errorf("unknown command: exit %d", code)
	}
}

func TestLoadCommand(t *testing.T) {
	srv := newServer(t, true)
	var out, errb bytes.Buffer
	code := run(t.Context(), []string{"load", "--addr", srv.ln.Addr().String(), "--terminals", "30", "--rate", "10",
		"--duration", "2s", "--gap-share", "0.3", "--gap-length", "400ms", "--blind-batch", "3", "--grace", "5s", "--json"}, &out, &errb)
	if code != 0 {
		t.Fatalf("exit %d: %s\n%s", code, out.String(), errb.String())
	}
	var rep map[string]any
	if err := json.Unmarshal(out.Bytes(), &rep); err != nil {
		t.Fatalf("%v: %s", err, out.String())
	}
	n := func(k string) float64 { v, _ := rep[k].(float64); return v }
	if n("connections_ok") != 30 || n("connections_failed") != 0 || n("unacknowledged") != 0 {
		t.Errorf("report %s", out.String())
	}
	if n("positions_sent") < 30*10*2*0.8 || n("positions_acked") != n("positions_sent") || n("acked") != n("reports_sent") {
		t.Errorf("report %s", out.String())
	}
	if n("gap_terminals") == 0 || srv.count(jt808.IDBatchLocation) == 0 {
		t.Errorf("no blind-zone back-fill: %d gap terminals, %d 0x0704", int(n("gap_terminals")), srv.count(jt808.IDBatchLocation))
	}
	if n("throughput_positions_per_s_median") < 30*10*0.5 || n("ack_latency_p50_ms") <= 0 || n("ack_latency_max_ms") < n("ack_latency_p99_ms") {
		t.Errorf("report %s", out.String())
	}
	if srv.count(jt808.IDRegister) != 30 || srv.count(jt808.IDAuth) != 30 || !srv.phones["13900000001"] || !srv.phones["13900000030"] {
		t.Errorf("server saw %v", srv.counts)
	}
}

func TestLoadCommandUnacknowledged(t *testing.T) {
	srv := newServer(t, false)
	var out, errb bytes.Buffer
	code := run(t.Context(), []string{"load", "--addr", srv.ln.Addr().String(), "--terminals", "3", "--rate", "5",
		"--duration", "600ms", "--gap-share", "0", "--ack-timeout", "100ms", "--max-resends", "1", "--grace", "400ms"}, &out, &errb)
	if code != 1 {
		t.Fatalf("exit %d, want 1: %s\n%s", code, out.String(), errb.String())
	}
	if !strings.Contains(out.String(), "unacknowledged") || !strings.Contains(errb.String(), "reports unacknowledged") {
		t.Errorf("output %s\n%s", out.String(), errb.String())
	}
}

func TestLoadCommandNoServer(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	var out, errb bytes.Buffer
	code := run(t.Context(), []string{"load", "--addr", addr, "--terminals", "2", "--duration", "100ms", "--concurrency", "2"}, &out, &errb)
	if code != 1 || !strings.Contains(out.String(), "failed 2") {
		t.Fatalf("exit %d: %s\n%s", code, out.String(), errb.String())
	}
}

func TestDemoCommand(t *testing.T) {
	srv := newServer(t, true)
	ctx, cancel := context.WithTimeout(t.Context(), 1500*time.Millisecond)
	defer cancel()
	var out, errb bytes.Buffer
	code := run(ctx, []string{"demo", "--addr", srv.ln.Addr().String(), "--count", "4", "--v2019-share", "0.5",
		"--interval", "100ms", "--parked-interval", "100ms"}, &out, &errb)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errb.String())
	}
	if srv.count(jt808.IDAuth) != 4 || srv.count(jt808.IDLocation) < 4*5 || srv.count(jt808.IDLogout) != 4 {
		t.Errorf("server saw %v\n%s", srv.counts, errb.String())
	}
	if !srv.phones["13800000001"] || !srv.phones["13800000004"] {
		t.Errorf("phones %v", srv.phones)
	}
}
