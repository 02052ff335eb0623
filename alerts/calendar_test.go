package alerts

import (
	"encoding/json"
	"os"
	"strings"
	"testing"
	"time"
)

// TestShippedHolidaysMatchShared checks the embedded holiday table against
// testdata/holidays-cn.json, a copy of the shared domain file
// (shared/domain/holidays-cn.json) kept in the repository: a test must run
// the same in every clean clone, where nothing lies beside the checkout.
// Update both files together when the State Council publishes a new year.
func TestShippedHolidaysMatchShared(t *testing.T) {
	want, err := os.ReadFile("testdata/holidays-cn.json")
	if err != nil {
		t.Fatal(err)
	}
	if string(want) != string(holidaysCN) {
		t.Error("alerts/holidays-cn.json differs from alerts/testdata/holidays-cn.json (the shared domain file)")
	}
}

func TestDayKind(t *testing.T) {
	cal, err := NewCalendar(CalendarSpec{Week: StandardWeek()}, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		date string
		kind DayKind
		name string
	}{
		{"2026-02-13", Workday, ""},        // Friday
		{"2026-02-14", MakeUpWorkday, ""},  // Saturday, 调休 before 春节
		{"2026-02-15", Holiday, "春节"},      // Sunday, first day of 春节
		{"2026-02-16", Holiday, "春节"},      // Monday in 春节
		{"2026-02-28", MakeUpWorkday, ""},  // Saturday, 调休 after 春节
		{"2026-03-07", Weekend, ""},        // ordinary Saturday
		{"2026-09-25", Holiday, "中秋节"},     // Friday
		{"2025-10-08", Holiday, "国庆节、中秋节"}, // 2025 shared the holiday
		{"2024-02-04", MakeUpWorkday, ""},  // Sunday worked in 2024
		{"2027-01-01", Workday, ""},        // not covered: by weekday alone
	} {
		k, name := cal.DayKind(MustDate(c.date))
		if k != c.kind || name != c.name {
			t.Errorf("%s: %s %q, want %s %q", c.date, k, name, c.kind, c.name)
		}
	}
	h := DefaultHolidays()
	if got := h.Years(); len(got) != 3 || got[0] != 2024 || got[2] != 2026 || h.Covers(2027) {
		t.Errorf("years %v", got)
	}
}

func TestIsWorkingTime(t *testing.T) {
	cal, err := NewCalendar(CalendarSpec{Week: StandardWeek()}, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		t    string
		want bool
	}{
		{"2026-03-10 08:29:59", false},
		{"2026-03-10 08:30", true},
		{"2026-03-10 11:59:59", true},
		{"2026-03-10 12:00", false}, // lunch break
		{"2026-03-10 13:59:59", false},
		{"2026-03-10 14:00", true},
		{"2026-03-10 17:29:59", true},
		{"2026-03-10 17:30", false},
		{"2026-03-10 00:00", false}, // midnight
		{"2026-02-14 09:00", true},  // 调休 Saturday: weekday hours
		{"2026-02-14 12:30", false},
		{"2026-02-16 09:00", false}, // 春节 Monday
		{"2026-03-07 09:00", false}, // Saturday
	} {
		if got := cal.IsWorkingTime(at(c.t)); got != c.want {
			t.Errorf("%s: %v, want %v", c.t, got, c.want)
		}
	}
	// The same instant in UTC is judged in the unit's zone.
	if !cal.IsWorkingTime(at("2026-03-10 09:00").UTC()) {
		t.Error("UTC instant not judged in Asia/Shanghai")
	}
	ps := cal.WorkingPeriods(MustDate("2026-02-14"))
	if len(ps) != 2 || !ps[0].Start.Equal(at("2026-02-14 08:30")) || !ps[1].End.Equal(at("2026-02-14 17:30")) {
		t.Errorf("periods %v", ps)
	}
	if ps := cal.WorkingPeriods(MustDate("2026-02-15")); len(ps) != 0 {
		t.Errorf("holiday periods %v", ps)
	}
}

