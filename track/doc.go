// Package track owns fleetmon's domain types (Position, Vehicle, Terminal)
// and their storage in PostgreSQL + PostGIS: schema migrations, the batched,
// idempotent position writer, the terminal registry and vehicle import;
// units, vehicles, terminals and latest positions as the API lists and
// changes them, each query limited to a Scope (scope.go, units.go,
// vehicles.go, terminals.go, latest.go); and history: reading tracks
// (Track, TrackPoints: tracks.go), their analysis into trips,
// stops and gaps (history.go), evidence exports, manifests and daily seals
// (evidence.go, integrity.go), area search over per vehicle-hour footprints
// kept by SummariseFootprints (area.go), the per vehicle-day figures of
// the statistics kept by SummariseDays (days.go), and the compaction of
// finished months for replay (compact.go).
//
// The Writer (writer.go) tells what it does to listeners given to
// NewWriter: a QueueListener the positions it is about to queue, a
// CommitListener those each commit stored. The live Hub (live.go) is the
// usual QueueListener: it fans positions out to the web map's
// subscribers and derives each vehicle's live state (moving, parked,
// offline, alarm, sealed; livestate.go), never waiting for a subscriber.
// Package relay carries the live stream between the nodes of a cluster.
//
// Concurrency: a Store and a Writer are safe for concurrent use by many
// goroutines; the values they return are owned by the caller.
//
// track must not import ingest, alerts or api: data flows terminals → ingest
// → track → alerts → api, and ingest reaches track through interfaces it
// declares itself.
package track
