package ingest

// CloseReason says why the gateway closed a connection. It is an enumeration
// rather than a string so that a handler cannot invent a reason no metric or
// dashboard knows; String gives the metric label and log value.
type CloseReason uint8

// The reasons a connection ends. The zero value, closeNone, means the
// connection is still being served.
const (
	closeNone       CloseReason = iota
	CloseEOF                    // the terminal closed
	CloseReadError              // the network failed
	CloseWriteError             // a reply could not be sent
	CloseIdle                   // nothing received for IdleTimeout
	CloseAuthTime               // not authenticated within AuthTimeout
	CloseOversized              // a frame longer than MaxFrame
	CloseFlood                  // more frames per second than allowed
	CloseBadFrames              // too many frames in a row that fail to parse
	CloseShutdown               // the server is stopping, or storage refused to take more
	CloseTooMany                // MaxConnections reached
	ClosePanic                  // a bug: a handler panicked
)

var closeLabels = [...]string{
	closeNone:       "open",
	CloseEOF:        "eof",
	CloseReadError:  "read_error",
	CloseWriteError: "write_error",
	CloseIdle:       "idle",
	CloseAuthTime:   "auth_timeout",
	CloseOversized:  "oversized",
	CloseFlood:      "flood",
	CloseBadFrames:  "bad_frames",
	CloseShutdown:   "shutdown",
	CloseTooMany:    "too_many_connections",
	ClosePanic:      "internal_error",
}

// String returns the reason's metric label value.
func (r CloseReason) String() string {
	if int(r) < len(closeLabels) {
		return closeLabels[r]
	}
	return "unknown"
}

// suspicious reports whether the reason points at a misbehaving terminal
// or a bug rather than the normal end of a connection: those are logged
// as warnings.
func (r CloseReason) suspicious() bool {
	switch r {
	case CloseOversized, CloseFlood, CloseBadFrames, ClosePanic, CloseAuthTime:
		return true
	}
	return false
}