func TestOverridesAndInheritance(t *testing.T) {
	base := CalendarSpec{ID: 1, UnitID: 10, Revision: 1, Week: StandardWeek()}
	city, err := NewCalendar(base, nil)
	if err != nil {
		t.Fatal(err)
	}
	local := base
	local.ID, local.UnitID = 2, 12
	local.Overrides = []Override{
		{Date: MustDate("2026-03-07"), Kind: Workday, Name: "值班"},                           // duty Saturday
		{Date: MustDate("2026-03-09"), Kind: Holiday, Name: "单位调休"},                         // extra day off
		{Date: MustDate("2026-03-10"), Kind: Workday, Periods: []Period{{9 * 60, 15 * 60}}}, // short day
	}
	bureau, err := NewCalendar(local, nil)
	if err != nil {
		t.Fatal(err)
	}
	if city.Version() == bureau.Version() {
		t.Error("overrides did not change the version")
	}
	again, _ := NewCalendar(base, nil)
	if again.Version() != city.Version() {
		t.Error("same content, different version")
	}
	cals, err := NewCalendars(Parents{11: 10, 12: 11, 13: 12}, city, bureau)
	if err != nil {
		t.Fatal(err)
	}
	if cals.For(11) != city || cals.For(13) != bureau || cals.For(12) != bureau || cals.For(99) != city {
		t.Error("inheritance down the tree")
	}
	for _, c := range []struct {
		t    string
		want bool
	}{
		{"2026-03-07 09:00", true},
		{"2026-03-09 09:00", false},
		{"2026-03-10 14:30", true}, // 09:00–15:00 that day
		{"2026-03-10 08:45", false},
		{"2026-03-10 16:00", false},
	} {
		if got := bureau.IsWorkingTime(at(c.t)); got != c.want {
			t.Errorf("%s: %v, want %v", c.t, got, c.want)
		}
	}
	if k, name := bureau.DayKind(MustDate("2026-03-09")); k != Holiday || name != "单位调休" {
		t.Errorf("override kind %s %q", k, name)
	}
	// A cycle in stored data must not hang.
	if c := Chain(Parents{1: 2, 2: 1}, 1); len(c) != 2 {
		t.Errorf("chain %v", c)
	}
	// The spec round-trips through JSON (it is what gets stored).
	b, _ := json.Marshal(local)
	var back CalendarSpec
	if err := json.Unmarshal(b, &back); err != nil {
		t.Fatal(err)
	}
	if c2, _ := NewCalendar(back, nil); c2.Version() != bureau.Version() {
		t.Errorf("spec JSON round trip changed the version: %s", b)
	}
}

func TestCalendarErrors(t *testing.T) {
	for name, spec := range map[string]CalendarSpec{
		"overlap":  {Week: [7][]Period{1: {{9 * 60, 12 * 60}, {11 * 60, 13 * 60}}}},
		"backward": {Week: [7][]Period{1: {{12 * 60, 9 * 60}}}},
		"zone":     {TimeZone: "Mars/Olympus"},
		"kind":     {Overrides: []Override{{Date: MustDate("2026-01-01"), Kind: Weekend}}},
	} {
		if _, err := NewCalendar(spec, nil); err == nil {
			t.Errorf("%s: no error", name)
		}
	}
	for name, js := range map[string]string{
		"both":        `{"years":{"2027":{"holidays":[{"name":"元旦","days":["2027-01-01"]}],"workdays":["2027-01-01"]}}}`,
		"weekday":     `{"years":{"2027":{"holidays":[],"workdays":["2027-01-04"]}}}`,
		"wrong year":  `{"years":{"2027":{"holidays":[{"name":"元旦","days":["2026-01-01"]}],"workdays":[]}}}`,
		"bad date":    `{"years":{"2027":{"holidays":[{"name":"元旦","days":["2027-13-01"]}],"workdays":[]}}}`,
		"unknown key": `{"yearz":{}}`,
	} {
		if _, err := ParseHolidaysJSON([]byte(js)); err == nil {
			t.Errorf("%s: no error", name)
		}
	}
}

