package main

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"

	"fleetmon/alerts"
	"fleetmon/api"
	"fleetmon/notify"
	"fleetmon/track"
	"fleetmon/track/relay"
)

// pipeline is fleetd serve's data path, assembled here and nowhere else,
// for a single node and for one node of several alike. A location report
// (0x0200) goes:
//
//  1. from the terminal's socket to the gateway (ingest), which decodes it
//     and calls writer.Write, waiting to acknowledge until it is stored;
//  2. writer (track.Writer) tells the hub as it queues the positions
//     (track.QueueListener: the live map moves at once, whatever the
//     database's delay) and stores them in PostgreSQL, in batches;
//  3. after each commit, writer tells committed (track.CommitListener):
//     on a single node the rules engine (alerts.Runner), which judges
//     every committed position; on a cluster node the relay, which passes
//     them to the other nodes' hubs (the rules of a cluster read what any
//     node committed from the database, each vehicle on the node holding
//     its shard);
//  4. the rules store the episodes they decide and tell each of their
//     listeners (alerts.EpisodeListener): live, which hands them to the
//     API's live stream on a goroutine of its own; notify, which wakes its
//     scan of the stored episodes (it enqueues notifications from the
//     database and sends them to the subscribed webhooks and mailboxes,
//     whichever node decided the alert); and on a cluster the relay,
//     which tells the other nodes;
//  5. the hub and live feed the browsers' websockets (GET /api/v1/live).
//
// Nothing after the commit can hold a terminal up for long: the hub and
// the relay never block, live only notes the alerts (a slow read of them
// delays the map, not the rules), and the rules block the writer only
// while their own queue is full.
type pipeline struct {
	hub    *track.Hub
	writer *track.Writer
	live   *api.LiveAlerts
	notify *notify.Notifier
	// rules is what the API changes and asks of the rules, and runs them.
	rules interface {
		api.Rules
		Run(ctx context.Context) error
	}
	// relay and peers link a cluster node to the others; nil on a single
	// node.
	relay *relay.Relay
	peers relay.Peers
	log   *slog.Logger
}

// newPipeline assembles the pipeline for cfg: a single node, or a cluster
// node when cfg names one. The hub starts from the vehicles' stored state.
func newPipeline(ctx context.Context, cfg *serveConfig, pool *pgxpool.Pool, store *track.Store, log *slog.Logger,
	reg prometheus.Registerer) (*pipeline, error) {
	p := &pipeline{log: log}
	p.hub = track.NewHub(reg, track.WithOfflineAfter(cfg.offlineAfter))
	seeds, err := store.LiveSeeds(ctx)
	if err != nil {
		return nil, err
	}
	p.hub.Seed(seeds)
	p.live = api.NewLiveAlerts(0, log.With("component", "live"), reg)
	ncfg, err := cfg.notify.config()
	if err != nil {
		return nil, err
	}
	p.notify = notify.New(pool, ncfg, log.With("component", "notify"), reg)

	alertStore, alertLog := alerts.NewStore(pool), log.With("component", "alerts")
	var committed track.CommitListener
	if cfg.cluster.nodeID == "" {
		runner := alerts.NewRunner(alertStore, alerts.RunnerConfig{}, alertLog, reg, p.live, p.notify)
		p.rules, committed = runner, runner
	} else {
		rel, err := relay.New(relay.Config{Broker: cfg.mqtt.Broker, Username: cfg.mqtt.Username, Password: cfg.mqtt.Password,
			NodeID: cfg.cluster.nodeID, Prefix: cfg.cluster.topicPrefix}, p.hub, log.With("component", "relay"), reg)
		if err != nil {
			return nil, usageError{err.Error()}
		}
		cl, err := alerts.NewCluster(alertStore, alerts.ClusterConfig{NodeID: cfg.cluster.nodeID}, alertLog, reg,
			p.live, p.notify, alertsToPeers{rel})
		if err != nil {
			return nil, err
		}
		if reg != nil {
			reg.MustRegister(alerts.StatusMetrics(cl.Status))
		}
		p.rules, committed = clusterRules{Cluster: cl, relay: rel}, rel
		p.relay = rel
		p.peers = fromPeers{rules: cl, live: p.live, store: store, hub: p.hub, log: log}
	}
	p.writer = track.NewWriter(pool, cfg.writer, log.With("component", "writer"), reg,
		track.TellQueued(p.hub), track.TellCommitted(committed))
	return p, nil
}

// start runs the pipeline's goroutines, live publishing through pub (the
// API server). Each starts before what feeds it, and stop, called after
// the sources (the gateway, the MQTT subscriber) stopped, stops them in
// data-flow order: the writer first (its drain still hands its last
// commits on), then the rules (which judge what they were handed, store
// it and save their state: nothing committed is left unjudged, and a
// restart replays what came after the saved state), notify (a send cut
// short is recorded and left due for the next start), the relay, live and
// the hub.
func (p *pipeline) start(pub api.AlertPublisher) (stop func()) {
	var stops []func()
	goStop := func(name string, run func(ctx context.Context) error) {
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan struct{})
		go func() {
			defer close(done)
			if err := run(ctx); err != nil && ctx.Err() == nil {
				p.log.Error(name+" stopped", "err", err)
			}
		}()
		stops = append(stops, func() { cancel(); <-done })
	}
	goStop("hub", func(ctx context.Context) error { p.hub.WatchStates(ctx); return nil })
	goStop("live alerts", func(ctx context.Context) error { p.live.Run(ctx, pub); return nil })
	if p.relay != nil {
		goStop("relay", func(ctx context.Context) error { return p.relay.Run(ctx, p.peers) })
	}
	goStop("notify", p.notify.Run)
	goStop("rules engine", p.rules.Run)
	goStop("writer", func(ctx context.Context) error { return p.writer.Run(ctx, 10*time.Second) })
	var once sync.Once
	return func() {
		once.Do(func() {
			for i := len(stops) - 1; i >= 0; i-- {
				stops[i]()
			}
		})
	}
}
