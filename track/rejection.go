package track

// IsRejection reports whether err is the database refusing the data itself
// (a data exception or an integrity violation), which trying again cannot
// fix, rather than a connection, timeout or server problem, which may pass
// (a failover). Callers outside the writer use it to decide whether to
// retry a call.
func IsRejection(err error) bool { return isRejection(err) }
