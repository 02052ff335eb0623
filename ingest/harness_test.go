package ingest_test

import (
	"context"
	"encoding/hex"
	"errors"
	"io"
	"log/slog"
	"net"
	"os"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"

	"fleetmon/ingest"
	"fleetmon/ingest/jt808"
	"fleetmon/track"
	"fleetmon/track/pgtest"
)

// gateway is a real gateway on 127.0.0.1:0 storing into a test schema.
type gateway struct {
	addr   string
	pool   *pgxpool.Pool
	reg    *prometheus.Registry
	server *ingest.Server
}

func logger(t testing.TB) *slog.Logger {
	if os.Getenv("FLEETMON_TEST_LOG") != "" {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return slog.New(slog.NewTextHandler(io.Discard, nil))
}

// startGateway starts the writer and the gateway on pool; csv, if not
// empty, is imported first.
func startGateway(t testing.TB, pool *pgxpool.Pool, cfg ingest.Config, csv string) *gateway {
	t.Helper()
	return startGatewayWith(t, pool, cfg, csv, func(w *track.Writer) ingest.Sink { return w })
}

// startGatewayWith is startGateway with the sink made of the writer by sink.
func startGatewayWith(t testing.TB, pool *pgxpool.Pool, cfg ingest.Config, csv string, sink func(*track.Writer) ingest.Sink) *gateway {
	t.Helper()
	if csv != "" {
		importCSV(t, pool, csv)
	}
	reg := prometheus.NewRegistry()
	w := track.NewWriter(pool, track.WriterConfig{RetryMax: 500 * time.Millisecond}, logger(t), reg)
	wctx, stopWriter := context.WithCancel(context.Background())
	wdone := make(chan struct{})
	go func() { defer close(wdone); _ = w.Run(wctx, 5*time.Second) }()
	srv := ingest.NewServer(cfg, sink(w), track.NewStore(pool), logger(t), reg)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	sdone := make(chan error, 1)
	go func() { sdone <- srv.Serve(ln) }()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := srv.Shutdown(ctx); err != nil {
			t.Errorf("shutdown: %v", err)
		}
		if err := <-sdone; !errors.Is(err, ingest.ErrServerClosed) {
			t.Errorf("serve: %v", err)
		}
		stopWriter()
		<-wdone
	})
	return &gateway{addr: ln.Addr().String(), pool: pool, reg: reg, server: srv}
}

func importCSV(t testing.TB, pool *pgxpool.Pool, csv string) {
	t.Helper()
	vs, err := track.ParseVehicleCSV(stringsReader(csv))
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := track.NewStore(pool).ImportVehicles(context.Background(), vs); err != nil {
		t.Fatal(err)
	}
}

func newGateway(t testing.TB, cfg ingest.Config, csv string) *gateway {
	return startGateway(t, pgtest.New(t).Pool, cfg, csv)
}

// counter reads a counter of the gateway's registry.
func (g *gateway) counter(t testing.TB, name string, labels ...string) float64 {
	t.Helper()
	mfs, err := g.reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
	next:
		for _, m := range mf.GetMetric() {
			for i := 0; i+1 < len(labels); i += 2 {
				found := false
				for _, lp := range m.GetLabel() {
					if lp.GetName() == labels[i] && lp.GetValue() == labels[i+1] {
						found = true
					}
				}
				if !found {
					continue next
				}
			}
			if c := m.GetCounter(); c != nil {
				return c.GetValue()
			}
			return m.GetGauge().GetValue()
		}
	}
	return 0
}

// terminal is a minimal test-side terminal built on the codec, so tests
// can send exactly the bytes they mean, odd ones included.
type terminal struct {
	t       testing.TB
	conn    net.Conn
	sp      *jt808.Splitter
	phone   jt808.Phone
	version jt808.Version
	serial  uint16
	buf     []byte
}

func dial(t testing.TB, addr, phone string, v jt808.Version) *terminal {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	p, err := jt808.ParsePhone(phone, v)
	if err != nil {
		t.Fatal(err)
	}
	return &terminal{t: t, conn: c, sp: jt808.NewSplitter(c, 0), phone: p, version: v, serial: 1}
}

// header returns the next header for id.
func (tm *terminal) header(id jt808.MsgID) jt808.Header {
	h := jt808.Header{ID: id, Version: tm.version, Phone: tm.phone, Serial: tm.serial}
	if tm.version == jt808.Version2019 {
		h.ProtoVer = 1
	}
	tm.serial++
	return h
}

