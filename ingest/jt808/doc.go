// Package jt808 is the JT/T 808 wire codec: framing (0x7e delimiters), escaping (0x7e<->0x7d 0x02,
// 0x7d<->0x7d 0x01), the XOR check code, both message-header layouts (JT/T 808-2011/2013 and
// JT/T 808-2019), a stream Splitter for TCP, and one Go type per message body, each with
// Decode(body, header) and AppendTo(dst, version) in the style of pgx's pgproto3.
//
// # What the package owns
//
// The package owns the bytes on the wire and nothing else. It does not hold sessions, reassemble
// sub-packages, choose replies, or convert to domain units: package ingest does that. Wire structs
// keep wire units and say so in their field names (LatE6, SpeedDeciKmh, MileageDeciKm); the few
// helpers that convert (Location.Lat, BCDTime.Time) are documented as such.
//
// # Ownership and aliasing
//
// Decode methods never copy bytes they can alias: a decoded value may hold slices that point into
// the body it was decoded from (Location.Extra, Param.Value, Frame.Body). Each such field says so.
// Such a value is valid only while the caller keeps that buffer unchanged; Splitter.Next reuses its
// buffer on the next call, so a caller that keeps data longer copies it. Strings (GBK text decoded
// to UTF-8) are always fresh Go strings and never alias.
//
// Values are flyweights: decoding into the same value again reuses its slice capacity and fixed
// arrays, so the steady state allocates nothing (see Decoder for one value per message type).
//
// # Concurrency
//
// No value in this package is safe for concurrent use. A Splitter, Decoder, Frame or message value
// belongs to one goroutine (in fleetmon: the goroutine that owns the connection). Package-level
// functions (ParseFrame, AppendFrame, Escape, Unescape, ParsePhone, ...) are safe to call from any
// goroutine on distinct buffers.
//
// # Errors
//
// Nothing in this package panics on any input. Errors are *FieldError values naming the message ID
// and the field, wrapping a sentinel (ErrChecksum, ErrShortBody, ...) for errors.Is.
//
// # Imports
//
// The package imports only the standard library and golang.org/x/text (for GBK). It must not
// import any other fleetmon package.
package jt808
