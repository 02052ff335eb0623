package sim

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"fleetmon/ingest/jt808"
)

// got is one message the fake platform received, decoded and copied out of the stream buffer.
type got struct {
	h        jt808.Header
	reg      jt808.Register
	auth     jt808.Auth
	loc      jt808.Location // 0x0200 and 0x0201 (Extra is never used by sim, so no aliasing)
	batch    []jt808.Location
	typ      uint8
	reply    jt808.TerminalReply
	qrSerial uint16
	pkgs     int // sub-packages the message came in; 0 for one frame
}

// platform is a tiny JT/T 808 platform for tests: it answers 0x0100 with 0x8100 and an auth
// code, every other terminal message with 0x8001, decodes every frame and fails the test on
// anything that is not a valid frame from the expected terminal. Like fleetd (ingest's
// fragment.go) it reassembles sub-packaged messages: it answers each package with 0x8001 as it
// arrives and the package that completes the message once the whole message is decoded.
type platform struct {
	t        *testing.T
	ln       net.Listener
	phone    string
	version  jt808.Version
	authCode string
	// regResult is the 0x8100 result (0 accepts).
	regResult uint8
	// ignore says which messages go unanswered, by the count of frames with that id so far
	// (1 = the first; each sub-package counts); ignoreAll leaves an id unanswered always.
	ignore    map[jt808.MsgID]map[int]bool
	ignoreAll map[jt808.MsgID]bool
	// closeAfter closes the connection after that many reports (0x0200 or 0x0704) without
	// answering the last one; 0 never.
	closeAfter int
	// push, if set, is sent to the terminal after the reply to its first 0x0200.
	push func(c net.Conn, serial uint16) []byte
	// dropPkg lists package indexes (1-based) to lose, once each: the package is neither stored
	// nor answered. When the last package of a message arrives and some are missing, the
	// platform asks for them with 0x8003.
	dropPkg map[uint16]bool

	mu       sync.Mutex
	packages []jt808.Header // every sub-package received, in order
	msgs     []got
	counts   map[jt808.MsgID]int
	conns    int
	wg       sync.WaitGroup
}

func newPlatform(t *testing.T, phone string, v jt808.Version) *platform {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &platform{t: t, ln: ln, phone: phone, version: v, authCode: "AUTH-" + phone,
		ignore: map[jt808.MsgID]map[int]bool{}, ignoreAll: map[jt808.MsgID]bool{}, counts: map[jt808.MsgID]int{},
		dropPkg: map[uint16]bool{}}
	p.wg.Go(p.accept)
	t.Cleanup(func() {
		ln.Close()
		p.wg.Wait()
	})
	return p
}

func (p *platform) addr() string { return p.ln.Addr().String() }

func (p *platform) accept() {
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		p.mu.Lock()
		p.conns++
		p.mu.Unlock()
		p.wg.Go(func() { p.serve(c) })
	}
}