// send frames and writes body as id, returning the header used.
func (tm *terminal) send(id jt808.MsgID, body []byte) jt808.Header {
	tm.t.Helper()
	h := tm.header(id)
	tm.write(jt808.AppendFrame(nil, &h, body))
	return h
}

func (tm *terminal) write(b []byte) {
	tm.t.Helper()
	if _, err := tm.conn.Write(b); err != nil {
		tm.t.Fatalf("write: %v", err)
	}
}

// reply reads the next frame from the platform.
func (tm *terminal) reply() jt808.Frame {
	tm.t.Helper()
	f, err := tm.tryReply(10 * time.Second)
	if err != nil {
		tm.t.Fatalf("read reply: %v", err)
	}
	return f
}

func (tm *terminal) tryReply(d time.Duration) (jt808.Frame, error) {
	_ = tm.conn.SetReadDeadline(time.Now().Add(d))
	raw, err := tm.sp.Next()
	if err != nil {
		return jt808.Frame{}, err
	}
	var f jt808.Frame
	if err := jt808.ParseFrame(append([]byte(nil), raw...), &f); err != nil {
		return f, err
	}
	return f, nil
}

// generalReply reads a 0x8001 and checks that it answers h.
func (tm *terminal) generalReply(h jt808.Header) uint8 {
	tm.t.Helper()
	f := tm.reply()
	if f.Header.ID != jt808.IDPlatformReply {
		tm.t.Fatalf("got %v, want 0x8001 answering %v", f.Header.ID, h.ID)
	}
	if f.Header.Version != h.Version || f.Header.Phone != h.Phone {
		tm.t.Fatalf("reply in version %v to %v, want the terminal's own %v %v", f.Header.Version, f.Header.Phone, h.Version, h.Phone)
	}
	var r jt808.PlatformReply
	if err := r.Decode(f.Body, &f.Header); err != nil {
		tm.t.Fatal(err)
	}
	if r.ReplySerial != h.Serial || r.ReplyID != h.ID {
		tm.t.Fatalf("0x8001 answers %v serial %d, want %v serial %d", r.ReplyID, r.ReplySerial, h.ID, h.Serial)
	}
	return r.Result
}

// register sends 0x0100 and returns the 0x8100 result and auth code.
func (tm *terminal) register(plate string) (uint8, string) {
	tm.t.Helper()
	reg := jt808.Register{Province: 42, City: 200, Maker: "FLEET", Model: "SIM-1", TerminalID: "T1",
		PlateColor: 1, Plate: plate}
	h := tm.send(jt808.IDRegister, reg.AppendTo(nil, tm.version))
	f := tm.reply()
	if f.Header.ID != jt808.IDRegisterReply {
		tm.t.Fatalf("got %v, want 0x8100", f.Header.ID)
	}
	var r jt808.RegisterReply
	if err := r.Decode(f.Body, &f.Header); err != nil {
		tm.t.Fatal(err)
	}
	if r.ReplySerial != h.Serial {
		tm.t.Fatalf("0x8100 answers serial %d, want %d", r.ReplySerial, h.Serial)
	}
	return r.Result, r.AuthCode
}

// login registers and authenticates, failing the test otherwise.
func (tm *terminal) login(plate string) {
	tm.t.Helper()
	res, code := tm.register(plate)
	if res != 0 {
		tm.t.Fatalf("register: result %d", res)
	}
	a := jt808.Auth{Code: code, IMEI: "860000000000001", SoftwareVersion: "1.0"}
	h := tm.send(jt808.IDAuth, a.AppendTo(nil, tm.version))
	if r := tm.generalReply(h); r != 0 {
		tm.t.Fatalf("auth: result %d", r)
	}
}

// location builds a 0x0200 body.
func location(t time.Time, lat, lon float64, speedKmh float64) *jt808.Location {
	l := &jt808.Location{Status: jt808.StatusACC | jt808.StatusFixed, SpeedDeciKmh: uint16(speedKmh * 10),
		Heading: 123, AltitudeM: 40, Time: jt808.NewBCDTime(t)}
	if lat < 0 {
		l.Status |= jt808.StatusSouth
		lat = -lat
	}
	if lon < 0 {
		l.Status |= jt808.StatusWest
		lon = -lon
	}
	l.LatE6, l.LonE6 = uint32(lat*1e6+0.5), uint32(lon*1e6+0.5)
	return l
}

func mustHex(t testing.TB, s string) []byte {
	b, err := hex.DecodeString(s)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func trackStore(g *gateway) *track.Store { return track.NewStore(g.pool) }
