package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"hash/fnv"
	"net"
	"os"
	"os/exec"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"
	"github.com/gorilla/websocket"

	"fleetmon/ingest/jt808"
	"fleetmon/ingest/mqtttest"
	"fleetmon/track/pgtest"
)

// asMainEnv makes the test binary run as fleetd itself: the cluster test
// starts nodes as processes of their own, so that one can be killed.
const asMainEnv = "FLEETMON_TEST_AS_FLEETD"

func TestMain(m *testing.M) {
	if os.Getenv(asMainEnv) == "1" {
		main()
	}
	os.Exit(m.Run())
}

// nodeProc is a fleetd serve --node-id running as a process of its own.
type nodeProc struct {
	t      *testing.T
	id     string
	cmd    *exec.Cmd
	JT808  string
	HTTP   string
	stderr *syncBuffer
	done   chan struct{}
	killed bool
}

func startNode(t *testing.T, id, db, broker string) *nodeProc {
	t.Helper()
	return startServeProcess(t, id, "--db", db, "--mqtt-broker", broker, "--node-id", id)
}

// startServeProcess runs fleetd serve with args as a process of its own,
// named id in failures, on free loopback ports.
func startServeProcess(t *testing.T, id string, args ...string) *nodeProc {
	t.Helper()
	n := &nodeProc{t: t, id: id, stderr: &syncBuffer{}, done: make(chan struct{})}
	n.cmd = exec.Command(os.Args[0], append([]string{"serve", "--data-dir", t.TempDir(),
		"--jt808-addr", "127.0.0.1:0", "--http-addr", "127.0.0.1:0"}, args...)...)
	n.cmd.Env = append(os.Environ(), asMainEnv+"=1")
	n.cmd.Stderr = n.stderr
	out, err := n.cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := n.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { _ = n.cmd.Wait(); close(n.done) }()
	sc := bufio.NewScanner(out)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "jt808 "); ok {
			n.JT808 = v
		} else if v, ok := strings.CutPrefix(sc.Text(), "http "); ok {
			n.HTTP = v
			break
		}
	}
	go func() { _, _ = bufio.NewReader(out).WriteTo(discard{}) }()
	if n.HTTP == "" {
		<-n.done
		t.Fatalf("node %s did not start; stderr:\n%s", id, n.stderr.String())
	}
	t.Cleanup(n.stop)
	return n
}

type discard struct{}

func (discard) Write(p []byte) (int, error) { return len(p), nil }

// kill ends the node with SIGKILL: no shutdown, no flush, sockets cut.
func (n *nodeProc) kill() {
	n.killed = true
	_ = n.cmd.Process.Kill()
	<-n.done
}

// stop ends the node with SIGTERM and requires a clean exit.
func (n *nodeProc) stop() {
	if n.killed {
		return
	}
	n.killed = true
	_ = n.cmd.Process.Signal(syscall.SIGCONT) // a node the test froze stops all the same
	_ = n.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-n.done:
	case <-time.After(30 * time.Second):
		_ = n.cmd.Process.Kill()
		<-n.done
	}
	if code := n.cmd.ProcessState.ExitCode(); code != 0 {
		n.t.Errorf("node %s exited %d; stderr:\n%s", n.id, code, n.stderr.String())
	}
}

// roamer is a JT/T 808-2013 terminal that moves to the next node when its
// node goes away, and sends again the report that was not acknowledged,
// as a terminal does.
type roamer struct {
	phone  jt808.Phone
	plate  string
	nodes  func() []string
	at     int
	c      net.Conn
	sp     *jt808.Splitter
	serial uint16
	moves  int
}

func (r *roamer) exchange(id jt808.MsgID, body []byte) (jt808.Frame, error) {
	h := jt808.Header{ID: id, Phone: r.phone, Serial: r.serial}
	r.serial++
	var f jt808.Frame
	if _, err := r.c.Write(jt808.AppendFrame(nil, &h, body)); err != nil {
		return f, err
	}
	_ = r.c.SetReadDeadline(time.Now().Add(10 * time.Second))
	raw, err := r.sp.Next()
	if err != nil {
		return f, err
	}
	err = jt808.ParseFrame(append([]byte(nil), raw...), &f)
	return f, err
}

