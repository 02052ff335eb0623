package main

import (
	"context"
	"fmt"
	"net/http"
	"slices"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"fleetmon/cmd/fleetsim/sim"
	"fleetmon/ingest/jt808"
	"fleetmon/ingest/mqtttest"
	"fleetmon/track/commands"
)

const commandsCSV = "plate,plate_color,terminal_phone,unit,category\n" +
	"鄂B20001,1,13900000001,湖北省/黄石市,general\n" +
	"鄂B20002,1,13900000002,湖北省/黄石市,general\n" +
	"鄂A20003,1,13900000003,湖北省/武汉市,general\n"

// TestCommandsTCP sends every kind of command to a simulated terminal over
// TCP, in 2013 and 2019, with fleetd's production defaults.
func TestCommandsTCP(t *testing.T) {
	for _, v := range []jt808.Version{jt808.Version2013, jt808.Version2019} {
		t.Run(v.String(), func(t *testing.T) { commandScenario(t, false, v) })
	}
}

// TestCommandsMQTT is TestCommandsTCP for a terminal that publishes its
// frames to Mosquitto and takes its commands from its down topic.
func TestCommandsMQTT(t *testing.T) {
	for _, v := range []jt808.Version{jt808.Version2013, jt808.Version2019} {
		t.Run(v.String(), func(t *testing.T) { commandScenario(t, true, v) })
	}
}

// driving is a simulated terminal reporting at its own pace (sim.Drive)
// in a goroutine of its own, its owner until stop.
type driving struct {
	term   *sim.Terminal
	cancel context.CancelFunc
	done   chan error
}

func drive(t *testing.T, term *sim.Terminal, seed uint64) *driving {
	ctx, cancel := context.WithCancel(context.Background())
	d := &driving{term: term, cancel: cancel, done: make(chan error, 1)}
	go func() {
		_, err := term.Drive(ctx, sim.NewDriver(sim.DriverConfig{Seed: seed}))
		d.done <- err
	}()
	t.Cleanup(d.stop)
	return d
}

func (d *driving) stop() {
	if d.cancel != nil {
		d.cancel()
		<-d.done
		d.cancel = nil
	}
}

