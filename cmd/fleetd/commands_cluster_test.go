package main

import (
	"context"
	"testing"

	"fleetmon/cmd/fleetsim/sim"
	"fleetmon/ingest/jt808"
	"fleetmon/ingest/mqtttest"
)

// TestCommandsCluster queues commands through one node of a cluster for a
// terminal connected to another: the node holding the connection sends
// them, at once while it is connected, and on reconnection when it was
// not.
func TestCommandsCluster(t *testing.T) {
	broker := mqtttest.Start(t)
	db, _, token := seedFleet(t, commandsCSV, "hs_sup", "supervisor", "湖北省/黄石市")
	n1, n2 := startNode(t, "n1", db, broker.URL), startNode(t, "n2", db, broker.URL)
	ctx := context.Background()
	term, err := sim.NewTerminal(sim.Config{Phone: "13900000001", Version: jt808.Version2019, Plate: "鄂B20001", PlateColor: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer term.Close()
	connect := func() {
		t.Helper()
		if err := term.Connect(ctx, n2.JT808); err != nil {
			t.Fatal(err)
		}
		if err := term.Login(ctx); err != nil {
			t.Fatal(err)
		}
	}
	connect()
	vid := vehicleID(t, "http://"+n1.HTTP, token, "鄂B20001")

	c := queueCmd(t, n1.HTTP, token, vid, map[string]any{"kind": "query_params", "client_key": "c-1"})
	got := awaitCmd(t, n1.HTTP, token, vid, c.ID, "answered")
	if got.SentBy != "n2" || got.Reply.Params["default_interval_s"] != 30.0 {
		t.Fatalf("command through n1 to a terminal on n2: %+v", got)
	}

	if err := term.Close(); err != nil {
		t.Fatal(err)
	}
	c = queueCmd(t, n1.HTTP, token, vid, map[string]any{"kind": "text", "client_key": "c-2", "text": "集群测试"})
	if got := getCmd(t, n1.HTTP, token, vid, c.ID); got.State != "queued" {
		t.Fatalf("command for an offline terminal: %+v", got)
	}
	connect()
	if got := awaitCmd(t, n2.HTTP, token, vid, c.ID, "answered"); got.SentBy != "n2" {
		t.Fatalf("queued command delivered by %q", got.SentBy)
	}
	term.Close()
}