func (p *platform) serve(c net.Conn) {
	defer c.Close()
	go func() { // end the connection with the test
		<-p.t.Context().Done()
		c.Close()
	}()
	sp := jt808.NewSplitter(c, 0)
	var (
		f      jt808.Frame
		dec    jt808.Decoder
		out    []byte
		body   []byte
		serial uint16
		lastRx = -1
		// asm holds the packages of sub-packaged messages, by the serial of the first package.
		asm = map[uint16][][]byte{}
	)
	send := func(id jt808.MsgID, m jt808.Message) {
		h := jt808.Header{ID: id, Version: p.version, Phone: f.Header.Phone, Serial: serial}
		if p.version == jt808.Version2019 {
			h.ProtoVer = 1
		}
		serial++
		body = m.AppendTo(body[:0], p.version)
		out = jt808.AppendFrame(out[:0], &h, body)
		if _, err := c.Write(out); err != nil {
			p.t.Logf("platform write: %v", err)
		}
	}
	reports := 0
	for {
		raw, err := sp.Next()
		if err != nil {
			if !errors.Is(err, io.EOF) && !errors.Is(err, net.ErrClosed) {
				p.t.Errorf("platform: stream: %v", err)
			}
			return
		}
		if err := jt808.ParseFrame(raw, &f); err != nil {
			p.t.Errorf("platform: invalid frame % x: %v", raw, err)
			return
		}
		h := &f.Header
		if id := h.Phone.ID(); id != p.phone {
			p.t.Errorf("platform: phone %s, want %s", id, p.phone)
		}
		if h.Version != p.version || (p.version == jt808.Version2019 && h.ProtoVer != 1) {
			p.t.Errorf("platform: %s version %v proto %d, want %v", h.ID, h.Version, h.ProtoVer, p.version)
		}
		if h.Encryption != 0 {
			p.t.Errorf("platform: %s encrypted", h.ID)
		}
		p.mu.Lock()
		p.counts[h.ID]++
		n := p.counts[h.ID]
		silent := p.ignoreAll[h.ID] || p.ignore[h.ID][n]
		closeAfter := p.closeAfter
		drop := false
		if h.Fragmented {
			p.packages = append(p.packages, *h)
			drop = p.dropPkg[h.PkgIndex]
			delete(p.dropPkg, h.PkgIndex)
		}
		p.mu.Unlock()
		pkgs := 0
		if h.Fragmented {
			// sim sub-packages only 0x0704, cutting the body into full packages and a rest.
			if h.ID != jt808.IDBatchLocation || h.PkgTotal < 2 || h.PkgIndex == 0 || h.PkgIndex > h.PkgTotal ||
				(h.PkgIndex < h.PkgTotal && len(f.Body) != jt808.MaxBodyLen) || len(f.Body) == 0 {
				p.t.Errorf("platform: bad package %s %d/%d serial %d of %d bytes", h.ID, h.PkgIndex, h.PkgTotal, h.Serial, len(f.Body))
				return
			}
			if drop {
				continue
			}
			base := h.Serial - (h.PkgIndex - 1)
			parts := asm[base]
			if parts == nil {
				parts = make([][]byte, h.PkgTotal)
				asm[base] = parts
			}
			if len(parts) != int(h.PkgTotal) {
				p.t.Errorf("platform: package total %d, was %d", h.PkgTotal, len(parts))
				return
			}
			parts[h.PkgIndex-1] = append([]byte(nil), f.Body...)
			var missing []uint16
			for i, b := range parts {
				if b == nil {
					missing = append(missing, uint16(i+1))
				}
			}
			if len(missing) > 0 {
				if !silent {
					send(jt808.IDPlatformReply, &jt808.PlatformReply{ReplySerial: h.Serial, ReplyID: h.ID, Result: jt808.ResultOK})
				}
				if h.PkgIndex == h.PkgTotal {
					send(jt808.IDResendRequest, &jt808.ResendRequest{OrigSerial: base, IDs: missing})
				}
				continue
			}
			// Complete: decode the whole message, answered under the completing package's serial.
			delete(asm, base)
			var whole []byte
			for _, b := range parts {
				whole = append(whole, b...)
			}
			pkgs = len(parts)
			f.Body = whole
			h.Fragmented, h.PkgTotal, h.PkgIndex, h.BodyLen = false, 0, 0, uint16(len(whole))
		}
		m, err := dec.Decode(&f)
		if err != nil {
			p.t.Errorf("platform: decode %s body % x: %v", h.ID, f.Body, err)
			return
		}
		// The body must re-encode to the bytes sent: sim speaks the standard layout exactly.
		if re := m.AppendTo(nil, h.Version); string(re) != string(f.Body) {
			p.t.Errorf("platform: %s body does not re-encode:\n got % x\nwant % x", h.ID, re, f.Body)
		}
		g := got{h: *h, pkgs: pkgs}
		switch h.ID {
		case jt808.IDRegister:
			g.reg = dec.Register
		case jt808.IDAuth:
			g.auth = dec.Auth
		case jt808.IDLocation:
			g.loc = dec.Location
		case jt808.IDBatchLocation:
			g.typ = dec.BatchLocation.Type
			g.batch = append([]jt808.Location(nil), dec.BatchLocation.Items...)
		case jt808.IDTerminalReply:
			g.reply = dec.TerminalReply
		case jt808.IDQueryLocationReply:
			g.qrSerial = dec.QueryLocationReply.ReplySerial
			g.loc = dec.QueryLocationReply.Location
		}
		p.mu.Lock()
		p.msgs = append(p.msgs, g)
		p.mu.Unlock()
		// Serials grow, except for resent reports and for answers to the
		// platform's requests, which the terminal's reader writes beside
		// the owner's own messages.
		answer := h.ID == jt808.IDTerminalReply || h.ID == jt808.IDQueryLocationReply
		if int(h.Serial) <= lastRx && h.ID != jt808.IDLocation && h.ID != jt808.IDBatchLocation && !answer {
			p.t.Errorf("platform: %s serial %d after %d", h.ID, h.Serial, lastRx)
		}
		lastRx = max(lastRx, int(h.Serial))
		if h.ID == jt808.IDLocation || h.ID == jt808.IDBatchLocation {
			reports++
			if reports == closeAfter {
				return
			}
		}
		switch {
		case silent, h.ID == jt808.IDTerminalReply, h.ID == jt808.IDQueryLocationReply:
		case h.ID == jt808.IDRegister:
			send(jt808.IDRegisterReply, &jt808.RegisterReply{ReplySerial: h.Serial, Result: p.regResult, AuthCode: p.authCode})
		default:
			send(jt808.IDPlatformReply, &jt808.PlatformReply{ReplySerial: h.Serial, ReplyID: h.ID, Result: jt808.ResultOK})
			if h.ID == jt808.IDLocation && n == 1 && p.push != nil {
				if b := p.push(c, serial); b != nil {
					serial++
					if _, err := c.Write(b); err != nil {
						p.t.Errorf("platform push: %v", err)
					}
				}
			}
		}
	}
}

// receivedPackages returns a copy of the headers of the sub-packages received so far.
func (p *platform) receivedPackages() []jt808.Header {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]jt808.Header(nil), p.packages...)
}

// received returns a copy of the (reassembled) messages received so far with the given id (all
// if 0).
func (p *platform) received(id jt808.MsgID) []got {
	p.mu.Lock()
	defer p.mu.Unlock()
	var out []got
	for _, g := range p.msgs {
		if id == 0 || g.h.ID == id {
			out = append(out, g)
		}
	}
	return out
}

