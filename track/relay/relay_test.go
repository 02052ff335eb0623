package relay

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"os"
	"reflect"
	"slices"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"fleetmon/ingest/mqtttest"
	"fleetmon/track"
)

func logger() *slog.Logger {
	if os.Getenv("FLEETMON_TEST_LOG") != "" {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return slog.New(slog.NewTextHandler(io.Discard, nil))
}

func position(vid int64, sec int) track.Position {
	t := time.Date(2026, 11, 21, 14, 0, sec, 0, time.UTC)
	return track.Position{VehicleID: vid, TerminalID: vid + 100, Time: t, Received: t.Add(1500 * time.Microsecond),
		Lat: 30.2 + float64(sec)/1e4, Lon: -115.04, SpeedKmh: 42.5, Heading: 359, AltitudeM: -12,
		Alarm: 1 << 8, Status: 3, Backfill: sec%2 == 1, Items: []byte(`{"0x25":"01"}`)}
}

func TestCodecRoundTrip(t *testing.T) {
	for _, n := range []int{0, 1, 7, 2000} {
		ps := make([]track.Position, n)
		for i := range ps {
			ps[i] = position(int64(i+1), i%60)
		}
		got, err := decodePositions(nil, appendPositions(nil, ps))
		if err != nil {
			t.Fatalf("%d positions: %v", n, err)
		}
		if len(got) != n {
			t.Fatalf("%d positions: decoded %d", n, len(got))
		}
		for i := range got {
			want := ps[i]
			want.Items = nil // not relayed
			if !got[i].Time.Equal(want.Time) || !got[i].Received.Equal(want.Received) {
				t.Fatalf("position %d times: got %v %v want %v %v", i, got[i].Time, got[i].Received, want.Time, want.Received)
			}
			got[i].Time, got[i].Received, want.Time, want.Received = time.Time{}, time.Time{}, time.Time{}, time.Time{}
			if !slices.Equal(got[i].Items, want.Items) || got[i].Items != nil {
				t.Fatalf("position %d items: %q", i, got[i].Items)
			}
			got[i].Items, want.Items = nil, nil
			if !reflect.DeepEqual(got[i], want) {
				t.Fatalf("position %d:\ngot  %+v\nwant %+v", i, got[i], want)
			}
		}
	}
}

func TestCodecRefusesMalformed(t *testing.T) {
	good := appendPositions(nil, []track.Position{position(1, 0), position(2, 1)})
	for name, b := range map[string][]byte{
		"empty":         nil,
		"other version": append([]byte{2}, good[1:]...),
		"no count":      {formatV1},
		"truncated":     good[:len(good)-1],
		"trailing":      append(slices.Clone(good), 0),
		"count too big": {formatV1, 0xff, 0xff, 0xff, 0xff, 0x0f},
	} {
		if _, err := decodePositions(nil, b); !errors.Is(err, errFormat) {
			t.Errorf("%s: got %v, want errFormat", name, err)
		}
	}
}

// hubFunc is a Hub for tests: it sends what it gets on a channel.
type hubFunc chan []track.Position

func (h hubFunc) Publish(ps []track.Position) { h <- slices.Clone(ps) }

type node struct {
	r      *Relay
	hub    hubFunc
	alerts chan []string
	reload chan struct{}
	reg    *prometheus.Registry
}

// node is the relay's Peers: it sends what it is told on its channels.
func (n *node) AlertsChanged(ids []string) { n.alerts <- ids }
func (n *node) RulesChanged()              { n.reload <- struct{}{} }

func startNode(t *testing.T, broker, id string) *node {
	t.Helper()
	n := &node{hub: make(hubFunc, 100), alerts: make(chan []string, 100), reload: make(chan struct{}, 10), reg: prometheus.NewRegistry()}
	r, err := New(Config{Broker: broker, NodeID: id, Linger: 10 * time.Millisecond, MaxBatch: 3}, n.hub, logger(), n.reg)
	if err != nil {
		t.Fatal(err)
	}
	n.r = r
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- r.Run(ctx, n) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("relay %s: %v", id, err)
		}
	})
	waitFor(t, "relay "+id+" connected", func() bool { return testutil.ToFloat64(r.m.connected) == 1 })
	return n
}

