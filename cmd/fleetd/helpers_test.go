package main

import (
	"bufio"
	"context"
	"io"
	"net"
	"strings"
	"testing"
	"time"

	"fleetmon/alerts"
	"fleetmon/ingest/jt808"
	"fleetmon/track/pgtest"
)

// served is a fleetd serve running in-process for a test.
type served struct {
	t     *testing.T
	JT808 string // the terminal gateway's address
	HTTP  string // the HTTP address
	// Lines gets serve's stdout lines after the two address lines; closed
	// when serve returns.
	Lines  <-chan string
	Stderr *syncBuffer
	cancel context.CancelFunc
	done   chan int
	exited bool
}

// startServe runs `fleetd serve` with args (on loopback, free ports) until
// the test ends or Stop is called; the test fails if it exits non-zero.
// Like production, serve runs as the runtime role: a --db naming a test
// schema (as its owner) becomes the schema's runtime login, with the owner
// as --owner-db for the maintenance that needs it.
func startServe(t *testing.T, args ...string) *served {
	t.Helper()
	args = append([]string(nil), args...)
	for i := 0; i+1 < len(args); i++ {
		if args[i] == "--db" {
			if app := pgtest.RuntimeConnString(args[i+1]); app != "" {
				args = append(args, "--owner-db", args[i+1])
				args[i+1] = app
			}
		}
	}
	return startServeAs(t, args...)
}

// startServeAs is startServe with --db as given.
func startServeAs(t *testing.T, args ...string) *served {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	pr, pw := io.Pipe()
	s := &served{t: t, Stderr: &syncBuffer{}, cancel: cancel, done: make(chan int, 1)}
	go func() {
		s.done <- run(ctx, append([]string{"serve", "--jt808-addr", "127.0.0.1:0", "--http-addr", "127.0.0.1:0"}, args...), pw, s.Stderr)
		pw.Close()
	}()
	lines := make(chan string, 64)
	go func() {
		sc := bufio.NewScanner(pr)
		for sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
		_, _ = io.Copy(io.Discard, pr)
	}()
	for line := range lines {
		if v, ok := strings.CutPrefix(line, "jt808 "); ok {
			s.JT808 = v
		} else if v, ok := strings.CutPrefix(line, "http "); ok {
			s.HTTP = v
			break
		}
	}
	s.Lines = lines
	if s.HTTP == "" {
		t.Fatalf("serve did not start; stderr:\n%s", s.Stderr.String())
	}
	t.Cleanup(s.Stop)
	return s
}

// Stop stops serve and checks that it exited cleanly.
func (s *served) Stop() {
	if s.exited {
		return
	}
	s.exited = true
	s.cancel()
	if code := <-s.done; code != 0 {
		s.t.Errorf("serve exited %d; stderr:\n%s", code, s.Stderr.String())
	}
}

// terminal is a JT/T 808-2013 terminal for fleetd's tests: one request, one
// reply.
type terminal struct {
	t      *testing.T
	c      net.Conn
	sp     *jt808.Splitter
	phone  jt808.Phone
	serial uint16
}

func dialTerminal(t *testing.T, addr, phone string) *terminal {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	p, err := jt808.ParsePhone(phone, jt808.Version2013)
	if err != nil {
		t.Fatal(err)
	}
	return &terminal{t: t, c: c, sp: jt808.NewSplitter(c, 0), phone: p}
}

// exchange sends one message and returns the platform's reply.
func (tm *terminal) exchange(id jt808.MsgID, body []byte) jt808.Frame {
	tm.t.Helper()
	f, err := tm.tryExchange(id, body)
	if err != nil {
		tm.t.Fatal(err)
	}
	return f
}

// tryExchange is exchange for goroutines other than the test's: it returns
// the error.
func (tm *terminal) tryExchange(id jt808.MsgID, body []byte) (jt808.Frame, error) {
	h := jt808.Header{ID: id, Phone: tm.phone, Serial: tm.serial}
	tm.serial++
	if _, err := tm.c.Write(jt808.AppendFrame(nil, &h, body)); err != nil {
		return jt808.Frame{}, err
	}
	_ = tm.c.SetReadDeadline(time.Now().Add(10 * time.Second))
	raw, err := tm.sp.Next()
	if err != nil {
		return jt808.Frame{}, err
	}
	var f jt808.Frame
	err = jt808.ParseFrame(append([]byte(nil), raw...), &f)
	return f, err
}

