// Package alerts owns the rules that detect misuse of official vehicles
// (公务用车): work calendars with the national holiday calendar and its
// make-up workdays (调休), geofences with their spatial index, the rules
// themselves and the per-vehicle engine that turns an ordered stream of
// positions into episodes (an alert is an episode with a start and an end,
// not a point).
//
// Everything here is pure: no SQL, no clock, no goroutines. A Calendar,
// HolidaySet, Calendars, FenceSet, Policy and Approvals are immutable once
// built and safe for concurrent use by many goroutines; the storage step
// persists their plain spec structs (CalendarSpec, Fence, Params,
// Approval) and rebuilds them. An Engine is not safe for concurrent use:
// one goroutine owns it (shard vehicles by id across engines that share one
// Config). Its per-vehicle state is a pure function of the vehicle's
// positions in device-time order, and serialisable (MarshalState).
//
// Late data (blind-zone back-fills, 0x0704) is handled by re-evaluating the
// vehicle from the last checkpoint before the late fix with positions read
// back through a Source; the engine then emits the difference: changed
// episodes and retracted ones (EpisodeRetracted).
//
// alerts imports track for its domain types; it must not import ingest or
// api.
package alerts