func waitFor(t *testing.T, what string, ok func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !ok() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// receive collects positions from a hub until it has n of them.
func receive(t *testing.T, h hubFunc, n int) []track.Position {
	t.Helper()
	var got []track.Position
	timeout := time.After(20 * time.Second)
	for len(got) < n {
		select {
		case ps := <-h:
			got = append(got, ps...)
		case <-timeout:
			t.Fatalf("got %d of %d positions", len(got), n)
		}
	}
	return got
}

func TestRelayBetweenNodes(t *testing.T) {
	b := mqtttest.Start(t)
	a, c := startNode(t, b.URL, "a"), startNode(t, b.URL, "c")

	// Seven positions, sent as messages of at most three.
	ps := make([]track.Position, 7)
	for i := range ps {
		ps[i] = position(int64(i+1), i)
	}
	a.r.Committed(ps[:4])
	a.r.Committed(ps[4:])
	got := receive(t, c.hub, 7)
	for i := range got {
		if got[i].VehicleID != ps[i].VehicleID || !got[i].Time.Equal(ps[i].Time) || got[i].Lat != ps[i].Lat {
			t.Fatalf("position %d: got %+v want %+v", i, got[i], ps[i])
		}
	}
	if m := testutil.ToFloat64(a.r.m.messages.WithLabelValues(kindPositions, "sent")); m < 3 {
		t.Errorf("sent %v messages for 7 positions in batches of 3; want at least 3", m)
	}

	a.r.PublishAlerts([]string{"ep1", "ep2"})
	select {
	case ids := <-c.alerts:
		if !slices.Equal(ids, []string{"ep1", "ep2"}) {
			t.Fatalf("alert ids %q", ids)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("alert notice not received")
	}
	c.r.PublishReload()
	select {
	case <-a.reload:
	case <-time.After(20 * time.Second):
		t.Fatal("reload notice not received")
	}

	// A node does not hand its own news to its hub (its writer did), nor
	// to Peers: once c's notice reached a, a's own are long through.
	c.r.PublishAlerts([]string{"from-c"})
	if ids := <-a.alerts; !slices.Equal(ids, []string{"from-c"}) {
		t.Fatalf("a got alert ids %q", ids)
	}
	select {
	case ps := <-a.hub:
		t.Fatalf("a's hub got its own positions back: %d", len(ps))
	case ids := <-c.alerts:
		t.Fatalf("c got its own alert notice back: %q", ids)
	default:
	}
}

func TestRelayBrokerAway(t *testing.T) {
	b := mqtttest.Start(t)
	a, c := startNode(t, b.URL, "a"), startNode(t, b.URL, "c")
	a.r.Committed([]track.Position{position(1, 0)})
	receive(t, c.hub, 1)

	b.Stop()
	waitFor(t, "a to notice", func() bool { return testutil.ToFloat64(a.r.m.connected) == 0 })
	// Positions while the broker is away are dropped and counted; an alert
	// notice waits in the persistent session and arrives afterwards.
	a.r.Committed([]track.Position{position(1, 1), position(2, 1)})
	waitFor(t, "the drop to be counted", func() bool {
		return testutil.ToFloat64(a.r.m.dropped.WithLabelValues(kindPositions, "broker_down")) == 2
	})
	a.r.PublishAlerts([]string{"during-outage"})
	b.Restart()
	select {
	case ids := <-c.alerts:
		if !slices.Equal(ids, []string{"during-outage"}) {
			t.Fatalf("alert ids %q", ids)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("the alert notice sent while the broker was away never arrived")
	}
	waitFor(t, "both reconnected", func() bool {
		return testutil.ToFloat64(a.r.m.connected) == 1 && testutil.ToFloat64(c.r.m.connected) == 1
	})
	a.r.Committed([]track.Position{position(3, 2)})
	if got := receive(t, c.hub, 1); got[0].VehicleID != 3 {
		t.Fatalf("after the outage got vehicle %d, want 3", got[0].VehicleID)
	}
}

func TestRelayQueueBound(t *testing.T) {
	r, err := New(Config{Broker: "tcp://127.0.0.1:1", NodeID: "x", Queue: 5}, make(hubFunc, 1), logger(), nil)
	if err != nil {
		t.Fatal(err)
	}
	ps := make([]track.Position, 8)
	r.Committed(ps)
	if len(r.pending) != 5 {
		t.Fatalf("pending %d, want 5", len(r.pending))
	}
	if d := testutil.ToFloat64(r.m.dropped.WithLabelValues(kindPositions, "queue_full")); d != 3 {
		t.Fatalf("dropped %v, want 3", d)
	}
	for _, id := range []string{"", "a/b", "a+", "#"} {
		if _, err := New(Config{Broker: "tcp://x:1", NodeID: id}, nil, logger(), nil); err == nil {
			t.Errorf("node id %q accepted", id)
		}
	}
}