// login registers and authenticates.
func (tm *terminal) login(plate string) {
	tm.t.Helper()
	f := tm.exchange(jt808.IDRegister, (&jt808.Register{Plate: plate, PlateColor: 1}).AppendTo(nil, jt808.Version2013))
	var rr jt808.RegisterReply
	if err := rr.Decode(f.Body, &f.Header); err != nil || rr.Result != 0 {
		tm.t.Fatalf("register: %+v %v", rr, err)
	}
	tm.expectOK("auth", jt808.IDAuth, (&jt808.Auth{Code: rr.AuthCode}).AppendTo(nil, jt808.Version2013))
}

// expectOK sends a message and requires 0x8001 result 0.
func (tm *terminal) expectOK(what string, id jt808.MsgID, body []byte) {
	tm.t.Helper()
	f := tm.exchange(id, body)
	var pr jt808.PlatformReply
	if err := pr.Decode(f.Body, &f.Header); err != nil || pr.Result != 0 {
		tm.t.Fatalf("%s: %+v %v", what, pr, err)
	}
}

// seedFleet imports vehiclesCSV into a fresh test database and adds a user
// with role in unit (a path) and an API token of theirs, through fleetd's
// own commands. It returns the database, the user's one-time password and
// the token.
func seedFleet(t *testing.T, vehiclesCSV, name, role, unit string) (db, otp, token string) {
	t.Helper()
	db = pgtest.New(t).ConnString
	csv := writeFile(t, "v.csv", vehiclesCSV)
	if code, out, errs := fleetd(t, "vehicles", "import", "--db", db, csv); code != 0 {
		t.Fatalf("import: %d %s %s", code, out, errs)
	}
	otp, token = addUser(t, db, name, role, unit)
	return db, otp, token
}

// addUser adds a user with role in unit (a path) and an API token of
// theirs to db, through fleetd's own commands, and returns the user's
// one-time password and the token.
func addUser(t *testing.T, db, name, role, unit string) (otp, token string) {
	t.Helper()
	code, out, errs := fleetd(t, "users", "add", "--db", db, "--name", name, "--role", role, "--unit", unit)
	if code != 0 {
		t.Fatalf("users add: %d %s %s", code, out, errs)
	}
	otp = lastWord(out)
	code, out, errs = fleetd(t, "token", "create", "--db", db, "--user", name)
	if code != 0 {
		t.Fatalf("token create: %d %s %s", code, out, errs)
	}
	return otp, lastWord(out)
}

// workdayEndedBy returns midnight (Beijing time) of the latest working day,
// by the national calendar with its 调休, whose evening drive (19:30, a
// quarter of an hour) ended at least ten minutes before t.
func workdayEndedBy(t *testing.T, at time.Time) time.Time {
	t.Helper()
	return dayEndedBy(t, at, 19*time.Hour+55*time.Minute, "working day", func(_ time.Time, k alerts.DayKind) bool { return k.Working() })
}

// dayEndedBy returns midnight (Beijing time) of the latest day within 60
// days before at that want accepts (given the day and its kind by the
// national calendar with its 调休), and whose time end (after midnight) is
// not after at; what names the day for the failure.
func dayEndedBy(t *testing.T, at time.Time, end time.Duration, what string, want func(time.Time, alerts.DayKind) bool) time.Time {
	t.Helper()
	cal, err := alerts.NewCalendar(alerts.CalendarSpec{Week: alerts.StandardWeek()}, nil)
	if err != nil {
		t.Fatal(err)
	}
	cst := time.FixedZone("CST", 8*3600)
	at = at.In(cst)
	day := time.Date(at.Year(), at.Month(), at.Day(), 0, 0, 0, 0, cst)
	for range 60 {
		kind, _ := cal.DayKind(alerts.DateOf(day))
		if want(day, kind) && !day.Add(end).After(at) {
			return day
		}
		day = day.AddDate(0, 0, -1)
	}
	t.Fatalf("no %s in the 60 days before %s", what, at)
	return time.Time{}
}
