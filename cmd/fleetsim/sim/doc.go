// Package sim simulates the BeiDou/GPS terminals of official vehicles (公务用车) that speak
// JT/T 808 (2013 and 2019) over TCP. It is a library so that end-to-end tests elsewhere can drive
// the real server with it; cmd/fleetsim wraps it in a command line.
//
// It owns three things:
//
//   - Terminal: one simulated terminal and its connection: register (0x0100), authenticate
//     (0x0102), heartbeat (0x0002), location reports (0x0200), batch and blind-zone uploads
//     (0x0704, sub-packaged above SinglePackageBatch positions, with the platform's 0x8003
//     answered), logout (0x0003), matching of the platform's replies (0x8001/0x8100), resends of
//     unacknowledged reports and their metrics.
//   - Driver, Tour and Script: where a vehicle is. Driver produces plausible movement through a
//     small built-in road network around 黄石市 (Huangshi, Hubei), deterministic for a seed; Tour
//     drives a fixed route by the clock (the demo's misused cars) and then hands over; Script
//     replays positions a caller wrote down (for tests, e.g. in the southern or western
//     hemisphere).
//   - Fleet: the simulated vehicles (plate, plate colour, phone, unit, category), and their CSV
//     form that the server imports with `fleetd vehicles import`.
//
// Concurrency: a Terminal's methods are called from one goroutine, its owner. Each connected
// Terminal also runs one reader goroutine that matches replies; the two share only the table of
// pending messages (behind a mutex) and the Metrics (atomics). Metrics may be shared by many
// Terminals. Driver, Tour and Script are not safe for concurrent use.
//
// Imports: the codec fleetmon/ingest/jt808 and the standard library only; never the server's
// packages (ingest, track, alerts, api), so that it tests them from the outside.
package sim
