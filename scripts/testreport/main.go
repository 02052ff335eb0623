// Command testreport reads `go test -json` on stdin and writes what plain
// `go test` would have written (the output of failed tests and each package's
// closing ok/FAIL line, unchanged), followed by a count of the tests run and
// every skipped test with its reason. scripts/test.sh pipes go test into it so
// that a skipped test is never silent.
//
// With CI=true in the environment, any skipped test makes it exit with status
// 1: in CI every dependency is installed, so a skip there hides a test that
// did not run (a missing database, browser or file).
package main

import (
	"bufio"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"regexp"
	"sort"
	"strings"
)

// event is one line of `go test -json` (cmd/test2json's TestEvent).
type event struct {
	Action     string
	Package    string
	Test       string
	Output     string
	ImportPath string // build-output events
}

// test is the output of one test or subtest while it runs.
type test struct {
	header string   // the closing "--- FAIL: TestX (0.00s)" line
	lines  []string // what the test logged
	failed []*test  // subtests that failed, in order
}

// skip is one skipped test.
type skip struct {
	pkg, test, reason string
}

// summary is the count of the tests that ended, by outcome.
type summary struct {
	passed, failed int
	skipped        []skip
}

func main() {
	verbose := flag.Bool("v", false, "write every line go test writes (as go test -v)")
	flag.Parse()
	// An interrupt reaches go test and this command alike: go test ends, and
	// this command writes what it has read until then.
	signal.Ignore(os.Interrupt)
	out := bufio.NewWriter(os.Stdout)
	s, err := report(os.Stdin, out, *verbose)
	s.write(out)
	if ferr := out.Flush(); err == nil {
		err = ferr
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "testreport:", err)
		os.Exit(2)
	}
	if os.Getenv("CI") == "true" && len(s.skipped) > 0 {
		fmt.Fprintf(os.Stderr, "testreport: CI=true and %d tests skipped: under CI every test must run\n", len(s.skipped))
		os.Exit(1)
	}
}

// report copies go test's output from the JSON stream r to w as plain go
// test (or go test -v) would write it and counts the tests' outcomes. A line
// that is not JSON (go test's own messages before it starts a package) is
// copied as it is.
func report(r io.Reader, w io.Writer, verbose bool) (summary, error) {
	var s summary
	running := map[string]*test{} // by package and test name
	key := func(e event) string { return e.Package + "\x00" + e.Test }
	get := func(e event) *test {
		t := running[key(e)]
		if t == nil {
			t = &test{}
			running[key(e)] = t
		}
		return t
	}
	// flush writes what the unfinished tests of a package wrote: a package
	// that died (a panic, a timeout) leaves its running tests unfinished.
	flush := func(pkg string) {
		var left []string
		for k := range running {
			if strings.HasPrefix(k, pkg+"\x00") {
				left = append(left, k)
			}
		}
		sort.Strings(left)
		for _, k := range left {
			running[k].write(w, "")
			delete(running, k)
		}
	}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 64*1024), 16*1024*1024)
	for sc.Scan() {
		line := sc.Bytes()
		var e event
		if len(line) == 0 || line[0] != '{' || json.Unmarshal(line, &e) != nil {
			fmt.Fprintf(w, "%s\n", line)
			continue
		}
		switch {
		case e.Action == "build-output":
			io.WriteString(w, e.Output)
		case e.Action == "output" && verbose:
			io.WriteString(w, e.Output)
			if e.Test != "" {
				get(e).add(e.Output)
			}
		case e.Action == "output" && e.Test == "":
			// The test binary's own PASS line is not shown by plain go test.
			if e.Output == "PASS\n" {
				break
			}
			if strings.HasPrefix(e.Output, "FAIL") {
				flush(e.Package)
			}
			io.WriteString(w, e.Output)
		case e.Action == "output":
			get(e).add(e.Output)
		case e.Test != "" && (e.Action == "pass" || e.Action == "fail" || e.Action == "skip"):
			t := get(e)
			delete(running, key(e))
			switch e.Action {
			case "pass":
				s.passed++
			case "skip":
				s.skipped = append(s.skipped, skip{e.Package, e.Test, t.reason()})
			case "fail":
				s.failed++
				// A failed subtest is shown under its parent, which fails too.
				parent := parentOf(e.Test)
				if p := running[e.Package+"\x00"+parent]; parent != "" && p != nil {
					p.failed = append(p.failed, t)
				} else if !verbose {
					t.write(w, "")
				}
			}
		case e.Test == "" && e.Action == "fail" && !verbose:
			flush(e.Package)
		}
	}
	return s, sc.Err()
}

// parentOf returns the name of a subtest's parent.
func parentOf(name string) string {
	if i := strings.LastIndexByte(name, '/'); i >= 0 {
		return name[:i]
	}
	return ""
}

// add keeps one line a test wrote, leaving out go test -v's framing.
func (t *test) add(line string) {
	switch {
	case strings.HasPrefix(line, "=== "):
	case strings.HasPrefix(strings.TrimLeft(line, " "), "--- "):
		t.header = strings.TrimLeft(line, " ")
	default:
		t.lines = append(t.lines, line)
	}
}

// write writes a failed test as plain go test does: its result line, what it
// logged, then its failed subtests indented under it.
func (t *test) write(w io.Writer, indent string) {
	if t.header != "" {
		io.WriteString(w, indent+t.header)
	}
	for _, l := range t.lines {
		io.WriteString(w, indent+l)
	}
	for _, sub := range t.failed {
		sub.write(w, indent+"    ")
	}
}

// logLine matches the start of a line of t.Log, t.Skip and the like.
var logLine = regexp.MustCompile(`^\s+\S+\.go:\d+: `)

// reason returns what a skipped test said last: the message of its t.Skip.
func (t *test) reason() string {
	start := -1
	for i, l := range t.lines {
		if logLine.MatchString(l) {
			start = i
		}
	}
	if start < 0 {
		return "(no reason given)"
	}
	var parts []string
	for _, l := range t.lines[start:] {
		parts = append(parts, strings.TrimSpace(l))
	}
	return strings.Join(parts, " ")
}

// write writes the count of tests and the skipped ones with their reasons.
func (s summary) write(w io.Writer) {
	fmt.Fprintf(w, "tests and subtests: %d passed, %d failed, %d skipped\n", s.passed, s.failed, len(s.skipped))
	for _, k := range s.skipped {
		fmt.Fprintf(w, "skipped: %s %s: %s\n", k.pkg, k.test, k.reason)
	}
}