const ics2027 = "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//test//CN holidays//ZH\r\n" +
	"BEGIN:VEVENT\r\nUID:1\r\nDTSTART;VALUE=DATE:20270101\r\nDTEND;VALUE=DATE:20270104\r\nSUMMARY:元旦（休）\r\nEND:VEVENT\r\n" +
	"BEGIN:VEVENT\r\nUID:2\r\nDTSTART;VALUE=DATE:20270206\r\nDTEND;VALUE=DATE:20270214\r\nSUMMARY:春节 放假\r\nEND:VEVENT\r\n" +
	"BEGIN:VEVENT\r\nUID:3\r\nDTSTART;VALUE=DATE:20270130\r\nSUMMARY:春节调休上\r\n 班\r\nEND:VEVENT\r\n" +
	"END:VCALENDAR\r\n"

func TestHolidaysICS(t *testing.T) {
	h, err := ParseHolidaysICS([]byte(ics2027))
	if err != nil {
		t.Fatal(err)
	}
	merged, err := DefaultHolidays().Merge(h)
	if err != nil {
		t.Fatal(err)
	}
	cal, _ := NewCalendar(CalendarSpec{Week: StandardWeek()}, merged)
	for _, c := range []struct {
		date string
		kind DayKind
		name string
	}{
		{"2027-01-01", Holiday, "元旦"},
		{"2027-01-03", Holiday, "元旦"},
		{"2027-01-04", Workday, ""}, // DTEND is exclusive
		{"2027-02-06", Holiday, "春节"},
		{"2027-01-30", MakeUpWorkday, ""}, // folded SUMMARY line
		{"2026-02-14", MakeUpWorkday, ""}, // the shipped years stay
	} {
		if k, name := cal.DayKind(MustDate(c.date)); k != c.kind || name != c.name {
			t.Errorf("%s: %s %q, want %s %q", c.date, k, name, c.kind, c.name)
		}
	}
	ev := func(lines ...string) []byte {
		return []byte("BEGIN:VCALENDAR\nBEGIN:VEVENT\n" + strings.Join(lines, "\n") + "\nEND:VEVENT\nEND:VCALENDAR\n")
	}
	for name, b := range map[string][]byte{
		"timed":       ev("DTSTART:20270101T000000Z", "SUMMARY:元旦"),
		"both":        ev("DTSTART;VALUE=DATE:20270102", "SUMMARY:元旦 休息/补班"),
		"调休 alone":    ev("DTSTART;VALUE=DATE:20270102", "SUMMARY:调休"),
		"empty":       ev("DTSTART;VALUE=DATE:20270102", "SUMMARY:"),
		"recurring":   ev("DTSTART;VALUE=DATE:20270102", "RRULE:FREQ=YEARLY", "SUMMARY:元旦"),
		"workday Mon": ev("DTSTART;VALUE=DATE:20270104", "SUMMARY:补班"),
		"none":        []byte("BEGIN:VCALENDAR\nEND:VCALENDAR\n"),
	} {
		if _, err := ParseHolidaysICS(b); err == nil {
			t.Errorf("%s: no error", name)
		} else {
			t.Logf("%s: %v", name, err)
		}
	}
}

func TestCalendarStatusSpan(t *testing.T) {
	cal, _ := NewCalendar(CalendarSpec{Week: StandardWeek()}, nil)
	st := cal.status(at("2026-03-10 12:30"))
	if st.working || !st.from.Equal(at("2026-03-10 12:00")) || !st.until.Equal(at("2026-03-10 14:00")) {
		t.Errorf("lunch %+v", st)
	}
	st = cal.status(at("2026-03-10 20:00"))
	if st.working || !st.until.Equal(at("2026-03-11 00:00")) {
		t.Errorf("evening %+v", st)
	}
	if d := at("2026-03-11 00:00").Sub(at("2026-03-10 00:00")); d != 24*time.Hour {
		t.Fatal(d)
	}
}
