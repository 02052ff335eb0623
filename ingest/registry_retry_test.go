package ingest_test

import (
	"context"
	"errors"
	"net"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"fleetmon/ingest"
	"fleetmon/ingest/jt808"
	"fleetmon/track"
	"fleetmon/track/pgtest"
)

// flakyRegistry is the store's registry whose first calls fail as while
// the database fails over: no server accepts writes yet.
type flakyRegistry struct {
	*track.Store
	failures atomic.Int32
}

var errNoPrimary = errors.New("failed to connect: no server accepts writes")

func (f *flakyRegistry) Register(ctx context.Context, reg track.Registration, open bool) (track.RegisterResult, string, error) {
	if f.failures.Add(-1) >= 0 {
		return 0, "", errNoPrimary
	}
	return f.Store.Register(ctx, reg, open)
}

func (f *flakyRegistry) Authenticate(ctx context.Context, a track.Authentication) (track.Terminal, bool, error) {
	if f.failures.Add(-1) >= 0 {
		return track.Terminal{}, false, errNoPrimary
	}
	return f.Store.Authenticate(ctx, a)
}

// TestRegistryRetriedThroughFailover registers and authenticates a
// terminal while the registry fails a few times (a failover under way):
// the gateway asks again and answers the frames it has, rather than
// leaving the terminal to wait out its reply timeout and send again.
func TestRegistryRetriedThroughFailover(t *testing.T) {
	pool := pgtest.New(t).Pool
	importCSV(t, pool, fleetCSV)
	reg := prometheus.NewRegistry()
	w := track.NewWriter(pool, track.WriterConfig{}, logger(t), reg)
	wctx, stopWriter := context.WithCancel(context.Background())
	wdone := make(chan struct{})
	go func() { defer close(wdone); _ = w.Run(wctx, 5*time.Second) }()
	flaky := &flakyRegistry{Store: track.NewStore(pool)}
	srv := ingest.NewServer(ingest.Config{}, w, flaky, logger(t), reg)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = srv.Shutdown(ctx)
		stopWriter()
		<-wdone
	})
	g := &gateway{addr: ln.Addr().String(), pool: pool, reg: reg, server: srv}

	tm := dial(t, g.addr, "13800000001", jt808.Version2013)
	flaky.failures.Store(3)
	res, code := tm.register("鄂B12345") // fails the test if no 0x8100 comes
	if res != 0 || code == "" {
		t.Fatalf("register: result %d code %q", res, code)
	}
	flaky.failures.Store(2)
	h := tm.send(jt808.IDAuth, (&jt808.Auth{Code: code}).AppendTo(nil, jt808.Version2013))
	if r := tm.generalReply(h); r != 0 {
		t.Fatalf("auth: result %d", r)
	}
	if n := g.counter(t, "fleetmon_ingest_registry_retries_total"); n != 5 {
		t.Errorf("%v registry retries counted, want 5", n)
	}
}
