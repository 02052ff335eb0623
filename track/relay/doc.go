// Package relay carries the live stream between fleetd nodes through the
// MQTT broker, so that a browser on any node sees every vehicle and every
// alert whichever node the terminal reached: each node publishes the
// positions its writer commits (batched, one message per up to MaxBatch
// positions, at QoS 0) and the ids of the alerts its rules store (QoS 1),
// under a topic naming the node, and hands what the other nodes publish to
// its own live hub. A node skips its own messages (its hub has them already).
//
// The live stream is a view: the database holds every position and alert.
// Positions the relay cannot pass on (queue full, broker away) are dropped
// and counted (fleetmon_relay_dropped_total), never waited for: ingestion
// is never slowed by the relay. Alert notices travel at QoS 1 on a
// persistent session, so a broker outage of a few seconds delays them
// rather than losing them.
//
// Concurrency: a Relay is safe for concurrent use; Run is called once.
//
// relay imports track for its domain types; it must not import ingest,
// alerts or api (cmd/fleetd plugs the hub, the rules and the API in).
package relay
