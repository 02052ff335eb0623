// Command pgctl starts and stops a localpg cluster from the shell, for scripts/testdb.sh and
// make test:
//
//	pgctl start [--dir .testdb] [--port 0] [--bin DIR] [--var FLEETMON_TEST_DB] [-v]
//	pgctl stop  [--dir .testdb] [--bin DIR] [-v]
//
// start is idempotent: it creates the cluster on first use, starts it, or adopts it when it is
// already running, and prints one line, NAME=<connection URL>, on standard output. The URL
// holds no spaces or quotes, so a Makefile can take it as it is. The cluster keeps running after
// pgctl exits; stop stops it (fast shutdown) and is a no-op when nothing runs. Progress and
// errors go to standard error.
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"syscall"
	"time"

	"fleetmon/track/localpg"
)

func main() {
	if err := run(os.Args[1:], os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "pgctl:", err)
		os.Exit(1)
	}
}

func run(args []string, stdout, stderr io.Writer) error {
	usage := func() {
		fmt.Fprintln(stderr, "usage: pgctl start|stop [--dir DIR] [--port N] [--bin DIR] [--var NAME] [--timeout D] [-v]")
	}
	if len(args) == 0 {
		usage()
		return fmt.Errorf("no command")
	}
	cmd := args[0]
	fs := flag.NewFlagSet("pgctl "+cmd, flag.ContinueOnError)
	fs.SetOutput(stderr)
	dir := fs.String("dir", ".testdb", "directory that holds the cluster")
	port := fs.Int("port", 0, "TCP port on 127.0.0.1; 0 reuses the last one or picks a free one")
	bin := fs.String("bin", "", "PostgreSQL bin directory; empty picks one")
	name := fs.String("var", "FLEETMON_TEST_DB", "variable name printed by start")
	// Five minutes covers initdb plus crash recovery of a cluster stopped under load.
	timeout := fs.Duration("timeout", 5*time.Minute, "give up after this long")
	verbose := fs.Bool("v", false, "log progress")
	if err := fs.Parse(args[1:]); err != nil {
		return err
	}

	level := slog.LevelWarn
	if *verbose {
		level = slog.LevelInfo
	}
	cfg := localpg.Config{
		Dir:    *dir,
		Port:   *port,
		BinDir: *bin,
		Logger: slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: level})),
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	ctx, cancel := context.WithTimeout(ctx, *timeout)
	defer cancel()

	switch cmd {
	case "start":
		s, err := localpg.Start(ctx, cfg)
		if err != nil {
			return err
		}
		_, err = fmt.Fprintf(stdout, "%s=%s\n", *name, s.ConnString())
		return err
	case "stop":
		return localpg.StopDir(ctx, cfg)
	default:
		usage()
		return fmt.Errorf("unknown command %q", cmd)
	}
}
