package ingest

import "syscall"

// errTooManyFiles is accept's error when the process is out of file
// descriptors: temporary, so Serve backs off instead of stopping.
var errTooManyFiles = syscall.EMFILE