func ctxT(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// checkLocation compares a decoded 0x0200 body with the point it came from.
func checkLocation(t *testing.T, what string, l *jt808.Location, p Point) {
	t.Helper()
	if math.Abs(l.Lat()-p.Lat) > 1e-6 || math.Abs(l.Lon()-p.Lon) > 1e-6 {
		t.Errorf("%s: position %.6f,%.6f, want %.6f,%.6f", what, l.Lat(), l.Lon(), p.Lat, p.Lon)
	}
	if (p.Lat < 0) != (l.Status&jt808.StatusSouth != 0) || (p.Lon < 0) != (l.Status&jt808.StatusWest != 0) {
		t.Errorf("%s: status %#x for %.4f,%.4f", what, l.Status, p.Lat, p.Lon)
	}
	if p.ACC != (l.Status&jt808.StatusACC != 0) || p.Positioned != l.Fixed() {
		t.Errorf("%s: status %#x, want ACC %v positioned %v", what, l.Status, p.ACC, p.Positioned)
	}
	if math.Abs(l.SpeedKmh()-p.SpeedKmh) > 0.051 || int(l.Heading) != int(math.Round(p.Heading))%360 || l.Heading > 359 {
		t.Errorf("%s: speed %v heading %d, want %v %v", what, l.SpeedKmh(), l.Heading, p.SpeedKmh, p.Heading)
	}
	ts, err := l.Timestamp()
	if err != nil || !ts.Equal(p.Time.Truncate(time.Second)) {
		t.Errorf("%s: time %v (%v), want %v", what, ts, err, p.Time)
	}
	// The wall clock on the wire is Beijing time whatever the zone of p.Time.
	want := p.Time.In(time.FixedZone("", 8*3600)).Format("2006-01-02 15:04:05")
	if l.Time.String() != want {
		t.Errorf("%s: BCD time %s, want %s (GMT+8)", what, l.Time, want)
	}
	items := jt808.ItemMileage | jt808.ItemFuel | jt808.ItemSignal | jt808.ItemSatellites
	if l.Present != items || l.NExtra != 0 {
		t.Errorf("%s: items %b + %d raw, want mileage, fuel, signal, satellites", what, l.Present, l.NExtra)
	}
	if ids := l.AppendItemIDs(nil); string(ids) != "\x01\x02\x30\x31" {
		t.Errorf("%s: item ids % x", what, ids)
	}
	if math.Abs(float64(l.MileageDeciKm)/10-p.MileageKm) > 0.051 || math.Abs(float64(l.FuelDeciL)/10-p.FuelL) > 0.051 ||
		l.Signal != p.Signal || l.Satellites != p.Satellites {
		t.Errorf("%s: items mileage %d fuel %d signal %d sats %d, want %+v", what, l.MileageDeciKm, l.FuelDeciL, l.Signal, l.Satellites, p)
	}
}

func TestTerminalSpeaksJT808(t *testing.T) {
	for _, v := range []jt808.Version{jt808.Version2013, jt808.Version2019} {
		t.Run(v.String(), func(t *testing.T) { testTerminal(t, v) })
	}
}

func testTerminal(t *testing.T, v jt808.Version) {
	const phone = "13800000042"
	ctx := ctxT(t)
	pf := newPlatform(t, phone, v)
	var acks []Ack
	var ackMu sync.Mutex
	term, err := NewTerminal(Config{
		Phone: phone, Version: v, Plate: "鄂BA0042", PlateColor: 1, BlindBatch: 10,
		OnAck: func(a Ack) { ackMu.Lock(); acks = append(acks, a); ackMu.Unlock() },
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := term.Connect(ctx, pf.addr()); err != nil {
		t.Fatal(err)
	}
	defer term.Close()
	if err := term.Login(ctx); err != nil {
		t.Fatal(err)
	}
	if term.AuthCode() != pf.authCode {
		t.Fatalf("auth code %q", term.AuthCode())
	}
	if err := term.Heartbeat(ctx); err != nil {
		t.Fatal(err)
	}

	// Registration and authentication in the version's layout.
	regs := pf.received(jt808.IDRegister)
	if len(regs) != 1 {
		t.Fatalf("%d registrations", len(regs))
	}
	reg := regs[0].reg
	wantLayout := jt808.Layout2013
	if v == jt808.Version2019 {
		wantLayout = jt808.Layout2019
	}
	if reg.Layout != wantLayout || reg.Plate != "鄂BA0042" || reg.PlateColor != 1 || reg.Province != 42 || reg.City != 200 ||
		reg.Maker != "FLTSM" || reg.TerminalID != "0000042" {
		t.Errorf("register %+v", reg)
	}
	auth := pf.received(jt808.IDAuth)[0].auth
	if auth.Code != pf.authCode {
		t.Errorf("auth code %q", auth.Code)
	}
	if v == jt808.Version2019 && (auth.IMEI != "860013800000042" || auth.SoftwareVersion != "fleetsim-1") {
		t.Errorf("2019 auth %+v", auth)
	}
	if v == jt808.Version2013 && (auth.IMEI != "" || auth.SoftwareVersion != "") {
		t.Errorf("2013 auth %+v", auth)
	}

	// Single reports, including the southern and western hemispheres and a time in UTC.
	t0 := time.Date(2025, 1, 31, 17, 59, 58, 0, time.UTC) // 2025-02-01 01:59:58 in Beijing
	script := NewScript([]ScriptPoint{
		{Time: t0, Lat: 30.2001, Lon: 115.0402, SpeedKmh: 0},
		{Time: t0.Add(5 * time.Second), Lat: 30.2005, Lon: 115.0402, SpeedKmh: 32.5},
		{Time: t0.Add(10 * time.Second), Lat: -33.8688, Lon: 151.2093, SpeedKmh: 45},
		{Time: t0.Add(15 * time.Second), Lat: 40.4168, Lon: -3.7038, SpeedKmh: 12.3},
		{Time: t0.Add(20 * time.Second), Lat: -34.6037, Lon: -58.3816, SpeedKmh: 59.9},
	})
	var sent []Point
	for {
		p, ok := script.Next(time.Now())
		if !ok {
			break
		}
		sent = append(sent, p)
		if err := term.Report(p); err != nil {
			t.Fatal(err)
		}
	}
	// A coverage gap: nothing is sent during it, then 25 positions come in batches of 10, 10, 5.
	drv := NewDriver(DriverConfig{Seed: 5})
	if err := term.SetCoverage(false); err != nil {
		t.Fatal(err)
	}
	var gap []Point
	for i := range 25 {
		p, _ := drv.Next(t0.Add(time.Duration(30+5*i) * time.Second))
		gap = append(gap, p)
		if err := term.Report(p); err != nil {
			t.Fatal(err)
		}
	}
	if err := term.Heartbeat(ctx); err != nil { // out of coverage: not sent
		t.Fatal(err)
	}
	if term.Buffered() != 25 {
		t.Fatalf("buffered %d", term.Buffered())
	}
	if err := term.SetCoverage(true); err != nil {
		t.Fatal(err)
	}
	if err := term.WaitAcks(ctx); err != nil {
		t.Fatal(err)
	}
	if err := term.Logout(ctx); err != nil {
		t.Fatal(err)
	}

	locs := pf.received(jt808.IDLocation)
	if len(locs) != len(sent) {
		t.Fatalf("%d 0x0200, want %d", len(locs), len(sent))
	}
	for i := range locs {
		checkLocation(t, fmt.Sprintf("0x0200 #%d", i), &locs[i].loc, sent[i])
	}
	batches := pf.received(jt808.IDBatchLocation)
	if len(batches) != 3 || len(batches[0].batch) != 10 || len(batches[1].batch) != 10 || len(batches[2].batch) != 5 {
		t.Fatalf("blind-zone batches: %d", len(batches))
	}
	k := 0
	for _, b := range batches {
		if b.typ != jt808.BatchBlindZone {
			t.Errorf("batch type %d, want 1 (blind zone)", b.typ)
		}
		for i := range b.batch {
			checkLocation(t, fmt.Sprintf("0x0704 item %d", k), &b.batch[i], gap[k])
			k++
		}
	}

	// Every message in order, serials incrementing by one; exactly one heartbeat.
	all := pf.received(0)
	wantIDs := []jt808.MsgID{jt808.IDRegister, jt808.IDAuth, jt808.IDHeartbeat}
	for range sent {
		wantIDs = append(wantIDs, jt808.IDLocation)
	}
	wantIDs = append(wantIDs, jt808.IDBatchLocation, jt808.IDBatchLocation, jt808.IDBatchLocation, jt808.IDLogout)
	if len(all) != len(wantIDs) {
		t.Fatalf("%d messages, want %d", len(all), len(wantIDs))
	}
	for i, g := range all {
		if g.h.ID != wantIDs[i] || int(g.h.Serial) != i {
			t.Errorf("message %d: %s serial %d, want %s serial %d", i, g.h.ID, g.h.Serial, wantIDs[i], i)
		}
	}

	s := term.Stats()
	want := Snapshot{Sent: 8, PositionsSent: 30, Acked: 8, PositionsAcked: 30, Control: 4}
	if s != want {
		t.Errorf("stats %+v, want %+v", s, want)
	}
	if n := term.Metrics().Latency().Count(); n != 8 {
		t.Errorf("%d latency samples", n)
	}
	ackMu.Lock()
	defer ackMu.Unlock()
	if len(acks) != 8 || acks[7].ID != jt808.IDBatchLocation || acks[7].Positions != 5 || acks[7].Latency <= 0 {
		t.Errorf("acks %+v", acks)
	}
}

func TestTerminalBatch(t *testing.T) {
	ctx := ctxT(t)
	pf := newPlatform(t, "13900000001", jt808.Version2013)
	term, _ := NewTerminal(Config{Phone: "13900000001", Batch: 4})
	if err := term.Connect(ctx, pf.addr()); err != nil {
		t.Fatal(err)
	}
	defer term.Close()
	if err := term.Login(ctx); err != nil {
		t.Fatal(err)
	}
	drv := NewDriver(DriverConfig{Seed: 1})
	start := time.Now()
	var pts []Point
	for i := range 10 {
		p, _ := drv.Next(start.Add(time.Duration(i) * time.Second))
		pts = append(pts, p)
	}
	if err := term.Report(pts[0]); err != nil {
		t.Fatal(err)
	}
	if term.Buffered() != 1 {
		t.Fatalf("buffered %d, want 1", term.Buffered())
	}
	// Play sends the rest and flushes the last two, which do not fill a batch.
	if n, err := term.Play(ctx, Replay(pts[1:]), time.Millisecond); n != 9 || err != nil {
		t.Fatalf("Play = %d, %v", n, err)
	}
	bs := pf.received(jt808.IDBatchLocation)
	if len(bs) != 3 || len(bs[0].batch) != 4 || len(bs[2].batch) != 2 || bs[0].typ != jt808.BatchNormal {
		t.Fatalf("batches %d", len(bs))
	}
	k := 0
	for _, b := range bs {
		for i := range b.batch {
			checkLocation(t, fmt.Sprintf("item %d", k), &b.batch[i], pts[k])
			k++
		}
	}
	if s := term.Stats(); s.PositionsAcked != 10 || s.Acked != 3 || s.Pending != 0 {
		t.Errorf("stats %+v", s)
	}
}

// points returns n positions of a driver, one a second from start.
func points(seed uint64, start time.Time, n int) []Point {
	drv := NewDriver(DriverConfig{Seed: seed})
	pts := make([]Point, n)
	for i := range pts {
		pts[i], _ = drv.Next(start.Add(time.Duration(i) * time.Second))
	}
	return pts
}

// checkPackages checks that hs are the sub-packages of one message of bodyLen bytes, in order:
// consecutive serials from first, 消息总包数 and 包序号 (JT/T 808-2019 §4.4.3), every package
// but the last full.
func checkPackages(t *testing.T, hs []jt808.Header, first uint16, bodyLen int) {
	t.Helper()
	total := (bodyLen + jt808.MaxBodyLen - 1) / jt808.MaxBodyLen
	if len(hs) != total {
		t.Fatalf("%d packages, want %d for %d bytes", len(hs), total, bodyLen)
	}
	for i, h := range hs {
		wantLen := min(jt808.MaxBodyLen, bodyLen-i*jt808.MaxBodyLen)
		if h.ID != jt808.IDBatchLocation || !h.Fragmented || h.Serial != first+uint16(i) ||
			int(h.PkgTotal) != total || int(h.PkgIndex) != i+1 || int(h.BodyLen) != wantLen {
			t.Errorf("package %d: %s fragmented %v serial %d %d/%d %d bytes, want serial %d %d/%d %d bytes",
				i, h.ID, h.Fragmented, h.Serial, h.PkgIndex, h.PkgTotal, h.BodyLen, first+uint16(i), i+1, total, wantLen)
		}
	}
}

func TestTerminalSubpackagedBatch(t *testing.T) {
	for _, v := range []jt808.Version{jt808.Version2013, jt808.Version2019} {
		t.Run(v.String(), func(t *testing.T) { testSubpackagedBatch(t, v) })
	}
}

// testSubpackagedBatch sends a 0x0704 of 50 positions (3 + 50 × 46 = 2303 bytes: packages of
// 1023, 1023 and 257 bytes) from Config.Batch, then a blind-zone back-fill of 30 (1383 bytes:
// 1023 and 360), and checks the packages, the reassembled messages and the accounting.
func testSubpackagedBatch(t *testing.T, v jt808.Version) {
	const phone = "13900000010"
	ctx := ctxT(t)
	pf := newPlatform(t, phone, v)
	var acks []Ack
	var ackMu sync.Mutex
	term, _ := NewTerminal(Config{Phone: phone, Version: v, Batch: 50, BlindBatch: 30,
		OnAck: func(a Ack) { ackMu.Lock(); acks = append(acks, a); ackMu.Unlock() }})
	if err := term.Connect(ctx, pf.addr()); err != nil {
		t.Fatal(err)
	}
	defer term.Close()
	if err := term.Login(ctx); err != nil {
		t.Fatal(err)
	}
	pts := points(10, time.Now(), 80)
	for _, p := range pts[:50] {
		if err := term.Report(p); err != nil {
			t.Fatal(err)
		}
	}
	if err := term.SetCoverage(false); err != nil {
		t.Fatal(err)
	}
	for _, p := range pts[50:] {
		if err := term.Report(p); err != nil {
			t.Fatal(err)
		}
	}
	if err := term.SetCoverage(true); err != nil {
		t.Fatal(err)
	}
	if err := term.WaitAcks(ctx); err != nil {
		t.Fatal(err)
	}
	if err := term.Heartbeat(ctx); err != nil {
		t.Fatal(err)
	}

	// Register 0, auth 1, then packages 2, 3, 4 and 5, 6, and the heartbeat 7.
	hs := pf.receivedPackages()
	if len(hs) != 5 {
		t.Fatalf("%d packages, want 3 + 2", len(hs))
	}
	checkPackages(t, hs[:3], 2, batchHeadLen+50*batchItemLen)
	checkPackages(t, hs[3:], 5, batchHeadLen+30*batchItemLen)
	if hb := pf.received(jt808.IDHeartbeat); len(hb) != 1 || hb[0].h.Serial != 7 {
		t.Errorf("heartbeat %+v, want serial 7 after the packages", hb)
	}
	bs := pf.received(jt808.IDBatchLocation)
	if len(bs) != 2 || len(bs[0].batch) != 50 || bs[0].typ != jt808.BatchNormal || bs[0].pkgs != 3 ||
		len(bs[1].batch) != 30 || bs[1].typ != jt808.BatchBlindZone || bs[1].pkgs != 2 {
		t.Fatalf("reassembled %d 0x0704", len(bs))
	}
	k := 0
	for _, b := range bs {
		for i := range b.batch {
			checkLocation(t, fmt.Sprintf("item %d", k), &b.batch[i], pts[k])
			k++
		}
	}
	want := Snapshot{Sent: 2, PositionsSent: 80, Acked: 2, PositionsAcked: 80, Control: 3}
	if s := term.Stats(); s != want {
		t.Errorf("stats %+v, want %+v", s, want)
	}
	ackMu.Lock()
	defer ackMu.Unlock()
	if len(acks) != 2 || acks[0].Serial != 2 || acks[0].Packages != 3 || acks[0].Positions != 50 ||
		acks[1].Serial != 5 || acks[1].Packages != 2 || acks[1].Positions != 30 {
		t.Errorf("acks %+v", acks)
	}
}

func TestTerminalSendBatchLimit(t *testing.T) {
	term, _ := NewTerminal(Config{Phone: "13900000011", Batch: MaxBatch + 1, BlindBatch: MaxBatch + 1})
	if term.cfg.Batch != MaxBatch || term.cfg.BlindBatch != MaxBatch {
		t.Errorf("Batch %d BlindBatch %d, want both clamped to %d", term.cfg.Batch, term.cfg.BlindBatch, MaxBatch)
	}
	if err := term.SendBatch(0, make([]Point, MaxBatch+1)); err == nil {
		t.Error("SendBatch of MaxBatch+1 positions succeeded")
	}
	if SinglePackageBatch != 22 {
		t.Errorf("SinglePackageBatch = %d, want 22", SinglePackageBatch)
	}
	// The constants describe what locationOf produces.
	var b jt808.BatchLocation
	b.Items = make([]jt808.Location, SinglePackageBatch+1)
	for i := range b.Items {
		locationOf(&Point{Lat: 30, Lon: 115, MileageKm: 1e6}, &b.Items[i])
	}
	if n := len(b.AppendTo(nil, jt808.Version2019)); n != batchHeadLen+(SinglePackageBatch+1)*batchItemLen || n <= jt808.MaxBodyLen {
		t.Errorf("batch of %d is %d bytes, want %d and over %d", SinglePackageBatch+1, n,
			batchHeadLen+(SinglePackageBatch+1)*batchItemLen, jt808.MaxBodyLen)
	}
}

func TestTerminalAnswersResendRequest(t *testing.T) {
	for _, v := range []jt808.Version{jt808.Version2013, jt808.Version2019} {
		t.Run(v.String(), func(t *testing.T) { testAnswersResendRequest(t, v) })
	}
}

// testAnswersResendRequest loses package 2 of 3: the platform answers 1 and 3 (receipt only),
// asks for 2 with 0x8003, and answers the resent 2, which completes the message, once it is
// decoded. The report is acknowledged by that last answer, not by package 3's.
func testAnswersResendRequest(t *testing.T, v jt808.Version) {
	const phone = "13900000012"
	ctx := ctxT(t)
	pf := newPlatform(t, phone, v)
	pf.dropPkg[2] = true
	var ackedAtRequest atomic.Int64
	ackedAtRequest.Store(-1)
	var term *Terminal
	term, _ = NewTerminal(Config{Phone: phone, Version: v, OnMessage: func(h *jt808.Header, _ []byte) {
		if h.ID == jt808.IDResendRequest {
			// The reader has handled the answers to packages 1 and 3, which come first.
			ackedAtRequest.Store(term.Stats().Acked)
		}
	}})
	if err := term.Connect(ctx, pf.addr()); err != nil {
		t.Fatal(err)
	}
	defer term.Close()
	if err := term.Login(ctx); err != nil {
		t.Fatal(err)
	}
	pts := points(12, time.Now(), 50)
	if err := term.SendBatch(jt808.BatchNormal, pts); err != nil {
		t.Fatal(err)
	}
	if err := term.WaitAcks(ctx); err != nil {
		t.Fatal(err)
	}
	hs := pf.receivedPackages()
	if len(hs) != 4 {
		t.Fatalf("%d packages on the wire, want 3 and package 2 again", len(hs))
	}
	checkPackages(t, hs[:3], 2, batchHeadLen+50*batchItemLen)
	if hs[3] != hs[1] {
		t.Errorf("resent package %+v, want %+v", hs[3], hs[1])
	}
	if n := ackedAtRequest.Load(); n != 0 {
		t.Errorf("%d reports acknowledged when the platform asked for a missing package, want 0", n)
	}
	bs := pf.received(jt808.IDBatchLocation)
	if len(bs) != 1 || len(bs[0].batch) != 50 {
		t.Fatalf("reassembled %d 0x0704", len(bs))
	}
	for i := range bs[0].batch {
		checkLocation(t, fmt.Sprintf("item %d", i), &bs[0].batch[i], pts[i])
	}
	want := Snapshot{Sent: 1, PositionsSent: 50, Acked: 1, PositionsAcked: 50, PackagesResent: 1, Control: 2}
	if s := term.Stats(); s != want {
		t.Errorf("stats %+v, want %+v", s, want)
	}
}

// TestTerminalResendsAllPackages leaves the last package of a sub-packaged report unanswered:
// the terminal resends all its packages with their serials, and counts the report once.
func TestTerminalResendsAllPackages(t *testing.T) {
	const phone = "13900000013"
	ctx := ctxT(t)
	pf := newPlatform(t, phone, jt808.Version2019)
	pf.ignore[jt808.IDBatchLocation] = map[int]bool{3: true}
	term, _ := NewTerminal(Config{Phone: phone, Version: jt808.Version2019, AckTimeout: 100 * time.Millisecond})
	if err := term.Connect(ctx, pf.addr()); err != nil {
		t.Fatal(err)
	}
	defer term.Close()
	if err := term.Login(ctx); err != nil {
		t.Fatal(err)
	}
	if err := term.SendBatch(jt808.BatchNormal, points(13, time.Now(), 50)); err != nil {
		t.Fatal(err)
	}
	if err := term.WaitAcks(ctx); err != nil {
		t.Fatal(err)
	}
	hs := pf.receivedPackages()
	if len(hs) != 6 {
		t.Fatalf("%d packages on the wire, want 3 twice", len(hs))
	}
	checkPackages(t, hs[:3], 2, batchHeadLen+50*batchItemLen)
	checkPackages(t, hs[3:], 2, batchHeadLen+50*batchItemLen)
	if n := len(pf.received(jt808.IDBatchLocation)); n != 2 {
		t.Errorf("reassembled %d 0x0704, want 2 (the platform stores the resend idempotently)", n)
	}
	want := Snapshot{Sent: 1, PositionsSent: 50, Acked: 1, PositionsAcked: 50, Resent: 1, Control: 2}
	if s := term.Stats(); s != want {
		t.Errorf("stats %+v, want %+v", s, want)
	}
}

func TestNthFrame(t *testing.T) {
	term, _ := NewTerminal(Config{Phone: "13900000014"})
	body := make([]byte, 2*jt808.MaxBodyLen+5)
	for i := range body {
		body[i] = byte(i) | 0x7c // plenty of 0x7d and 0x7e to escape
	}
	frames := term.appendPackages(nil, jt808.IDBatchLocation, 65535, 3, body) // serials wrap
	for i := range 3 {
		fr := nthFrame(frames, i)
		if len(fr) < 2 || fr[0] != 0x7e || fr[len(fr)-1] != 0x7e {
			t.Fatalf("frame %d: % x", i, fr)
		}
		raw, err := jt808.Unescape(nil, fr[1:len(fr)-1])
		if err != nil {
			t.Fatal(err)
		}
		var f jt808.Frame
		if err := jt808.ParseFrame(raw, &f); err != nil {
			t.Fatal(err)
		}
		want := body[i*jt808.MaxBodyLen : min(len(body), (i+1)*jt808.MaxBodyLen)]
		if f.Header.Serial != uint16(65535+i) || int(f.Header.PkgIndex) != i+1 || f.Header.PkgTotal != 3 || string(f.Body) != string(want) {
			t.Errorf("frame %d: %+v, %d bytes", i, f.Header, len(f.Body))
		}
	}
	if fr := nthFrame(frames, 3); fr != nil {
		t.Errorf("frame 3 of 3: % x", fr)
	}
}

func TestTerminalResendsUnacknowledged(t *testing.T) {
	ctx := ctxT(t)
	pf := newPlatform(t, "13900000002", jt808.Version2019)
	pf.ignore[jt808.IDLocation] = map[int]bool{2: true} // the second 0x0200 goes unanswered once
	term, _ := NewTerminal(Config{Phone: "13900000002", Version: jt808.Version2019, AckTimeout: 100 * time.Millisecond})
	if err := term.Connect(ctx, pf.addr()); err != nil {
		t.Fatal(err)
	}
	defer term.Close()
	if err := term.Login(ctx); err != nil {
		t.Fatal(err)
	}
	drv := NewDriver(DriverConfig{Seed: 2})
	for i := range 3 {
		p, _ := drv.Next(time.Now().Add(time.Duration(i) * time.Second))
		if err := term.Report(p); err != nil {
			t.Fatal(err)
		}
	}
	if err := term.WaitAcks(ctx); err != nil {
		t.Fatal(err)
	}
	locs := pf.received(jt808.IDLocation)
	if len(locs) != 4 || locs[3].h.Serial != locs[1].h.Serial {
		t.Fatalf("%d 0x0200, want 4 with the last resending serial %d", len(locs), locs[1].h.Serial)
	}
	s := term.Stats()
	if s.Sent != 3 || s.Acked != 3 || s.Resent != 1 || s.Pending != 0 {
		t.Errorf("stats %+v", s)
	}
	if max := term.Metrics().Latency().Max(); max < 100*time.Millisecond {
		t.Errorf("latency max %v: the resent report's latency starts at its first sending", max)
	}
}

func TestTerminalGivesUp(t *testing.T) {
	ctx := ctxT(t)
	pf := newPlatform(t, "13900000003", jt808.Version2013)
	pf.ignoreAll[jt808.IDLocation] = true
	term, _ := NewTerminal(Config{Phone: "13900000003", AckTimeout: 30 * time.Millisecond, MaxResends: 2})
	if err := term.Connect(ctx, pf.addr()); err != nil {
		t.Fatal(err)
	}
	defer term.Close()
	if err := term.Login(ctx); err != nil {
		t.Fatal(err)
	}
	if err := term.Report(Point{Time: time.Now(), Lat: 30.2, Lon: 115.04, Positioned: true}); err != nil {
		t.Fatal(err)
	}
	wctx, cancel := context.WithTimeout(ctx, 500*time.Millisecond)
	defer cancel()
	if err := term.WaitAcks(wctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("WaitAcks = %v, want deadline", err)
	}
	// Resent after 30 ms and 30 + 60 ms, then left pending.
	if s := term.Stats(); s.Resent != 2 || s.Pending != 1 || s.PositionsPending != 1 || s.Acked != 0 {
		t.Errorf("stats %+v", s)
	}
	if n := len(pf.received(jt808.IDLocation)); n != 3 {
		t.Errorf("%d 0x0200 on the wire, want 3", n)
	}
}

func TestTerminalReconnectResends(t *testing.T) {
	ctx := ctxT(t)
	pf := newPlatform(t, "13900000004", jt808.Version2013)
	pf.closeAfter = 2 // the platform drops the connection on the second report, unanswered
	term, _ := NewTerminal(Config{Phone: "13900000004"})
	if err := term.Connect(ctx, pf.addr()); err != nil {
		t.Fatal(err)
	}
	defer term.Close()
	if err := term.Login(ctx); err != nil {
		t.Fatal(err)
	}
	p := Point{Time: time.Now(), Lat: 30.2, Lon: 115.04, Positioned: true}
	for range 2 {
		if err := term.Report(p); err != nil {
			t.Fatal(err)
		}
	}
	<-term.Done()
	if !errors.Is(term.Err(), io.EOF) {
		t.Errorf("Err = %v, want EOF", term.Err())
	}
	if err := term.Report(p); !errors.Is(err, ErrNotConnected) {
		t.Errorf("Report on a dead connection = %v", err)
	}
	if term.Pending() != 2 { // the second report, and the third (recorded, write failed)
		t.Fatalf("pending %d", term.Pending())
	}
	pf.mu.Lock()
	pf.closeAfter = 0
	pf.mu.Unlock()
	if err := term.Connect(ctx, pf.addr()); err != nil {
		t.Fatal(err)
	}
	if err := term.Login(ctx); err != nil { // the remembered auth code: no new registration
		t.Fatal(err)
	}
	if err := term.WaitAcks(ctx); err != nil {
		t.Fatal(err)
	}
	if n := len(pf.received(jt808.IDRegister)); n != 1 {
		t.Errorf("%d registrations", n)
	}
	if s := term.Stats(); s.Acked != 3 || s.Pending != 0 || s.Resent != 2 {
		t.Errorf("stats %+v", s)
	}
}

func TestTerminalRegisterRejected(t *testing.T) {
	ctx := ctxT(t)
	pf := newPlatform(t, "13900000005", jt808.Version2019)
	pf.regResult = jt808.RegisterNoSuchTerminal
	term, _ := NewTerminal(Config{Phone: "13900000005", Version: jt808.Version2019})
	if err := term.Connect(ctx, pf.addr()); err != nil {
		t.Fatal(err)
	}
	defer term.Close()
	err := term.Login(ctx)
	var re *RegisterError
	if !errors.As(err, &re) || re.Result != 4 {
		t.Fatalf("Login = %v, want RegisterError 4", err)
	}
}

func TestTerminalAnswersPlatform(t *testing.T) {
	ctx := ctxT(t)
	pf := newPlatform(t, "13900000006", jt808.Version2013)
	phone, _ := jt808.ParsePhone("13900000006", jt808.Version2013)
	pf.push = func(_ net.Conn, serial uint16) []byte {
		// A location query and a text message, back to back.
		h := jt808.Header{ID: jt808.IDQueryLocation, Phone: phone, Serial: serial}
		b := jt808.AppendFrame(nil, &h, nil)
		h = jt808.Header{ID: jt808.IDTextMessage, Phone: phone, Serial: serial + 1}
		tm := jt808.TextMessage{Text: "请回单位"}
		return jt808.AppendFrame(b, &h, tm.AppendTo(nil, jt808.Version2013))
	}
	var seen sync.Map
	term, _ := NewTerminal(Config{Phone: "13900000006", OnMessage: func(h *jt808.Header, body []byte) {
		seen.Store(h.ID, len(body))
	}})
	if err := term.Connect(ctx, pf.addr()); err != nil {
		t.Fatal(err)
	}
	defer term.Close()
	if err := term.Login(ctx); err != nil {
		t.Fatal(err)
	}
	p := Point{Time: time.Now(), Lat: 30.21, Lon: 115.05, Positioned: true, Heading: 359.6}
	if err := term.Report(p); err != nil {
		t.Fatal(err)
	}
	if err := term.WaitAcks(ctx); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for len(pf.received(jt808.IDTerminalReply)) == 0 || len(pf.received(jt808.IDQueryLocationReply)) == 0 {
		if time.Now().After(deadline) {
			t.Fatal("no answers to the platform's requests")
		}
		time.Sleep(10 * time.Millisecond)
	}
	r := pf.received(jt808.IDTerminalReply)[0].reply
	if r.ReplyID != jt808.IDTextMessage || r.Result != 0 {
		t.Errorf("0x0001 %+v", r)
	}
	if _, ok := seen.Load(jt808.IDTextMessage); !ok {
		t.Error("OnMessage did not see 0x8300")
	}
	if q := pf.received(jt808.IDQueryLocationReply)[0]; q.loc.Heading != 0 || math.Abs(q.loc.Lat()-30.21) > 1e-6 {
		t.Errorf("0x0201 serial %d heading %d lat %v", q.qrSerial, q.loc.Heading, q.loc.Lat())
	}
}

// acker is a minimal platform for benchmarks: it answers every message and allocates nothing in
// the steady state.
func acker(b *testing.B) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				sp := jt808.NewSplitter(c, 0)
				var (
					f         jt808.Frame
					body, out []byte
					pr        jt808.PlatformReply
					rr        jt808.RegisterReply
				)
				for {
					raw, err := sp.Next()
					if err != nil {
						return
					}
					if jt808.ParseFrame(raw, &f) != nil {
						continue
					}
					h := jt808.Header{ID: jt808.IDPlatformReply, Version: f.Header.Version, Phone: f.Header.Phone}
					if f.Header.ID == jt808.IDRegister {
						h.ID = jt808.IDRegisterReply
						rr = jt808.RegisterReply{ReplySerial: f.Header.Serial, AuthCode: "ok"}
						body = rr.AppendTo(body[:0], h.Version)
					} else {
						pr = jt808.PlatformReply{ReplySerial: f.Header.Serial, ReplyID: f.Header.ID}
						body = pr.AppendTo(body[:0], h.Version)
					}
					out = jt808.AppendFrame(out[:0], &h, body)
					if _, err := c.Write(out); err != nil {
						return
					}
				}
			}()
		}
	}()
	return ln.Addr().String()
}

