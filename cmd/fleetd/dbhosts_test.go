package main

import (
	"context"
	"net"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"fleetmon/track/pgtest"
)

// TestHostOrderLeavesOutSilentHost lists a host that accepts TCP
// connections and then says nothing (a frozen primary: its kernel still
// completes the handshake) before the real server: once a connection has
// found the silent one silent, new connections go to the real server
// without waiting on the silent one, which is only probed in the
// background.
func TestHostOrderLeavesOutSilentHost(t *testing.T) {
	real := pgtest.ConnString(t)
	silent, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer silent.Close()
	go func() {
		var held []net.Conn
		defer func() {
			for _, c := range held {
				c.Close()
			}
		}()
		for {
			c, err := silent.Accept()
			if err != nil {
				return
			}
			held = append(held, c)
		}
	}()
	cfg, err := pgxpool.ParseConfig(real)
	if err != nil {
		t.Fatal(err)
	}
	cc := &cfg.ConnConfig.Config
	realHost := pgconn.FallbackConfig{Host: cc.Host, Port: cc.Port, TLSConfig: cc.TLSConfig}
	cc.Fallbacks = append([]*pgconn.FallbackConfig{&realHost}, cc.Fallbacks...)
	port := silent.Addr().(*net.TCPAddr).Port
	cc.Host, cc.Port, cc.TLSConfig = "127.0.0.1", uint16(port), nil
	tuneForFailover(cfg)
	if cfg.BeforeConnect == nil {
		t.Fatal("no host order for a --db of several hosts")
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	// The first connection tries the silent host first, as written, and
	// finds the real one after it.
	if err := pool.Ping(ctx); err != nil {
		t.Fatal(err)
	}
	next := cfg.ConnConfig.Copy()
	if err := cfg.BeforeConnect(ctx, next); err != nil {
		t.Fatal(err)
	}
	if next.Host != realHost.Host || next.Port != realHost.Port {
		t.Errorf("a new connection tries %s:%d first, want the server that answered (%s:%d)", next.Host, next.Port, realHost.Host, realHost.Port)
	}
	for _, fb := range next.Fallbacks {
		if fb.Port == uint16(port) && fb.Host == "127.0.0.1" {
			t.Error("a new connection still waits on the silent host")
		}
	}
}
