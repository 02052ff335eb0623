// Package track owns fleetmon's domain types (Position, Vehicle, Terminal)
// and their storage in PostgreSQL + PostGIS: schema migrations, the batched,
// idempotent position writer, the terminal registry and vehicle import;
// units, vehicles, terminals and latest positions as the API lists and
// changes them, each query limited to a Scope (scope.go, units.go,
// vehicles.go, terminals.go, latest.go); and history: reading tracks
// (Track, TrackPoints: tracks.go), their analysis into trips,
// stops and gaps (history.go), evidence exports, manifests and daily seals
// (evidence.go, integrity.go), area search over per vehicle-hour footprints
// kept by SummariseFootprints (area.go), and the compaction of finished
// months for replay (compact.go).
//
// Concurrency: a Store and a Writer are safe for concurrent use by many
// goroutines; the values they return are owned by the caller.
//
// track must not import ingest, alerts or api: data flows terminals → ingest
// → track → alerts → api, and ingest reaches track through interfaces it
// declares itself.
package track
