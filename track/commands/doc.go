// Package commands is the durable queue of commands to terminals (JT/T 808
// set and query parameters, query location, temporary tracking, text to
// the driver): what a user asks for, kept in PostgreSQL until the
// terminal has answered, timed out or the user cancelled it.
//
// The queue sits beside the data flow, not in it: api enqueues (in the
// transaction of its audit entry) and lists; ingest claims a queued
// command for a terminal it holds a connection to, writes it, and records
// the terminal's answer by the serial it went out with. Neither imports
// the other: both take a *Store from cmd/fleetd. A command becomes
// deliverable on every node at once through PostgreSQL's NOTIFY on the
// channel Channel, sent by the enqueueing transaction (so only once it has
// committed); Watch listens and wakes whichever node holds the terminal,
// and sweeps now and then for what a lost notification or a terminal
// coming online left queued. A claim moves a row from queued to sent in
// its own transaction, so that two nodes never send one command twice.
//
// Store is safe for concurrent use.
package commands
