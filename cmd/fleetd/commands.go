package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"time"

	"fleetmon/track/commands"
)

// registerCommands adds the flags of the commands to terminals.
func registerCommands(fs *flag.FlagSet, c *commands.Config) {
	duration := func(name, env string, def time.Duration, into *time.Duration, usage string) {
		*into = def
		if v := os.Getenv(env); v != "" {
			if d, err := time.ParseDuration(v); err == nil && d > 0 {
				*into = d
			}
		}
		fs.Func(name, fmt.Sprintf("%s (default %v; env %s)", usage, def, env), func(s string) error {
			d, err := time.ParseDuration(s)
			if err != nil || d <= 0 {
				return fmt.Errorf("want a positive duration such as %v", def)
			}
			*into = d
			return nil
		})
	}
	duration("command-timeout", "FLEETMON_COMMAND_TIMEOUT", time.Minute, &c.ReplyTimeout,
		"a command sent to a terminal is marked timed out when it has not answered in this long")
	duration("command-queue-for", "FLEETMON_COMMAND_QUEUE_FOR", 24*time.Hour, &c.QueueFor,
		"a command for a terminal that stays offline is marked timed out after this long in the queue")
}

// nodeName names this node in the commands it sends: its --node-id, or
// the host's name.
func (c *serveConfig) nodeName() string {
	if c.cluster.nodeID != "" {
		return c.cluster.nodeID
	}
	if h, err := os.Hostname(); err == nil && h != "" {
		return h
	}
	return "fleetd"
}

// watchCommands wakes the gateway and the MQTT subscriber for each
// command queued, on whichever node, until ctx ends.
func watchCommands(ctx context.Context, store *commands.Store, log *slog.Logger, wakers ...func(int64)) {
	store.Watch(ctx, log, func(id int64) {
		for _, w := range wakers {
			w(id)
		}
	})
}
