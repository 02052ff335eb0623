// Package track owns fleetmon's domain types (Position, Vehicle, Terminal)
// and their storage in PostgreSQL + PostGIS: schema migrations, the batched,
// idempotent position writer, the terminal registry and vehicle import.
//
// Concurrency: a Store and a Writer are safe for concurrent use by many
// goroutines; the values they return are owned by the caller.
//
// track must not import ingest, alerts or api: data flows terminals → ingest
// → track → alerts → api, and ingest reaches track through interfaces it
// declares itself.
package track