func commandScenario(t *testing.T, overMQTT bool, ver jt808.Version) {
	db, _, token := seedFleet(t, commandsCSV, "hs_sup", "supervisor", "湖北省/黄石市")
	_, inspToken := addUser(t, db, "insp", "inspector", "湖北省")
	_, whToken := addUser(t, db, "wh_sup", "supervisor", "湖北省/武汉市")
	args := []string{"--db", db, "--data-dir", t.TempDir()}
	var broker *mqtttest.Broker
	if overMQTT {
		broker = mqtttest.Start(t)
		args = append(args, "--mqtt-broker", broker.URL, "--mqtt-client-id", "fleetd-commands-test")
	}
	srv := startServe(t, args...)
	ctx := context.Background()
	pool, err := pgxpool.New(ctx, db)
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	var vid int64
	if err := pool.QueryRow(ctx, `SELECT id FROM vehicles WHERE plate = '鄂B20001'`).Scan(&vid); err != nil {
		t.Fatal(err)
	}
	path := fmt.Sprintf("/api/v1/vehicles/%d/commands", vid)

	// Only administrators and supervisors within jurisdiction may send;
	// an inspector may read.
	if code, out := apiJSON(t, "http://"+srv.HTTP, inspToken, "POST", path, map[string]any{"kind": "query_location", "client_key": "x"}); code != http.StatusForbidden {
		t.Fatalf("inspector sends: %d %s", code, out)
	}
	if code, out := apiJSON(t, "http://"+srv.HTTP, whToken, "POST", path, map[string]any{"kind": "query_location", "client_key": "x"}); code != http.StatusNotFound {
		t.Fatalf("another jurisdiction's supervisor sends: %d %s", code, out)
	}
	if code, out := apiJSON(t, "http://"+srv.HTTP, token, "POST", path, map[string]any{"kind": "track", "interval_s": 1, "client_key": "bad"}); code != http.StatusBadRequest {
		t.Fatalf("tracking without a duration: %d %s", code, out)
	}

	// A command queued while the terminal is offline goes out when it
	// comes online; the same client key queues it once.
	offline := queueCmd(t, srv.HTTP, token, vid, map[string]any{"kind": "query_location", "client_key": "where-1"})
	if offline.State != "queued" {
		t.Fatalf("offline terminal's command: %+v", offline)
	}
	if again := queueCmd(t, srv.HTTP, token, vid, map[string]any{"kind": "query_location", "client_key": "where-1"}); again.ID != offline.ID {
		t.Fatalf("the same client key queued twice: %d and %d", offline.ID, again.ID)
	}
	cfg := sim.Config{Phone: "13900000001", Version: ver, Plate: "鄂B20001", PlateColor: 1, ReportInterval: 3 * time.Second}
	if overMQTT {
		cfg.Dial, cfg.MaxResends = dialMQTT(broker.URL, cfg.Phone), -1
	}
	term, err := sim.NewTerminal(cfg)
	if err != nil {
		t.Fatal(err)
	}
	// Registered before drive's: the terminal closes once it stops driving.
	t.Cleanup(func() { term.Close() })
	connect := func() {
		t.Helper()
		if err := term.Connect(ctx, srv.JT808); err != nil {
			t.Fatal(err)
		}
		if !overMQTT {
			if err := term.Login(ctx); err != nil {
				t.Fatal(err)
			}
		}
	}
	connect()
	d := drive(t, term, 1)
	got := awaitCmd(t, srv.HTTP, inspToken, vid, offline.ID, "answered")
	if got.Reply.Lat < 29 || got.Reply.Lat > 31 || got.Reply.Time == "" {
		t.Fatalf("location query answered with %+v", got.Reply)
	}

	// Parameters set, then read back.
	set := queueCmd(t, srv.HTTP, token, vid, map[string]any{"kind": "set_params", "client_key": "params-1",
		"params": map[string]any{"default_interval_s": 3, "max_speed_kmh": 90, "server_address": "10.1.2.3"}})
	if got := awaitCmd(t, srv.HTTP, token, vid, set.ID, "answered"); got.Result == nil || *got.Result != 0 {
		t.Fatalf("set parameters: %+v", got)
	}
	if v := term.Param(jt808.ParamMaxSpeed); len(v) != 4 || v[3] != 90 {
		t.Fatalf("the terminal's over-speed threshold is %v", v)
	}
	read := queueCmd(t, srv.HTTP, token, vid, map[string]any{"kind": "query_params", "client_key": "params-2"})
	got = awaitCmd(t, srv.HTTP, token, vid, read.ID, "answered")
	if p := got.Reply.Params; p["default_interval_s"] != 3.0 || p["max_speed_kmh"] != 90.0 || p["server_address"] != "10.1.2.3" {
		t.Fatalf("parameters read back: %v", p)
	}

	// Text to the driver's display.
	text := queueCmd(t, srv.HTTP, token, vid, map[string]any{"kind": "text", "client_key": "text-1", "text": "请于 17:00 前还车", "tts": true})
	awaitCmd(t, srv.HTTP, token, vid, text.ID, "answered")
	if !slices.Contains(term.Texts(), "请于 17:00 前还车") {
		t.Fatalf("the display shows %q", term.Texts())
	}

	// Temporary tracking: every second for 10 s, then back to every 3 s,
	// as the device times of the stored reports show.
	track := queueCmd(t, srv.HTTP, token, vid, map[string]any{"kind": "track", "client_key": "track-1", "interval_s": 1, "for_s": 10})
	awaitCmd(t, srv.HTTP, token, vid, track.ID, "answered")
	_, from, until := term.Tracking()
	if until.Sub(from) != 10*time.Second {
		t.Fatalf("tracking from %v until %v", from, until)
	}
	count := func(lo, hi time.Time) int {
		var n int
		if err := pool.QueryRow(ctx, `SELECT count(*) FROM positions WHERE vehicle_id = $1 AND device_time >= $2 AND device_time < $3`,
			vid, lo.Truncate(time.Second), hi.Truncate(time.Second)).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	waitUntil(t, 90*time.Second, "reports after the tracking", func() bool { return count(until.Add(12*time.Second), until.Add(time.Hour)) > 0 })
	during, after := count(from.Add(time.Second), until), count(until.Add(time.Second), until.Add(10*time.Second))
	t.Logf("reports: %d in the 9 s of tracking, %d in the 9 s after", during, after)
	if during < 7 || after > 4 {
		t.Fatalf("reports: %d in the 9 s of tracking (want 7 or more), %d in the 9 s after (want 4 or fewer)", during, after)
	}

	if !overMQTT {
		// Offline again: the command waits and goes out on reconnection.
		d.stop()
		if err := term.Close(); err != nil {
			t.Fatal(err)
		}
		later := queueCmd(t, srv.HTTP, token, vid, map[string]any{"kind": "text", "client_key": "text-2", "text": "回来后请联系车管"})
		time.Sleep(500 * time.Millisecond) // not an assertion: a chance for a wrong delivery to show
		if c := getCmd(t, srv.HTTP, token, vid, later.ID); c.State != "queued" {
			t.Fatalf("command to an offline terminal: %+v", c)
		}
		connect()
		awaitCmd(t, srv.HTTP, token, vid, later.ID, "answered")
		term.Close()
		commandTimeouts(t, srv, token, pool)
	}

	// Every command queued is audited (the repeated request too), nothing
	// refused is.
	var audited, distinct int
	if err := pool.QueryRow(ctx, `SELECT count(*), count(DISTINCT detail->>'command_id') FROM audit_log WHERE action = 'command.queue'`).
		Scan(&audited, &distinct); err != nil {
		t.Fatal(err)
	}
	var queued int
	if err := pool.QueryRow(ctx, `SELECT count(*) FROM terminal_commands`).Scan(&queued); err != nil {
		t.Fatal(err)
	}
	if distinct != queued || audited != queued+1 {
		t.Fatalf("audit: %d entries for %d commands, %d commands queued", audited, distinct, queued)
	}
}

// commandTimeouts checks the time-outs with a terminal that never
// answers: a sent command times out after the reply time-out, a queued one
// at its expiry (the sweep run as of a later time).
func commandTimeouts(t *testing.T, srv *served, token string, pool *pgxpool.Pool) {
	ctx := context.Background()
	var vid int64
	if err := pool.QueryRow(ctx, `SELECT id FROM vehicles WHERE plate = '鄂B20002'`).Scan(&vid); err != nil {
		t.Fatal(err)
	}
	mute := dialTerminal(t, srv.JT808, "13900000002")
	mute.login("鄂B20002")
	c := queueCmd(t, srv.HTTP, token, vid, map[string]any{"kind": "query_params", "client_key": "mute-1"})
	awaitCmd(t, srv.HTTP, token, vid, c.ID, "sent")
	mute.c.Close()
	waiting := queueCmd(t, srv.HTTP, token, vid, map[string]any{"kind": "query_location", "client_key": "mute-2"})
	store := commands.NewStore(pool, commands.Config{}, nil)
	if n, err := store.Expire(ctx, time.Now()); err != nil || n != 0 {
		t.Fatalf("expired before the time-out: %d %v", n, err)
	}
	if n, err := store.Expire(ctx, time.Now().Add(store.Config().ReplyTimeout+time.Second)); err != nil || n != 1 {
		t.Fatalf("expired after the reply time-out: %d %v", n, err)
	}
	if got := getCmd(t, srv.HTTP, token, vid, c.ID); got.State != "timed_out" {
		t.Fatalf("unanswered command: %+v", got)
	}
	if got := getCmd(t, srv.HTTP, token, vid, waiting.ID); got.State != "queued" {
		t.Fatalf("queued command after the reply time-out: %+v", got)
	}
	if n, err := store.Expire(ctx, time.Now().Add(store.Config().QueueFor+time.Second)); err != nil || n != 1 {
		t.Fatalf("expired after the queue's limit: %d %v", n, err)
	}
	if got := getCmd(t, srv.HTTP, token, vid, waiting.ID); got.State != "timed_out" {
		t.Fatalf("command never delivered: %+v", got)
	}
}
