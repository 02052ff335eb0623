package track_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"fleetmon/track"
)

func vehicles(ids ...int64) map[int64]struct{} {
	m := map[int64]struct{}{}
	for _, id := range ids {
		m[id] = struct{}{}
	}
	return m
}

func livePos(vid int64, sec int, lat, lon float64) track.Position {
	return track.Position{VehicleID: vid, Time: time.Unix(int64(1_800_000_000+sec), 0), Lat: lat, Lon: lon}
}

func next(t *testing.T, s *track.Subscription) ([]track.Position, []track.Event) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	ls, evs, err := s.Next(ctx, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	var ps []track.Position
	for _, l := range ls {
		ps = append(ps, l.Position)
	}
	return ps, evs
}

// TestHubEncodesOnce: subscribers share each published position, so what
// a stream encodes from it is made once however many clients see it.
func TestHubEncodesOnce(t *testing.T) {
	reg := prometheus.NewRegistry()
	h := track.NewHub(reg)
	var subs []*track.Subscription
	for range 3 {
		s := h.Subscribe(track.Filter{Vehicles: vehicles(1, 2)}, 16)
		defer s.Close()
		subs = append(subs, s)
	}
	h.Publish([]track.Position{livePos(1, 0, 30, 115), livePos(2, 0, 31, 116)})
	calls := 0
	encode := func(p *track.Live) []byte { calls++; return []byte{byte(p.VehicleID)} }
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	for _, s := range subs {
		ls, _, err := s.Next(ctx, nil, nil)
		if err != nil || len(ls) != 2 {
			t.Fatalf("next: %d positions, %v", len(ls), err)
		}
		for _, l := range ls {
			if got := l.Encoded(encode); len(got) != 1 || int64(got[0]) != l.VehicleID {
				t.Errorf("encoded %v for vehicle %d", got, l.VehicleID)
			}
		}
	}
	if calls != 2 {
		t.Errorf("encode called %d times for 2 positions seen by 3 subscribers, want 2", calls)
	}
	// Delivery delays are observed for stamped positions only.
	stamped := livePos(1, 5, 30, 115)
	stamped.Received = time.Now().Add(-time.Second)
	h.Publish([]track.Position{stamped, livePos(2, 5, 31, 116)})
	ls, _, err := subs[0].Next(ctx, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	subs[0].Delivered(ls)
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var n uint64
	var sum float64
	for _, mf := range mfs {
		if mf.GetName() == "fleetmon_live_delivery_seconds" {
			n, sum = mf.GetMetric()[0].GetHistogram().GetSampleCount(), mf.GetMetric()[0].GetHistogram().GetSampleSum()
		}
	}
	if n != 1 || sum < 1 {
		t.Errorf("delivery histogram: %d samples summing %.3f s, want 1 of at least 1 s", n, sum)
	}
}

func TestHubFiltersAndCoalesces(t *testing.T) {
	h := track.NewHub(nil)
	a := h.Subscribe(track.Filter{Vehicles: vehicles(1, 2)}, 16)
	defer a.Close()
	box := h.Subscribe(track.Filter{Vehicles: vehicles(1, 2, 3), BBox: track.BBox{MinLat: 30, MinLon: 115, MaxLat: 31, MaxLon: 116}}, 16)
	defer box.Close()

	// A slow subscriber: 1,000 positions of vehicles 1-3 arrive before it
	// reads. It gets the newest of each vehicle it may see, nothing else.
	for i := range 1000 {
		h.Publish([]track.Position{livePos(int64(1+i%3), i, 30.5, 115.5)})
	}
	ps, _ := next(t, a)
	if len(ps) != 2 || ps[0].VehicleID != 1 || ps[1].VehicleID != 2 || ps[0].Time.Unix() != 1_800_000_000+999 {
		t.Fatalf("coalesced = %+v", ps)
	}
	if d := a.Dropped(); d != 665 {
		t.Errorf("dropped = %d, want 665 (667 positions of vehicles 1 and 2, 2 delivered)", d)
	}
	// Outside the box: not delivered; inside: delivered.
	next(t, box)
	h.Publish([]track.Position{livePos(3, 2000, 40, 120), livePos(3, 2001, 30.1, 115.1)})
	ps, _ = next(t, box)
	if len(ps) != 1 || ps[0].Lat != 30.1 {
		t.Fatalf("box = %+v", ps)
	}
	// A back-fill older than the pending position is not live news.
	h.Publish([]track.Position{livePos(1, 3000, 30.5, 115.5), livePos(1, 10, 30.5, 115.5)})
	ps, _ = next(t, a)
	if len(ps) != 1 || ps[0].Time.Unix() != 1_800_000_000+3000 {
		t.Fatalf("back-fill = %+v", ps)
	}
	// The filter changes without resubscribing.
	a.SetFilter(track.Filter{Vehicles: vehicles(3)})
	h.Publish([]track.Position{livePos(1, 4000, 30.5, 115.5), livePos(3, 4000, 30.5, 115.5)})
	ps, _ = next(t, a)
	if len(ps) != 1 || ps[0].VehicleID != 3 {
		t.Fatalf("after SetFilter = %+v", ps)
	}
}

func TestHubEventsAndSlowSubscribers(t *testing.T) {
	h := track.NewHub(nil)
	s := h.Subscribe(track.Filter{Vehicles: vehicles(7)}, 3)
	h.PublishEvent(track.Event{VehicleID: 7, Kind: "alert", Payload: "opened"})
	h.PublishEvent(track.Event{VehicleID: 8, Kind: "alert", Payload: "not yours"})
	h.Publish([]track.Position{livePos(7, 1, 30, 115)})
	ps, evs := next(t, s)
	// The vehicle's first position also announces its state.
	if len(evs) != 2 || evs[0].Payload != "opened" || evs[1].Kind != track.EventState || len(ps) != 1 {
		t.Fatalf("events %+v positions %+v", evs, ps)
	}
	// Events are not coalesced: a subscriber that lets them pile up past its
	// bound is ended, and publishing never waits for it.
	done := make(chan struct{})
	go func() {
		for i := range 100 {
			h.PublishEvent(track.Event{VehicleID: 7, Kind: "alert", Payload: fmt.Sprint(i)})
		}
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("PublishEvent blocked on a slow subscriber")
	}
	if _, _, err := s.Next(context.Background(), nil, nil); !errors.Is(err, track.ErrSlowSubscriber) {
		t.Fatalf("err = %v, want ErrSlowSubscriber", err)
	}
	s.Close()
	c := h.Subscribe(track.Filter{Vehicles: vehicles(7)}, 3)
	c.Close()
	if _, _, err := c.Next(context.Background(), nil, nil); err == nil {
		t.Fatal("Next on a closed subscription returned no error")
	}
}

// BenchmarkHubPublish: one commit's positions (1,000 vehicles) offered to
// 50 subscribers that each see all vehicles.
func BenchmarkHubPublish(b *testing.B) {
	h := track.NewHub(nil)
	all := map[int64]struct{}{}
	for i := range 1000 {
		all[int64(i)] = struct{}{}
	}
	var subs []*track.Subscription
	for range 50 {
		subs = append(subs, h.Subscribe(track.Filter{Vehicles: all}, 16))
	}
	ps := make([]track.Position, 1000)
	for i := range ps {
		ps[i] = livePos(int64(i), 0, 30, 115)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := range b.N {
		for j := range ps {
			ps[j].Time = time.Unix(int64(i), 0)
		}
		h.Publish(ps)
	}
	b.ReportMetric(float64(b.N*len(ps))/b.Elapsed().Seconds(), "positions/s")
	for _, s := range subs {
		s.Close()
	}
}

// TestHubStates: positions move a vehicle between moving and parked,
// silence makes it offline, alarms and seals take precedence, a back-fill
// does not change what it is doing now — each change announced once.
func TestHubStates(t *testing.T) {
	now := time.Unix(1_800_000_000, 0)
	clock := func() time.Time { return now }
	h := track.NewHub(nil, track.WithOfflineAfter(10*time.Minute), track.WithClock(clock))
	s := h.Subscribe(track.Filter{Vehicles: vehicles(7)}, 64)
	defer s.Close()
	at := func(sec int, kmh float32, alarm uint32) track.Position {
		p := livePos(7, sec, 30, 115)
		p.SpeedKmh, p.Alarm, p.Received = kmh, alarm, now
		return p
	}
	states := func() []string {
		t.Helper()
		_, evs := next(t, s)
		var out []string
		for _, e := range evs {
			if e.Kind == track.EventState {
				c := e.Payload.(track.StateChange)
				out = append(out, c.Previous+">"+c.State)
			}
		}
		return out
	}
	expect := func(what string, want ...string) {
		t.Helper()
		if got := states(); !slices.Equal(got, want) {
			t.Errorf("%s: state changes %v, want %v", what, got, want)
		}
	}

	h.Publish([]track.Position{at(0, 40, 0), at(1, 42, 0)})
	expect("driving", ">moving")
	h.Publish([]track.Position{at(2, 1.5, 0)}) // jitter speed while parked
	expect("stopped", "moving>parked")
	h.Publish([]track.Position{at(-100, 60, 0)}) // a back-fill of an earlier drive
	expect("back-fill")
	if got := h.State(7); got != track.StateParked {
		t.Fatalf("after a back-fill: %q, want parked", got)
	}
	now = now.Add(9 * time.Minute)
	h.Sweep()
	h.Publish([]track.Position{at(3, 0, 0)}) // something to wake the subscriber
	expect("9 min")
	now = now.Add(11 * time.Minute)
	h.Sweep()
	h.Sweep()
	h.PublishEvent(track.Event{VehicleID: 7, Kind: "wake"})
	expect("silent 11 min", "parked>offline")
	h.SetSealed(7, true)
	h.Publish([]track.Position{at(1300, 20, 0)})
	expect("sealed and moving", "offline>sealed")
	h.Publish([]track.Position{at(1301, 20, 1<<8)}) // main power cut
	expect("alarm", "sealed>alarm")
	h.SetSealed(7, false)
	h.Publish([]track.Position{at(1302, 20, 0)})
	expect("unsealed, alarm cleared", "alarm>moving")
	if got := h.StateOf(8, now.Add(-time.Hour), 0, 0, false); got != track.StateOffline {
		t.Errorf("a vehicle the hub never saw, last report an hour ago: %q, want offline", got)
	}
	if got := h.StateOf(8, time.Time{}, 0, 0, true); got != track.StateSealed {
		t.Errorf("a sealed vehicle without reports: %q, want sealed", got)
	}
}

// TestHubSyncSealed: seals made elsewhere (another node) reach the hub's
// states and are announced once; unchanged vehicles are not announced.
func TestHubSyncSealed(t *testing.T) {
	h := track.NewHub(nil)
	s := h.Subscribe(track.Filter{Vehicles: vehicles(1, 2, 3)}, 64)
	defer s.Close()
	h.Seed([]track.Seed{{VehicleID: 1, Time: time.Now(), Received: time.Now(), SpeedKmh: 30}, {VehicleID: 2, Sealed: true}})
	h.SyncSealed(map[int64]bool{1: true, 2: true, 3: true}) // 1 sealed there, 3 never seen here
	_, evs := next(t, s)
	got := map[int64]string{}
	for _, e := range evs {
		got[e.VehicleID] = e.Payload.(track.StateChange).State
	}
	if len(got) != 2 || got[1] != track.StateSealed || got[3] != track.StateSealed {
		t.Fatalf("announced %v, want vehicles 1 and 3 sealed", got)
	}
	h.SyncSealed(map[int64]bool{2: true, 3: true}) // 1 unsealed there
	_, evs = next(t, s)
	if len(evs) != 1 || evs[0].VehicleID != 1 || evs[0].Payload.(track.StateChange).State != track.StateMoving {
		t.Fatalf("after unsealing 1: %+v, want it moving again", evs)
	}
}
