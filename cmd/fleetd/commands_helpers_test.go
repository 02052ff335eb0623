package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"sync"
	"testing"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"
)

// cmdView is a command as the API shows it.
type cmdView struct {
	ID     int64  `json:"id"`
	Kind   string `json:"kind"`
	State  string `json:"state"`
	SentBy string `json:"sent_by"`
	Serial *int   `json:"serial"`
	Result *int   `json:"result"`
	Reply  struct {
		Params map[string]any `json:"params"`
		Lat    float64        `json:"lat"`
		Lon    float64        `json:"lon"`
		Time   string         `json:"time"`
	} `json:"reply"`
}

// queueCmd posts a command for vehicle vid and requires it accepted.
func queueCmd(t *testing.T, base, token string, vid int64, body map[string]any) cmdView {
	t.Helper()
	code, out := apiJSON(t, "http://"+base, token, "POST", fmt.Sprintf("/api/v1/vehicles/%d/commands", vid), body)
	if code != http.StatusCreated && code != http.StatusOK {
		t.Fatalf("queue %v: %d %s", body, code, out)
	}
	var c cmdView
	if err := json.Unmarshal([]byte(out), &c); err != nil {
		t.Fatal(err)
	}
	return c
}

// getCmd finds command id in vehicle vid's list.
func getCmd(t *testing.T, base, token string, vid, id int64) cmdView {
	t.Helper()
	code, out := apiText(t, "http://"+base, token, fmt.Sprintf("/api/v1/vehicles/%d/commands", vid))
	if code != http.StatusOK {
		t.Fatalf("list commands: %d %s", code, out)
	}
	var l struct {
		Items []cmdView `json:"items"`
	}
	if err := json.Unmarshal([]byte(out), &l); err != nil {
		t.Fatal(err)
	}
	for _, c := range l.Items {
		if c.ID == id {
			return c
		}
	}
	t.Fatalf("command %d not in the list: %s", id, out)
	return cmdView{}
}

// awaitCmd waits until command id leaves the states queued and sent (or
// reaches want) and returns it; the wait is a generous budget, not an
// assertion on time.
func awaitCmd(t *testing.T, base, token string, vid, id int64, want string) cmdView {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for {
		c := getCmd(t, base, token, vid, id)
		if c.State == want {
			return c
		}
		if c.State != "queued" && c.State != "sent" {
			t.Fatalf("command %d: %s, want %s: %+v", id, c.State, want, c)
		}
		if time.Now().After(deadline) {
			t.Fatalf("command %d still %s, want %s", id, c.State, want)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// mqttConn is a terminal's link over MQTT as a net.Conn: each Write is
// published on the up topic, what arrives on the down topic is read.
type mqttConn struct {
	c      mqtt.Client
	up     string
	r      *io.PipeReader
	w      *io.PipeWriter
	closed sync.Once
}

// dialMQTT returns a Dial for sim.Config that carries the terminal's frames
// over broker on fleetmon/jt808/<phone>/up and /down.
func dialMQTT(broker, phone string) func(ctx context.Context, _ string) (net.Conn, error) {
	return func(ctx context.Context, _ string) (net.Conn, error) {
		r, w := io.Pipe()
		mc := &mqttConn{up: "fleetmon/jt808/" + phone + "/up", r: r, w: w}
		down := "fleetmon/jt808/" + phone + "/down"
		opts := mqtt.NewClientOptions().AddBroker(broker).SetClientID(fmt.Sprintf("term-%s-%d", phone, os.Getpid())).
			SetCleanSession(true).SetOrderMatters(true)
		opts.SetOnConnectHandler(func(c mqtt.Client) {
			c.Subscribe(down, 1, func(_ mqtt.Client, m mqtt.Message) { _, _ = w.Write(m.Payload()) }).Wait()
		})
		mc.c = mqtt.NewClient(opts)
		if tok := mc.c.Connect(); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
			return nil, fmt.Errorf("mqtt connect: %v", tok.Error())
		}
		return mc, nil
	}
}

func (m *mqttConn) Read(b []byte) (int, error) { return m.r.Read(b) }

func (m *mqttConn) Write(b []byte) (int, error) {
	tok := m.c.Publish(m.up, 1, false, append([]byte(nil), b...))
	if !tok.WaitTimeout(10 * time.Second) {
		return 0, errors.New("mqtt publish timed out")
	}
	if err := tok.Error(); err != nil {
		return 0, err
	}
	return len(b), nil
}

func (m *mqttConn) Close() error {
	m.closed.Do(func() {
		m.c.Disconnect(100)
		m.w.CloseWithError(net.ErrClosed)
		m.r.Close()
	})
	return nil
}

type mqttAddr struct{}

func (mqttAddr) Network() string { return "mqtt" }
func (mqttAddr) String() string  { return "mqtt" }

func (m *mqttConn) LocalAddr() net.Addr              { return mqttAddr{} }
func (m *mqttConn) RemoteAddr() net.Addr             { return mqttAddr{} }
func (m *mqttConn) SetDeadline(time.Time) error      { return nil }
func (m *mqttConn) SetReadDeadline(time.Time) error  { return nil }
func (m *mqttConn) SetWriteDeadline(time.Time) error { return nil }
