// Package api is fleetmon's HTTP side: the JSON REST API under /api/v1,
// a file per resource (units, users, vehicles, terminals, positions,
// tracks, the audit log: audit.go; the rules engine's alerts and their
// verification: alerts.go; what the rules judge with: fences.go,
// calendars.go, ruleparams.go, approvals.go, holidays.go; replay,
// evidence exports, their verification and area search: replay.go,
// history.go, verify.go, area.go; reports.go; the statistics (台账):
// stats.go, stats_export.go, stats_tips.go; public tips (举报), answered
// from the tracks and worked to closure: tips*.go; fuel-card
// reconciliation, matched by package fuel: fuel.go, fuel_import.go,
// fuel_leads.go, fuel_report.go, fuel_export.go; requests for cars, their
// approval and dispatch (用车申请 → 审批 → 派车): trip_requests.go,
// trip_dispatch.go, trip_store.go), the helpers every
// resource reads requests and writes answers with (request.go, text.go,
// csv.go), authentication (argon2id passwords hashed through a small
// pool: hashing.go; server-side sessions with CSRF tokens, bearer API
// tokens; login and its throttling per name and address: login.go),
// jurisdiction (every query is
// limited to the caller's unit subtree, via track.Scope), the append-only
// audit log, the login page, and the guarded /metrics and open /healthz.
//
// Accounts, sessions, tokens and audit entries are stored by this package
// (its own SQL, tables of migrations 0002 and 0010), and so are trip
// requests and drivers (migration 0023), whose dispatch stores its
// approval through alerts.Store as an import does; units, vehicles, terminals and
// tracks through track.Store.
//
// Concurrency: a Server is safe for concurrent use; it keeps no per-user
// state in memory (sessions and throttling live in the database, so several
// fleetd nodes can serve the same users). What it bounds in memory is per
// process: the password hashes and the logins' database work running at
// once.
//
// api must not import ingest: data flows terminals → ingest → track →
// alerts → api, and cmd/fleetd wires the packages.
package api
