// Package ingest owns the terminal side of fleetmon: the JT/T 808 TCP
// gateway (Server: per-connection sessions for registration,
// authentication, heartbeats, location and batch reports, sub-packaged
// messages, replies as the standard prescribes) and the MQTT subscriber
// (Subscriber: raw JT/T 808 frames and gateway-decoded JSON positions from
// a broker, acknowledged at QoS 1 once committed). Both turn location
// messages into track's domain types through one conversion (converter),
// so that a report is stored, or refused, the same way whichever way it
// came. The codec itself is the sub-package jt808.
//
// Files: session.go is a connection's loop and limits, admission.go and
// locations.go the handlers by message, reply.go what is recorded and
// answered, acks.go how location reports are stored and answered,
// fragment.go sub-packages, convert.go the conversion, mqtt.go and
// mqtt_json.go the subscriber; commands to terminals (set and query
// parameters, query location, temporary tracking, text) are encoded and
// their answers read in commands.go, and sent by session_commands.go (TCP)
// and mqtt_commands.go (MQTT, on the terminal's down topic).
//
// Concurrency: one goroutine owns each connection and its session state,
// and a second, while location reports wait for their commit, stores and
// answers them (acks.go) so that the first reads on; a Server is safe for
// concurrent use. The Subscriber writes from one goroutine. A report is
// acknowledged only after the Sink says it is durable.
//
// ingest imports track (and track/commands) for its domain types only,
// and reaches storage through the Sink, Registry, TerminalLookup, Parker
// and CommandQueue interfaces it declares; it must not import alerts or
// api.
package ingest