func (r *roamer) expectOK(id jt808.MsgID, body []byte) error {
	f, err := r.exchange(id, body)
	if err != nil {
		return err
	}
	var pr jt808.PlatformReply
	if err := pr.Decode(f.Body, &f.Header); err != nil || pr.Result != 0 {
		return fmt.Errorf("reply %+v %v", pr, err)
	}
	return nil
}

func (r *roamer) connect() error {
	nodes := r.nodes()
	addr := nodes[r.at%len(nodes)]
	c, err := net.Dial("tcp", addr)
	if err != nil {
		return err
	}
	r.c, r.sp = c, jt808.NewSplitter(c, 0)
	f, err := r.exchange(jt808.IDRegister, (&jt808.Register{Plate: r.plate, PlateColor: 1}).AppendTo(nil, jt808.Version2013))
	if err != nil {
		return err
	}
	var rr jt808.RegisterReply
	if err := rr.Decode(f.Body, &f.Header); err != nil || rr.Result != 0 {
		return fmt.Errorf("register: %+v %v", rr, err)
	}
	return r.expectOK(jt808.IDAuth, (&jt808.Auth{Code: rr.AuthCode}).AppendTo(nil, jt808.Version2013))
}

// report sends one location until a node acknowledges it.
func (r *roamer) report(loc *jt808.Location) error {
	for attempt := 0; attempt < 50; attempt++ {
		if r.c == nil {
			if err := r.connect(); err != nil {
				if r.c != nil {
					r.c.Close()
					r.c = nil
				}
				r.at++
				r.moves++
				time.Sleep(50 * time.Millisecond)
				continue
			}
		}
		if err := r.expectOK(jt808.IDLocation, loc.AppendTo(nil, jt808.Version2013)); err != nil {
			r.c.Close()
			r.c = nil
			r.at++
			r.moves++
			continue
		}
		return nil
	}
	return fmt.Errorf("terminal %s: no node acknowledged the report", r.plate)
}

// clusterTrack is ten minutes north at 36 km/h (100 m per 10 s), ACC on,
// then parked with ACC off: reports every 10 s of device time.
func clusterTrack(t0 time.Time, lon float64) []jt808.Location {
	out := make([]jt808.Location, 80)
	for i := range out {
		speed := uint16(360)
		status := jt808.StatusACC | jt808.StatusFixed
		lat := 30.2 + float64(min(i, 60))*0.0009
		if i > 60 {
			speed, status = 0, jt808.StatusFixed
		}
		out[i] = jt808.Location{Status: status, LatE6: uint32(lat * 1e6), LonE6: uint32(lon * 1e6), SpeedDeciKmh: speed,
			Time: jt808.NewBCDTime(t0.Add(time.Duration(i) * 10 * time.Second))}
	}
	return out
}

// TestClusterEndToEnd runs three fleetd nodes (processes) on one
// PostgreSQL and one Mosquitto. Three terminals speak JT/T 808 over TCP,
// one to each node; two vehicles report through MQTT (raw frames and
// JSON), split between the nodes by a shared subscription. A websocket
// client on the third node sees every vehicle and every alert. The first
// node is killed (SIGKILL) mid-run: its terminal moves to another node,
// and it restarts later. Every acknowledged report is stored once, and
// each expected alert (two sealed vehicles moving, two after-hours
// drives) is stored exactly once, with no other.
//
// The nodes run on the real clock, so the tracks are made relative to
// it: on the latest working day whose evening is over, and on working
// days about a month and a year before. The old ones are reports that
// arrive long after they were made (a blind-zone back-fill, a terminal
// that was offline for weeks): their verdicts must be the same.
func TestClusterEndToEnd(t *testing.T) {
	now := time.Now()
	for _, c := range []struct {
		name   string
		back   time.Duration
		frozen bool
	}{
		{"recent", 0, false},
		{"month_old", 30 * 24 * time.Hour, false},
		{"year_old", 365 * 24 * time.Hour, false},
		{"frozen_then_killed", 0, true},
	} {
		day := workdayEndedBy(t, now.Add(-c.back))
		t.Run(c.name, func(t *testing.T) {
			t.Logf("tracks on %s", day.Format("2006-01-02 Mon"))
			clusterEndToEnd(t, day, c.frozen)
		})
	}
}

