package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"fleetmon/ingest/jt808"
	"fleetmon/track/pgha"
)

// TestReadReplica serves replay from the synchronous standby of a Patroni
// pair (--db-read, real streaming replication), and from the primary when
// the standby falls behind the staleness bound (its replay paused) and
// again from the standby once it has caught up. Every view is audited on
// the primary, wherever its rows came from.
func TestReadReplica(t *testing.T) {
	cl := pgha.Start(t)
	db := cl.ConnString()
	const plate, phone = "鄂C00001", "13900000001"
	csv := "plate,plate_color,terminal_phone,unit,category\n" + plate + ",1," + phone + ",湖北省/黄石市,general\n"
	if code, out, errs := fleetd(t, "vehicles", "import", "--db", db, writeFile(t, "v.csv", csv)); code != 0 {
		t.Fatalf("import: %d %s %s", code, out, errs)
	}
	_, token := addUser(t, db, "jw_inspector", "inspector", "湖北省/黄石市")
	primary, standby := cl.Primary(), 1-cl.Primary()
	srv := startServeAs(t, "--db", db, "--db-read", cl.NodeConnString(standby), "--data-dir", t.TempDir())

	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	pconn, err := pgx.Connect(ctx, cl.NodeConnString(primary))
	if err != nil {
		t.Fatal(err)
	}
	defer pconn.Close(context.Background())
	sconn, err := pgx.Connect(ctx, cl.NodeConnString(standby))
	if err != nil {
		t.Fatal(err)
	}
	defer sconn.Close(context.Background())
	var vid int64
	if err := pconn.QueryRow(ctx, "SELECT id FROM vehicles WHERE plate = $1", plate).Scan(&vid); err != nil {
		t.Fatal(err)
	}

	tm := dialTerminal(t, srv.JT808, phone)
	tm.login(plate)
	t0 := time.Now().Add(-2 * time.Hour).Truncate(time.Minute)
	report := func(k int) {
		loc := jt808.Location{Status: jt808.StatusACC | jt808.StatusFixed, LatE6: uint32((30.2 + float64(k)*0.001) * 1e6),
			LonE6: 115_000_000, SpeedDeciKmh: 360, Time: jt808.NewBCDTime(t0.Add(time.Duration(k) * 10 * time.Second))}
		tm.expectOK("location", jt808.IDLocation, loc.AppendTo(nil, jt808.Version2013))
	}
	for k := range 5 {
		report(k)
	}

	metric := func(name string) float64 {
		resp, err := http.Get("http://" + srv.HTTP + "/metrics")
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		sc := bufio.NewScanner(resp.Body)
		for sc.Scan() {
			if v, ok := strings.CutPrefix(sc.Text(), name+" "); ok {
				f, _ := strconv.ParseFloat(v, 64)
				return f
			}
		}
		return 0
	}
	audited := func() int {
		var n int
		if err := pconn.QueryRow(ctx, "SELECT count(*) FROM audit_log WHERE action = 'track.view' AND vehicle_id = $1", vid).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	// replay returns the number of positions a replay of the period has.
	replay := func() int {
		q := url.Values{"from": {t0.Add(-time.Minute).Format(time.RFC3339)}, "to": {t0.Add(time.Hour).Format(time.RFC3339)},
			"reason": {"案件核查"}}
		req, _ := http.NewRequest("GET", fmt.Sprintf("http://%s/api/v1/vehicles/%d/replay?%s", srv.HTTP, vid, q.Encode()), nil)
		req.Header.Set("Authorization", "Bearer "+token)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var body struct {
			Total int `json:"total_points"`
		}
		if resp.StatusCode != 200 || json.NewDecoder(resp.Body).Decode(&body) != nil {
			t.Fatalf("replay: %s", resp.Status)
		}
		return body.Total
	}
	const fromReplica = `fleetmon_db_history_reads_total{server="replica"}`
	const fromPrimary = `fleetmon_db_history_reads_total{server="primary"}`
	waitUntil(t, time.Minute, "the standby to be within the bound", func() bool { return metric("fleetmon_db_replica_up") == 1 })
	waitUntil(t, time.Minute, "a replay from the standby", func() bool {
		before := metric(fromReplica)
		n := replay()
		return metric(fromReplica) > before && n == 5
	})
	if n := audited(); n == 0 {
		t.Fatal("a replay read from the standby was not audited on the primary")
	}

	// The standby stops replaying (Patroni in maintenance mode, or it
	// would resume the replay): what is reported now is on the primary
	// only, and once the standby is further behind than the bound, reads
	// go to the primary and show it.
	if err := cl.Maintenance(true); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, time.Minute, "the standby's replay to stay paused", func() bool {
		if _, err := sconn.Exec(ctx, "SELECT pg_wal_replay_pause()"); err != nil {
			t.Fatal(err)
		}
		time.Sleep(3 * time.Second) // Patroni's cycles, which resume a replay unless in maintenance
		var st string
		if err := sconn.QueryRow(ctx, "SELECT pg_get_wal_replay_pause_state()").Scan(&st); err != nil {
			t.Fatal(err)
		}
		return st == "paused"
	})
	for k := 5; k < 8; k++ {
		report(k)
	}
	views := audited()
	waitUntil(t, time.Minute, "a replay from the primary, with the new reports", func() bool {
		n := replay()
		if n != 5 && n != 8 {
			t.Fatalf("replay shows %d points, want 5 (the standby within the bound) or 8", n)
		}
		return n == 8
	})
	if metric(`fleetmon_db_read_fallbacks_total{reason="lag"}`) == 0 || metric(fromPrimary) == 0 {
		t.Errorf("the fallback to the primary was not counted")
	}
	if audited() <= views {
		t.Error("a replay read from the primary was not audited")
	}

	// Caught up again, the standby serves again.
	if _, err := sconn.Exec(ctx, "SELECT pg_wal_replay_resume()"); err != nil {
		t.Fatal(err)
	}
	if err := cl.Maintenance(false); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, time.Minute, "a replay from the standby again", func() bool {
		before := metric(fromReplica)
		n := replay()
		return metric(fromReplica) > before && n == 8
	})
	if got := metric("fleetmon_db_primary_changes_total"); got != 0 {
		t.Errorf("%v primary changes counted without a failover", got)
	}
}
