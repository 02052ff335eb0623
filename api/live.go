package api

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"time"

	"github.com/gorilla/websocket"

	"fleetmon/track"
)

// The live stream, GET /api/v1/live (websocket): on connect a snapshot of
// the latest state of every vehicle in the caller's jurisdiction, then the
// positions as fleetd queues them for storage and events as they happen.
// Messages are JSON text:
//
//	server → client  {"type":"snapshot","positions":[…]}
//	                 {"type":"positions","positions":[…]}
//	                 {"type":"events","events":[{"vehicle_id":…,"kind":…,"data":…}]}
//	client → server  {"type":"subscribe","units":[id…],"vehicles":[id…],"bbox":[minLat,minLon,maxLat,maxLon]}
//
// A subscribe narrows what the client receives (an empty or absent list
// does not narrow), always within the jurisdiction, without reconnecting;
// a snapshot of what is now visible follows. A slow client gets each
// vehicle's newest position (the hub coalesces) and never slows ingestion;
// ping/pong ends dead connections.

const (
	liveWriteWait  = 10 * time.Second
	livePongWait   = 60 * time.Second
	livePingPeriod = livePongWait * 9 / 10
	// liveMaxEvents bounds the events (not positions) a client may have
	// pending before it is cut off as too slow.
	liveMaxEvents = 1024
	// liveMaxVehicles bounds a connection's vehicle set and snapshot: a
	// province-wide jurisdiction (tens of thousands of vehicles) fits.
	liveMaxVehicles = 200000
	// kindResnapshot asks a connection's writer for a new snapshot.
	kindResnapshot = "fleetmon.resnapshot"
)

// The default origin check (an Origin header, when sent, must name this
// host) keeps other sites from riding on a supervisor's session cookie.
var upgrader = websocket.Upgrader{ReadBufferSize: 4096, WriteBufferSize: 16384}

type livePosition struct {
	VehicleID int64   `json:"vehicle_id"`
	Time      string  `json:"time"`
	Lat       float64 `json:"lat"`
	Lon       float64 `json:"lon"`
	SpeedKmh  float32 `json:"speed_kmh"`
	Heading   int16   `json:"heading"`
	Alarm     uint32  `json:"alarm"`
	Status    uint32  `json:"status"`
	// Received is when fleetd read the report (milliseconds): the UI
	// shows how late a back-filled report arrived, and a client can
	// measure the delay from fleetd to itself.
	Received string `json:"received,omitempty"`
	// State is the vehicle's state (track.StateMoving, …) with this
	// position.
	State string `json:"state,omitempty"`
}

type liveEvent struct {
	VehicleID int64  `json:"vehicle_id"`
	Kind      string `json:"kind"`
	Data      any    `json:"data"`
}

type liveMessage struct {
	Type      string         `json:"type"`
	Positions []livePosition `json:"positions"`
	Events    []liveEvent    `json:"events,omitempty"`
}

type liveSubscribe struct {
	Type     string    `json:"type"`
	Units    []int64   `json:"units"`
	Vehicles []int64   `json:"vehicles"`
	BBox     []float64 `json:"bbox"`
}

// live serves the stream.
func (s *Server) live(w http.ResponseWriter, r *http.Request) {
	if s.cfg.Live == nil {
		writeError(w, r, http.StatusServiceUnavailable, "unavailable", "the live stream is not enabled")
		return
	}
	p := principal(r)
	vs, _, err := s.store.VehiclesIn(r.Context(), p.Scope(), track.VehicleFilter{Limit: liveMaxVehicles})
	if err != nil {
		s.fail(w, r, err)
		return
	}
	conn, err := upgrader.Upgrade(w, r, nil)
	if err != nil {
		return // Upgrade has answered
	}
	defer conn.Close()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()

	// Subscribe first, snapshot second: a position stored in between is
	// sent twice rather than missed.
	visible, _ := s.liveFilter(r.Context(), vs, liveSubscribe{})
	sub := s.cfg.Live.Subscribe(visible, liveMaxEvents)
	defer sub.Close()
	if err := s.liveSnapshot(ctx, conn, p, visible); err != nil {
		return
	}

	// The reader: subscriptions, and pongs (which extend the deadline).
	go func() {
		defer cancel()
		conn.SetReadLimit(64 << 10)
		_ = conn.SetReadDeadline(time.Now().Add(livePongWait))
		conn.SetPongHandler(func(string) error { return conn.SetReadDeadline(time.Now().Add(livePongWait)) })
		for {
			var m liveSubscribe
			if err := conn.ReadJSON(&m); err != nil {
				return
			}
			if m.Type == "subscribe" {
				f, err := s.liveFilter(ctx, vs, m)
				if err != nil {
					s.log.Error("live: subscribe", "err", err)
					return
				}
				sub.SetFilter(f)
				sub.Push(track.Event{Kind: kindResnapshot})
			}
		}
	}()
	// Pings: WriteControl may run beside the writer below.
	go func() {
		t := time.NewTicker(livePingPeriod)
		defer t.Stop()
		for {
			select {
			case <-t.C:
				if conn.WriteControl(websocket.PingMessage, nil, time.Now().Add(liveWriteWait)) != nil {
					cancel()
					return
				}
			case <-ctx.Done():
				return
			}
		}
	}()

	var ps []*track.Live
	var evs []track.Event
	var buf []byte
	for {
		ps, evs, err = sub.Next(ctx, ps[:0], evs[:0])
		if err != nil {
			return
		}
		m := liveMessage{Type: "events"}
		for _, e := range evs {
			if e.Kind == kindResnapshot {
				if s.liveSnapshot(ctx, conn, p, *sub.Filter()) != nil {
					return
				}
				continue
			}
			m.Events = append(m.Events, liveEvent{VehicleID: e.VehicleID, Kind: e.Kind, Data: e.Payload})
		}
		if len(m.Events) > 0 && liveWrite(conn, m) != nil {
			return
		}
		if len(ps) > 0 {
			// Each position's JSON is made once for all connections.
			buf = append(buf[:0], `{"type":"positions","positions":[`...)
			for i, l := range ps {
				if i > 0 {
					buf = append(buf, ',')
				}
				buf = append(buf, l.Encoded(encodeLivePosition)...)
			}
			buf = append(buf, "]}"...)
			_ = conn.SetWriteDeadline(time.Now().Add(liveWriteWait))
			if conn.WriteMessage(websocket.TextMessage, buf) != nil {
				return
			}
			sub.Delivered(ps)
			clear(ps) // let delivered positions go
		}
	}
}

