// Package ingest owns the terminal side of fleetmon: the JT/T 808 TCP
// gateway (per-connection sessions: registration, authentication,
// heartbeats, location and batch reports, sub-packaged messages, replies as
// the standard prescribes) and the conversion of wire values to track's
// domain types. The codec itself is the sub-package jt808.
//
// Concurrency: one goroutine owns each connection and its session state; a
// Server is safe for concurrent use. A report is acknowledged only after the
// Sink says it is durable.
//
// ingest imports track for its domain types only, and reaches storage
// through the Sink and Registry interfaces it declares; it must not import
// alerts or api.
package ingest
