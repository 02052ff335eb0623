package main

import (
	"context"
	"flag"
	"log/slog"
	"time"

	"fleetmon/alerts"
	"fleetmon/api"
	"fleetmon/track"
	"fleetmon/track/relay"
)

// clusterFlags configure fleetd serve as one node of several.
type clusterFlags struct {
	nodeID      string
	topicPrefix string
}

func registerCluster(fs *flag.FlagSet, c *clusterFlags) {
	fs.StringVar(&c.nodeID, "node-id", envOr("FLEETMON_NODE_ID", ""),
		"run as one node of several sharing --db and --mqtt-broker; a name unique per node, without / + # (env FLEETMON_NODE_ID). Empty: a single node")
	fs.StringVar(&c.topicPrefix, "cluster-topic", envOr("FLEETMON_CLUSTER_TOPIC", "fleetmon/cluster"),
		"root of the MQTT topics the nodes exchange live positions and alerts under (env FLEETMON_CLUSTER_TOPIC)")
}

// check validates the cluster flags against the rest of serve's and fills
// in the MQTT defaults a node needs.
func (c *serveConfig) checkCluster() error {
	if c.cluster.nodeID == "" {
		return nil
	}
	if c.db.db == "" {
		return usageError{"--node-id needs --db: the nodes share one PostgreSQL (the private database is for a single node)"}
	}
	if c.mqtt.Broker == "" {
		return usageError{"--node-id needs --mqtt-broker: the nodes pass live positions and alerts through it"}
	}
	// Each node needs its own MQTT session, and the nodes split the
	// terminals' messages rather than each storing all of them.
	if c.mqtt.ClientID == "" || c.mqtt.ClientID == "fleetd" {
		c.mqtt.ClientID = c.cluster.nodeID
	}
	if c.mqtt.SharedGroup == "" {
		c.mqtt.SharedGroup = "fleetmon"
	}
	return nil
}

// clusterRules is what the API changes and asks of the rules on a node:
// a configuration change reloads this node's engines and tells the others.
type clusterRules struct {
	*alerts.Cluster
	relay *relay.Relay
}

func (r clusterRules) Reload(ctx context.Context) error {
	r.relay.PublishReload()
	return r.Cluster.Reload(ctx)
}

// fromPeers takes the other nodes' notices (it is the relay's Peers): their
// alerts go to the live stream, and a change of the rules' configuration
// reloads this node's rules and the seals its live states show.
type fromPeers struct {
	rules *alerts.Cluster
	live  *api.LiveAlerts
	store *track.Store
	hub   *track.Hub
	log   *slog.Logger
}

func (p fromPeers) AlertsChanged(ids []string) { p.live.AlertsChanged(ids) }

func (p fromPeers) RulesChanged() {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := p.rules.Reload(ctx); err != nil {
		p.log.Error("reload the rules after another node's change", "err", err)
	}
	// A vehicle sealed or unsealed there changes its live state here.
	sealed, err := p.store.SealedIn(ctx, track.Scope{})
	if err != nil {
		p.log.Error("reload the seals after another node's change", "err", err)
		return
	}
	p.hub.SyncSealed(sealed)
}

// alertsToPeers tells the other nodes the alerts this node's rules stored
// (it is one of the rules' listeners), by id: the relay never blocks.
type alertsToPeers struct{ relay *relay.Relay }

func (p alertsToPeers) EpisodesChanged(eps []alerts.Episode) {
	ids := make([]string, len(eps))
	for i := range eps {
		ids[i] = eps[i].ID
	}
	p.relay.PublishAlerts(ids)
}
