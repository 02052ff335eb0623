package main

import (
	"strings"
	"testing"
)

// stream is go test -json's output for a package with a test that logs and
// skips, a test whose subtest fails, and a test that passes (recorded from
// go 1.26, times left out).
const stream = `{"Action":"start","Package":"x"}
{"Action":"run","Package":"x","Test":"TestA"}
{"Action":"output","Package":"x","Test":"TestA","Output":"=== RUN   TestA\n"}
{"Action":"output","Package":"x","Test":"TestA","Output":"    x_test.go:3: hello\n"}
{"Action":"output","Package":"x","Test":"TestA","Output":"    x_test.go:3: no db:\n"}
{"Action":"output","Package":"x","Test":"TestA","Output":"        second line\n"}
{"Action":"output","Package":"x","Test":"TestA","Output":"--- SKIP: TestA (0.00s)\n"}
{"Action":"skip","Package":"x","Test":"TestA","Elapsed":0}
{"Action":"run","Package":"x","Test":"TestB"}
{"Action":"output","Package":"x","Test":"TestB","Output":"=== RUN   TestB\n"}
{"Action":"run","Package":"x","Test":"TestB/s"}
{"Action":"output","Package":"x","Test":"TestB/s","Output":"=== RUN   TestB/s\n"}
{"Action":"output","Package":"x","Test":"TestB/s","Output":"    x_test.go:4: bad\n"}
{"Action":"output","Package":"x","Test":"TestB/s","Output":"--- FAIL: TestB/s (0.00s)\n"}
{"Action":"fail","Package":"x","Test":"TestB/s","Elapsed":0}
{"Action":"output","Package":"x","Test":"TestB","Output":"--- FAIL: TestB (0.00s)\n"}
{"Action":"fail","Package":"x","Test":"TestB","Elapsed":0}
{"Action":"run","Package":"x","Test":"TestC"}
{"Action":"output","Package":"x","Test":"TestC","Output":"=== RUN   TestC\n"}
{"Action":"output","Package":"x","Test":"TestC","Output":"--- PASS: TestC (0.00s)\n"}
{"Action":"pass","Package":"x","Test":"TestC","Elapsed":0}
{"Action":"output","Package":"x","Output":"FAIL\n"}
{"Action":"output","Package":"x","Output":"FAIL\tx\t0.004s\n"}
{"Action":"fail","Package":"x","Elapsed":0.005}
{"Action":"start","Package":"y"}
{"Action":"output","Package":"y","Output":"PASS\n"}
{"Action":"output","Package":"y","Output":"ok  \ty\t0.010s\n"}
{"Action":"pass","Package":"y","Elapsed":0.01}
`

// plain is what go test without -json wrote for the same packages.
const plain = `--- FAIL: TestB (0.00s)
    --- FAIL: TestB/s (0.00s)
        x_test.go:4: bad
FAIL
FAIL	x	0.004s
ok  	y	0.010s
`

func TestReportWritesPlainGoTestOutput(t *testing.T) {
	var out strings.Builder
	s, err := report(strings.NewReader(stream), &out, false)
	if err != nil {
		t.Fatal(err)
	}
	if out.String() != plain {
		t.Errorf("output:\n%s\nwant:\n%s", out.String(), plain)
	}
	if s.passed != 1 || s.failed != 2 || len(s.skipped) != 1 {
		t.Errorf("summary %+v, want 1 passed, 2 failed, 1 skipped", s)
	}
	want := skip{"x", "TestA", "x_test.go:3: no db: second line"}
	if len(s.skipped) == 1 && s.skipped[0] != want {
		t.Errorf("skipped %+v, want %+v", s.skipped[0], want)
	}
}

func TestReportSummaryNamesEverySkip(t *testing.T) {
	s := summary{passed: 3, skipped: []skip{{"x", "TestA", "no db"}}}
	var out strings.Builder
	s.write(&out)
	want := "tests and subtests: 3 passed, 0 failed, 1 skipped\nskipped: x TestA: no db\n"
	if out.String() != want {
		t.Errorf("summary:\n%s\nwant:\n%s", out.String(), want)
	}
}

// A package that dies (here a timeout) leaves a test unfinished; what it
// wrote is still shown.
func TestReportShowsUnfinishedTestsOfADeadPackage(t *testing.T) {
	in := `{"Action":"run","Package":"x","Test":"TestHang"}
{"Action":"output","Package":"x","Test":"TestHang","Output":"=== RUN   TestHang\n"}
{"Action":"output","Package":"x","Test":"TestHang","Output":"    x_test.go:9: waiting\n"}
{"Action":"output","Package":"x","Output":"panic: test timed out after 1s\n"}
{"Action":"output","Package":"x","Output":"FAIL\tx\t1.005s\n"}
{"Action":"fail","Package":"x","Elapsed":1.005}
`
	var out strings.Builder
	if _, err := report(strings.NewReader(in), &out, false); err != nil {
		t.Fatal(err)
	}
	want := "panic: test timed out after 1s\n    x_test.go:9: waiting\nFAIL\tx\t1.005s\n"
	if out.String() != want {
		t.Errorf("output:\n%q\nwant:\n%q", out.String(), want)
	}
}