// clusterEndToEnd runs the scenario of TestClusterEndToEnd. With frozen,
// the second node is frozen (SIGSTOP) mid-run until the database ends its
// lease, and the first is killed while it takes over the frozen node's
// shards; then the second is woken (SIGCONT) and the reports go on.
func clusterEndToEnd(t *testing.T, day time.Time, frozen bool) {
	broker := mqtttest.Start(t)
	pg := pgtest.New(t)
	db := pg.ConnString
	ctx := context.Background()
	csv := writeFile(t, "v.csv", "plate,plate_color,terminal_phone,unit,category\n"+
		"鄂B00001,1,13800000001,湖北省/黄石市,general\n"+
		"鄂B00002,1,13800000002,湖北省/黄石市,general\n"+
		"鄂B00003,1,13800000003,湖北省/黄石市/阳新县,general\n"+
		"鄂B00004,1,13800000004,湖北省/黄石市,general\n"+
		"鄂B00005,1,13800000005,湖北省/黄石市/阳新县,general\n")
	if code, out, errs := fleetd(t, "vehicles", "import", "--db", db, csv); code != 0 {
		t.Fatalf("import: %d %s %s", code, out, errs)
	}
	if _, err := pg.Pool.Exec(ctx, "INSERT INTO vehicle_seals (vehicle_id, sealed, effective_at, actor_name) SELECT id, true, '2000-01-01', 'test' FROM vehicles WHERE plate IN ('鄂B00001', '鄂B00004')"); err != nil {
		t.Fatal(err)
	}
	if code, out, errs := fleetd(t, "users", "add", "--db", db, "--name", "insp", "--role", "inspector", "--unit", "湖北省"); code != 0 {
		t.Fatalf("users add: %d %s %s", code, out, errs)
	}
	code, out, errs := fleetd(t, "token", "create", "--db", db, "--user", "insp")
	if code != 0 {
		t.Fatalf("token create: %d %s %s", code, out, errs)
	}
	token := strings.Fields(out)[len(strings.Fields(out))-1]
	vehicle := map[int64]string{}
	rows, _ := pg.Pool.Query(ctx, "SELECT id, plate FROM vehicles")
	for rows.Next() {
		var id int64
		var plate string
		if err := rows.Scan(&id, &plate); err != nil {
			t.Fatal(err)
		}
		vehicle[id] = plate
	}
	if rows.Err() != nil || len(vehicle) != 5 {
		t.Fatalf("vehicles %v %v", vehicle, rows.Err())
	}

	var nodesMu sync.Mutex
	nodes := []*nodeProc{startNode(t, "n1", db, broker.URL), startNode(t, "n2", db, broker.URL), startNode(t, "n3", db, broker.URL)}
	alive := func() []string {
		nodesMu.Lock()
		defer nodesMu.Unlock()
		var out []string
		for _, n := range nodes {
			out = append(out, n.JT808) // a dead node's address refuses: the terminal moves on
		}
		return out
	}

	// The websocket client on n3 records what it sees.
	ws, _, err := websocket.DefaultDialer.Dial("ws://"+nodes[2].HTTP+"/api/v1/live", map[string][]string{"Authorization": {"Bearer " + token}})
	if err != nil {
		t.Fatal(err)
	}
	defer ws.Close()
	var seenMu sync.Mutex
	seenPos, seenAlerts := map[string]bool{}, map[string]bool{}
	go func() {
		for {
			var m struct {
				Type      string `json:"type"`
				Positions []struct {
					VehicleID int64 `json:"vehicle_id"`
				} `json:"positions"`
				Events []struct {
					Kind string `json:"kind"`
					Data struct {
						Vehicle struct {
							Plate string `json:"plate"`
						} `json:"vehicle"`
						Rule struct {
							ID string `json:"id"`
						} `json:"rule"`
					} `json:"data"`
				} `json:"events"`
			}
			if err := ws.ReadJSON(&m); err != nil {
				return
			}
			seenMu.Lock()
			if m.Type == "positions" {
				for _, p := range m.Positions {
					seenPos[vehicle[p.VehicleID]] = true
				}
			}
			for _, e := range m.Events {
				if e.Kind == "alert" {
					seenAlerts[e.Data.Vehicle.Plate+" "+e.Data.Rule.ID] = true
				}
			}
			seenMu.Unlock()
		}
	}()

	// Let the nodes share the shards and the relay connect before the run.
	// The lock namespaces are the alerts package's: FNV-1a of a name with
	// the schema, as alerts.Cluster derives them.
	ns := func(kind string) int64 {
		h := fnv.New32a()
		h.Write([]byte("fleetmon/alerts/" + kind + "/" + pg.Name))
		return int64(h.Sum32() & 0x7fffffff)
	}
	waitUntil(t, 30*time.Second, "the nodes to share the rules' shards", func() bool {
		var shards, nodesUp, most int
		err := pg.Pool.QueryRow(ctx, `SELECT count(*) FILTER (WHERE classid = $1::bigint::oid),
				count(*) FILTER (WHERE classid = $2::bigint::oid),
				coalesce(max(n) FILTER (WHERE classid = $1::bigint::oid), 0)
			FROM pg_locks l, LATERAL (SELECT count(*) AS n FROM pg_locks s WHERE s.pid = l.pid
				AND s.locktype = 'advisory' AND s.granted AND s.objsubid = 2 AND s.classid = $1::bigint::oid) per
			WHERE locktype = 'advisory' AND granted AND objsubid = 2`, ns("shard"), ns("node")).Scan(&shards, &nodesUp, &most)
		return err == nil && nodesUp == 3 && shards == 32 && most <= (32+2)/3
	})

	work := day.Add(10 * time.Hour)                 // in working hours
	night := day.Add(19*time.Hour + 30*time.Minute) // the same day, after hours
	pace := 15 * time.Millisecond

	type tcpRun struct {
		phone, plate string
		start        int
		track        []jt808.Location
		acked        int
		moves        int
		err          error
	}
	runs := []*tcpRun{
		{phone: "13800000001", plate: "鄂B00001", start: 0, track: clusterTrack(work, 115.04)},  // sealed: moves
		{phone: "13800000002", plate: "鄂B00002", start: 1, track: clusterTrack(night, 115.05)}, // after hours
		{phone: "13800000003", plate: "鄂B00003", start: 2, track: clusterTrack(work, 115.06)},  // no alert
	}
	killNow := make(chan struct{})
	// With frozen, the terminals hold their 41st report until the trouble
	// is over, and MQTT's last 30 go out while the second node is frozen.
	resume, stopped := make(chan struct{}), make(chan struct{})
	if !frozen {
		close(resume)
		close(stopped)
	}
	var wg sync.WaitGroup
	for _, run := range runs {
		wg.Go(func() {
			p, _ := jt808.ParsePhone(run.phone, jt808.Version2013)
			r := &roamer{phone: p, plate: run.plate, nodes: alive, at: run.start}
			for i := range run.track {
				if i == 40 {
					<-resume
				}
				if err := r.report(&run.track[i]); err != nil {
					run.err = err
					return
				}
				run.acked++
				if run.start == 0 && i == 30 {
					close(killNow) // n1 dies with this terminal on it
				}
				time.Sleep(pace)
			}
			run.moves = r.moves
			if r.c != nil {
				r.c.Close()
			}
		})
	}

	// MQTT: raw frames for 鄂B00005, JSON for 鄂B00004, each message
	// acknowledged by the broker before the next.
	pub := mqtt.NewClient(mqtt.NewClientOptions().AddBroker(broker.URL).SetClientID("cluster-test-pub"))
	if tok := pub.Connect(); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		t.Fatal(tok.Error())
	}
	defer pub.Disconnect(100)
	framePhone, _ := jt808.ParsePhone("13800000005", jt808.Version2013)
	frames, jsons := clusterTrack(night, 115.07), clusterTrack(work, 115.08)
	var mqttErr error
	wg.Go(func() {
		for i := range frames {
			if i == 50 {
				<-stopped
			}
			h := jt808.Header{ID: jt808.IDLocation, Phone: framePhone, Serial: uint16(i)}
			tok := pub.Publish("fleetmon/jt808/13800000005/up", 1, false, jt808.AppendFrame(nil, &h, frames[i].AppendTo(nil, jt808.Version2013)))
			j := &jsons[i]
			tm, _ := j.Time.Time()
			body, _ := json.Marshal(map[string]any{"phone": "13800000004", "time": tm.Format(time.RFC3339),
				"lat": float64(j.LatE6) / 1e6, "lon": float64(j.LonE6) / 1e6, "speed_kmh": float64(j.SpeedDeciKmh) / 10,
				"status": j.Status})
			tok2 := pub.Publish("fleetmon/positions/13800000004", 1, false, body)
			for _, tk := range []mqtt.Token{tok, tok2} {
				if !tk.WaitTimeout(10*time.Second) || tk.Error() != nil {
					mqttErr = fmt.Errorf("publish %d: %v", i, tk.Error())
					return
				}
			}
			time.Sleep(pace)
		}
	})

	<-killNow
	if frozen {
		freezeThenKill(t, pg, nodes, ns, stopped)
		close(resume)
	} else {
		nodes[0].kill()
	}
	wg.Wait()
	for _, run := range runs {
		if run.err != nil {
			t.Fatalf("%s: %v", run.plate, run.err)
		}
	}
	if mqttErr != nil {
		t.Fatal(mqttErr)
	}
	if runs[0].moves == 0 {
		t.Errorf("鄂B00001's terminal never moved to another node")
	}
	// n1 comes back (as a supervisor would restart it): its MQTT session
	// holds the messages it had not acknowledged when it died.
	restarted := startNode(t, "n1", db, broker.URL)
	nodesMu.Lock()
	nodes[0] = restarted
	nodesMu.Unlock()

	// Every acknowledged report is stored, once.
	waitUntil(t, 60*time.Second, "every report stored", func() bool {
		var n, distinct int
		err := pg.Pool.QueryRow(ctx, "SELECT count(*), count(DISTINCT (vehicle_id, device_time)) FROM positions").Scan(&n, &distinct)
		return err == nil && n == 5*80 && distinct == n
	})
	var perVehicle []int
	rows, _ = pg.Pool.Query(ctx, "SELECT count(*) FROM positions GROUP BY vehicle_id ORDER BY vehicle_id")
	for rows.Next() {
		var n int
		_ = rows.Scan(&n)
		perVehicle = append(perVehicle, n)
	}
	if !slices.Equal(perVehicle, []int{80, 80, 80, 80, 80}) {
		t.Fatalf("positions per vehicle %v, want 80 each", perVehicle)
	}

	// Each expected alert exactly once, and no other.
	want := []string{"鄂B00001 sealed_move", "鄂B00002 after_hours", "鄂B00004 sealed_move", "鄂B00005 after_hours"}
	episodes := func() (live []string, all int) {
		rows, _ := pg.Pool.Query(ctx, `SELECT v.plate || ' ' || e.rule, e.status FROM episodes e JOIN vehicles v ON v.id = e.vehicle_id`)
		for rows.Next() {
			var name, status string
			_ = rows.Scan(&name, &status)
			all++
			if status != "retracted" {
				live = append(live, name)
			}
		}
		slices.Sort(live)
		return live, all
	}
	waitUntil(t, 60*time.Second, "the expected alerts", func() bool {
		live, _ := episodes()
		return slices.Equal(live, want)
	})
	// Let the rules settle (a poll, a state save), then check again: a
	// duplicate would show as a second row.
	time.Sleep(2 * time.Second)
	live, all := episodes()
	if !slices.Equal(live, want) {
		t.Fatalf("alerts %v, want %v", live, want)
	}
	var closed int
	if err := pg.Pool.QueryRow(ctx, "SELECT count(*) FROM episodes WHERE status = 'closed'").Scan(&closed); err != nil || closed != len(want) {
		t.Errorf("%d closed episodes, want %d (%v)", closed, len(want), err)
	}
	t.Logf("episodes rows %d (retracted %d); terminal moves %d", all, all-len(live), runs[0].moves)

	// The websocket client on n3 saw every vehicle and every alert,
	// whichever node took the report and ran the rules.
	waitUntil(t, 30*time.Second, "the live stream on n3 to show everything", func() bool {
		seenMu.Lock()
		defer seenMu.Unlock()
		for _, plate := range vehicle {
			if !seenPos[plate] {
				return false
			}
		}
		for _, w := range want {
			if !seenAlerts[w] {
				return false
			}
		}
		return true
	})
	for _, n := range nodes {
		n.stop()
	}
}

