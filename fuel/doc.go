// Package fuel reconciles fuel-card statements (加油卡) with the tracks:
// for every fill a card's statement lists, it judges from the track of the
// vehicle the card was bound to whether the car was at the station at that
// time, whether the litres fit its tank and the kilometres it drove since
// the previous fill (against its consumption norm), and whether the fill
// fell on a day off or outside working hours (alerts' work calendars, with
// the national holidays and their make-up workdays). Each mismatch is a
// lead (线索) carrying its figures and the track excerpt at the fill time.
//
// The matching core (match.go) is pure: a verdict depends only on the
// fill, the track, the vehicle's tank and norm, its unit's calendar and
// the Config; no clock, no SQL. The Store (store.go) reads what matching
// needs from PostgreSQL (tables of migration 0022) and writes the leads
// idempotently: matching a period again yields the same leads, each kept
// with its verification state.
//
// Data flows terminals → ingest → track → alerts → fuel → api: fuel reads
// positions through track and calendars through alerts, and is called by
// api; cmd/fleetd wires it.
package fuel