// BenchmarkTerminalReport measures the load generator's cost per 0x0200 (with its 0x8001) and
// per 0x0704 of 10 positions, and per 0x0704 of 50 in 3 sub-packages, both ends included.
func BenchmarkTerminalReport(b *testing.B) {
	for _, batch := range []int{0, 10, 50} {
		b.Run(fmt.Sprintf("batch%d", batch), func(b *testing.B) {
			addr := acker(b)
			term, _ := NewTerminal(Config{Phone: "13900000099", Version: jt808.Version2019, Batch: batch})
			if err := term.Connect(b.Context(), addr); err != nil {
				b.Fatal(err)
			}
			defer term.Close()
			if err := term.Login(b.Context()); err != nil {
				b.Fatal(err)
			}
			drv := NewDriver(DriverConfig{Seed: 1})
			now := time.Now()
			b.ReportAllocs()
			b.ResetTimer()
			for i := range b.N {
				p, _ := drv.Next(now.Add(time.Duration(i) * time.Second))
				if err := term.Report(p); err != nil {
					b.Fatal(err)
				}
				if i%64 == 63 { // keep the pending table small, as acks would at a real rate
					if err := term.WaitAcks(b.Context()); err != nil {
						b.Fatal(err)
					}
				}
			}
			if err := term.WaitAcks(b.Context()); err != nil {
				b.Fatal(err)
			}
		})
	}
}

func TestTerminalBlindCap(t *testing.T) {
	term, err := NewTerminal(Config{Phone: "13900000007", BlindCap: 10})
	if err != nil {
		t.Fatal(err)
	}
	if err := term.SetCoverage(false); err != nil { // no connection needed to leave coverage
		t.Fatal(err)
	}
	for i := range 25 {
		if err := term.Report(Point{Time: time.Unix(int64(i), 0), Positioned: true}); err != nil {
			t.Fatal(err)
		}
	}
	if n := term.Buffered(); n > 10 || n < 9 {
		t.Errorf("buffered %d, want at most the cap of 10", n)
	}
	if s := term.Stats(); s.BlindDropped+int64(term.Buffered()) != 25 {
		t.Errorf("dropped %d + buffered %d != 25", s.BlindDropped, term.Buffered())
	}
	if err := term.SetCoverage(true); !errors.Is(err, ErrNotConnected) {
		t.Errorf("back-fill without a connection = %v", err)
	}
}