// freezeThenKill freezes nodes[1] (SIGSTOP) and closes stopped, waits
// until the database ends its lease session (the production lease
// timeout), kills nodes[0] (SIGKILL) as it takes over the frozen node's
// shards, and wakes nodes[1] (SIGCONT).
func freezeThenKill(t *testing.T, pg *pgtest.Schema, nodes []*nodeProc, ns func(string) int64, stopped chan struct{}) {
	t.Helper()
	ctx := context.Background()
	frozen := nodes[1]
	if err := frozen.cmd.Process.Signal(syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	close(stopped)
	// The shard locks held by the first node's lease session (the one
	// that also holds its node lock).
	nodeKey := func(id string) int64 {
		h := fnv.New32a()
		h.Write([]byte(id))
		return int64(h.Sum32() & 0x7fffffff)
	}
	held := func(id string) (nodeUp bool, shards int) {
		err := pg.Pool.QueryRow(ctx, `WITH node AS (SELECT pid FROM pg_locks WHERE locktype = 'advisory' AND granted
				AND objsubid = 2 AND classid = $1::bigint::oid AND objid = $2::bigint::oid)
			SELECT EXISTS (SELECT 1 FROM node), (SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND granted
				AND objsubid = 2 AND classid = $3::bigint::oid AND pid IN (SELECT pid FROM node))`,
			ns("node"), nodeKey(id), ns("shard")).Scan(&nodeUp, &shards)
		if err != nil {
			t.Fatal(err)
		}
		return nodeUp, shards
	}
	_, before := held("n1")
	t0 := time.Now()
	waitUntil(t, 2*time.Minute, "the frozen node's lease to end", func() bool {
		up, _ := held(frozen.id)
		return !up
	})
	t.Logf("the frozen node's lease ended after %s", time.Since(t0).Round(time.Second))
	// The first node takes some of the frozen node's shards (and replays
	// their vehicles) within a rebalance: kill it then, or after a while
	// if the third took them all.
	deadline := time.Now().Add(10 * time.Second)
	_, now := held("n1")
	for now <= before && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
		_, now = held("n1")
	}
	nodes[0].kill()
	t.Logf("n1 killed holding %d shards (%d before the freeze)", now, before)
	if err := frozen.cmd.Process.Signal(syscall.SIGCONT); err != nil {
		t.Fatal(err)
	}
}

func waitUntil(t *testing.T, limit time.Duration, what string, ok func() bool) {
	t.Helper()
	deadline := time.Now().Add(limit)
	for !ok() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(100 * time.Millisecond)
	}
}
