// Package alerts owns the rules that detect misuse of official vehicles
// (公务用车): work calendars with the national holiday calendar and its
// make-up workdays (调休), geofences with their spatial index, the rules
// themselves and the per-vehicle engine that turns an ordered stream of
// positions into episodes (an alert is an episode with a start and an end,
// not a point).
//
// The rules core is pure: no SQL, no clock, no goroutines. A Calendar,
// HolidaySet, Calendars, FenceSet, Policy, Approvals and Seals are
// immutable once built and safe for concurrent use by many goroutines; the
// storage step persists their plain spec structs (CalendarSpec, Fence,
// Params, Approval, and track's seal history) and rebuilds them. An Engine is not safe for concurrent use:
// one goroutine owns it (shard vehicles by id across engines that share one
// Config). Its per-vehicle state is a pure function of the vehicle's
// positions in device-time order, and serialisable (MarshalState).
//
// Where things are. The engine (engine.go) holds the vehicles and runs
// the step: each fix goes through every rule in a fixed order, each rule a
// method of the vehicle that takes the fix and judges it against its own
// part of VehicleState. Each rule has a file holding its parameters, its
// state and its logic: rule_afterhours.go (非工作时间用车 and 节假日用车),
// rule_area.go (越界), rule_places.go (禁入区域, 敏感区域停留),
// rule_parking.go (夜间未入库), rule_sealed.go (封存车辆移动),
// rule_alarms.go (断电, 天线), rule_silent.go (离线 while in use) and
// rule_speeding.go (超速); drive.go is what a drive is, which the
// after-hours and sealed rules judge. rules.go lists the rules, params.go
// holds Params and the Policy that resolves them per unit, paramdefs.go
// the table of parameters by name that units override one by one (read in
// people's units: duration.go), episode.go what
// an episode is and how it is emitted, approvals.go the approved trips,
// calendar.go and calendar_ics.go the calendars, geofence.go and
// geofence_import.go the fences, orgtree.go the unit tree everything is
// inherited down. late.go keeps the checkpoints and re-evaluates late
// data, engine_save.go saves and restores the state, clock.go judges what
// time alone says.
//
// Late data (blind-zone back-fills, 0x0704) is handled by re-evaluating the
// vehicle from the last checkpoint before the late fix with positions read
// back through a Source; the engine then emits the difference: changed
// episodes and retracted ones (EpisodeRetracted).
//
// Clock-driven checks (clock.go): rules that depend on the absence of
// data — 夜间未入库 for a car whose terminal sleeps, a terminal silent
// while the car was in use, a car asleep at a sensitive place — are
// judged by Engine.Tick as of a time, not only when the next fix comes.
// What the clock says is a view computed from the state, never part of
// it: checkpoints stay a pure function of the fixes, and late data
// re-evaluates and retracts what the clock said as it does for every
// rule.
//
// The engine also reports the drives it sees (RecordDrives, DrivesOf), so
// that the daily dispatch report (dispatch.go: 无单出车, 有单无车; trips.go:
// each approved trip against its car's track) uses the rules' own idea of
// a drive. ledger.go judges the statistics' per
// vehicle-day figures (track's) against the units' calendars: working
// days, after-hours and holiday trips, alerts by rule and verification.
//
// Around the core, Store keeps the configuration (store_config.go,
// store_calendars.go), the episodes (store_episodes.go, and list.go for
// the API's pages) and the engines' saved state (store_state.go) in
// PostgreSQL (migration 0004_alerts.sql), and reads positions back
// (store_feed.go). Runner (runner.go) is the runtime: Committed, the
// track writer's CommitListener, copies committed positions into a
// bounded queue per shard (blocking the writer when full, never dropping
// while it runs); Run owns one Engine per shard, each in one goroutine
// (vehicles are sharded by id; no locks around an engine), upserts the
// episodes by their deterministic ID, tells its EpisodeListeners what it
// stored (they must not block), saves each vehicle's state with the
// latest received_at it includes, and on start replays the positions
// received after that, so a restart or crash misses nothing and repeats
// harmlessly. Reload hands a re-read configuration to the engines;
// Reevaluate recomputes a vehicle's period with a private engine and
// returns (and optionally applies) the difference with the stored
// episodes; ReevaluateAll does it for a fleet, streaming, one vehicle per
// CPU. Every Clock.Every (runner_clock.go) each shard ticks its engine.
// Each shard loads a vehicle's approvals for the device times of the
// positions it judges (runner_approvals.go), not for a window around the
// wall clock, so a report arriving a month late is judged with the
// approval that covered it. Status (runner_status.go) says how far the
// rules are behind the committed positions and the clock.
//
// With several fleetd nodes on one database, Cluster (cluster.go) runs
// each vehicle's rules on exactly one node: vehicles are split into shards
// by id, a shard is leased through a PostgreSQL session advisory lock held
// on a connection of the node's own, and the holder runs one Runner per
// shard that reads the shard's positions from the database in commit order
// (positions.commit_xid below the oldest running transaction) instead of
// being pushed them, and writes episodes and state only through the lease's
// connection after checking the lock (a fence). States are saved with the
// transaction id they include, so the next holder replays exactly what
// follows.
//
// alerts imports track for its domain types; it must not import ingest or
// api.
package alerts
