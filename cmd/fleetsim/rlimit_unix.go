//go:build unix

package main

import "syscall"

// raiseFileLimit raises the soft limit on open files to the hard limit (the default soft limit
// is often 1024, far below 10,000 connections) and returns the limit now in force.
func raiseFileLimit() (uint64, error) {
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		return 0, err
	}
	if lim.Cur >= lim.Max {
		return uint64(lim.Cur), nil
	}
	cur := lim.Cur
	lim.Cur = lim.Max
	if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		return uint64(cur), err
	}
	return uint64(lim.Cur), nil
}
