package pgha

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
)

// Tree returns pid and every process descended from it (for a postmaster:
// its backends and auxiliary processes), parents first.
func Tree(pid int) []int {
	children := map[int][]int{}
	ents, _ := os.ReadDir("/proc")
	for _, e := range ents {
		p, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		b, err := os.ReadFile(filepath.Join("/proc", e.Name(), "stat"))
		if err != nil {
			continue
		}
		// The command name, in parentheses, may hold spaces: the fields
		// after its closing parenthesis are state, then the parent's pid.
		s := string(b)
		i := strings.LastIndexByte(s, ')')
		if i < 0 {
			continue
		}
		f := strings.Fields(s[i+1:])
		if len(f) < 2 {
			continue
		}
		if pp, err := strconv.Atoi(f[1]); err == nil {
			children[pp] = append(children[pp], p)
		}
	}
	out := []int{pid}
	for i := 0; i < len(out); i++ {
		out = append(out, children[out[i]]...)
	}
	return out
}

// Signal sends sig to every process of pids, returning the first error
// other than a process already gone.
func Signal(pids []int, sig syscall.Signal) error {
	var first error
	for _, p := range pids {
		if err := syscall.Kill(p, sig); err != nil && err != syscall.ESRCH && first == nil {
			first = fmt.Errorf("signal %v to %d: %w", sig, p, err)
		}
	}
	return first
}

// Freeze stops (SIGSTOP) pid and its descendants, as a machine that hangs
// or drops off the network looks to its peers: connections stay open, the
// kernel still accepts new ones, and nothing answers. The returned thaw
// continues them (SIGCONT); it is safe to call more than once.
func Freeze(pid int) (thaw func(), err error) {
	pids := Tree(pid)
	if err := Signal(pids, syscall.SIGSTOP); err != nil {
		_ = Signal(pids, syscall.SIGCONT)
		return func() {}, err
	}
	return func() { _ = Signal(pids, syscall.SIGCONT) }, nil
}

// PostmasterPID reads the postmaster's pid from pgdata/postmaster.pid.
func PostmasterPID(pgdata string) (int, error) {
	b, err := os.ReadFile(filepath.Join(pgdata, "postmaster.pid"))
	if err != nil {
		return 0, fmt.Errorf("read postmaster.pid: %w", err)
	}
	first, _, _ := strings.Cut(string(b), "\n")
	pid, err := strconv.Atoi(strings.TrimSpace(first))
	if err != nil {
		return 0, fmt.Errorf("postmaster.pid: %w", err)
	}
	return pid, nil
}