// encodeLivePosition is a stream position's JSON.
func encodeLivePosition(l *track.Live) []byte {
	p := &l.Position
	b, err := json.Marshal(livePosition{VehicleID: p.VehicleID, Time: formatTime(p.Time), Lat: p.Lat, Lon: p.Lon,
		SpeedKmh: p.SpeedKmh, Heading: p.Heading, Alarm: p.Alarm, Status: p.Status,
		Received: formatMillis(p.Received), State: l.State})
	if err != nil { // only a NaN or infinite number could do this
		return fmt.Appendf(nil, `{"vehicle_id":%d}`, p.VehicleID)
	}
	return b
}

func liveWrite(conn *websocket.Conn, m liveMessage) error {
	_ = conn.SetWriteDeadline(time.Now().Add(liveWriteWait))
	return conn.WriteJSON(m)
}

// liveFilter is the vehicles of jur (the caller's jurisdiction) that the
// subscription asks for: in the subtrees of m.Units and among m.Vehicles,
// each when given.
func (s *Server) liveFilter(ctx context.Context, jur []track.Vehicle, m liveSubscribe) (track.Filter, error) {
	var inUnits map[int64]bool
	if len(m.Units) > 0 {
		inUnits = map[int64]bool{}
		for _, u := range m.Units {
			vs, _, err := s.store.VehiclesIn(ctx, track.Scope{Root: u}, track.VehicleFilter{Limit: liveMaxVehicles})
			if err != nil {
				return track.Filter{}, err
			}
			for _, v := range vs {
				inUnits[v.ID] = true
			}
		}
	}
	want := map[int64]bool{}
	for _, v := range m.Vehicles {
		want[v] = true
	}
	f := track.Filter{Vehicles: map[int64]struct{}{}}
	for _, v := range jur {
		if (inUnits == nil || inUnits[v.ID]) && (len(want) == 0 || want[v.ID]) {
			f.Vehicles[v.ID] = struct{}{}
		}
	}
	if len(m.BBox) == 4 {
		f.BBox = track.BBox{MinLat: m.BBox[0], MinLon: m.BBox[1], MaxLat: m.BBox[2], MaxLon: m.BBox[3]}
	}
	return f, nil
}

// liveSnapshot sends the latest state of the filter's vehicles.
func (s *Server) liveSnapshot(ctx context.Context, conn *websocket.Conn, p *Principal, f track.Filter) error {
	ss, _, err := s.store.LatestIn(ctx, p.Scope(), liveMaxVehicles, 0)
	if err != nil {
		s.log.Error("live: snapshot", "err", err)
		return err
	}
	sealed, err := s.store.SealedIn(ctx, p.Scope())
	if err != nil {
		s.log.Error("live: snapshot", "err", err)
		return err
	}
	m := liveMessage{Type: "snapshot", Positions: []livePosition{}}
	for _, st := range ss {
		if _, ok := f.Vehicles[st.VehicleID]; !ok {
			continue
		}
		if b := f.BBox; b != (track.BBox{}) && (st.Lat < b.MinLat || st.Lat > b.MaxLat || st.Lon < b.MinLon || st.Lon > b.MaxLon) {
			continue
		}
		m.Positions = append(m.Positions, livePosition{VehicleID: st.VehicleID, Time: formatTime(st.Time), Lat: st.Lat,
			Lon: st.Lon, SpeedKmh: st.SpeedKmh, Heading: st.Heading, Alarm: st.Alarm, Status: st.Status,
			State: s.cfg.Live.StateOf(st.VehicleID, st.Time, st.SpeedKmh, st.Alarm, sealed[st.VehicleID])})
	}
	return liveWrite(conn, m)
}
